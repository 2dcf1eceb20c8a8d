"""Inpainting a photo of any size with a model trained at one size.

Taught in the "Comparing the methods" chapter (and used by ``inpaintlib inpaint``).

A network learns the statistics of the scale it was trained at: a model trained on
128-px crops, run on a 1024-px photo, sees strokes 8× wider than it ever filled and
paints noise. So, as inpainting tools commonly do, :func:`inpaint` runs the model **at
its own size** and pastes the fill back at full resolution. Three strategies:

``"crop"`` (the default)
    Take a square window around the hole (its bounding box grown by half and by 8 px on
    each side, at least the model's size, at most the photo), resize it to the model's
    size, fill it, resize the prediction back and paste it into the hole. Detail away
    from the hole is never resampled; when the holes spread over the whole photo this is
    the same as ``"resize"``.
``"resize"``
    Resize the whole photo to the model's size (aspect ratio not kept), fill, resize the
    prediction back, paste into the hole.
``"native"``
    Run the model on the photo as it is (the behaviour before this module).

In every strategy a pixel of the small image counts as missing when *any* of the
full-resolution pixels it covers is missing (the hole is grown, never shrunk, so the
model never sees hole pixels), and the result is a composite: the known pixels are the
photo's own, exactly.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .tensors import composite, validate

__all__ = ["STRATEGIES", "model_size", "inpaint", "crop_window"]

STRATEGIES = ("crop", "resize", "native")


def model_size(model) -> Optional[int]:
    """The image size ``model`` was trained at, when it records one (reference models and
    model files written by the recipes do), else ``None``."""
    for attr in ("reference_size", "trained_size"):
        size = getattr(model, attr, None)
        if size:
            return int(size)
    return None


def _small_hole(hole: torch.Tensor, size) -> torch.Tensor:
    return (F.interpolate(hole.float(), size=size, mode="area") > 0).to(hole.dtype)


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _run_at(fill: Callable, image: torch.Tensor, hole: torch.Tensor, size: int) -> torch.Tensor:
    """Fill ``image`` (B×3×h×w) at ``size``×``size`` and return the prediction at h×w."""
    h, w = image.shape[-2:]
    small_hole = _small_hole(hole, (size, size))
    small = _resize(image * (1 - hole), (size, size)).clamp(0, 1) * (1 - small_hole)
    pred = fill(small, small_hole).float().clamp(0, 1)
    return _resize(pred, (h, w)).clamp(0, 1) if (h, w) != (size, size) else pred


def crop_window(hole: torch.Tensor, size: int) -> Optional[tuple[int, int, int]]:
    """``(top, left, side)`` of the square window the ``"crop"`` strategy fills for one
    ``1×H×W`` (or ``H×W``) hole mask, ``side ≤ min(H, W)``; ``None`` when no such square
    holds every hole pixel (then the whole photo is resized)."""
    m = hole.reshape(hole.shape[-2:]) > 0.5
    H, W = m.shape
    rows, cols = torch.nonzero(m.any(1)).flatten(), torch.nonzero(m.any(0)).flatten()
    if rows.numel() == 0:
        return 0, 0, min(H, W)
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    extent = max(bottom - top, right - left)
    if extent > min(H, W):
        return None
    side = min(min(H, W), max(size, int(extent * 1.5) + 16))
    cy, cx = (top + bottom) / 2, (left + right) / 2
    t = int(round(min(max(cy - side / 2, 0), H - side)))
    l = int(round(min(max(cx - side / 2, 0), W - side)))
    return t, l, side


@torch.no_grad()
def inpaint(fill: Callable, image: torch.Tensor, hole: torch.Tensor, size: Optional[int] = None,
            strategy: str = "crop", raw: bool = False) -> torch.Tensor:
    """Fill the holes of ``image`` (``B×3×H×W`` in ``[0, 1]``; ``hole`` ``B×1×H×W``, 1 =
    missing) with ``fill`` (a model or baseline) run at ``size`` (default: the size the
    model records, :func:`model_size`; without one, ``"native"``).

    Returns the composite at full resolution (``raw=True``: the prediction, which equals
    the composite outside the crop window). Runs on the device of ``image``.
    """
    validate(image, hole)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    size = size or model_size(fill)
    H, W = image.shape[-2:]
    if strategy == "native" or size is None or (H, W) == (size, size):
        pred = fill(image, hole).float().clamp(0, 1)
    elif strategy == "resize":
        pred = _run_at(fill, image, hole, size)
    else:
        pred = image.clone()
        for b in range(image.shape[0]):  # one window per photo: the holes differ
            window = crop_window(hole[b], size)
            if window is None:   # holes spread wider than the photo's short side
                pred[b:b + 1] = _run_at(fill, image[b:b + 1], hole[b:b + 1], size)
                continue
            t, l, side = window
            rows, cols = slice(t, t + side), slice(l, l + side)
            pred[b:b + 1, :, rows, cols] = _run_at(fill, image[b:b + 1, :, rows, cols],
                                                   hole[b:b + 1, :, rows, cols], size)
    return pred if raw else composite(image, pred, hole)
