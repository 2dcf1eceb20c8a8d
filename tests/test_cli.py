"""The inpaintlib command line: real runs on small files, clear errors for bad input."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from inpaintlib import registry
from inpaintlib.cli import main

ROOT = Path(__file__).resolve().parents[1]


def write_pair(tmp_path, size=32, hole_box=(10, 20)):
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([xx * 255 / size, yy * 255 / size, np.full_like(xx, 128)], -1).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    a, b = hole_box
    mask[a:b, a:b] = 255
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return img, mask


@pytest.mark.parametrize("method", ["telea", "ns", "biharmonic"])
def test_inpaint_baselines_fill_hole_and_keep_known_pixels(tmp_path, method, capsys):
    img, mask = write_pair(tmp_path)
    out = tmp_path / "out" / "filled.png"
    rc = main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "mask.png"), "-o", str(out), "--method", method])
    assert rc == 0
    res = np.asarray(Image.open(out)).astype(int)
    known = mask == 0
    assert np.array_equal(res[known], img[known].astype(int))  # composite keeps known pixels
    # a smooth ramp is filled close to the truth
    assert np.abs(res[~known] - img[~known].astype(int)).mean() < 8
    assert "filled 100 hole pixels" in capsys.readouterr().out


def test_inpaint_invert_mask(tmp_path):
    img, mask = write_pair(tmp_path)
    Image.fromarray(255 - mask).save(tmp_path / "black_hole.png")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "mask.png"), "-o", str(a)]) == 0
    assert main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "black_hole.png"), "-o", str(b), "--invert-mask"]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_inpaint_user_errors_exit_2_with_message(tmp_path, capsys):
    write_pair(tmp_path)
    img, mask = str(tmp_path / "img.png"), str(tmp_path / "mask.png")
    assert main(["inpaint", str(tmp_path / "missing.png"), mask, "-o", str(tmp_path / "o.png")]) == 2
    assert "file not found" in capsys.readouterr().err
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert main(["inpaint", img, str(tmp_path / "junk.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert "junk.png" in capsys.readouterr().err
    Image.new("L", (16, 16)).save(tmp_path / "small.png")
    assert main(["inpaint", img, str(tmp_path / "small.png"), "-o", str(tmp_path / "o.png")]) == 2
    assert "same size" in capsys.readouterr().err
    assert main(["inpaint", img, mask, "-o", str(tmp_path / "o.png"), "--method", "magic"]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err


def test_subprocess_user_error_has_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "inpaintlib", "inpaint", str(tmp_path / "nope.png"), str(tmp_path / "m.png"), "-o", "x.png"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: image file not found") and "nope.png" in r.stderr and "Traceback" not in r.stderr


class _Mean(nn.Module):
    """A tiny 'generator' for testing model files: fills holes with the known-pixel mean."""

    def __init__(self, bias: float = 0.0):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, image, hole):
        known = 1 - hole
        mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True)
        return (mean + self.bias).clamp(0, 1).expand_as(image)


def test_inpaint_with_a_model_file(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._MODELS, "test-mean", _Mean)
    img, mask = write_pair(tmp_path)
    model = _Mean(bias=0.0)
    path = registry.save_model(model, tmp_path / "mean.pt", "test-mean", config={"bias": 0.0})
    assert not (tmp_path / "mean.pt.tmp").exists()
    out = tmp_path / "o.png"
    assert main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "mask.png"), "-o", str(out), "--method", str(path)]) == 0
    res = np.asarray(Image.open(out)).astype(float)
    known = mask == 0
    expected = img[known].reshape(-1, 3).mean(0)
    assert np.allclose(res[~known].reshape(-1, 3).mean(0), expected, atol=1.0)


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        registry.load_model(tmp_path / "none.pt")
    torch.save({"hello": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an inpaintlib model file"):
        registry.load_model(tmp_path / "foreign.pt")
    torch.save({"format": registry.MODEL_FORMAT, "model": "no-such", "config": {}, "state_dict": {}, "meta": {}},
               tmp_path / "unknown.pt")
    with pytest.raises(ValueError, match="unknown model 'no-such'"):
        registry.load_model(tmp_path / "unknown.pt")


def test_masks_command_writes_deterministic_set(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["masks", "--kind", "free_form", "--n", "2", "--size", "32", "--buckets", "ctsdg", "-o", str(out)]) == 0
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) == 6
    first = [np.asarray(Image.open(p)) for p in pngs]
    assert all(set(np.unique(a)) <= {0, 255} for a in first)
    out2 = tmp_path / "m2"
    assert main(["masks", "--kind", "free_form", "--n", "2", "--size", "32", "--buckets", "ctsdg", "-o", str(out2)]) == 0
    second = [np.asarray(Image.open(p)) for p in sorted(out2.rglob("*.png"))]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert main(["masks", "--buckets", "nope", "-o", str(tmp_path / "x")]) == 2


def test_eval_command_prints_bucket_table(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    rc = main(["eval", "--method", "telea", "--n", "1", "--size", "32", "--masks", "free_form", "--csv", str(csv)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "psnr" in out.lower() and "telea" in out
    assert csv.exists() and csv.read_text().count("\n") >= 4


def test_train_unknown_method_is_a_clear_error(capsys):
    assert main(["train", "no-such-method"]) == 2
    assert "unknown method 'no-such-method'" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "profile" in out and "telea" in out


# -- convert and export ---------------------------------------------------------------
def _naoto_checkpoint(path, seed=0):
    """A small checkpoint in naoto0804's layout (4 levels, 4 base channels), as its
    train.py saves it: {'n_iter', 'model', 'optimizer'}. Correctness of the mapping is
    tested in test_convert.py; here it only has to be a valid file."""
    from inpaintlib.convert import pconv_key_table

    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in pconv_key_table(4, 4).items():
        if key.endswith("mask_conv.weight"):
            sd[key] = torch.ones(shape)
        elif key.endswith("running_var"):
            sd[key] = torch.ones(shape)
        elif key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(5)
        elif key.endswith("input_conv.weight"):
            sd[key] = torch.randn(shape, generator=g) * shape[1] ** 0.5 * shape[2]
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=g) + (1.0 if key.endswith("bn.weight") else 0.0)
    torch.save({"n_iter": 100, "model": sd, "optimizer": {"state": {}, "param_groups": []}}, path)
    return sd


def test_convert_then_inpaint_eval_and_export(tmp_path, capsys):
    img, mask = write_pair(tmp_path)
    _naoto_checkpoint(tmp_path / "naoto.pth")
    ours = tmp_path / "ours.pt"
    assert main(["convert", "pconv", str(tmp_path / "naoto.pth"), "-o", str(ours)]) == 0
    out = capsys.readouterr().out
    assert "PConvUNet(layers=4, base_channels=4, normalization='imagenet')" in out and "ImageNet" in out
    model = registry.load_model(ours)
    assert model.normalization == "imagenet" and not model.training

    filled = tmp_path / "filled.png"
    assert main(["inpaint", str(tmp_path / "img.png"), str(tmp_path / "mask.png"), "-o", str(filled),
                 "--method", str(ours), "--device", "cpu"]) == 0
    res = np.asarray(Image.open(filled))
    known = mask == 0
    assert np.array_equal(res[known], img[known])
    assert main(["eval", "--method", str(ours), "--n", "1", "--size", "32", "--device", "cpu"]) == 0
    assert "ours.pt" in capsys.readouterr().out

    ts = tmp_path / "ours.torchscript"
    assert main(["export", str(ours), "--format", "torchscript", "-o", str(ts), "--size", "32"]) == 0
    assert "max |exported − eager|" in capsys.readouterr().out and ts.is_file()
    pytest.importorskip("onnxruntime")
    ox = tmp_path / "ours.onnx"
    assert main(["export", str(ours), "--format", "onnx", "-o", str(ox), "--size", "32",
                 "--onnx-exporter", "legacy"]) == 0
    assert ox.is_file()


class _Unsafe:
    """Pickles as a call to ``print``: what a safe load must refuse."""

    def __reduce__(self):
        return (print, ("a pickled call ran",))


def test_convert_and_export_user_errors(tmp_path, capsys):
    assert main(["convert", "lama", str(tmp_path / "x.pth"), "-o", str(tmp_path / "o.pt")]) == 2
    assert "unknown method 'lama'" in capsys.readouterr().err
    assert main(["convert", "pconv", str(tmp_path / "missing.pth"), "-o", str(tmp_path / "o.pt")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    sd = _naoto_checkpoint(tmp_path / "naoto.pth")
    del sd["enc_2.bn.bias"]
    torch.save(sd, tmp_path / "broken.pth")
    assert main(["convert", "pconv", str(tmp_path / "broken.pth"), "-o", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing keys: enc_2.bn.bias" in err
    assert not (tmp_path / "o.pt").exists()          # nothing written for a failed conversion
    assert main(["convert", "gmcnn", str(tmp_path / "naoto.pth"), "-o", str(tmp_path / "o.pt")]) == 2
    assert "looks like a pconv checkpoint" in capsys.readouterr().err
    assert main(["convert", "gmcnn", str(tmp_path / "naoto.pth"), "-o", str(tmp_path / "o.pt"),
                 "--upsampling", "bilinear"]) == 2
    assert "--upsampling applies to pconv conversions only" in capsys.readouterr().err
    # a pickled callable: refused by the safe load, named in one error line with the path once
    _naoto_checkpoint(tmp_path / "naoto.pth")
    torch.save({"model": torch.load(tmp_path / "naoto.pth")["model"], "hook": _Unsafe()}, tmp_path / "unsafe.pth")
    assert main(["convert", "pconv", str(tmp_path / "unsafe.pth"), "-o", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count(str(tmp_path / "unsafe.pth")) == 1 and "'print'" in err and "--trust" in err
    assert len(err.strip().splitlines()) == 1 and "add_safe_globals" not in err
    # -o naming a folder: one clear line, nothing written there, no stray temporary file
    assert main(["convert", "pconv", str(tmp_path / "naoto.pth"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "it is a folder" in err and err.count(str(tmp_path)) >= 1
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "o.pt").exists()
    assert main(["export", str(tmp_path / "none.pt"), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "naoto.pth"), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "not an inpaintlib model file" in capsys.readouterr().err
