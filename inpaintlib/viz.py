"""Pictures: image grids for training samples, and the figures the book shows.

Taught in the intro chapter ("What is inpainting?"); every method chapter uses
:func:`show_inpainting` to show its results, and the :class:`~inpaintlib.train.Trainer`
writes its sample grids with :func:`save_grid`.

* :func:`make_grid` tiles a batch ``N×C×H×W`` into one ``3×H'×W'`` image (pure torch,
  no loops over pixels or images).
* :func:`save_grid` writes that grid to a PNG file, atomically.
* :func:`show_images` and :func:`show_inpainting` return matplotlib figures.

Grid layout (``ncol = min(nrow, N)`` columns, ``ceil(N / ncol)`` rows)::

    H' = rows·(H + padding) + padding        W' = ncol·(W + padding) + padding

and tile ``i`` has its top-left pixel at
``(padding + (i // ncol)·(H + padding), padding + (i % ncol)·(W + padding))``.
Empty slots after the last tile, and the padding lines, hold ``pad_value``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .tensors import composite, validate

__all__ = ["make_grid", "save_grid", "show_images", "show_inpainting", "HOLE_TINT"]

#: Colour painted over hole pixels in :func:`show_inpainting` (a light magenta).
HOLE_TINT = (1.0, 0.4, 1.0)


def _as_batch(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Check ``images`` and return it as a float ``N×3×H×W`` batch."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise ValueError(
            f"{name} must have shape N×C×H×W (or C×H×W for one image), got shape "
            f"{tuple(images.shape)}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (N = 0)")
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 or 3 channels in dimension 1, got {images.shape[1]} "
            f"(shape {tuple(images.shape)})"
        )
    if not images.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor in [0, 1], got dtype {images.dtype}")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def make_grid(
    images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0
) -> torch.Tensor:
    """Tile ``images`` (``N×C×H×W``, C = 1 or 3) into one ``3×H'×W'`` tensor.

    ``nrow`` is the number of images per row (as in torchvision). One-channel images
    (masks) are repeated to three channels. Values are not clamped or rescaled.
    """
    x = _as_batch(images).detach()
    if int(nrow) < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    if int(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    n, c, h, w = x.shape
    ncol = min(int(nrow), n)
    rows = math.ceil(n / ncol)
    p = int(padding)
    # Fill the last row with blank tiles, then give every tile a right and bottom border.
    blank = x.new_full((rows * ncol - n, c, h, w), float(pad_value))
    x = torch.cat([x, blank], dim=0)
    x = F.pad(x, (0, p, 0, p), value=float(pad_value))  # N×3×(H+p)×(W+p)
    # (rows, ncol, 3, H+p, W+p) -> (3, rows, H+p, ncol, W+p) -> one image
    x = x.reshape(rows, ncol, c, h + p, w + p).permute(2, 0, 3, 1, 4)
    x = x.reshape(c, rows * (h + p), ncol * (w + p))
    return F.pad(x, (p, 0, p, 0), value=float(pad_value))  # the top and left border


def save_grid(
    images: torch.Tensor,
    path: Union[str, os.PathLike],
    nrow: int = 8,
    padding: int = 2,
    pad_value: float = 1.0,
) -> Path:
    """Write :func:`make_grid` of ``images`` to ``path`` as an 8-bit RGB PNG; return the path.

    Values are clamped to ``[0, 1]`` and rounded to 8 bits. The file is written to
    ``<path>.tmp`` first and then renamed, so a reader never sees half a file.
    Parent folders are created. NaN/Inf values raise :class:`ValueError`.
    """
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    grid = grid.to("cpu", torch.float32)
    if not bool(torch.isfinite(grid).all()):
        raise ValueError(f"images contain NaN or Inf values; not writing {path}")
    arr = (grid.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def _to_hwc(img: torch.Tensor) -> np.ndarray:
    """``C×H×W`` tensor -> ``H×W×3`` float array in [0, 1] (1 channel repeated)."""
    img = img.detach().to("cpu", torch.float32)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img.clamp(0.0, 1.0).permute(1, 2, 0).numpy()


def show_images(
    images: Union[torch.Tensor, Sequence[torch.Tensor]],
    titles: Optional[Sequence[str]] = None,
    nrow: Optional[int] = None,
    *,
    size: float = 2.0,
):
    """Show images side by side, one subplot each, and return the matplotlib ``Figure``.

    ``images`` is an ``N×C×H×W`` tensor or a list of ``C×H×W`` / ``1×C×H×W`` tensors
    (C = 1 or 3; sizes may differ in a list). ``nrow`` is the number of images per row
    (default: all in one row, at most 8). ``size`` is the width in inches of one panel.
    """
    import matplotlib.pyplot as plt

    if isinstance(images, torch.Tensor):
        items = list(_as_batch(images))
    else:
        items = [_as_batch(im, f"images[{i}]")[0] for i, im in enumerate(images)]
        if not items:
            raise ValueError("images is an empty list")
    n = len(items)
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncol = min(int(nrow) if nrow else min(n, 8), n)
    if ncol < 1:
        raise ValueError(f"nrow must be at least 1, got {nrow}")
    rows = math.ceil(n / ncol)
    fig, axes = plt.subplots(rows, ncol, figsize=(size * ncol, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_to_hwc(items[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def show_inpainting(
    image: torch.Tensor,
    hole: torch.Tensor,
    pred: torch.Tensor,
    titles: Sequence[str] = ("masked input", "prediction", "composite", "ground truth"),
    *,
    max_samples: int = 4,
    tint: Sequence[float] = HOLE_TINT,
    size: float = 2.0,
):
    """Show, for the first ``max_samples`` images of a batch, four panels per row:

    1. **masked input** — what the model sees; hole pixels painted in ``tint``,
    2. **prediction** — the raw model output ``pred``,
    3. **composite** — ``composite(image, pred, hole)``: known pixels pasted back,
    4. **ground truth** — ``image``.

    ``image`` and ``pred`` are ``B×3×H×W`` in [0, 1] and ``hole`` is ``B×1×H×W``
    (1 = missing), checked with :func:`inpaintlib.tensors.validate`. Returns the
    ``Figure`` (rows = samples).
    """
    import matplotlib.pyplot as plt

    validate(image, hole)
    if not isinstance(pred, torch.Tensor) or pred.shape != image.shape:
        got = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
        raise ValueError(f"pred must have the image's shape {tuple(image.shape)}, got {got}")
    if len(titles) != 4:
        raise ValueError(f"titles must name the 4 panels, got {len(titles)}")
    if len(tint) != 3:
        raise ValueError(f"tint must be an RGB triple, got {tuple(tint)}")
    k = max(1, min(int(max_samples), image.shape[0]))
    image, hole = image[:k].detach().float(), hole[:k].detach().float()
    pred = pred[:k].detach().float().clamp(0.0, 1.0)
    colour = torch.tensor([float(t) for t in tint], device=image.device).view(1, 3, 1, 1)
    masked = image * (1.0 - hole) + colour * hole
    panels = [masked, pred, composite(image, pred, hole), image]

    fig, axes = plt.subplots(k, 4, figsize=(size * 4, size * k), squeeze=False)
    for r in range(k):
        for c in range(4):
            ax = axes[r, c]
            ax.imshow(_to_hwc(panels[c][r]), interpolation="nearest")
            ax.axis("off")
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    fig.tight_layout()
    return fig
