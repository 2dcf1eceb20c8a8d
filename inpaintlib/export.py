"""Deployable generators: ONNX and TorchScript files that take the image and the hole mask.

Taught with the "Comparing the methods" chapter (deployment and speed), and named in the
method chapters' notes on the original weights. ``inpaintlib export CHECKPOINT --format
onnx|torchscript -o FILE`` writes a file whose graph computes exactly what
``model(image, hole)`` computes in eval mode: inputs ``image`` (``B×3×H×W`` in ``[0, 1]``)
and ``hole`` (``B×1×H×W``, 1 = missing), output ``pred`` (``B×3×H×W`` in ``[0, 1]``, the
raw prediction; paste the known pixels back as :func:`inpaintlib.tensors.composite` does).
CTSDG's graph has a third input, ``edge`` (``B×1×H×W``): its structure stream reads Canny
edges, which scikit-image computes outside any graph
(:func:`inpaintlib.models.ctsdg.known_region_edges`; :func:`example_inputs` shows how).
Every registered generator has an export path: PConv U-Net, its plain twin, GMCNN, CLmser
(all four variants) and CTSDG (whose CFA attention is written with a transposed
convolution instead of ``F.fold``, which the exporters cannot translate).

Why a wrapper. A generator's ``forward`` validates its input with Python ``if``-s on
tensor values (binary mask, range ``[0, 1]``, NaN): fine in eager mode, but
``torch.export`` refuses to guess a data-dependent branch and a traced graph would bake
the checks' outcome in. :class:`ExportWrapper` runs the model's own ``forward`` under
:func:`inpaintlib.tensors.export_mode`, where those value checks are skipped (type and
shape checks stay) and CTSDG's attention writes ``F.fold`` as a transposed convolution;
the export itself runs without gradients, where
:class:`~inpaintlib.nn.partial_conv.PartialConv2d` uses plain tensor ops instead of its
training-time autograd function (TorchScript cannot save a Python autograd function).
The tests check that the exported files agree with the eager model to 1e-4.

The file has a fixed input size (``size``, ``batch``; 256 px and batch 1 by default):
GMCNN's reflection padding and the partial convolutions' mask path take
shape-dependent Python branches, so one exported graph serves one shape. ONNX Runtime
rejects another shape with an error naming the expected dimensions.

The ONNX path is PyTorch's ``torch.export``-based exporter by default (``dynamo=True``,
PyTorch's default since 2.9; it needs the ``onnxscript`` package). The TorchScript-based
exporter (``dynamo=False``) still exists in PyTorch 2.13, exports in a fraction of the
time (0.5 s against 6–8 s for a small U-Net on a laptop-class CPU) but warns that it will
be removed: ``onnx_exporter="legacy"`` (``--onnx-exporter legacy``) selects it. Both give
graphs that agree with the eager model to float32 rounding.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from .tensors import export_mode

__all__ = ["ExportWrapper", "export_model", "export_checkpoint", "run_exported", "onnx_session", "FORMATS",
           "ONNX_EXPORTERS", "check_exportable", "supported_models", "input_names", "example_inputs",
           "eager_output"]

FORMATS = ("onnx", "torchscript")
ONNX_EXPORTERS = ("dynamo", "legacy")
PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------------------
# the model, as it is traced
# ---------------------------------------------------------------------------------------
def _exportable() -> tuple[type, ...]:
    from .models.ctsdg import CTSDG
    from .models.gmcnn import GMCNN
    from .models.lmser import CLmser
    from .models.pconv_unet import PConvUNet, PlainUNet

    return (PConvUNet, PlainUNet, GMCNN, CLmser, CTSDG)


def input_names(model: nn.Module) -> tuple[str, ...]:
    """The exported graph's inputs: ``("image", "hole")``, and ``"edge"`` for CTSDG, whose
    structure stream reads a Canny edge map computed outside the graph (scikit-image;
    :func:`inpaintlib.models.ctsdg.known_region_edges`)."""
    return ("image", "hole", "edge") if type(model).__name__ == "CTSDG" else ("image", "hole")


def supported_models() -> list[str]:
    """Names of the generator classes :class:`ExportWrapper` knows."""
    return sorted(cls.__name__ for cls in _exportable())


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`TypeError` unless ``model`` is one of the exportable generators."""
    if type(model) not in _exportable():
        raise TypeError(f"no export path for {type(model).__name__}; exportable generators: "
                        f"{', '.join(supported_models())}")


