"""The training steps' hot paths: checked once at the boundary (no host syncs inside a
step), generator steps without critic weight gradients, partial-convolution masks of a
concatenation without the full tensor, CTSDG's edges computed per rank."""
import sys

import pytest
import torch
import torch.nn.functional as F

from inpaintlib.data import TrainingPairs
from inpaintlib.losses import CTSDGLoss, PConvLoss
from inpaintlib.models import CTSDG, GMCNN, CTSDGDiscriminator, GlobalDiscriminator, LocalDiscriminator, PConvUNet
from inpaintlib.models.gmcnn import crop_boxes, hole_bounding_boxes
from inpaintlib.nn.partial_conv import ConcatMask, PartialConv2d
from inpaintlib.recipes import ctsdg as ctsdg_recipe
from inpaintlib.recipes import gmcnn as gmcnn_recipe
from inpaintlib.recipes import pconv as pconv_recipe
from inpaintlib.recipes import sc_lmser as sc_recipe
from inpaintlib.train import Trainer, shard_batch

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------
# host syncs: every read of a tensor's value on the host, counted where the package makes it

SYNC_METHODS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


@pytest.fixture
def host_reads(monkeypatch):
    """Counts calls of the tensor methods that copy a value to the host (on a GPU each waits
    for the device), made from ``inpaintlib``'s own code; returns the list of call sites."""
    calls = []

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "/inpaintlib/" in caller.replace("\\", "/"):
                calls.append(f"{name} at {caller}:{sys._getframe(1).f_lineno}")
            return original(self, *args, **kwargs)
        return counted

    for name in SYNC_METHODS:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    return calls


def _trainer(tmp_path, models):
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    return Trainer(models, opts, lambda t, b: {}, out_dir=tmp_path, max_steps=1, device="cpu", progress=False,
                   amp="off")


def _rect_batch(n=2, size=32):
    image = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    hole = torch.zeros(n, 1, size, size)
    hole[0, :, 4:20, 6:26] = 1
    hole[1, :, 10:22, 8:24] = 1
    return image, hole


def test_gmcnn_finetune_step_reads_one_value_per_optimiser_step(tmp_path, host_reads):
    """Two critic steps and a generator step: the only host reads are the Trainer's NaN/Inf
    guard, one per optimiser step (before the change, about 40 per step)."""
    torch.manual_seed(0)
    g, dg, dl = GMCNN(width=0.125), GlobalDiscriminator(32, width=0.0625), LocalDiscriminator(16, width=0.0625)
    trainer = Trainer({"g": g, "dg": dg, "dl": dl},
                      {"g": torch.optim.Adam(g.parameters(), 1e-4),
                       "d": torch.optim.Adam(list(dg.parameters()) + list(dl.parameters()), 1e-4)},
                      lambda t, b: {}, out_dir=tmp_path, max_steps=1, device="cpu", progress=False, amp="off")
    conf = gmcnn_recipe.schedule("quick", image_size=32).confidence()
    step = gmcnn_recipe.finetune_step_fn(conf, None, d_steps=2, local_size=16)
    batch = _rect_batch()
    host_reads.clear()
    logs = step(trainer, batch)
    assert len(host_reads) == 3, host_reads           # 2 critic steps + 1 generator step
    assert all("train.py" in c for c in host_reads), host_reads
    assert torch.isfinite(logs["loss"])


def test_gmcnn_pretrain_and_pconv_steps_read_one_value(tmp_path, host_reads):
    torch.manual_seed(0)
    image, hole = _rect_batch()
    g = GMCNN(width=0.125)
    step = gmcnn_recipe.pretrain_step_fn(gmcnn_recipe.schedule("quick", image_size=32).confidence())
    t = _trainer(tmp_path / "g", {"g": g})
    host_reads.clear()
    step(t, (image, hole))
    assert len(host_reads) == 1, host_reads

    net = PConvUNet(layers=3, width=0.125)
    t = _trainer(tmp_path / "p", {"g": net})
    step = pconv_recipe.make_step_fn(PConvLoss(None, weights={"perceptual": 0.0, "style_out": 0.0,
                                                              "style_comp": 0.0}))
    host_reads.clear()
    step(t, (image, hole))
    assert len(host_reads) == 1, host_reads


