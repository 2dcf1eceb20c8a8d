"""The GMCNN recipe on a few steps: phases, critic steps per generator step, model file;
and the step functions term by term against the original's definitions."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib import registry
from inpaintlib.losses import GMCNN_LOSS_WEIGHTS
from inpaintlib.models import GMCNN, GlobalDiscriminator, LocalDiscriminator
from inpaintlib.recipes import gmcnn as recipe
from inpaintlib.train import load_checkpoint, read_log


pytestmark = pytest.mark.usefixtures("one_thread")


def test_schedule_and_weights_follow_the_original():
    assert GMCNN_LOSS_WEIGHTS == {"rec": 1.4, "ae": 1.2, "mrf": 0.05, "adv": 0.001}
    paper = recipe.schedule("paper")
    assert (paper.lr_pretrain, paper.lr_finetune, paper.betas, paper.d_steps) == (1e-5, 1e-5, (0.5, 0.9), 5)
    assert (paper.batch_pretrain, paper.batch_finetune, paper.image_size) == (8, 6, 256)
    assert paper.confidence_kernel == 65 and recipe.schedule("quick").confidence_kernel == 17
    assert "gmcnn" in registry.recipe_names() and "gmcnn" in registry.model_names()


def tiny(tmp_path, **kw):
    s = recipe.schedule("quick", image_size=32, width=0.125, **kw)
    g = GMCNN(width=s.width)
    return s, g


@pytest.mark.parametrize("adversarial", ["hinge", "wgan-gp"])
def test_finetune_takes_d_steps_critic_steps_per_generator_step(tmp_path, adversarial):
    s, g = tiny(tmp_path, finetune_steps=2, d_steps=3)
    dg, dl = GlobalDiscriminator(in_size=32, width=s.width), LocalDiscriminator(in_size=16, width=s.width)
    res = recipe.finetune(g, dg, dl, recipe.training_pairs(s, 2), s, tmp_path, mrf=None,
                          adversarial=adversarial, progress=False)
    ckpt = load_checkpoint(tmp_path / "finetune" / "final.pt")
    steps = lambda opt: {int(v["step"]) for v in opt["state"].values()}
    assert steps(ckpt["optimizers"]["g"]) == {2}
    assert steps(ckpt["optimizers"]["d"]) == {6}
    assert {"rec", "ae", "adv", "d"} <= set(read_log(tmp_path / "finetune"))
    assert res["trained"]


def test_unknown_adversarial_loss_is_refused():
    with pytest.raises(ValueError, match="hinge"):
        recipe.finetune_step_fn(lambda h: h, None, adversarial="lsgan")


def test_train_gmcnn_end_to_end_writes_a_usable_model_file(tmp_path):
    net = recipe.train_gmcnn("quick", out_dir=tmp_path, max_steps=2, backbone="efficientnet_lite0", progress=False)
    assert not net.training
    log = read_log(tmp_path / "finetune")
    assert "mrf" in log and log["step"][-1] == 1
    loaded = registry.load_model(tmp_path / "gmcnn.pt")
    x = torch.rand(1, 3, 64, 64)
    h = torch.zeros(1, 1, 64, 64)
    h[..., 16:48, 16:48] = 1
    with torch.no_grad():
        assert torch.allclose(loaded(x, h), net(x, h), atol=1e-6)


# ------------------------------------------------------------------------------------------
# The step functions term by term, against the original's definitions written out here.
# A recording trainer (no optimizer steps) and a fixed "generator" make every term exact.

class RecordingTrainer:
    """What the step functions use of a Trainer: ``models`` and ``optimize`` (recorded)."""

    def __init__(self, **models):
        self.models = models
        self.losses = []

    def optimize(self, name, loss):
        assert loss.dim() == 0 and loss.requires_grad
        self.losses.append((name, loss.detach()))
        return torch.zeros(())


class FixedGenerator(nn.Module):
    """Returns the same ``[0, 1]`` prediction whatever the input."""

    def __init__(self, pred):
        super().__init__()
        self.pred = nn.Parameter(pred.clone())

    def forward(self, image, hole):
        return self.pred


def signed_score(y, weight):
    """A small nonlinear critic on the original's ``[-1, 1]`` images ``y``: one score per sample."""
    return torch.tanh(F.conv2d(y, weight, padding=1)).flatten(1).sum(1, keepdim=True) * 0.2 + (y ** 2).mean((1, 2, 3))[:, None]


class SignedCritic(nn.Module):
    """Takes ``[0, 1]`` images like the book's critics, and maps them to ``[-1, 1]`` inside."""

    def __init__(self, seed):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x):
        return signed_score(x * 2 - 1, self.weight)


def rect_holes():
    """Two rectangles of different sizes and places in 32-px images (1 = missing)."""
    hole = torch.zeros(2, 1, 32, 32)
    hole[0, :, 4:20, 6:26] = 1     # 16×20
    hole[1, :, 10:22, 8:24] = 1    # 12×16
    return hole


