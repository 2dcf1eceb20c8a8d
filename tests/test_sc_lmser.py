"""SC-Lmser: generator and discriminator structure, parameter counts, the losses, which
optimiser the alternating consistency moves, and the recipe."""
from __future__ import annotations

import pytest
import torch

from inpaintlib.models import PatchDiscriminator, SCLmser, SCLmserGenerator
from inpaintlib.models.sc_lmser import (
    SC_LMSER_LOSS_WEIGHTS,
    discriminator_loss,
    load_sc_lmser,
    lsgan_d_loss,
    lsgan_g_loss,
    translation_loss,
)
from inpaintlib.recipes import sc_lmser as recipe
from inpaintlib.registry import model_names, recipe_names

pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------- shapes and structure

@pytest.mark.parametrize("size", [64, 256])
def test_shapes(size):
    torch.manual_seed(0)
    model = SCLmser(width=0.0625)
    photo = torch.rand(1, 3, size, size)
    with torch.no_grad():
        y = model.G(photo * 2 - 1)
        x = model.F(y)
        assert y.shape == (1, 1, size, size) and x.shape == (1, 3, size, size)
        sketch = model.photo_to_sketch(photo)
        assert sketch.shape == (1, 1, size, size) and 0 <= float(sketch.min()) and float(sketch.max()) <= 1
        assert model.sketch_to_photo(sketch).shape == (1, 3, size, size)
        d = PatchDiscriminator(4, width=0.0625)
        assert d(photo, sketch).shape == (1, 1, size // 8 - 2, size // 8 - 2)
    if size == 256:
        assert d(photo, sketch).shape[-2:] == (30, 30)  # pix2pix's 70×70 PatchGAN map at 256 px


def _block(c_in, c_out):
    """Parameters of a residual block, counted layer by layer from the method notes."""
    norm1 = 2 * c_in                 # IN scale + offset on the input
    conv1 = c_in * c_out * 3 * 3     # 3×3, no bias
    norm2 = 2 * c_out
    conv2 = c_out * c_out * 3 * 3
    skip = c_in * c_out * 1 * 1      # 1×1 on the shortcut
    return norm1 + conv1 + norm2 + conv2 + skip


def _generator(c_in, c_out):
    enc = [128, 256, 512, 512, 1024]
    total, c = 0, c_in
    for e in enc:
        total += _block(c, e)
        c = e
    total += _block(1024, 512)            # d5 reads e5 alone
    total += _block(512 + 512, 512)       # d4: concat(d5, e4)
    total += _block(512 + 512, 256)       # d3: concat(d4, e3)
    total += _block(256 + 256, 128)       # d2: concat(d3, e2)
    total += _block(128 + 128, c_out)     # d1: concat(d2, e1)
    return total


def test_parameter_counts_at_full_width():
    with torch.device("meta"):
        model = SCLmser()
        d = PatchDiscriminator()
    assert n_params(model.G) == _generator(3, 1) == 43_638_801
    assert n_params(model.F) == _generator(1, 3) == 43_641_433
    convs = [(4, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    expected_d = sum(a * b * 16 for a, b in convs) + 2 * (128 + 256 + 512)  # 4×4 convs + BN on layers 2-4
    assert n_params(d) == expected_d == 2_766_592


def test_lmser_skips_are_concatenations_and_there_are_no_biases():
    with torch.device("meta"):
        g = SCLmserGenerator(3, 1)
    assert [b.conv1.in_channels for b in g.decoder] == [1024, 1024, 1024, 512, 256]
    assert [b.conv1.out_channels for b in g.encoder] == [128, 256, 512, 512, 1024]
    assert [b.conv1.out_channels for b in g.decoder] == [512, 512, 256, 128, 1]
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 30 and all(c.bias is None for c in convs)


def test_initialisation():
    torch.manual_seed(0)
    g = SCLmserGenerator(3, 1, width=0.25)
    w = torch.cat([m.weight.detach().flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    assert float(w.abs().max()) <= 0.04 + 1e-7                      # truncated at ±2σ
    assert abs(float(w.std()) - 0.02 * 0.8796) < 0.001              # the std of a ±2σ truncated normal
    scales = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)])
    offsets = torch.cat([m.bias.detach() for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)])
    assert abs(float(scales.mean()) - 1) < 0.005 and abs(float(scales.std()) - 0.02) < 0.005
    assert float(offsets.abs().max()) == 0


def test_output_is_linear_and_clipped_only_for_evaluation():
    torch.manual_seed(0)
    model = SCLmser(width=0.0625)
    with torch.no_grad():
        model.G.decoder[-1].conv2.weight.mul_(200)
        model.G.decoder[-1].skip.weight.mul_(200)
        photo = torch.rand(2, 3, 64, 64)
        raw = model.G(photo * 2 - 1)
        assert float(raw.abs().max()) > 1.5                      # no tanh in the network
        sketch = model.photo_to_sketch(photo)
        assert torch.equal(sketch, (raw.clamp(-1, 1) + 1) / 2)


def test_bad_inputs():
    model = SCLmser(width=0.0625)
    with pytest.raises(ValueError, match="divisible by 32"):
        model.G(torch.zeros(1, 3, 48, 48))
    with pytest.raises(ValueError, match="B×3×H×W"):
        model.photo_to_sketch(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.photo_to_sketch(torch.full((1, 3, 64, 64), 2.0))
    with pytest.raises(ValueError, match="4 channels"):
        PatchDiscriminator(4, width=0.0625)(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))


# ----------------------------------------------------------------- losses

class ConstantD(torch.nn.Module):
    """A 'discriminator' that scores every patch with one learnable value (plus 0 × its input)."""

    def __init__(self, value):
        super().__init__()
        self.value = torch.nn.Parameter(torch.tensor(float(value)))

    def forward(self, condition, candidate):
        return self.value.expand(condition.shape[0], 1, 3, 3) + 0 * candidate.mean()


def test_lsgan_losses_by_hand():
    real = torch.tensor([0.5, 1.0, 2.0])
    fake = torch.tensor([0.0, -1.0])
    assert float(lsgan_d_loss(real, fake)) == pytest.approx((0.25 + 0 + 1) / 3 + (0 + 1) / 2)
    assert float(lsgan_g_loss(fake)) == pytest.approx((1 + 4) / 2)


def test_translation_and_discriminator_losses_by_hand():
    assert SC_LMSER_LOSS_WEIGHTS == {"l1": 10.0, "adv": 1.0}
    cond = torch.zeros(2, 3, 8, 8)
    target = torch.full((2, 1, 8, 8), 0.5)
    output = torch.full((2, 1, 8, 8), -0.25, requires_grad=True)
    out = translation_loss(ConstantD(0.3), cond, target, output)
    out = {k: v.detach() for k, v in out.items()}
    assert float(out["l1"]) == pytest.approx(0.75)
    assert float(out["adv"]) == pytest.approx(0.49)
    assert float(out["loss"]) == pytest.approx(10 * 0.75 + 0.49)
    d_loss = discriminator_loss(ConstantD(0.3), cond, target, output)
    assert float(d_loss.detach()) == pytest.approx(0.49 + 0.09)
    d_loss.backward()
    assert output.grad is None          # the fake is detached: a discriminator step never reaches G


def _tiny_system(seed=0):
    torch.manual_seed(seed)
    return SCLmser(width=0.0625), PatchDiscriminator(width=0.0625), PatchDiscriminator(width=0.0625)


class RecordingTrainer:
    """The part of Trainer a step function uses: ``models`` and ``optimize``; it also records
    every model's weights around each optimiser step."""

    def __init__(self, models, opts):
        self.models, self.opts, self.changed, self.grads = models, opts, {}, {}

    def optimize(self, name, loss):
        before = {k: [p.detach().clone() for p in m.parameters()] for k, m in self.models.items()}
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        for m in self.models.values():
            m.zero_grad(set_to_none=True)
        loss.backward()
        self.grads[name] = {k: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in m.parameters())
                            for k, m in self.models.items()}
        opt.step()
        self.changed[name] = {k: any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters()))
                              for k, m in self.models.items()}