def test_ctsdg_step_reads_one_value_per_optimiser_step(tmp_path, host_reads):
    torch.manual_seed(0)
    g, d = CTSDG(layers=3, width=0.0625), CTSDGDiscriminator(width=0.0625)
    t = _trainer(tmp_path, {"g": g, "d": d})
    loss = CTSDGLoss(None, weights={"perceptual": 0.0, "style": 0.0})
    batch = ctsdg_recipe.EdgePairs(TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=1))(0)   # the data pipeline
    step = ctsdg_recipe.make_step_fn(loss)
    host_reads.clear()
    step(t, batch)
    assert len(host_reads) == 2, host_reads           # the generator's and the discriminator's guards


def test_the_recipes_check_the_batch_once_where_it_enters(tmp_path):
    """A bad batch still gets a clear error, from the Trainer's boundary check on the host."""
    image, hole = _rect_batch()
    soft = hole * 0.5
    net = PConvUNet(layers=3, width=0.125)
    step = pconv_recipe.make_step_fn(lambda pred, img, h: ((pred - img).abs().mean(), {}))
    assert step.check_batch is not None
    trainer = Trainer({"g": net}, {"g": torch.optim.Adam(net.parameters())}, step, out_dir=tmp_path, max_steps=1,
                      device="cpu", progress=False)
    with pytest.raises(ValueError, match="binary"):
        trainer.fit(lambda s: (image, soft))
    bad = image.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        trainer.fit(lambda s: (bad, hole))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        trainer.fit(lambda s: (image * 2, hole))
    # CTSDG's edge maps are checked there too
    edge = torch.zeros(2, 1, 32, 32)
    with pytest.raises(ValueError, match=r"batch entry 2 .*\[0, 1\]"):
        ctsdg_recipe.make_step_fn(lambda *a: None).check_batch((image, hole, edge - 1, edge))


def test_user_calls_still_check_values_and_internal_calls_still_check_shapes():
    image, hole = _rect_batch()
    nan = image.clone()
    nan[0, 0, 1, 1] = float("nan")
    g, dg = GMCNN(width=0.125), GlobalDiscriminator(32, width=0.0625)
    net, ct = PConvUNet(layers=3, width=0.125), CTSDG(layers=3, width=0.0625)
    for model in (g, net, ct):
        with pytest.raises(ValueError, match="NaN"):
            model(nan, hole)
        with pytest.raises(ValueError, match="binary"):
            model(image, hole * 0.5)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            model(image + 1, hole)
        with pytest.raises(ValueError, match="3 channels"):   # shapes: also with check=False
            model(image[:, :2], hole, check=False)
        with torch.no_grad():
            model.eval()(image, hole, check=False)          # good input runs either way
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dg(image * 2 - 1)
    with pytest.raises(ValueError, match="32×32"):
        dg(image[..., :16, :16], check=False)
    with pytest.raises(ValueError, match="no hole pixel"):
        hole_bounding_boxes(torch.zeros(1, 1, 8, 8))
    assert hole_bounding_boxes(torch.zeros(1, 1, 8, 8), check=False).tolist() == [[0, 0, 8, 8]]
    with pytest.raises(ValueError, match="leaves"):
        crop_boxes(image, torch.tensor([[0, 0, 40, 8], [0, 0, 8, 8]]), 8)
    loss = PConvLoss(None, weights={"perceptual": 0.0, "style_out": 0.0, "style_comp": 0.0})
    with pytest.raises(ValueError, match="binary"):
        loss(image, image, hole * 0.5)
    with pytest.raises(ValueError, match="B×1×H×W|1 channel"):
        loss(image, image, hole.expand(-1, 3, -1, -1), check=False)


# ------------------------------------------------------------------------------------------
# generator steps: gradients pass through the critics without computing their weight gradients

class GradRecorder:
    """What a step function uses of a Trainer; ``optimize`` clears every gradient first,
    back-propagates, and records which models got a gradient."""

    def __init__(self, **models):
        self.models, self.grads = models, {}

    def module(self, name):
        return self.models[name]

    def optimize(self, name, loss, parts=None):
        for m in self.models.values():
            m.zero_grad(set_to_none=True)
        loss.backward()
        self.grads[name] = {k: any(p.grad is not None for p in m.parameters()) for k, m in self.models.items()}
        for m in self.models.values():   # as in the step: nothing else is updated
            m.zero_grad(set_to_none=True)
        return torch.zeros(())


