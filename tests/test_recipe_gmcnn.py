"""The GMCNN recipe on a few steps: phases, critic steps per generator step, model file."""
import pytest
import torch

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