def test_each_update_moves_only_its_own_network():
    model, dy, dx = _tiny_system()
    models = {"g": model.G, "f": model.F, "dy": dy, "dx": dx}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    t = RecordingTrainer(models, opts)
    photo, sketch = torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64)
    logs = recipe.make_step_fn(consistency=True)(t, (photo, sketch))
    assert set(t.changed) == {"dy", "dx", "f", "g"}
    for name, changed in t.changed.items():
        assert changed == {k: k == name for k in models}, name
    # the G step's loss (L_G1 + L_G2) passes through F and Dy, which are frozen for it: neither
    # moves nor gets a weight gradient (the gradient still reaches G through F: next test)
    assert t.grads["g"] == {"g": True, "f": False, "dy": False, "dx": False}
    assert t.grads["f"] == {"g": False, "f": True, "dy": False, "dx": False}
    assert {"g_l1", "g2_l1", "f_l1", "d_y", "d_x"} <= set(logs)


def test_consistency_gradient_flows_through_f_into_the_inner_g():
    model, dy, _ = _tiny_system()
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 1, 64, 64) * 2 - 1

    def grad_of_first_conv(detach_inner):
        model.zero_grad(set_to_none=True)
        gx = model.G(x)
        loss = translation_loss(dy, x, y, model.G(model.F(gx.detach() if detach_inner else gx)))["loss"]
        loss.backward()
        return model.G.encoder[0].conv1.weight.grad.clone()

    through, outer_only = grad_of_first_conv(False), grad_of_first_conv(True)
    assert not torch.allclose(through, outer_only)   # the path G → F → G contributes to G's gradient