def test_gmcnn_generator_step_leaves_the_critics_without_gradients():
    torch.manual_seed(0)
    g, dg, dl = GMCNN(width=0.125), GlobalDiscriminator(32, width=0.0625), LocalDiscriminator(16, width=0.0625)
    t = GradRecorder(g=g, dg=dg, dl=dl)
    step = gmcnn_recipe.finetune_step_fn(gmcnn_recipe.schedule("quick", image_size=32).confidence(), None,
                                         d_steps=1, local_size=16)
    step(t, _rect_batch())
    assert t.grads["d"] == {"g": False, "dg": True, "dl": True}
    assert t.grads["g"] == {"g": True, "dg": False, "dl": False}
    assert all(p.requires_grad for m in (g, dg, dl) for p in m.parameters())   # flags given back


def test_sc_lmser_generator_steps_leave_the_other_networks_without_gradients():
    from inpaintlib.models.sc_lmser import PatchDiscriminator, SCLmser

    torch.manual_seed(0)
    model, dy, dx = SCLmser(width=0.0625), PatchDiscriminator(width=0.0625), PatchDiscriminator(width=0.0625)
    t = GradRecorder(g=model.G, f=model.F, dy=dy, dx=dx)
    sc_recipe.make_step_fn(consistency=True)(t, (torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)))
    for name in ("g", "f", "dy", "dx"):
        assert t.grads[name] == {k: k == name for k in ("g", "f", "dy", "dx")}, name


# ------------------------------------------------------------------------------------------
# partial convolution over a concatenation: the channel-summed count, no B×C×H×W mask

def nvidia_multichannel(x, full_valid, weight, bias):
    """NVIDIA's multi-channel layer, written out: the count is a convolution of the full
    ``B×C×H×W`` mask with a ``C_out×C_in×k×k`` kernel of ones; ratio ``C_in·k²/count``."""
    cout, cin, kh, kw = weight.shape
    count = F.conv2d(full_valid, torch.ones(cout, cin, kh, kw, dtype=x.dtype), padding=kh // 2)
    ratio = cin * kh * kw / count.clamp(min=1e-8)
    known = (count > 0).to(x.dtype)
    y = F.conv2d(x * full_valid, weight, None, padding=kh // 2) * ratio * known
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1) * known
    return y, known[:, :1]


def test_concat_mask_equals_the_full_mask_formula_in_values_and_gradients():
    g = torch.Generator().manual_seed(4)
    b, c1, c2, s = 2, 5, 3, 12
    m1 = (torch.rand(b, 1, s, s, generator=g) > 0.4).float()
    m2 = (torch.rand(b, 1, s, s, generator=g) > 0.6).float()
    m2[..., 2:9, 3:10] = 0
    x = torch.randn(b, c1 + c2, s, s, generator=g, dtype=torch.float64, requires_grad=True)
    layer = PartialConv2d(c1 + c2, 4, 3, padding=1, multi_channel=True).double()
    mask = ConcatMask.of((m1.double(), c1), (m2.double(), c2))
    full = torch.cat([m1.expand(-1, c1, -1, -1), m2.expand(-1, c2, -1, -1)], 1).double()
    assert torch.equal(mask.full(), full)
    y, v = layer(x, mask)
    y_ref, v_ref = nvidia_multichannel(x, full, layer.weight, layer.bias)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(v, v_ref)
    gy = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, layer.weight, layer.bias), gy)
    refs = torch.autograd.grad(y_ref, (x, layer.weight, layer.bias), gy)
    for a, r in zip(grads, refs):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="channels"):
        layer(x, ConcatMask.of((m1.double(), c1), (m2.double(), c2 + 1)))
    with pytest.raises(ValueError, match="binary"):
        layer(x, ConcatMask.of((m1.double() * 0.5, c1), (m2.double(), c2)))


