"""The original authors' checkpoints, turned into ``inpaintlib`` models.

Taught in each method chapter's note on the original weights ("Partial convolution",
"ID-MRF and the multi-column generator (GMCNN)", "Lmser and its two dualities",
"Dual streams"). Each converter reads a checkpoint *as the original code saves it* (a
plain state dict, or a dict wrapping one) and returns the matching ``inpaintlib``
generator with those weights, so that ``model(image, hole)`` — image in ``[0, 1]``,
``hole`` 1 = missing — gives the original network's output for the same photo and mask.

The mapping is written from the originals' parameter names and shapes. Every converter

1. finds the state dict (unwrapping ``{"model": …}`` and similar, dropping a
   ``module.`` prefix left by ``DataParallel``);
2. reads the architecture's size from a few shapes and writes down the *complete* table
   of key names and shapes the original code would save for that size;
3. compares: a missing key, an unexpected key or a wrong shape raises
   :class:`ConversionError`, which names the keys (and says which method a checkpoint
   looks like when it is another method's);
4. builds the full ``inpaintlib`` state dict and loads it strictly into a fresh model.
   Nothing loads half: either every parameter lands, or an error is raised.

What each original does differently, and how the conversion absorbs it:

* **PConv U-Net** (naoto0804/pytorch-inpainting-with-partial-conv, ``PConvUNet(layer_size)``,
  keys ``enc_i.conv.input_conv.weight``, ``enc_i.conv.mask_conv.weight``,
  ``enc_i.bn.*``, ``dec_i.…``): images are normalised with ImageNet's mean and std,
  the mask is 1 = *known* and has as many channels as the tensor it masks, and the
  renormalisation divides by ``sum(M)`` over ``C_in·k·k`` entries without the paper's
  ``sum(1)`` factor. The converted :class:`~inpaintlib.models.pconv_unet.PConvUNet` is
  built with ``normalization="imagenet"``; each convolution weight is divided by its
  window size ``C_in·k·k`` (our layer multiplies by ``sum(1)/sum(M)``, so the product is
  the original's ``1/sum(M)``); the first layer, which has no bias in the original, gets
  a zero bias; the frozen all-ones ``mask_conv`` kernels are checked and dropped. The
  original's ``upsampling_mode`` (nearest by default, or bilinear for the decoder's
  features; masks always nearest) is not saved in the checkpoint: pass
  ``upsampling="bilinear"`` (``--upsampling bilinear``) for a model trained that way.
  *Reproduces:* the network's output ``PConvUNet(image, mask)`` of the original for the
  same photo, mapped back from ImageNet normalisation, for binary masks whose channels
  are equal (the original reads a mask image as RGB; ours is one channel; it resizes mask
  files bilinearly, which can leave grey values, while ``inpaintlib`` requires a binary
  hole) — within float rounding (the tests: ≤ 1e-5). An older layout of that
  repository (``conv.conv2d`` / ``conv.mask2d``, a bias before every BatchNorm) is
  refused: a bias before BatchNorm is zeroed in the holes by the original layer, which
  no weights of ours reproduce.
* **GMCNN** (shepnerd/inpainting_gmcnn, PyTorch release, ``GMCNN(in_channels=4)``, keys
  ``EB1.i``, ``EB2.i``, ``EB3.i``, ``decoding_layers.i``): the same input
  ``[(2·image − 1)·(1 − hole), hole]``, reflection padding, ELUs and the clamp to
  ``[-1, 1]``; the conversion is a renaming. *Reproduces:* the generator's output for the
  same photo and mask (≤ 1e-5); at image sizes where a reflection pad is wider than the
  feature map the original raises an error and ours keeps mirroring.
* **CTSDG** (xiefan-guo/ctsdg, ``Generator``, checkpoint ``{'generator': …}``; keys
  ``ec_texture_i``, ``dc_texture_i``, ``ec_structure_i``, ``dc_structure_i``,
  ``*_feature_projection``, ``bigff``, ``fusion_layer1/2``, ``cfa.msfa``, ``out_layer``):
  the same partial convolutions (NVIDIA's ``sum(1)/sum(M)`` renormalisation, bias-free),
  cross-coupled bilinear decoders, Bi-GFF (``texture_gamma`` is our ``alpha``,
  ``structure_gamma`` our ``beta``), CFA and Tanh output; a renaming. The *structure
  input* is computed differently by default: the original's data loader takes the gray
  image and the Canny edges from the ``[-1, 1]`` tensor converted to 8 bits (dark values
  wrap around) and Canny over the whole ground truth, while
  :class:`~inpaintlib.models.ctsdg.CTSDG` computes gray (BT.709) from the clean image and
  edges from the known pixels only. :func:`inpaintlib.models.ctsdg.original_structure`
  computes the original's pair, and ``model(image, hole, edge=edge, gray=gray)`` feeds it.
  *Reproduces:* with that pair, the original test pipeline end to end — photo, mask,
  edge and gray in, completed image out (≤ 1e-5 in the tests); with the default
  structure input, a different (leak-free) input to the same network.
* **CLmser, CLmser_n, CLmser_w, CAE** (CMACH508/CLmser, ``model/clmser*.py`` and
  ``model/cae.py``, all a class ``Generator``; keys ``DownBlocks.i.conv2d.weight``,
  ``DownBlocks.i.bn.*``, ``UpBlocks.i.dconv2d.weight``, ``UpBlocks.i.bn.*``,
  ``OutBlock.dconv2d.weight``): the same input (image in ``[-1, 1]`` times the mask of
  known pixels, no mask channel), the same Tanh output; a renaming. The four variants
  save the same keys, so the converter is named after the variant (``clmser``,
  ``clmser_n``, ``clmser_w``, ``cae``): DCW is checked (with DCW the decoder's tensors
  must equal the encoder's, without it they must not all do so); DPN leaves no trace in
  the weights and is taken from the name. *Reproduces:* the generator's output for the
  same photo and mask (≤ 1e-5).

Checkpoints are read with ``torch.load(weights_only=True)``; Python objects saved beside
the weights (CLmser's training config, NumPy scalars) are read as inert placeholders
(:func:`load_original`), so no code from the file runs.

:func:`convert` returns a :class:`Conversion` (model, registry name, config, notes);
:func:`convert_file` writes it as a portable model file (:func:`inpaintlib.registry.save_model`),
which ``inpaintlib inpaint``, ``inpaintlib eval`` and :func:`inpaintlib.registry.load_model`
read like any trained one. The command line: ``inpaintlib convert METHOD ORIGINAL.pth -o OURS.pt``.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import torch
from torch import nn

__all__ = [
    "ConversionError",
    "Conversion",
    "convert",
    "convert_file",
    "convert_pconv",
    "convert_gmcnn",
    "convert_clmser",
    "clmser_key_table",
    "CLMSER_VARIANTS",
    "convert_ctsdg",
    "ctsdg_key_table",
    "load_original",
    "extract_state_dict",
    "pconv_key_table",
    "gmcnn_key_table",
    "methods",
]

Source = Union[str, os.PathLike, Mapping[str, Any]]
KeyTable = dict[str, tuple[int, ...]]


class ConversionError(ValueError):
    """An original checkpoint does not match the layout a converter expects.

    ``missing``, ``unexpected`` and ``wrong_shape`` hold the offending keys (the message
    names them too); nothing has been loaded anywhere when it is raised.
    """

    def __init__(self, message: str, missing=(), unexpected=(), wrong_shape=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.wrong_shape = list(wrong_shape)


@dataclass
class Conversion:
    """What :func:`convert` returns: the model and what a model file needs to rebuild it."""

    model: nn.Module
    name: str                      # registry name, e.g. "pconv"
    config: dict                   # keyword arguments of the registered class
    method: str                    # converter used, e.g. "pconv"
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# reading a checkpoint
# ---------------------------------------------------------------------------------------
class _Placeholder:
    """Stands in for a pickled Python object of a foreign code base (a training config, a
    path, a NumPy scalar): it keeps the pickled arguments and state as data and runs no
    code of theirs."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