class ExportWrapper(nn.Module):
    """``wrapper(image, hole[, edge])`` = ``model(image, hole[, edge=edge])`` in eval mode,
    run under :func:`inpaintlib.tensors.export_mode`: the model's own forward, with its
    value checks (range, binary mask, NaN) left out of the graph. Wrapping puts the model in
    eval mode; validate the inputs before running an exported file.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        check_exportable(model)
        self.model = model.eval()
        self.input_names = input_names(model)

    def forward(self, image: torch.Tensor, hole: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        with export_mode():
            if extra:
                return self.model(image, hole, edge=extra[0])
            return self.model(image, hole)


# ---------------------------------------------------------------------------------------
# writing and running exported files
# ---------------------------------------------------------------------------------------
def example_inputs(model: nn.Module, size: int, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded inputs for ``model``'s exported graph: ``(image, hole)`` and, for CTSDG,
    the edge map of the known region."""
    p = next(model.parameters())
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    smooth = torch.stack([xx, yy, (xx + yy) / 2])                  # gradients, so edges exist
    image = (0.5 * smooth + 0.5 * torch.rand(batch, 3, size, size, generator=g)).clamp(0, 1)
    hole = torch.zeros(batch, 1, size, size)
    hole[:, :, size // 4: size // 2, size // 4: size // 2] = 1.0
    hole = torch.maximum(hole, (torch.rand(batch, 1, size, size, generator=g) < 0.1).float())
    inputs = (image.to(p.device), hole.to(p.device))
    if "edge" in input_names(model):
        from .models.ctsdg import known_region_edges

        inputs += (known_region_edges(*inputs, sigma=model.sigma),)
    return inputs


def eager_output(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``model(image, hole)`` (``edge=`` for CTSDG) in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        if len(inputs) == 3:
            return model(inputs[0], inputs[1], edge=inputs[2])
        return model(*inputs)


def export_model(model: nn.Module, output: PathLike, fmt: str, size: int = 256, batch: int = 1,
                 meta: Optional[dict] = None, onnx_exporter: str = "dynamo") -> Path:
    """Write ``model`` (a registered generator) as ONNX or TorchScript to ``output``.

    The graph has inputs ``image`` and ``hole`` of fixed shapes ``batch×3×size×size`` and
    ``batch×1×size×size`` and output ``pred``. ``meta`` (JSON-able) is stored in the file:
    ONNX metadata properties, or the TorchScript extra file ``inpaintlib.json``.
    ``onnx_exporter``: ``"dynamo"`` (``torch.export``-based, the default) or ``"legacy"``
    (the TorchScript-based exporter: many times faster to export, deprecated by PyTorch).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if onnx_exporter not in ONNX_EXPORTERS:
        raise ValueError(f"onnx_exporter must be one of {', '.join(ONNX_EXPORTERS)}, got {onnx_exporter!r}")
    if not isinstance(size, int) or size < 1 or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"size and batch must be positive integers, got size={size!r}, batch={batch!r}")
    wrapper = ExportWrapper(model)
    inputs = example_inputs(model, size, batch)
    eager_output(model, inputs)               # the model's own checks: size divisibility etc.
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    shapes = {"image": [batch, 3, size, size], "hole": [batch, 1, size, size], "edge": [batch, 1, size, size]}
    info = {"inputs": {n: shapes[n] for n in wrapper.input_names}, "output": "pred",
            "conventions": "image in [0,1]; hole 1 = missing; pred in [0,1] (raw)", **(meta or {})}
    tmp = output.with_name(output.name + ".tmp")
    if fmt == "onnx":
        with export_mode():   # also around the exporter's own passes, not only the traced call
            _export_onnx(wrapper, inputs, tmp, {**info, "exporter": onnx_exporter}, onnx_exporter)
    else:
        with torch.no_grad(), export_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")        # TracerWarnings and TorchScript's deprecation notice
            traced = torch.jit.trace(wrapper, inputs, check_trace=False)
            torch.jit.save(traced, str(tmp), _extra_files={"inpaintlib.json": json.dumps(info)})
    os.replace(tmp, output)
    return output


def _export_onnx(wrapper: nn.Module, args, path: Path, info: dict, exporter: str) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the torch.export-based exporter needs it)
    except ImportError as err:
        raise ImportError(f"ONNX export needs the 'onnx' and 'onnxscript' packages ({err.name} is missing): "
                          "pip install 'inpaintlib[export]'") from err
    import logging

    names = {"input_names": list(wrapper.input_names), "output_names": ["pred"]}
    quiet = logging.getLogger("torch.onnx")          # "torchvision is not installed" notes
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                proto = torch.onnx.export(wrapper, args, dynamo=True, verbose=False, report=False,
                                          **names).model_proto
            else:
                torch.onnx.export(wrapper, args, str(path), dynamo=False, opset_version=18, **names)
                proto = onnx.load_model(str(path))
    finally:
        quiet.setLevel(level)
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), value if isinstance(value, str) else json.dumps(value)
    onnx.save_model(proto, str(path))


def export_checkpoint(checkpoint: PathLike, output: PathLike, fmt: str, size: int = 256,
                      batch: int = 1, onnx_exporter: str = "dynamo") -> tuple[Path, nn.Module]:
    """Export a portable model file (:func:`inpaintlib.registry.save_model`); returns
    ``(output, model)`` with the eager model for comparisons."""
    from .registry import load_model

    checkpoint = Path(checkpoint)
    model = load_model(checkpoint)
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    meta = {"model": payload["model"], "config": payload["config"], "source": checkpoint.name}
    return export_model(model, output, fmt, size=size, batch=batch, meta=meta,
                        onnx_exporter=onnx_exporter), model


def run_exported(path: PathLike, *inputs: torch.Tensor, fmt: Optional[str] = None,
                 threads: Optional[int] = None) -> torch.Tensor:
    """Run an exported file on CPU: ``run_exported(path, image, hole)`` (``edge`` third for
    CTSDG), with ONNX Runtime or ``torch.jit.load``. ``fmt`` defaults from the suffix
    (``.onnx`` → ONNX, else TorchScript).
    """
    path = Path(path)
    fmt = fmt or ("onnx" if path.suffix == ".onnx" else "torchscript")
    if fmt == "onnx":
        sess = onnx_session(path, threads)
        names = [i.name for i in sess.get_inputs()]
        if len(names) != len(inputs):
            raise ValueError(f"{path.name} takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
        feed = {n: t.detach().cpu().float().numpy() for n, t in zip(names, inputs)}
        return torch.from_numpy(sess.run(["pred"], feed)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript's deprecation notice
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(*(t.cpu().float() for t in inputs))


def onnx_session(path: PathLike, threads: Optional[int] = None):
    """An ONNX Runtime CPU session for ``path`` (``threads`` intra-op threads if given)."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError("running ONNX files needs the 'onnxruntime' package: pip install 'inpaintlib[export]'") from err
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