@pytest.mark.parametrize("skip_grad", [True, False])
def test_feature_groups_equal_their_concatenation_in_values_and_gradients(skip_grad):
    """``layer((h, skip), ConcatMask)`` against ``layer(cat([h, skip]), ConcatMask)``: one
    convolution of the concatenation when both groups need gradients, one per group when
    the skip does not (a U-Net's last level, whose skip is the input image)."""
    g = torch.Generator().manual_seed(5)
    b, c1, c2, s = 2, 6, 3, 12
    m1 = (torch.rand(b, 1, s, s, generator=g) > 0.3).float().double()
    m2 = (torch.rand(b, 1, s, s, generator=g) > 0.5).float().double()
    h = torch.randn(b, c1, s, s, generator=g, dtype=torch.float64, requires_grad=True)
    skip = torch.randn(b, c2, s, s, generator=g, dtype=torch.float64, requires_grad=skip_grad)
    layer = PartialConv2d(c1 + c2, 4, 3, padding=1, multi_channel=True).double()
    mask = ConcatMask.of((m1, c1), (m2, c2))
    y, v = layer((h, skip), mask)
    y_ref, v_ref = layer(torch.cat([h, skip], 1), mask)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(v, v_ref)
    wrt = (h, layer.weight, layer.bias) + ((skip,) if skip_grad else ())
    gy = torch.randn(y.shape, generator=g, dtype=y.dtype)
    for a, r in zip(torch.autograd.grad(y, wrt, gy), torch.autograd.grad(y_ref, wrt, gy)):
        torch.testing.assert_close(a, r, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(layer((h, skip), mask)[0], y_ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="feature group 1 must have shape B×3×H×W"):
        layer((h, skip[:, :2]), mask)
    with pytest.raises(ValueError, match="2 groups of features, the ConcatMask 3"):
        layer((h, skip), ConcatMask.of((m1, c1 - 1), (m2, c2), (m2, 1)))
    with pytest.raises(TypeError, match="needs valid as a ConcatMask"):
        layer((h, skip), mask.full())


@pytest.mark.parametrize("arch", ["pconv", "ctsdg"])
def test_models_with_concat_masks_equal_the_materialised_masks(arch, monkeypatch):
    """The whole U-Net (PConv) and both CTSDG decoders: the same output and gradients as
    when every decoder level is given the concatenated features and the full ``B×C×H×W``
    mask."""
    torch.manual_seed(0)
    model = PConvUNet(layers=3, width=0.125) if arch == "pconv" else CTSDG(layers=3, width=0.0625)
    model.double()       # float64: equal up to rounding, whatever order the sums run in
    image, hole = (t.double() for t in _rect_batch())

    def run():
        model.zero_grad(set_to_none=True)
        out = model(image, hole, check=False)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    out, grads = run()

    forward = PartialConv2d.forward

    def materialised(self, x, valid, check=True):   # the old code: concatenated features, full mask
        if isinstance(valid, ConcatMask):
            x = torch.cat(list(x), 1) if isinstance(x, (tuple, list)) else x
            valid = valid.full()
        return forward(self, x, valid, check)

    monkeypatch.setattr(PartialConv2d, "forward", materialised)
    out_ref, grads_ref = run()
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(grads_ref)
    for a, r in zip(grads, grads_ref):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# CTSDG's edges, per rank

class NoShard:
    """A stream without ``shard``: the rank's share is cut from the global batch."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __call__(self, step):
        return self.pairs(step)


@pytest.mark.parametrize("stream", ["shardable", "global"])
def test_edges_per_rank_equal_the_full_batch_edges_sharded(stream, monkeypatch):
    pairs = TrainingPairs(4, 32, ratio=(0.1, 0.4), seed=7)
    data = ctsdg_recipe.EdgePairs(pairs if stream == "shardable" else NoShard(pairs))
    full = data(3)
    sizes = []
    import inpaintlib.recipes.ctsdg as mod
    original = mod.canny_edges
    monkeypatch.setattr(mod, "canny_edges", lambda image, sigma: sizes.append(len(image)) or original(image, sigma))
    for rank in range(2):
        mine = data.shard(3, rank, 2)
        want = shard_batch(full, rank, 2)
        assert len(mine) == 4
        for a, b in zip(mine, want):
            assert torch.equal(a, b)
    assert sizes == [2, 2]          # each rank ran Canny on its own two images only
