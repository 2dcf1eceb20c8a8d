"""The CTSDG recipe on a few steps: both phases, load-or-train, frozen BN, a usable model file."""
import pytest
import torch

from inpaintlib import registry
from inpaintlib.data import TrainingPairs
from inpaintlib.losses import CTSDGLoss
from inpaintlib.models import CTSDG, CTSDGDiscriminator
from inpaintlib.recipes import ctsdg as recipe
from inpaintlib.train import read_log

pytestmark = pytest.mark.usefixtures("one_thread")


def test_schedules_follow_the_original():
    for name in ("quick", "workshop", "paper"):
        s = recipe.schedule(name)
        assert (s.lr_train, s.lr_finetune, s.d_lr_ratio, s.batch_size, s.sigma) == (2e-4, 5e-5, 0.1, 6, 2.0)
        assert s.image_size % 2 ** s.layers == 0
    paper = recipe.schedule("paper")
    assert (paper.train_steps, paper.finetune_steps, paper.layers, paper.width, paper.image_size) == \
        (350_000, 150_000, 7, 1.0, 256)
    assert recipe.schedule("quick").image_size == 64 and recipe.schedule("quick").layers == 5
    assert "ctsdg" in registry.recipe_names()


def test_edge_pairs_compute_both_edge_maps_once():
    pairs = TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=3)
    data = recipe.EdgePairs(pairs)
    image, hole, edge_in, edge_gt = data(0)
    assert torch.equal(image, pairs(0)[0]) and torch.equal(hole, pairs(0)[1])
    assert float((edge_in * hole).sum()) == 0                       # the input edges stay out of the hole
    assert set(edge_gt.unique().tolist()) <= {0.0, 1.0} and edge_gt.shape == (2, 1, 32, 32)
    assert data(0)[0] is not None and len(recipe.EdgePairs(data)(1)) == 4


def _tiny_run(tmp_path, steps, phase="train", lr=2e-4, data=None, seed=0):
    torch.manual_seed(seed)
    g, d = CTSDG(layers=3, width=0.0625), CTSDGDiscriminator(width=0.0625)
    data = data or TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=1)
    loss = CTSDGLoss(None, weights={"perceptual": 0.0, "style": 0.0})
    res = recipe.train_phase(g, d, loss, data, phase=phase, steps=steps, lr=lr, d_lr=lr * 0.1,
                             out_dir=tmp_path, progress=False, log_every=1)
    return g, d, res


def test_a_few_steps_lower_the_loss(tmp_path):
    fixed = TrainingPairs(2, 32, ratio=(0.2, 0.4), seed=5)
    batch = fixed(0)
    g, _, res = _tiny_run(tmp_path, 10, lr=2e-3, data=lambda step: batch)
    log = read_log(res["log"])
    assert log["step"] == list(range(1, 11))
    rec = [60 * h + 10 * v for h, v in zip(log["hole"], log["valid"])]
    assert sum(rec[-3:]) / 3 < 0.9 * sum(rec[:3]) / 3
    assert log["loss"][-1] < log["loss"][0]
    assert all(k in log for k in ("adversarial", "intermediate", "d"))


