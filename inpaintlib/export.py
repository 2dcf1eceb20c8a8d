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
the checks' outcome in. :class:`ExportWrapper` calls the *core computation* of each
registered generator, without the checks and without the in-place autograd function
that :class:`~inpaintlib.nn.partial_conv.PartialConv2d` uses to save memory in training
(TorchScript cannot save a Python autograd function). The model itself is not changed;
the tests check that the exported files agree with the eager model to 1e-4.

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
import torch.nn.functional as F
from torch import nn

__all__ = ["ExportWrapper", "export_model", "export_checkpoint", "run_exported", "onnx_session", "FORMATS",
           "ONNX_EXPORTERS", "core_forward", "supported_models", "input_names", "example_inputs",
           "eager_output"]

FORMATS = ("onnx", "torchscript")
ONNX_EXPORTERS = ("dynamo", "legacy")
PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------------------
# the core computations, without input checks
# ---------------------------------------------------------------------------------------
def _partial_conv(layer, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:class:`~inpaintlib.nn.partial_conv.PartialConv2d`'s forward as plain tensor ops."""
    m = valid.sum(dim=1, keepdim=True) if layer.multi_channel else valid
    count = F.conv2d(m, layer.mask_kernel.to(m.dtype), None, layer.stride, layer.padding, layer.dilation)
    valid_out = count.clamp(max=1.0)
    ratio = layer.window_size / count.clamp(min=layer.eps) * valid_out
    y = F.conv2d(x * valid, layer.weight, None, layer.stride, layer.padding, layer.dilation) * ratio
    if layer.bias is not None:
        y = y + layer.bias.view(1, -1, 1, 1) * valid_out
    return y, valid_out


def _pconv_block(block, x, valid):
    y, v = _partial_conv(block.conv, x, valid)
    return block.act(block.bn(y)), v


def _up(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=2.0, mode="nearest")


def _pconv_core(model, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    valid = 1.0 - hole
    if getattr(model, "normalization", "minus_one_one") == "imagenet":
        x = (image - model.norm_mean) / model.norm_std * valid
    else:
        x = (image * 2.0 - 1.0) * valid
    levels = [(x, valid)]
    for block in model.encoder:
        levels.append(_pconv_block(block, *levels[-1]))
    h, v = levels[-1]
    for j in reversed(range(model.layers)):
        h, v = _up(h), _up(v)
        skip_h, skip_v = levels[j]
        b, _, hh, ww = skip_h.shape
        x = torch.cat([h, skip_h], dim=1)
        valid = torch.cat([v.expand(b, h.shape[1], hh, ww), skip_v.expand(b, skip_h.shape[1], hh, ww)], dim=1)
        h, v = _pconv_block(model.decoder[j], x, valid)
    return model._to_output(h)


def _plain_unet_core(model, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    x = torch.cat([(image * 2.0 - 1.0) * (1.0 - hole), hole], dim=1)
    levels = [x]
    for block in model.encoder:
        levels.append(block(levels[-1]))
    h = levels[-1]
    for j in reversed(range(model.layers)):
        h = model.decoder[j](torch.cat([_up(h), levels[j]], dim=1))
    return model._to_output(h)


def _gmcnn_core(model, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    x = torch.cat([(image * 2.0 - 1.0) * (1.0 - hole), hole], dim=1)
    return (model.decode(model.run_columns(x)).clamp(-1.0, 1.0) + 1.0) / 2.0


def _clmser_core(model, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    x = (image * 2.0 - 1.0) * (1.0 - hole)
    return (model.decode(model.encode(x)) + 1.0) / 2.0


def _ctsdg_stream(blocks, x, valid):
    levels = [(x, valid.expand(-1, x.shape[1], -1, -1))]
    for block in blocks:
        levels.append(_pconv_block(block, *levels[-1]))
    return levels


def _ctsdg_decode(blocks, start, skips):
    h, v = start
    for j in reversed(range(len(blocks))):
        h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        v = _up(v)
        skip_h, skip_v = skips[j]
        b, _, hh, ww = skip_h.shape
        x = torch.cat([h, skip_h], dim=1)
        m = torch.cat([v[:, :1].expand(b, h.shape[1], hh, ww), skip_v[:, :1].expand(b, skip_h.shape[1], hh, ww)],
                      dim=1)
        h, v = _pconv_block(blocks[j], x, m)
    return h


def _region_affinity(ral, x: torch.Tensor) -> torch.Tensor:
    """:class:`~inpaintlib.nn.ctsdg_blocks.RegionAffinity` in one chunk, with ``F.fold``
    written as the transposed convolution it is (ONNX exporters lack a usable ``Col2Im``):
    input channel ``(c, i, j)`` of the pasted patches adds to output channel ``c`` at
    offset ``(i, j)``."""
    keys, queries, background, (h, w) = ral.patches(x)
    attention = ral._scores_to_attention(torch.bmm(keys.transpose(1, 2), queries))
    cols = torch.bmm(background, attention)                           # B×(C·k²)×L
    c, k, r = x.shape[1], 2 * ral.rate, ral.rate
    eye = torch.eye(c * k * k, dtype=cols.dtype, device=cols.device).view(c * k * k, c, k, k)
    out = F.conv_transpose2d(cols.reshape(cols.shape[0], c * k * k, h, w), eye, stride=r, padding=r // 2)
    return (out / 4.0).to(x.dtype)


def _ctsdg_core(model, image: torch.Tensor, hole: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
    from .data.edges import LUMA_709

    valid = 1.0 - hole
    x_t = (image * 2.0 - 1.0) * valid
    luma = torch.tensor(LUMA_709, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    gray = (image * luma).sum(dim=1, keepdim=True).clamp(0.0, 1.0)     # grayscale(image, "709"), unchecked
    x_s = torch.cat([edge, gray], dim=1) * valid
    tex = _ctsdg_stream(model.texture_encoder, x_t, valid)
    struct = _ctsdg_stream(model.structure_encoder, x_s, valid)
    f_t = _ctsdg_decode(model.texture_decoder, struct[-1], tex)
    f_s = _ctsdg_decode(model.structure_decoder, tex[-1], struct)
    fused = model.bigff(f_t, f_s)
    y = F.leaky_relu(model.fusion1(fused), 0.2)
    att = model.cfa.msfa(_region_affinity(model.cfa.ral, y))
    y = F.leaky_relu(model.fusion2(torch.cat([y, att], dim=1)), 0.2)
    up = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
    return (torch.tanh(model.out_conv(torch.cat([up, fused], dim=1))) + 1.0) / 2.0


def _cores() -> dict[type, Callable]:
    from .models.ctsdg import CTSDG
    from .models.gmcnn import GMCNN
    from .models.lmser import CLmser
    from .models.pconv_unet import PConvUNet, PlainUNet

    return {PConvUNet: _pconv_core, PlainUNet: _plain_unet_core, GMCNN: _gmcnn_core, CLmser: _clmser_core,
            CTSDG: _ctsdg_core}


def input_names(model: nn.Module) -> tuple[str, ...]:
    """The exported graph's inputs: ``("image", "hole")``, and ``"edge"`` for CTSDG, whose
    structure stream reads a Canny edge map computed outside the graph (scikit-image;
    :func:`inpaintlib.models.ctsdg.known_region_edges`)."""
    return ("image", "hole", "edge") if type(model).__name__ == "CTSDG" else ("image", "hole")


def supported_models() -> list[str]:
    """Names of the generator classes :class:`ExportWrapper` knows."""
    return sorted(cls.__name__ for cls in _cores())


def core_forward(model: nn.Module) -> Callable:
    """The check-free forward ``fn(model, image, hole)`` for ``model``'s class."""
    for cls, fn in _cores().items():
        if type(model) is cls:
            return fn
    raise TypeError(f"no export path for {type(model).__name__}; exportable generators: "
                    f"{', '.join(supported_models())}")


class ExportWrapper(nn.Module):
    """``wrapper(image, hole)`` = ``model(image, hole)`` in eval mode, without input checks.

    For tracing and exporting only: it trusts its inputs (a binary ``hole``, an image in
    ``[0, 1]``), so validate them before calling it. Wrapping puts the model in eval mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self._core = core_forward(model)
        self.model = model.eval()
        self.input_names = input_names(model)

    def forward(self, image: torch.Tensor, hole: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return self._core(self.model, image, hole, *extra)


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
        _export_onnx(wrapper, inputs, tmp, {**info, "exporter": onnx_exporter}, onnx_exporter)
    else:
        with torch.no_grad(), warnings.catch_warnings():
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
