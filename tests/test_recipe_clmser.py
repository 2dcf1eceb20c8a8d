"""The CLmser recipe: the released settings, a learning-rate schedule that really steps,
load-or-train, and a model file that rebuilds the trained variant."""
import pytest
import torch

from inpaintlib import registry
from inpaintlib.data import SampleBank, TrainingPairs
from inpaintlib.models import CLmser
from inpaintlib.recipes import clmser as recipe
from inpaintlib.train import load_checkpoint, read_log

pytestmark = pytest.mark.usefixtures("one_thread")


def pairs(batch=2, size=64, seed=1):
    return TrainingPairs(batch, size, masks="dense_points", ratio=(0.1, 0.4), seed=seed)


def test_schedules_follow_the_released_config():
    for name in ("quick", "workshop", "paper"):
        s = recipe.schedule(name)
        assert (s.lr, s.gamma, s.amsgrad, s.masks) == (1e-3, 0.1, True, "dense_points")
        assert s.image_size % 64 == 0
    for name in ("workshop", "paper"):
        assert (recipe.schedule(name).image_size, recipe.schedule(name).batch_size) == (256, 16)
    paper = recipe.schedule("paper")
    assert paper.steps == 27_000 * 50 // 16 == 84_375                      # 50 epochs of 27k at batch 16
    assert paper.milestone_steps() == [33_750, 67_500]                      # the ends of epochs 20 and 40
    assert recipe.schedule("quick").image_size == 64
    assert recipe.schedule("workshop", steps=10).milestone_steps() == [4, 8]
    # the short quick run keeps its learning rate for four fifths of the run
    assert recipe.schedule("quick").milestone_steps() == [80]
    assert "clmser" in registry.recipe_names()


def test_the_scheduler_steps_at_the_milestones():
    sched = recipe.schedule("workshop", steps=10)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=sched.lr, amsgrad=True)
    lr_schedule = recipe.make_scheduler(opt, sched)
    seen = []
    for _ in range(10):
        opt.step()
        lr_schedule.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([1e-3] * 3 + [1e-4] * 4 + [1e-5] * 3)


def test_loss_is_mse_over_every_pixel_in_minus_one_one():
    image = torch.rand(2, 3, 64, 64)
    pred = torch.rand(2, 3, 64, 64)
    assert float(recipe.clmser_loss(pred, image)) == pytest.approx(float(((2 * pred - 2 * image) ** 2).mean()), rel=1e-6)


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    net = CLmser.variant("CLmser")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, amsgrad=True)
    image, hole = pairs(4)(0)
    losses = []
    for _ in range(8):
        loss = recipe.clmser_loss(net(image, hole), image)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_then_load_without_training(tmp_path):
    out = tmp_path / "run"
    data = pairs()
    net = recipe.train_clmser("quick", out_dir=out, variant="CLmser_n", max_steps=10, data=data, progress=False)
    assert not net.training and (net.dcw, net.dpn) == (True, False)
    log = read_log(out)
    assert log["step"] == list(range(1, 11))                                # a row per step at 10 steps
    lr = dict(zip(log["step"], log["lr"]))
    # the quick schedule drops the rate once, after 80 % of the steps
    assert lr[7] == pytest.approx(1e-3) and lr[8] == pytest.approx(1e-4) and lr[10] == pytest.approx(1e-4)
    ckpt = load_checkpoint(out / "final.pt")
    assert ckpt["schedulers"]["g"]["last_epoch"] == 10
    assert ckpt["optimizers"]["g"]["param_groups"][0]["amsgrad"] is True
    loaded = registry.load_model(out / "clmser.pt")
    assert (loaded.dcw, loaded.dpn) == (True, False)
    image, hole = data(0)
    with torch.no_grad():
        assert torch.allclose(loaded(image, hole), net(image, hole), atol=1e-6)
    stamp = (out / "final.pt").stat().st_mtime_ns
    again = recipe.train_clmser("quick", out_dir=out, variant="CLmser_n", max_steps=10, data=data, progress=False)
    assert (out / "final.pt").stat().st_mtime_ns == stamp                   # loaded, not trained again
    assert len(read_log(out)["step"]) == 10
    with torch.no_grad():
        assert torch.equal(again(image, hole), net(image, hole))


def test_run_directories_and_small_training_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTLIB_CHECKPOINTS", str(tmp_path))
    assert recipe.run_dir("CAE", "quick") == tmp_path / "clmser-CAE-quick"
    assert recipe.run_dir("CLmser", "paper", n_images=3) == tmp_path / "clmser-CLmser-paper-n3"
    assert recipe.run_dir("CAE", "quick", seed=0) == tmp_path / "clmser-CAE-quick"
    assert recipe.run_dir("CAE", "quick", seed=2) == tmp_path / "clmser-CAE-seed2-quick"
    assert recipe.run_dir("CAE", "quick", n_images=3, seed=1) == tmp_path / "clmser-CAE-seed1-quick-n3"
    few = SampleBank("train", size=64, augment=False, length=2)
    first = recipe.train_clmser("quick", variant="CAE", max_steps=2, images=few, progress=False)
    assert (tmp_path / "clmser-CAE-quick-n2" / "clmser.pt").is_file()
    # another seed is another run in its own folder: it trains, it does not load seed 0's weights
    other = recipe.train_clmser("quick", variant="CAE", max_steps=2, images=few, progress=False, seed=1)
    assert (tmp_path / "clmser-CAE-seed1-quick-n2" / "clmser.pt").is_file()
    assert not torch.equal(first.enc_kernels[0], other.enc_kernels[0])
    stream = recipe.training_pairs(recipe.schedule("quick"), few)
    image, hole = stream(0)
    assert image.shape == (8, 3, 64, 64)
    photos = {tuple(few[i].flatten()[:16].tolist()) for i in range(2)}
    assert all(tuple(x.flatten()[:16].tolist()) in photos for x in image)  # only the two training crops
    with pytest.raises(ValueError, match="not both"):
        recipe.train_clmser("quick", data=pairs(), images=few, progress=False)
    with pytest.raises(ValueError, match="known variants"):
        recipe.train_clmser("quick", variant="LMSER", max_steps=1, data=pairs(), progress=False)


def test_gradient_norms_probe_leaves_the_model_alone():
    torch.manual_seed(0)
    net = CLmser.variant("CAE").eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    image, hole = pairs()(0)
    norms = recipe.loss_gradient_norms(net, image, hole)
    assert list(norms) == [f"enc{i}" for i in range(7)] + [f"dec{i}" for i in range(6, -1, -1)]
    assert all(v > 0 for v in norms.values())
    assert not net.training and all(p.grad is None for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