def test_finetune_freezes_every_generator_batchnorm(tmp_path):
    g, d, _ = _tiny_run(tmp_path, 2, phase="train")
    stats = {n: m.running_mean.clone() for n, m in g.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    weights = {n: m.weight.detach().clone() for n, m in g.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert len(stats) == len(g.batchnorms()) > 0
    loss = CTSDGLoss(None, weights={"perceptual": 0.0, "style": 0.0})
    recipe.train_phase(g, d, loss, TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=2), phase="finetune", steps=2,
                       lr=5e-5, d_lr=5e-6, out_dir=tmp_path, progress=False)
    assert g.bn_frozen
    for n, m in g.named_modules():
        if n in stats:
            assert torch.equal(m.running_mean, stats[n]), f"{n} running statistics moved while fine-tuning"
    assert any(not torch.equal(m.weight, weights[n]) for n, m in g.named_modules() if n in weights), \
        "BN affine parameters still train"
    with pytest.raises(ValueError, match="phase must be one of"):
        recipe.train_phase(g, d, loss, TrainingPairs(2, 32, seed=2), phase="pretrain", steps=1, lr=1e-4,
                           d_lr=1e-5, out_dir=tmp_path, progress=False)


def test_train_ctsdg_two_phases_then_loads(tmp_path, monkeypatch):
    monkeypatch.setitem(recipe.SCHEDULES, "quick", recipe.schedule("quick", layers=3, width=0.0625, image_size=32))
    out = tmp_path / "run"
    pairs = TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=1)
    g = recipe.train_ctsdg("quick", out_dir=out, max_steps=4, backbone="efficientnet_lite0", data=pairs,
                           progress=False)
    assert not g.training
    assert (out / "train/final.pt").is_file() and (out / "finetune/final.pt").is_file()
    assert read_log(out / "train")["step"][-1] == 4 and read_log(out / "finetune")["step"][-1] == 1
    loaded = registry.load_model(out / "ctsdg.pt")
    image, hole = pairs(0)
    with torch.no_grad():
        assert torch.equal(loaded(image, hole), g(image, hole))
    stamp = (out / "train/final.pt").stat().st_mtime_ns
    again = recipe.train_ctsdg("quick", out_dir=out, max_steps=4, backbone="efficientnet_lite0", data=pairs,
                               progress=False)
    assert (out / "train/final.pt").stat().st_mtime_ns == stamp
    with torch.no_grad():
        assert torch.equal(again(image, hole), g(image, hole))


def test_run_dirs_name_the_seed_and_the_bigff_ablation(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTLIB_CHECKPOINTS", str(tmp_path))
    assert recipe.run_dir("quick") == tmp_path / "ctsdg-quick"
    assert recipe.run_dir("quick", seed=2) == tmp_path / "ctsdg-seed2-quick"
    assert recipe.run_dir("workshop", seed=1, bigff=False) == tmp_path / "ctsdg-nobigff-seed1-workshop"
    assert recipe.schedule("quick").bigff and recipe.schedule("paper").bigff


def test_without_bigff_alpha_and_beta_stay_zero_and_the_block_is_the_identity(tmp_path, monkeypatch):
    monkeypatch.setitem(recipe.SCHEDULES, "quick", recipe.schedule("quick", layers=3, width=0.0625, image_size=32))
    monkeypatch.setenv("INPAINTLIB_CHECKPOINTS", str(tmp_path))
    pairs = TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=1)
    kw = dict(max_steps=3, backbone="efficientnet_lite0", data=pairs, progress=False)
    with_fusion = recipe.train_ctsdg("quick", **kw)
    ablated = recipe.train_ctsdg("quick", overrides={"bigff": False}, **kw)
    assert (tmp_path / "ctsdg-quick/finetune/final.pt").is_file()
    assert (tmp_path / "ctsdg-nobigff-quick/finetune/final.pt").is_file()
    assert float(with_fusion.bigff.alpha.detach()) != 0.0 and float(with_fusion.bigff.beta.detach()) != 0.0
    assert float(ablated.bigff.alpha.detach()) == 0.0 and float(ablated.bigff.beta.detach()) == 0.0
    assert all(p.requires_grad for p in ablated.parameters())        # an ordinary module again
    ft, fs = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(ablated.bigff(ft, fs), torch.cat([ft, fs], 1))
    # the ablation's checkpoint is never loaded for the method (and back): configs differ
    from inpaintlib.train import CheckpointMismatchError
    with pytest.raises(CheckpointMismatchError, match="bigff"):
        recipe.train_ctsdg("quick", out_dir=tmp_path / "ctsdg-quick", overrides={"bigff": False}, **kw)
