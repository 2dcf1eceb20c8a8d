"""Tensor conventions shared by every part of ``inpaintlib``.

Taught in the intro chapter ("What is inpainting?").

* **Images** are float tensors ``B×3×H×W`` with values in ``[0, 1]``.
* **Masks** are called ``hole``: float ``B×1×H×W``, **1 = missing pixel**, 0 = known.
* A generator never sees hole pixels; :func:`composite` pastes the known pixels back
  over a prediction.

Every public function that takes an image and a hole validates them with
:func:`validate`, which raises a :class:`ValueError` naming what is wrong instead of
silently fixing it.

**Validated once, at the boundary.** The checks of *values* (range, binary mask, NaN/Inf)
read the whole tensor and, on a GPU, make the host wait for the device. So they run where
data enters: the user's call, the CLI, the data pipeline. Code the package calls itself
inside a training step (recipes, losses, the critics) passes ``check=False``: the
type, shape, dtype and device checks still run (they read no values and cost nothing),
the value checks are skipped.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image

__all__ = [
    "validate",
    "export_mode",
    "in_export_mode",
    "validate_image",
    "validate_hole",
    "composite",
    "mask_image",
    "to_tensor",
    "to_pil",
    "to_numpy",
    "device",
]


_EXPORT_MODE = False


@contextmanager
def export_mode() -> Iterator[None]:
    """Inside this block the generators run as they are traced for export (ONNX,
    TorchScript): :func:`validate` and friends check types, shapes, dtypes and devices but
    not *values* (range, binary mask, NaN), because a check that reads tensor values is a
    data-dependent branch a traced graph cannot hold; and layers with an export-unfriendly
    kernel pick an equivalent formulation (CTSDG's attention writes ``F.fold`` as a
    transposed convolution). Used by :mod:`inpaintlib.export`; validate the inputs before
    running an exported file. Not thread-safe: one export at a time.
    """
    global _EXPORT_MODE
    previous, _EXPORT_MODE = _EXPORT_MODE, True
    try:
        yield
    finally:
        _EXPORT_MODE = previous


def in_export_mode() -> bool:
    """Whether the code runs inside :func:`export_mode`."""
    return _EXPORT_MODE


def _check_finite(t: torch.Tensor, name: str, check: bool = True) -> None:
    if _EXPORT_MODE or not check:
        return
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or Inf values")


def validate_image(image: torch.Tensor, name: str = "image", check: bool = True) -> torch.Tensor:
    """Check that ``image`` is a finite float ``B×3×H×W`` tensor in ``[0, 1]``.

    Returns the tensor unchanged so the call can be used inline. ``check=False`` keeps the
    type and shape checks and skips those that read values (finite, in ``[0, 1]``): for
    tensors the package made or validated itself (module docstring).
    """
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 4:
        raise ValueError(
            f"{name} must have shape B×3×H×W (4 dimensions), got shape {tuple(image.shape)}"
        )
    if image.shape[1] != 3:
        raise ValueError(
            f"{name} must have 3 channels (RGB) in dimension 1, got {image.shape[1]} "
            f"(shape {tuple(image.shape)})"
        )
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor in [0, 1], got dtype {image.dtype}")
    if not check or _EXPORT_MODE:
        return image
    values = image.detach()  # checks read values only; never part of the autograd graph
    _check_finite(values, name)
    if values.numel():
        lo, hi = torch.aminmax(values)
        if float(lo) < 0.0 or float(hi) > 1.0:
            raise ValueError(f"{name} values must lie in [0, 1], got range [{float(lo):.4g}, {float(hi):.4g}]")
    return image


def validate_hole(hole: torch.Tensor, name: str = "hole", check: bool = True) -> torch.Tensor:
    """Check that ``hole`` is a binary float ``B×1×H×W`` mask (1 = missing).

    ``check=False`` skips the checks that read values (binary, finite), as for
    :func:`validate_image`."""
    if not isinstance(hole, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(hole).__name__}")
    if hole.dim() != 4:
        raise ValueError(
            f"{name} must have shape B×1×H×W (4 dimensions), got shape {tuple(hole.shape)}"
        )
    if hole.shape[1] != 1:
        raise ValueError(
            f"{name} must have 1 channel in dimension 1, got {hole.shape[1]} "
            f"(shape {tuple(hole.shape)})"
        )
    if not hole.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of 0s and 1s, got dtype {hole.dtype}")
    if not check or _EXPORT_MODE:
        return hole
    values = hole.detach()
    _check_finite(values, name)
    if values.numel() and not bool(((values == 0) | (values == 1)).all()):
        bad = values[(values != 0) & (values != 1)]
        raise ValueError(
            f"{name} must be binary (0 = known, 1 = missing); found {bad.numel()} values "
            f"that are neither, e.g. {float(bad.flatten()[0]):.4g}"
        )
    return hole


def validate(image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an ``(image, hole)`` pair and return it unchanged.

    Raises :class:`ValueError` for: wrong number of dimensions, wrong channel count,
    batch or spatial size mismatch, a non-binary mask, NaN/Inf, or pixel values
    outside ``[0, 1]``; and for tensors on different devices. ``check=False`` skips the
    three checks that read values (non-binary, NaN/Inf, range) and keeps the others.
    """
    validate_image(image, check=check)
    validate_hole(hole, check=check)
    if image.shape[0] != hole.shape[0]:
        raise ValueError(
            f"image and hole batch sizes differ: {image.shape[0]} vs {hole.shape[0]}"
        )
    if image.shape[-2:] != hole.shape[-2:]:
        raise ValueError(
            f"image and hole spatial sizes differ: image is {tuple(image.shape[-2:])}, "
            f"hole is {tuple(hole.shape[-2:])}"
        )
    if image.device != hole.device:
        raise ValueError(f"image is on {image.device} but hole is on {hole.device}")
    return image, hole


