"""Exported generators (ONNX Runtime, TorchScript) compute what the eager models compute."""
import json

import pytest
import torch
from torch import nn

from inpaintlib import export as ex
from inpaintlib.registry import build_model, model_names, save_model

pytestmark = pytest.mark.usefixtures("one_thread")

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# A tiny build of every registered generator, and an image side it accepts.
TINY = {
    "pconv": ({"layers": 3, "width": 0.0625}, 32),
    "plain_unet": ({"layers": 3, "width": 0.0625}, 32),
    "gmcnn": ({"width": 0.125}, 32),
    "clmser": ({"dcw": True, "dpn": True}, 64),
    "ctsdg": ({"layers": 3, "width": 0.0625}, 32),
}


def tiny(name, seed=0, **extra):
    torch.manual_seed(seed)
    config, size = TINY[name]
    model = build_model(name, **{**config, **extra})
    with torch.no_grad():   # He-scaled weights (the N(0, 0.02) inits give near-constant outputs),
        for m in model.modules():   # non-trivial BatchNorm statistics and affine parameters
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
            for p in ("alpha", "beta"):          # CTSDG's Bi-GFF mixing scalars start at 0
                if isinstance(getattr(m, p, None), nn.Parameter):
                    getattr(m, p).fill_(0.5)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval(), size


def test_every_registered_generator_has_an_export_path():
    assert set(model_names()) <= set(TINY), f"no export test for {sorted(set(model_names()) - set(TINY))}"
    for name in model_names():
        model, _ = tiny(name)
        ex.check_exportable(model)   # raises TypeError when there is none


@pytest.mark.parametrize("name", sorted(TINY))
def test_wrapper_equals_the_model(name):
    if name not in model_names():
        pytest.skip(f"{name} is not registered")
    model, size = tiny(name)
    inputs = ex.example_inputs(model, size, batch=2, seed=1)
    with torch.no_grad():
        assert torch.allclose(ex.ExportWrapper(model)(*inputs), ex.eager_output(model, inputs), atol=1e-6)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_exported_file_matches_eager(tmp_path, name, fmt):
    if name not in model_names():
        pytest.skip(f"{name} is not registered")
    model, size = tiny(name)
    path = ex.export_model(model, tmp_path / f"{name}.{fmt}", fmt, size=size, batch=2,
                           meta={"model": name}, onnx_exporter="legacy")
    inputs = ex.example_inputs(model, size, batch=2, seed=7)   # other inputs than the export's
    got = ex.run_exported(path, *inputs)
    want = ex.eager_output(model, inputs)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 1e-4
    assert want.std() > 1e-3          # a real output, not a constant


@pytest.mark.slow   # torch.export + onnxscript: 10–20 s per model on a laptop CPU
@pytest.mark.parametrize("name", ["pconv", "ctsdg"])
def test_default_onnx_exporter_torch_export_path(tmp_path, name):
    if name not in model_names():
        pytest.skip(f"{name} is not registered")
    model, size = tiny(name, **({"normalization": "imagenet"} if name == "pconv" else {}))
    path = ex.export_model(model, tmp_path / f"{name}.onnx", "onnx", size=size, meta={"model": name})
    inputs = ex.example_inputs(model, size, seed=3)
    assert (ex.run_exported(path, *inputs) - ex.eager_output(model, inputs)).abs().max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["exporter"] == "dynamo" and meta["model"] == name
    assert json.loads(meta["inputs"])["hole"] == [1, 1, size, size]


def test_ctsdg_graph_takes_the_edge_map_as_third_input(tmp_path):
    if "ctsdg" not in model_names():
        pytest.skip("ctsdg is not registered")
    model, size = tiny("ctsdg")
    path = ex.export_model(model, tmp_path / "c.onnx", "onnx", size=size, onnx_exporter="legacy")
    sess = ex.onnx_session(path)
    assert [i.name for i in sess.get_inputs()] == ["image", "hole", "edge"]
    image, hole, edge = ex.example_inputs(model, size, seed=2)
    assert edge.sum() > 0
    with pytest.raises(ValueError, match="takes 3 inputs"):
        ex.run_exported(path, image, hole)


def test_checkpoint_export_keeps_metadata_and_rejects_bad_input(tmp_path):
    model, size = tiny("gmcnn")
    ckpt = save_model(model, tmp_path / "g.pt", "gmcnn", TINY["gmcnn"][0])
    path, eager = ex.export_checkpoint(ckpt, tmp_path / "g.torchscript", "torchscript", size=size)
    files = {"inpaintlib.json": ""}
    with pytest.warns(DeprecationWarning):               # TorchScript is deprecated in PyTorch 2.x
        torch.jit.load(str(path), _extra_files=files)
    info = json.loads(files["inpaintlib.json"])
    assert info["model"] == "gmcnn" and info["inputs"]["hole"] == [1, 1, size, size]
    with pytest.raises(ValueError, match="format must be one of"):
        ex.export_model(model, tmp_path / "g.x", "tflite", size=size)
    with pytest.raises(ValueError, match="divisible by 4"):
        ex.export_model(model, tmp_path / "g.onnx", "onnx", size=30, onnx_exporter="legacy")
    with pytest.raises(TypeError, match="no export path for Conv2d"):
        ex.ExportWrapper(nn.Conv2d(3, 3, 3))