def free_form_holes():
    hole = torch.zeros(2, 1, 32, 32)
    hole[0, :, 3:9, 2:30] = 1
    hole[0, :, 3:28, 20:24] = 1
    hole[1, :, 12:30, 5:11] = 1
    hole[1, :, 25:30, 5:27] = 1
    return hole


def loop_crops(x, hole, size):
    """The original's ``x[:, :, t:t+h, l:l+w]`` (the hole's box), sample by sample, with the
    resize to the local critic's ``size`` the book applies to every box."""
    out = []
    for b in range(x.shape[0]):
        ys, xs = torch.nonzero(hole[b, 0] > 0, as_tuple=True)
        t, l, bottom, right = int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())
        patch = x[b:b + 1, :, t:bottom + 1, l:right + 1]
        out.append(F.interpolate(patch, size=(size, size), mode="bilinear", align_corners=False))
    return torch.cat(out)


def batch(hole, seed=0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(hole.shape[0], 3, 32, 32, generator=gen)
    pred = torch.rand(hole.shape[0], 3, 32, 32, generator=gen)
    return image, pred


def original_reconstruction_terms(pred, image, hole, confidence):
    """``pytorch/model/net.py`` ``forward_G``, on ``[-1, 1]`` images: L1 over all elements of
    the confidence-masked completed image (the confidence map is 0 on known pixels) divided by
    mean(hole); L1 of the known region divided by mean(1 − hole)."""
    pred_s, gt_s = pred * 2 - 1, image * 2 - 1
    completed = pred_s * hole + gt_s * (1 - hole)
    mask = hole * confidence(hole)
    rec = (completed * mask - gt_s * mask).abs().mean() / hole.mean()
    ae = (pred_s * (1 - hole) - gt_s * (1 - hole)).abs().mean() / (1 - hole).mean()
    return rec, ae


def test_pretrain_l1_terms_are_on_the_originals_minus_one_to_one_scale():
    s = recipe.schedule("quick", image_size=32, width=0.125)
    conf = s.confidence()
    hole = rect_holes()
    image, pred = batch(hole)
    trainer = RecordingTrainer(g=FixedGenerator(pred))
    logs = recipe.pretrain_step_fn(conf)(trainer, (image, hole))
    rec, ae = original_reconstruction_terms(pred, image, hole, conf)
    torch.testing.assert_close(logs["rec"].detach(), rec, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logs["ae"].detach(), ae, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logs["loss"].detach(), 1.4 * rec + 1.2 * ae, rtol=1e-5, atol=1e-7)
    # twice the same L1 on [0, 1] images (the old, silently halved, values)
    rec01 = (hole * conf(hole) * (pred - image) * hole).abs().mean() / hole.mean()
    ae01 = ((1 - hole) * (pred - image)).abs().mean() / (1 - hole).mean()
    torch.testing.assert_close(logs["rec"].detach(), 2 * rec01, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logs["ae"].detach(), 2 * ae01, rtol=1e-5, atol=1e-7)
    assert [name for name, _ in trainer.losses] == ["g"]


@pytest.mark.parametrize("masks", ["rectangle", "free-form"])
def test_finetune_generator_loss_matches_the_original(masks):
    """ID-MRF on the local patch for rectangles (``completed_local`` vs ``gt_local``) and on
    the whole completed image for free-form masks; L1 terms on [-1, 1]; hinge adversarial."""
    s = recipe.schedule("quick", image_size=32, width=0.125)
    conf = s.confidence()
    rect = masks == "rectangle"
    hole = rect_holes() if rect else free_form_holes()
    image, pred = batch(hole, seed=1)
    calls = []

    def mrf(gen, target):   # records what ID-MRF is given; any differentiable function will do
        calls.append((gen.detach().clone(), target.detach().clone()))
        return (gen - target).pow(2).mean() + gen.mean()

    dg, dl = SignedCritic(1), SignedCritic(2)
    trainer = RecordingTrainer(g=FixedGenerator(pred), dg=dg, dl=dl)
    step = recipe.finetune_step_fn(conf, mrf, d_steps=1, adversarial="hinge", local_size=16 if rect else None)
    logs = step(trainer, (image, hole))

    comp = pred * hole + image * (1 - hole)
    comp_l = loop_crops(comp, hole, 16) if rect else comp
    gt_l = loop_crops(image, hole, 16) if rect else image
    assert len(calls) == 1
    torch.testing.assert_close(calls[0][0], comp_l, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(calls[0][1], gt_l, rtol=1e-5, atol=1e-6)
    m = (comp_l - gt_l).pow(2).mean() + comp_l.mean()
    torch.testing.assert_close(logs["mrf"].detach(), m, rtol=1e-5, atol=1e-6)
    if rect:   # not the whole image any more
        assert abs(float(logs["mrf"].detach()) - float((comp - image).pow(2).mean() + comp.mean())) > 1e-3

    rec, ae = original_reconstruction_terms(pred, image, hole, conf)
    with torch.no_grad():
        adv = -dg(comp).mean() - dl(comp_l).mean()
        d = (F.relu(1 - dg(image)).mean() + F.relu(1 + dg(comp)).mean()
             + F.relu(1 - dl(gt_l)).mean() + F.relu(1 + dl(comp_l)).mean())
    torch.testing.assert_close(logs["rec"].detach(), rec, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logs["ae"].detach(), ae, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logs["adv"].detach(), adv, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logs["d"].detach(), d, rtol=1e-5, atol=1e-6)
    total = 1.4 * rec + 1.2 * ae + 0.05 * m + 0.001 * adv
    torch.testing.assert_close(logs["loss"].detach(), total, rtol=1e-5, atol=1e-6)
    assert [name for name, _ in trainer.losses] == ["d", "g"]


def test_mrf_region_image_is_the_whole_completion_for_the_ablation():
    """``mrf_region="image"`` (the ablation's arm) gives ID-MRF the whole completed image and
    truth even for rectangles, while the local critic still sees the patch."""
    s = recipe.schedule("quick", image_size=32, width=0.125)
    hole = rect_holes()
    image, pred = batch(hole, seed=1)
    calls = []

    def mrf(gen, target):
        calls.append((gen.detach().clone(), target.detach().clone()))
        return (gen - target).abs().mean()

    trainer = RecordingTrainer(g=FixedGenerator(pred), dg=SignedCritic(1), dl=SignedCritic(2))
    step = recipe.finetune_step_fn(s.confidence(), mrf, d_steps=1, local_size=16, mrf_region="image")
    step(trainer, (image, hole))
    comp = pred * hole + image * (1 - hole)
    torch.testing.assert_close(calls[0][0], comp)
    torch.testing.assert_close(calls[0][1], image)
    with pytest.raises(ValueError, match="mrf_region"):
        recipe.finetune_step_fn(s.confidence(), mrf, mrf_region="hole")


def masked_penalty(weight, real, fake, alpha, mask):
    """The TF ``gradients_penalty`` on ``random_interpolates`` of the ``[-1, 1]`` images:
    ``10 · mean_b (sqrt(Σ_{c,y,x} mask · (∂D/∂x̂)²) − 1)²``, by autograd in the test."""
    x = (alpha * (real * 2 - 1) + (1 - alpha) * (fake * 2 - 1)).requires_grad_(True)
    (grad,) = torch.autograd.grad(signed_score(x, weight).sum(), x)
    slopes = (grad.pow(2) * mask).sum((1, 2, 3)).sqrt()
    return 10 * (slopes - 1).pow(2).mean()


@pytest.mark.parametrize("masks", ["rectangle", "free-form"])
def test_wgan_gp_penalty_is_masked_like_the_tf_code(masks):
    """Global critic: the penalty's norm over the hole; local critic: over the hole cropped
    like the patch (rectangles) or the hole (free-form); gradients w.r.t. [-1, 1] images."""
    s = recipe.schedule("quick", image_size=32, width=0.125)
    rect = masks == "rectangle"
    hole = rect_holes() if rect else free_form_holes()
    image, pred = batch(hole, seed=2)
    dg, dl = SignedCritic(3), SignedCritic(4)
    trainer = RecordingTrainer(g=FixedGenerator(pred), dg=dg, dl=dl)
    step = recipe.finetune_step_fn(s.confidence(), None, d_steps=1, adversarial="wgan-gp",
                                   local_size=16 if rect else None)
    torch.manual_seed(123)
    logs = step(trainer, (image, hole))
    torch.manual_seed(123)             # the same α: one per sample, global critic first
    alpha_g, alpha_l = torch.rand(2, 1, 1, 1), torch.rand(2, 1, 1, 1)

    comp = pred.detach() * hole + image * (1 - hole)
    comp_l = loop_crops(comp, hole, 16) if rect else comp
    gt_l = loop_crops(image, hole, 16) if rect else image
    hole_l = loop_crops(hole, hole, 16) if rect else hole
    if rect:   # the box is the rectangle's, so its crop of the hole is all hole
        assert bool((hole_l == 1).all())
    gp_g = masked_penalty(dg.weight, image, comp, alpha_g, hole)
    gp_l = masked_penalty(dl.weight, gt_l, comp_l, alpha_l, hole_l)
    with torch.no_grad():
        wgan = dg(comp).mean() - dg(image).mean() + dl(comp_l).mean() - dl(gt_l).mean()
    torch.testing.assert_close(logs["d"].detach(), wgan + gp_g + gp_l, rtol=1e-5, atol=1e-6)
    # the penalty without the hole mask (the old behaviour) is a different number
    unmasked = masked_penalty(dg.weight, image, comp, alpha_g, torch.ones_like(hole))
    assert abs(float(unmasked - gp_g)) > 1e-2