def composite(image: torch.Tensor, pred: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Paste the known pixels of ``image`` over ``pred``: ``pred·hole + image·(1−hole)``.

    The result has the image's dtype, whatever the float dtypes of ``pred`` and ``hole``."""
    validate(image, hole)
    if pred.shape != image.shape:
        raise ValueError(
            f"pred must have the image's shape {tuple(image.shape)}, got {tuple(pred.shape)}"
        )
    _check_finite(pred, "pred")
    return torch.lerp(image, pred.to(image.dtype), hole.to(image.dtype))


def mask_image(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Zero the hole pixels: ``image·(1−hole)``. What a generator is allowed to see."""
    validate(image, hole)
    return image * (1.0 - hole)


ArrayLike = Union[np.ndarray, Image.Image]


def to_tensor(x: ArrayLike, *, hole: bool = False) -> torch.Tensor:
    """Convert a PIL image or a NumPy array to a ``1×C×H×W`` float tensor in ``[0, 1]``.

    * ``uint8`` arrays / 8-bit images are divided by 255; float arrays are taken as
      already in ``[0, 1]`` and checked; bool arrays map to 0/1.
    * Images become RGB (3 channels): grayscale is repeated, alpha dropped.
    * With ``hole=True`` the result is a ``1×1×H×W`` binary mask: any pixel above 0.5
      (white in a mask file) is a hole.
    """
    if isinstance(x, Image.Image):
        img = x
        if hole:
            img = img.convert("L")
        elif img.mode != "RGB":
            img = img.convert("RGB")
        arr = np.asarray(img)
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise TypeError(f"expected a PIL image or a NumPy array, got {type(x).__name__}")

    if arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError("array contains NaN or Inf values")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise ValueError(
                f"float arrays must be in [0, 1], got range [{arr.min():.4g}, {arr.max():.4g}]"
            )
    else:
        raise ValueError(f"unsupported array dtype {arr.dtype}")

    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"expected an H×W or H×W×C array, got shape {arr.shape}")

    if hole:
        if arr.shape[2] > 1:
            arr = arr[:, :, :3].mean(axis=2, keepdims=True)
        arr = (arr > 0.5).astype(np.float32)
    else:
        c = arr.shape[2]
        if c == 1:
            arr = np.repeat(arr, 3, axis=2)
        elif c == 4:
            arr = arr[:, :, :3]
        elif c != 3:
            raise ValueError(f"expected 1, 3 or 4 channels, got {c}")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).unsqueeze(0)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Convert a ``C×H×W`` or ``1×C×H×W`` tensor in ``[0, 1]`` to an ``H×W×C`` float array
    (``H×W`` for one channel)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image; got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected C×H×W or 1×C×H×W, got shape {tuple(t.shape)}")
    arr = t.detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def to_pil(t: torch.Tensor) -> Image.Image:
    """Convert a ``C×H×W`` or ``1×C×H×W`` tensor in ``[0, 1]`` to a PIL image
    (RGB for 3 channels, L for 1). Values are clamped and rounded to 8 bits."""
    arr = to_numpy(t)
    if not np.isfinite(arr).all():
        raise ValueError("tensor contains NaN or Inf values")
    return Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))


def device(prefer: Optional[str] = None) -> torch.device:
    """Pick the compute device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the environment variable ``INPAINTLIB_DEVICE``) forces a choice,
    e.g. ``"cpu"``; asking for a device that is not available raises ``ValueError``.
    """
    choice = prefer or os.environ.get("INPAINTLIB_DEVICE")
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but CUDA is not available")
        if dev.type == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            raise ValueError("device 'mps' was requested but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