def test_without_consistency_there_is_no_l_g2_and_no_l_dy2():
    model, dy, dx = _tiny_system()
    models = {"g": model.G, "f": model.F, "dy": dy, "dx": dx}
    t = RecordingTrainer(models, {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()})
    logs = recipe.make_step_fn(consistency=False)(t, (torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)))
    assert "g2_l1" not in logs
    assert not t.grads["g"]["f"]   # F is not on the G loss's path any more


# ----------------------------------------------------------------- the recipe

def test_schedules_follow_the_original():
    paper = recipe.schedule("paper")
    assert (paper.image_size, paper.width, paper.batch_size, paper.steps) == (256, 1.0, 1, 100 * 268)
    assert (paper.lr_g, paper.lr_d, paper.betas[0]) == (1e-4, 2e-4, 0.9)
    assert recipe.schedule("workshop").image_size == 256
    assert recipe.schedule("quick").image_size == 64 and recipe.schedule("quick").width < 1
    assert "sc_lmser" in recipe_names() and "sc_lmser" not in model_names()


def test_a_few_steps_lower_the_l1_on_a_fixed_batch(tmp_path):
    from inpaintlib.data import SketchPairs
    from inpaintlib.train import Trainer, read_log

    photo, sketch = SketchPairs(1, 64, seed=3)(0)
    model, dy, dx = _tiny_system()
    models = {"g": model.G, "f": model.F, "dy": dy, "dx": dx}
    opts = {k: torch.optim.Adam(m.parameters(), lr=2e-3, betas=(0.9, 0.999)) for k, m in models.items()}
    trainer = Trainer(models, opts, recipe.make_step_fn(consistency=True), out_dir=tmp_path, max_steps=12,
                      log_every=1, progress=False)
    trainer.fit(lambda step: (photo, sketch))
    log = read_log(tmp_path / "log.csv")
    assert log["g_l1"][-1] < 0.85 * log["g_l1"][0]
    assert log["g2_l1"][-1] < 0.85 * log["g2_l1"][0]
    assert log["f_l1"][-1] < 0.85 * log["f_l1"][0]


def test_recipe_load_or_train_and_model_file(tmp_path):
    from inpaintlib.data import SketchPairs

    data = SketchPairs(1, 64, seed=0)
    torch.set_num_threads(2)
    try:
        a = recipe.train_sc_lmser("quick", out_dir=tmp_path, max_steps=1, data=data, progress=False)
        assert torch.get_num_threads() == 2      # the quick profile trains on one thread, then restores
    finally:
        torch.set_num_threads(1)
    assert a.trained and (tmp_path / "final.pt").is_file() and (tmp_path / "sc_lmser.pt").is_file()
    b = recipe.train_sc_lmser("quick", out_dir=tmp_path, max_steps=1, data=data, progress=False)
    assert not b.trained
    c = load_sc_lmser(tmp_path / "sc_lmser.pt")
    photo = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(a.photo_to_sketch(photo), b.photo_to_sketch(photo))
        assert torch.equal(a.photo_to_sketch(photo), c.photo_to_sketch(photo))


def test_run_dirs_name_the_ablation(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTLIB_CHECKPOINTS", str(tmp_path))
    assert recipe.run_dir("quick") == tmp_path / "sc_lmser-quick"
    assert recipe.run_dir("workshop", consistency=False) == tmp_path / "sc_lmser-noconsistency-workshop"
    assert recipe.run_dir("quick", seed=0) == tmp_path / "sc_lmser-quick"
    assert recipe.run_dir("quick", consistency=False, seed=2) == tmp_path / "sc_lmser-noconsistency-seed2-quick"


def test_default_data_is_the_labelled_proxy_without_cufs(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("INPAINTLIB_DATA", str(tmp_path))
    data, which = recipe.default_data(recipe.schedule("quick"))
    assert which == "proxy" and data.proxy
    assert "proxy for CUFS" in capsys.readouterr().out
    with pytest.raises(ValueError, match="dataset"):
        recipe.default_data(recipe.schedule("quick"), dataset="faces")