def _placeholder(module: str, name: str) -> type:
    return type(name, (_Placeholder,), {"__module__": module, "__qualname__": name})


def load_original(path: Union[str, os.PathLike], trust: bool = False) -> Any:
    """Read an original checkpoint file on the CPU, safely.

    ``torch.load(weights_only=True)`` refuses pickled Python objects other than tensors and
    plain containers; training frameworks often save their config object beside the
    weights (CLmser's ``{'state_dict', 'optimizer', 'config', …}``). Each such class is
    replaced by an inert placeholder (:class:`_Placeholder`: its arguments are kept as
    data, none of its code runs) and the file is read again, so only tensors and plain
    data come out. ``trust=True`` unpickles everything (``weights_only=False``) — only for
    files from a source you trust.
    """
    import re

    from .io import _head, _load_failure, quiet_load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.is_dir():
        raise ConversionError(f"{path} is a folder, not a checkpoint file")
    if trust:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise ConversionError(f"{path} could not be read as a PyTorch checkpoint "
                                  f"({_load_failure(path, err)})") from err
    stubs: dict[str, type] = {}
    for _ in range(64):
        try:
            with torch.serialization.safe_globals(list(stubs.values())), quiet_load():
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            m = re.search(r"GLOBAL ([\w.]+)\.(\w+)", str(err))
            if not m or ".".join(m.groups()) in stubs:
                if not _head(path).startswith(b"PK"):  # not a PyTorch file: --trust would not help
                    raise ConversionError(f"{path} could not be read as a PyTorch checkpoint "
                                          f"({_load_failure(path, err)})") from err
                named = re.search(r"GLOBAL (\S+) was not an allowed global", str(err))
                what = (f"it holds a pickled reference to {named.group(1)!r}, a Python function or class "
                        "that unpickling would call" if named else _load_failure(path, err))
                raise ConversionError(f"{path} could not be read safely: {what}; a safe load runs no code "
                                      "from the file. If the file comes from a source you trust, convert it "
                                      "with trust=True (command line: --trust)") from err
            stubs[".".join(m.groups())] = _placeholder(*m.groups())
        except Exception as err:  # text, truncated, not a torch file: torch raises many types
            raise ConversionError(f"{path} could not be read as a PyTorch checkpoint "
                                  f"({_load_failure(path, err)})") from err
    raise ConversionError(f"{path} holds too many kinds of Python objects to read safely; "
                          "if the file comes from a source you trust, use trust=True (--trust)")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def extract_state_dict(obj: Any, wrappers: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The state dict inside ``obj``: ``obj`` itself, or ``obj[w]`` for the first wrapper
    key ``w`` present (e.g. ``"model"``, ``"state_dict"``, ``"generator"``).

    A ``module.`` prefix on every key (a model saved inside ``DataParallel``) is removed.
    """
    if not isinstance(obj, Mapping):
        raise ConversionError(f"expected a state dict or a dict wrapping one, got {type(obj).__name__}")
    if _is_state_dict(obj):
        sd = dict(obj)
    else:
        for w in wrappers:
            if w in obj and _is_state_dict(obj[w]):
                sd = dict(obj[w])
                break
        else:
            nested = [k for k, v in obj.items() if _is_state_dict(v)]
            keys = ", ".join(repr(k) for k in list(obj)[:12])
            hint = (f"; it holds state dicts under {', '.join(map(repr, nested))}, "
                    f"expected one under {', '.join(map(repr, wrappers))}" if nested else "")
            raise ConversionError(f"no state dict found in the checkpoint (top-level keys: {keys}){hint}")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


# ---------------------------------------------------------------------------------------
# comparing a state dict with a key table
# ---------------------------------------------------------------------------------------
def _fmt_keys(keys, limit: int = 8) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > limit else "")


def _check_table(sd: Mapping[str, torch.Tensor], table: KeyTable, method: str,
                 optional: tuple[str, ...] = ()) -> None:
    """Raise :class:`ConversionError` naming every missing, unexpected or mis-shaped key.

    Keys ending in one of ``optional`` suffixes may be absent (e.g. BatchNorm's
    ``num_batches_tracked``, which PyTorch < 0.4.1 did not save).
    """
    missing = [k for k in table if k not in sd and not k.endswith(optional)]
    unexpected = [k for k in sd if k not in table]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {table[k]})" for k in table
             if k in sd and tuple(sd[k].shape) != table[k]]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing keys: {_fmt_keys(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {_fmt_keys(unexpected)}")
    if wrong:
        parts.append(f"wrong shapes: {_fmt_keys(wrong)}")
    guess = guess_method(sd)
    hint = f" (this looks like a {guess} checkpoint)" if guess and method not in guess else ""
    raise ConversionError(f"the checkpoint does not match the original {method} layout{hint}: "
                          + "; ".join(parts), missing, unexpected, wrong)


# Key patterns that identify each original layout (for "wrong method" hints).
_SIGNATURES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "pconv": lambda sd: any(k.startswith("enc_1.conv.") for k in sd),
    "gmcnn": lambda sd: "EB1.0.weight" in sd and "decoding_layers.0.weight" in sd,
    "clmser-family (clmser, clmser_n, clmser_w or cae)": lambda sd: "DownBlocks.0.conv2d.weight" in sd,
    "ctsdg": lambda sd: "ec_texture_1.conv.weight" in sd,
}


def guess_method(sd: Mapping[str, Any]) -> Optional[str]:
    """Which original layout ``sd``'s key names look like, or ``None``."""
    for name, test in _SIGNATURES.items():
        try:
            if test(sd):
                return name
        except Exception:  # a signature must never mask the real error
            continue
    return None


def _require(sd: Mapping[str, torch.Tensor], key: str, method: str, ndim: int) -> torch.Tensor:
    if key not in sd:
        guess = guess_method(sd)
        hint = f" (this looks like a {guess} checkpoint)" if guess and method not in guess else ""
        raise ConversionError(f"not an original {method} checkpoint{hint}: missing key {key} "
                              f"(keys present: {_fmt_keys(sorted(sd))})", missing=[key])
    t = sd[key]
    if t.dim() != ndim:
        raise ConversionError(f"{key} has shape {tuple(t.shape)}; the original {method} layout has a "
                              f"{ndim}-dimensional tensor there", wrong_shape=[key])
    return t


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], method: str) -> nn.Module:
    """Load a complete state dict into a fresh model; any mismatch is a ConversionError."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} (inpaintlib expects {tuple(own[k].shape)})"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:  # a converter bug or an architecture ours cannot hold
        raise ConversionError(
            f"the {method} weights do not fit inpaintlib's {type(model).__name__}: "
            f"missing {_fmt_keys(missing)}; unexpected {_fmt_keys(unexpected)}; wrong shapes {_fmt_keys(wrong)}",
            missing, unexpected, wrong)
    state = {k: v.to(own[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def _bn_keys(prefix: str, channels: int) -> KeyTable:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,),
            f"{prefix}.running_mean": (channels,), f"{prefix}.running_var": (channels,),
            f"{prefix}.num_batches_tracked": ()}


def _copy_bn(state: dict, ours: str, sd: Mapping[str, torch.Tensor], theirs: str) -> None:
    for p in ("weight", "bias", "running_mean", "running_var"):
        state[f"{ours}.{p}"] = sd[f"{theirs}.{p}"]
    nbt = sd.get(f"{theirs}.num_batches_tracked")
    state[f"{ours}.num_batches_tracked"] = (nbt if nbt is not None else torch.tensor(0)).to(torch.long)


# ---------------------------------------------------------------------------------------
# PConv U-Net (naoto0804/pytorch-inpainting-with-partial-conv)
# ---------------------------------------------------------------------------------------
def _pconv_channels(layer_size: int, base: int) -> list[int]:
    # enc_1: 64, enc_2: 128, enc_3: 256, enc_4 … enc_L: 512 (for base 64)
    return [base * m for m in (1, 2, 4)] + [base * 8] * (layer_size - 3)


def pconv_key_table(layer_size: int = 7, base: int = 64) -> KeyTable:
    """Every key and shape naoto0804's ``PConvUNet(layer_size)`` saves.

    ``base`` is the first level's channel count (64 in the original; the tests use a
    smaller one with the same pattern 1×, 2×, 4×, 8×). Encoder level ``i`` is
    ``enc_i`` (kernels 7, 5, 5, then 3); decoder level ``i`` is ``dec_i`` (3×3, input the
    upsampled deeper features concatenated with ``enc_{i-1}``'s, or with the image for
    ``dec_1``). Each has ``conv.input_conv.weight`` and the frozen all-ones
    ``conv.mask_conv.weight`` of the same shape; only ``dec_1`` has a bias
    (``conv.input_conv.bias``); every level but ``enc_1`` and ``dec_1`` has a BatchNorm.
    """
    if layer_size < 4:
        raise ValueError(f"the original PConvUNet has at least 4 levels (enc_1 … enc_4), got {layer_size}")
    ch = [3] + _pconv_channels(layer_size, base)
    kernels = [7, 5, 5] + [3] * (layer_size - 3)
    t: KeyTable = {}
    for i in range(1, layer_size + 1):
        shape = (ch[i], ch[i - 1], kernels[i - 1], kernels[i - 1])
        t[f"enc_{i}.conv.input_conv.weight"] = shape
        t[f"enc_{i}.conv.mask_conv.weight"] = shape
        if i > 1:
            t.update(_bn_keys(f"enc_{i}.bn", ch[i]))
    for i in range(layer_size, 0, -1):
        out = ch[i - 1]
        shape = (out, ch[i] + ch[i - 1], 3, 3)
        t[f"dec_{i}.conv.input_conv.weight"] = shape
        t[f"dec_{i}.conv.mask_conv.weight"] = shape
        if i == 1:
            t["dec_1.conv.input_conv.bias"] = (out,)
        else:
            t.update(_bn_keys(f"dec_{i}.bn", out))
    return t


def _convert_pconv(sd: Mapping[str, torch.Tensor], upsampling: str = "nearest") -> Conversion:
    from .models.pconv_unet import UPSAMPLING, PConvUNet

    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLING)}, got {upsampling!r}")

    old = [k for k in sd if ".conv.conv2d." in k or ".conv.mask2d." in k]
    if old:
        raise ConversionError(
            "this is the early layout of naoto0804's PConv U-Net (keys "
            f"{_fmt_keys(old, 3)}): it has a bias before every BatchNorm, which the original "
            "layer zeroes inside the holes, so no inpaintlib weights reproduce it exactly; "
            "convert a checkpoint of the later layout (conv.input_conv / conv.mask_conv)",
            unexpected=old)
    first = _require(sd, "enc_1.conv.input_conv.weight", "pconv", 4)
    base = int(first.shape[0])
    levels = sorted(int(k.split(".")[0][4:]) for k in sd
                    if k.startswith("enc_") and k.endswith(".conv.input_conv.weight") and k[4:].split(".")[0].isdigit())
    layer_size = max(levels)
    if layer_size < 4:
        raise ConversionError(f"found encoder levels {levels}; the original PConvUNet has at least 4")
    _check_table(sd, pconv_key_table(layer_size, base), "pconv", optional=("num_batches_tracked",))
    bad = [k for k in sd if k.endswith("mask_conv.weight") and not bool((sd[k] == 1).all())]
    if bad:
        raise ConversionError(f"mask_conv kernels must be all ones (they count known pixels); "
                              f"not so in {_fmt_keys(bad)}", wrong_shape=bad)

    config = {"layers": layer_size, "base_channels": base, "normalization": "imagenet"}
    if upsampling != "nearest":
        config["upsampling"] = upsampling
    model = PConvUNet(**config)
    state: dict[str, torch.Tensor] = {}
    for i in range(1, layer_size + 1):
        w = sd[f"enc_{i}.conv.input_conv.weight"].float()
        window = w.shape[1] * w.shape[2] * w.shape[3]       # C_in·k·k: the original's sum(M) scale
        state[f"encoder.{i - 1}.conv.weight"] = w / window
        if i == 1:
            state["encoder.0.conv.bias"] = torch.zeros(w.shape[0])   # the original has none
        else:
            _copy_bn(state, f"encoder.{i - 1}.bn", sd, f"enc_{i}.bn")
    for i in range(1, layer_size + 1):
        w = sd[f"dec_{i}.conv.input_conv.weight"].float()
        window = w.shape[1] * w.shape[2] * w.shape[3]
        state[f"decoder.{i - 1}.conv.weight"] = w / window
        if i == 1:
            state["decoder.0.conv.bias"] = sd["dec_1.conv.input_conv.bias"]
        else:
            _copy_bn(state, f"decoder.{i - 1}.bn", sd, f"dec_{i}.bn")
    _load_strict(model, state, "pconv")
    notes = [
        "input normalised with ImageNet mean/std inside the model (normalization='imagenet')",
        "convolution weights divided by C_in·k·k: the original divides by sum(M) only",
        "enc_1 has no bias in the original: its bias is zero here",
        "the original's multi-channel input mask is taken as one hole channel replicated; masks must be binary",
        f"decoder features upsampled by {upsampling} interpolation (masks by nearest), as the original run with "
        f"upsampling_mode='{upsampling}': the weights do not record it; pass the mode the model was trained with",
    ]
    return Conversion(model, "pconv", config, "pconv", notes)


# ---------------------------------------------------------------------------------------
# GMCNN (shepnerd/inpainting_gmcnn, PyTorch release)
# ---------------------------------------------------------------------------------------
# The original's module lists, index by index: ("conv", in-multiple, out-multiple) with
# multiples of cnum (in 0 = the 4 input channels), or "up" for a parameter-free upsampling.
_GMCNN_TRUNK = [("conv", 0, 1), ("conv", 1, 2), ("conv", 2, 2), ("conv", 2, 4), ("conv", 4, 4),
                ("conv", 4, 4), ("conv", 4, 4), ("conv", 4, 4), ("conv", 4, 4), ("conv", 4, 4),
                ("conv", 4, 4), ("conv", 4, 4)]
_GMCNN_LISTS = {
    "EB1": (7, _GMCNN_TRUNK + [("up",)]),
    "EB2": (5, _GMCNN_TRUNK + [("up",), ("conv", 4, 2), ("conv", 2, 2), ("up",)]),
    "EB3": (3, _GMCNN_TRUNK + [("up",), ("conv", 4, 2), ("conv", 2, 2), ("up",), ("conv", 2, 1), ("conv", 1, 1)]),
}


def gmcnn_key_table(cnum: int = 32) -> KeyTable:
    """Every key and shape shepnerd's PyTorch ``GMCNN(in_channels=4, out_channels=3, cnum)``
    saves: ``EB1.i`` / ``EB2.i`` / ``EB3.i`` (kernel 7 / 5 / 3; upsampling entries of the
    lists hold no parameters) and ``decoding_layers.0`` (7·cnum → cnum//2) and ``.1``
    (→ 3), all 3×3 there; every convolution has a bias."""
    t: KeyTable = {}
    for name, (k, entries) in _GMCNN_LISTS.items():
        for i, e in enumerate(entries):
            if e[0] == "conv":
                cin = 4 if e[1] == 0 else e[1] * cnum
                t[f"{name}.{i}.weight"] = (e[2] * cnum, cin, k, k)
                t[f"{name}.{i}.bias"] = (e[2] * cnum,)
    t["decoding_layers.0.weight"] = (cnum // 2, 7 * cnum, 3, 3)
    t["decoding_layers.0.bias"] = (cnum // 2,)
    t["decoding_layers.1.weight"] = (3, cnum // 2, 3, 3)
    t["decoding_layers.1.bias"] = (3,)
    return t


def _convert_gmcnn(sd: Mapping[str, torch.Tensor]) -> Conversion:
    from .models.gmcnn import GMCNN

    first = _require(sd, "EB1.0.weight", "gmcnn", 4)
    cnum = int(first.shape[0])
    if first.shape[1] != 4:
        raise ConversionError(f"EB1.0.weight reads {first.shape[1]} input channels; the PyTorch GMCNN reads 4 "
                              "(masked image and mask). The TensorFlow release (5 channels) is a different "
                              "network and is not converted", wrong_shape=["EB1.0.weight"])
    if cnum < 8 or cnum % 2:
        raise ConversionError(f"cnum={cnum} (from EB1.0.weight): inpaintlib's GMCNN holds even cnum ≥ 8 only",
                              wrong_shape=["EB1.0.weight"])
    _check_table(sd, gmcnn_key_table(cnum), "gmcnn")
    model = GMCNN(cnum=cnum)
    state: dict[str, torch.Tensor] = {}
    for c, (name, (_, entries)) in enumerate(_GMCNN_LISTS.items()):
        for i, e in enumerate(entries):
            if i < 12:
                ours = f"columns.{c}.trunk.{i}.conv"
            else:   # our tail lists upsamplings and convolutions in the original's order
                ours = f"columns.{c}.tail.{i - 12}.conv"
            if e[0] == "conv":
                state[f"{ours}.weight"] = sd[f"{name}.{i}.weight"]
                state[f"{ours}.bias"] = sd[f"{name}.{i}.bias"]
    for j in range(2):
        state[f"decoder.{j}.conv.weight"] = sd[f"decoding_layers.{j}.weight"]
        state[f"decoder.{j}.conv.bias"] = sd[f"decoding_layers.{j}.bias"]
    _load_strict(model, state, "gmcnn")
    notes = ["same input, padding, activations and clamp as the original: a renaming of keys"]
    return Conversion(model, "gmcnn", {"cnum": cnum}, "gmcnn", notes)


# ---------------------------------------------------------------------------------------
# CLmser, CLmser_n, CLmser_w, CAE (CMACH508/CLmser)
# ---------------------------------------------------------------------------------------
#: Channels of the released code's seven kernels k0 … k6 (3 input channels before k0).
_CLMSER_CHANNELS = (16, 32, 64, 128, 256, 256, 256)
#: Converter name → (the released model file, DCW, DPN).
CLMSER_VARIANTS = {
    "clmser": ("CLmser", True, True),
    "clmser_n": ("CLmser_n", True, False),
    "clmser_w": ("CLmser_w", False, True),
    "cae": ("CAE", False, False),
}


def clmser_key_table() -> KeyTable:
    """Every key and shape the released ``Generator`` (all four variants) saves.

    ``DownBlocks.i`` (i = 0 … 6) hold kernel ``k_i`` (``conv2d.weight``, no bias) and a
    BatchNorm; ``UpBlocks.i`` (i = 0 … 5) transpose ``k_{i+1}`` (``dconv2d.weight``) and
    normalise its input channels; ``OutBlock`` transposes ``k0`` (no BatchNorm). With DCW
    the up-blocks hold the *same* tensors as the down-blocks (one parameter registered in
    two modules, saved under both names); without DCW they are independent.
    """
    t: KeyTable = {}
    cin = (3,) + _CLMSER_CHANNELS[:-1]
    for i, (o, c) in enumerate(zip(_CLMSER_CHANNELS, cin)):
        t[f"DownBlocks.{i}.conv2d.weight"] = (o, c, 3, 3)
        t.update(_bn_keys(f"DownBlocks.{i}.bn", o))
    for i in range(6):
        t[f"UpBlocks.{i}.dconv2d.weight"] = (_CLMSER_CHANNELS[i + 1], _CLMSER_CHANNELS[i], 3, 3)
        t.update(_bn_keys(f"UpBlocks.{i}.bn", _CLMSER_CHANNELS[i]))
    t["OutBlock.dconv2d.weight"] = (16, 3, 3, 3)
    return t


def _decoder_kernel_keys() -> list[tuple[str, str]]:
    """(decoder key, the encoder key it equals under DCW)."""
    return [(f"UpBlocks.{i}.dconv2d.weight", f"DownBlocks.{i + 1}.conv2d.weight") for i in range(6)] + \
        [("OutBlock.dconv2d.weight", "DownBlocks.0.conv2d.weight")]


def _convert_clmser(sd: Mapping[str, torch.Tensor], method: str) -> Conversion:
    from .models.lmser import CLmser

    variant, dcw, dpn = CLMSER_VARIANTS[method]
    _require(sd, "DownBlocks.0.conv2d.weight", method, 4)
    _check_table(sd, clmser_key_table(), method, optional=("num_batches_tracked",))
    shared = [torch.equal(sd[d], sd[e]) for d, e in _decoder_kernel_keys()]
    if dcw and not all(shared):
        bad = [d for (d, _), same in zip(_decoder_kernel_keys(), shared) if not same]
        raise ConversionError(
            f"{variant} transposes the encoder's own kernels (DCW), but this checkpoint's decoder kernels "
            f"differ from the encoder's ({_fmt_keys(bad, 3)}): it is a CLmser_w or CAE checkpoint "
            "(convert it as clmser_w or cae)", wrong_shape=bad)
    if not dcw and all(shared):
        raise ConversionError(
            f"{variant} has its own decoder kernels, but every decoder kernel of this checkpoint equals the "
            "encoder's (DCW): it is a CLmser or CLmser_n checkpoint (convert it as clmser or clmser_n)")
    model = CLmser(dcw=dcw, dpn=dpn, dpn_weight=0.5)
    state: dict[str, torch.Tensor] = {}
    for i in range(7):
        state[f"enc_kernels.{i}"] = sd[f"DownBlocks.{i}.conv2d.weight"]
        _copy_bn(state, f"enc_bn.{i}", sd, f"DownBlocks.{i}.bn")
    for i in range(6):                       # up-block i is our dec_bn[5 − i]
        _copy_bn(state, f"dec_bn.{5 - i}", sd, f"UpBlocks.{i}.bn")
        if not dcw:
            state[f"dec_kernels.{i + 1}"] = sd[f"UpBlocks.{i}.dconv2d.weight"]
    if not dcw:
        state["dec_kernels.0"] = sd["OutBlock.dconv2d.weight"]
    _load_strict(model, state, method)
    notes = [f"{variant}: DCW {'on' if dcw else 'off'}, DPN {'on (0.5/0.5 average)' if dpn else 'off'}",
             "CLmser and CLmser_n (and CLmser_w and CAE) save the same keys: the variant is the one named, "
             "DPN cannot be read from the weights",
             "same input ([-1, 1], hole pixels 0, no mask channel) and Tanh output as the original"]
    return Conversion(model, "clmser", {"dcw": dcw, "dpn": dpn, "dpn_weight": 0.5}, method, notes)


# ---------------------------------------------------------------------------------------
# CTSDG (xiefan-guo/ctsdg generator)
# ---------------------------------------------------------------------------------------
def ctsdg_key_table(base: int = 64, planes: int = 16) -> KeyTable:
    """Every key and shape the official ``Generator(image_in_channels=3, edge_in_channels=2)``
    saves (``{'generator': …}`` in its checkpoints).

    Per stream ``s`` (``texture``: 3 input channels, ``structure``: 2): ``ec_s_1 … ec_s_7``
    (bias-free PConv ``conv.weight``, 7×7, 5×5, 5×5, then 3×3; BatchNorm from level 2)
    and ``dc_s_7 … dc_s_1`` (3×3, BatchNorm everywhere; ``dc_s_1`` reads 64 + the stream's
    input channels and outputs 64). The projection heads
    (``texture_feature_projection.texture_resolver``, ``structure_feature_projection.
    structure_resolver``: Bottleneck conv1/bn1/conv2/bn2; ``out_layer.0``), ``bigff``
    (``structure_gate.0``, ``texture_gate.0``, ``structure_gamma``, ``texture_gamma``),
    ``fusion_layer1.0``, ``cfa.msfa`` (``dilated_conv_0…3.0``, ``weight_calc.0``,
    ``weight_calc.2``), ``fusion_layer2.0`` and ``out_layer.0`` (these convolutions have
    biases). ``base`` (64) and ``planes`` (16) allow the tests' narrow copies.
    """
    b = base
    ch = [b, 2 * b, 4 * b, 8 * b, 8 * b, 8 * b, 8 * b]
    kernels = [7, 5, 5, 3, 3, 3, 3]
    t: KeyTable = {}
    for stream, cin in (("texture", 3), ("structure", 2)):
        prev = cin
        for i in range(7):
            t[f"ec_{stream}_{i + 1}.conv.weight"] = (ch[i], prev, kernels[i], kernels[i])
            if i > 0:
                t.update(_bn_keys(f"ec_{stream}_{i + 1}.bn", ch[i]))
            prev = ch[i]
        skip = [cin] + ch[:-1]
        out = [b] + ch[:-1]
        for i in range(7, 0, -1):
            t[f"dc_{stream}_{i}.conv.weight"] = (out[i - 1], ch[i - 1] + skip[i - 1], 3, 3)
            t.update(_bn_keys(f"dc_{stream}_{i}.bn", out[i - 1]))
    for head, res, n_out in (("texture_feature_projection", "texture_resolver", 3),
                             ("structure_feature_projection", "structure_resolver", 1)):
        t[f"{head}.{res}.conv1.weight"] = (planes, b, 3, 3)
        t.update(_bn_keys(f"{head}.{res}.bn1", planes))
        t[f"{head}.{res}.conv2.weight"] = (b, planes, 3, 3)
        t.update(_bn_keys(f"{head}.{res}.bn2", b))
        t[f"{head}.out_layer.0.weight"] = (n_out, b, 1, 1)
        t[f"{head}.out_layer.0.bias"] = (n_out,)

    def conv(name, o, i, k):
        t[f"{name}.weight"] = (o, i, k, k)
        t[f"{name}.bias"] = (o,)

    conv("bigff.structure_gate.0", b, 2 * b, 3)
    conv("bigff.texture_gate.0", b, 2 * b, 3)
    t["bigff.structure_gamma"] = (1,)
    t["bigff.texture_gamma"] = (1,)
    conv("fusion_layer1.0", b, 2 * b, 3)
    for k in range(4):
        conv(f"cfa.msfa.dilated_conv_{k}.0", b, b, 3)
    conv("cfa.msfa.weight_calc.0", b, b, 3)
    conv("cfa.msfa.weight_calc.2", 4, b, 1)
    conv("fusion_layer2.0", b, 2 * b, 3)
    conv("out_layer.0", 3, 3 * b, 1)
    return t


def _convert_ctsdg(sd: Mapping[str, torch.Tensor]) -> Conversion:
    from .models.ctsdg import CTSDG

    first = _require(sd, "ec_texture_1.conv.weight", "ctsdg", 4)
    base = int(first.shape[0])
    planes_w = _require(sd, "texture_feature_projection.texture_resolver.conv1.weight", "ctsdg", 4)
    planes = int(planes_w.shape[0])
    _check_table(sd, ctsdg_key_table(base, planes), "ctsdg", optional=("num_batches_tracked",))
    width = base / 64
    model = CTSDG(layers=7, width=width)
    ours_planes = model.texture_head.trunk.conv1.out_channels
    if ours_planes != planes or model.plan[0][1] != base:
        raise ConversionError(f"a CTSDG with {base} base channels and {planes}-channel projection heads has no "
                              f"inpaintlib counterpart (width={width:g} gives {model.plan[0][1]} and {ours_planes})")
    state: dict[str, torch.Tensor] = {}
    for stream in ("texture", "structure"):
        for i in range(1, 8):
            state[f"{stream}_encoder.{i - 1}.conv.weight"] = sd[f"ec_{stream}_{i}.conv.weight"]
            if i > 1:
                _copy_bn(state, f"{stream}_encoder.{i - 1}.bn", sd, f"ec_{stream}_{i}.bn")
            state[f"{stream}_decoder.{i - 1}.conv.weight"] = sd[f"dc_{stream}_{i}.conv.weight"]
            _copy_bn(state, f"{stream}_decoder.{i - 1}.bn", sd, f"dc_{stream}_{i}.bn")
    for ours, head, res in (("texture_head", "texture_feature_projection", "texture_resolver"),
                            ("structure_head", "structure_feature_projection", "structure_resolver")):
        state[f"{ours}.trunk.conv1.weight"] = sd[f"{head}.{res}.conv1.weight"]
        state[f"{ours}.trunk.conv2.weight"] = sd[f"{head}.{res}.conv2.weight"]
        _copy_bn(state, f"{ours}.trunk.bn1", sd, f"{head}.{res}.bn1")
        _copy_bn(state, f"{ours}.trunk.bn2", sd, f"{head}.{res}.bn2")
        state[f"{ours}.out.weight"] = sd[f"{head}.out_layer.0.weight"]
        state[f"{ours}.out.bias"] = sd[f"{head}.out_layer.0.bias"]
    pairs = {"bigff.gate_s2t": "bigff.structure_gate.0", "bigff.gate_t2s": "bigff.texture_gate.0",
             "fusion1": "fusion_layer1.0", "fusion2": "fusion_layer2.0", "out_conv": "out_layer.0",
             "cfa.msfa.weight_conv": "cfa.msfa.weight_calc.0", "cfa.msfa.weight_out": "cfa.msfa.weight_calc.2",
             **{f"cfa.msfa.branches.{k}": f"cfa.msfa.dilated_conv_{k}.0" for k in range(4)}}
    for ours, theirs in pairs.items():
        state[f"{ours}.weight"] = sd[f"{theirs}.weight"]
        state[f"{ours}.bias"] = sd[f"{theirs}.bias"]
    state["bigff.alpha"] = sd["bigff.texture_gamma"]       # scales the structure → texture update
    state["bigff.beta"] = sd["bigff.structure_gamma"]      # scales the texture → structure update
    _load_strict(model, state, "ctsdg")
    notes = [
        "the network maps exactly (PConv with NVIDIA's renormalisation, bilinear decoders, Bi-GFF, CFA, heads)",
        "structure input: inpaintlib computes gray (BT.709) and Canny edges from the clean [0, 1] image, "
        "edges from the known pixels only; the original's test pipeline took both from the [-1, 1] tensor "
        "cast to 8 bits (dark values wrap) and Canny of the whole image: "
        "model(image, hole, edge=e, gray=g) with (e, g) = inpaintlib.models.ctsdg.original_structure(image) "
        "reproduces the original pipeline",
    ]
    config = {"layers": 7, "width": width}
    return Conversion(model, "ctsdg", config, "ctsdg", notes)


# ---------------------------------------------------------------------------------------
# the front door
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Converter:
    fn: Callable[..., Conversion]
    wrappers: tuple[str, ...]
    origin: str
    options: tuple[str, ...] = ()      # keyword options the converter takes (e.g. pconv's upsampling)


_CONVERTERS: dict[str, _Converter] = {
    "pconv": _Converter(_convert_pconv, ("model", "state_dict"),
                        "naoto0804/pytorch-inpainting-with-partial-conv (PConvUNet, checkpoint {'model': …})",
                        ("upsampling",)),
    "gmcnn": _Converter(_convert_gmcnn, ("netGM", "state_dict", "model"),
                        "shepnerd/inpainting_gmcnn, PyTorch release (the *_net_GM.pth state dict)"),
}
_CONVERTERS["ctsdg"] = _Converter(_convert_ctsdg, ("generator", "state_dict", "model"),
                                  "xiefan-guo/ctsdg, models/generator/generator.py (checkpoint {'generator': …})")
for _name, (_variant, _dcw, _dpn) in CLMSER_VARIANTS.items():
    _CONVERTERS[_name] = _Converter(
        (lambda m: (lambda sd: _convert_clmser(sd, m)))(_name), ("state_dict", "model"),
        f"CMACH508/CLmser, model/{_variant.lower()}.py Generator (checkpoint {{'state_dict': …, 'config': …}})")


def methods() -> dict[str, str]:
    """Converter names and the original code each one reads."""
    return {name: c.origin for name, c in _CONVERTERS.items()}


def convert(method: str, source: Source, trust: bool = False, **options) -> Conversion:
    """Convert an original checkpoint (a path, or an already loaded object) for ``method``.

    ``options`` are what the original code takes as arguments but does not save with the
    weights: ``upsampling="nearest"`` or ``"bilinear"`` for ``pconv`` (naoto0804's
    ``upsampling_mode``; nearest is its default). Raises :class:`ConversionError` (a
    ``ValueError``) naming the keys when the checkpoint does not match,
    ``FileNotFoundError`` for a missing file, and ``ValueError`` for an unknown method or
    option.
    """
    if method not in _CONVERTERS:
        raise ValueError(f"unknown method {method!r} for conversion; choose one of {', '.join(_CONVERTERS)}")
    conv = _CONVERTERS[method]
    unknown = [k for k in options if k not in conv.options]
    if unknown:
        takes = f"it takes {', '.join(conv.options)}" if conv.options else "it takes none"
        raise ValueError(f"the {method} conversion has no option {', '.join(unknown)} ({takes})")
    if isinstance(source, (str, os.PathLike)):
        obj = load_original(source, trust=trust)
        try:
            sd = extract_state_dict(obj, conv.wrappers)
        except ConversionError as err:  # name the file: the message is about its contents
            raise ConversionError(f"{source}: {err}", err.missing, err.unexpected, err.wrong_shape) from err
    else:
        sd = extract_state_dict(source, conv.wrappers)
    sd = {k: v.detach().cpu() for k, v in sd.items()}
    return conv.fn(sd, **options)


def convert_file(method: str, source: Union[str, os.PathLike], output: Union[str, os.PathLike],
                 trust: bool = False, **options) -> Conversion:
    """Convert ``source`` (with :func:`convert`'s ``options``) and write a portable model
    file to ``output``."""
    from .registry import save_model

    result = convert(method, source, trust=trust, **options)
    meta = {"converted_from": str(Path(source).name), "converter": method,
            "original": _CONVERTERS[method].origin, "notes": list(result.notes)}
    save_model(result.model, output, result.name, result.config, meta=meta)
    return result


def convert_pconv(source: Source, trust: bool = False, upsampling: str = "nearest") -> nn.Module:
    """naoto0804's PConv U-Net checkpoint → :class:`~inpaintlib.models.pconv_unet.PConvUNet`
    (``normalization="imagenet"``), in eval mode. ``upsampling``: the ``upsampling_mode``
    the original model was trained with (``"nearest"``, its default, or ``"bilinear"``);
    the checkpoint does not record it. See the module docstring."""
    return convert("pconv", source, trust, upsampling=upsampling).model


def convert_gmcnn(source: Source, trust: bool = False) -> nn.Module:
    """shepnerd's PyTorch GMCNN generator (``*_net_GM.pth``) →
    :class:`~inpaintlib.models.gmcnn.GMCNN`, in eval mode. See the module docstring."""
    return convert("gmcnn", source, trust).model


def convert_clmser(source: Source, variant: str = "CLmser", trust: bool = False) -> nn.Module:
    """A released CLmser-family checkpoint → :class:`~inpaintlib.models.lmser.CLmser` with
    the named variant's dualities (``"CLmser"``, ``"CLmser_n"``, ``"CLmser_w"``, ``"CAE"``),
    in eval mode. The variant must be named: CLmser and CLmser_n (like CLmser_w and CAE)
    save identical keys, and DPN leaves no trace in the weights. See the module docstring."""
    by_name = {v[0].lower(): k for k, v in CLMSER_VARIANTS.items()}
    if not isinstance(variant, str) or variant.lower() not in by_name:
        raise ValueError(f"unknown CLmser variant {variant!r}; choose one of "
                         f"{', '.join(v[0] for v in CLMSER_VARIANTS.values())}")
    return convert(by_name[variant.lower()], source, trust).model


def convert_ctsdg(source: Source, trust: bool = False) -> nn.Module:
    """The official CTSDG generator (``{'generator': …}``) →
    :class:`~inpaintlib.models.ctsdg.CTSDG` (``layers=7``), in eval mode. The network
    maps exactly; the structure input differs as the module docstring says."""
    return convert("ctsdg", source, trust).model
