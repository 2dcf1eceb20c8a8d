"""The PConv recipe end to end on a few steps: two stages, load-or-train, a usable model file."""
import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib import registry
from inpaintlib.cli import main
from inpaintlib.data import TrainingPairs
from inpaintlib.models import PConvUNet
from inpaintlib.recipes import pconv as recipe
from inpaintlib.train import read_log


def test_schedules_follow_the_paper():
    for name in ("quick", "workshop", "paper"):
        s = recipe.schedule(name)
        assert (s.lr1, s.lr2, s.batch_size) == (2e-4, 5e-5, 6)
    assert recipe.schedule("paper").layers == 7 and recipe.schedule("paper").width == 1.0
    assert recipe.schedule("quick").image_size % 2 ** recipe.schedule("quick").layers == 0
    assert "pconv" in registry.recipe_names() and {"pconv", "plain_unet"} <= set(registry.model_names())


def test_train_pconv_two_stages_then_loads(tmp_path, capsys):
    out = tmp_path / "run"
    pairs = TrainingPairs(2, 32, ratio=(0.1, 0.4), seed=1)
    net = recipe.train_pconv("quick", out_dir=out, max_steps=4, backbone="efficientnet_lite0",
                             data=pairs, progress=False)
    assert not net.training
    assert (out / "stage1/final.pt").is_file() and (out / "stage2/final.pt").is_file()
    assert read_log(out / "stage1")["step"][-1] == 4 and read_log(out / "stage2")["step"][-1] == 1
    model_file = out / "pconv.pt"
    loaded = registry.load_model(model_file)
    image, hole = pairs(0)
    with torch.no_grad():
        assert torch.allclose(loaded(image, hole), net(image, hole), atol=1e-6)
    # a second call loads both stages instead of training again
    stamp = (out / "stage1/final.pt").stat().st_mtime_ns
    again = recipe.train_pconv("quick", out_dir=out, max_steps=4, backbone="efficientnet_lite0",
                               data=pairs, progress=False)
    assert (out / "stage1/final.pt").stat().st_mtime_ns == stamp
    with torch.no_grad():
        assert torch.equal(again(image, hole), net(image, hole))
    # the model file works from the command line
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "img.png")
    Image.fromarray((hole[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "hole.png")
    assert main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "hole.png"), "-o", str(tmp_path / "o.png"),
                 "--method", str(model_file)]) == 0
    assert Image.open(tmp_path / "o.png").size == (32, 32)


def test_stage_two_keeps_encoder_batchnorm_statistics(tmp_path):
    torch.manual_seed(0)
    net = PConvUNet(layers=3, width=0.125)
    pairs = TrainingPairs(2, 16, ratio=(0.1, 0.4), seed=0)
    loss_fn = lambda pred, image, hole: (((pred - image).abs()).mean(), {})
    recipe.train_stage(net, loss_fn, pairs, stage=1, steps=2, lr=1e-3, out_dir=tmp_path, progress=False)
    enc_bn = {n: m.running_mean.clone() for n, m in net.named_modules()
              if isinstance(m, torch.nn.BatchNorm2d) and n.startswith("enc")}
    assert enc_bn, "the encoder has BatchNorm layers"
    recipe.train_stage(net, loss_fn, pairs, stage=2, steps=2, lr=1e-3, out_dir=tmp_path, progress=False)
    for n, m in net.named_modules():
        if n in enc_bn:
            assert torch.equal(m.running_mean, enc_bn[n]), f"{n} running statistics moved in stage 2"
    with pytest.raises(ValueError, match="stage must be 1 or 2"):
        recipe.train_stage(net, loss_fn, pairs, stage=3, steps=1, lr=1e-3, out_dir=tmp_path, progress=False)
