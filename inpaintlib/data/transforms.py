"""Image loading and the few geometric transforms the book needs, in plain torch.

Taught in the intro chapter ("What is inpainting?", the data section).

``inpaintlib`` does not use torchvision, so the handful of transforms that every
data pipeline needs live here. All of them take a ``C×H×W`` tensor or a batch
``B×C×H×W`` and work on the last two dimensions; on a batch, a random transform
draws **one** set of parameters for the whole batch.

* :func:`load_image` — a file to a ``3×H×W`` float tensor in ``[0, 1]`` (Pillow).
* :func:`resize` — to a shorter side (``int``) or an exact ``(H, W)``; bilinear with
  anti-aliasing (so shrinking a photo does not alias) or exact nearest-neighbour.
* :func:`center_crop`, :func:`random_crop`, :func:`random_resized_crop`, :func:`hflip`.

Sizes are ``int`` (a square, or the shorter side for :func:`resize`) or ``(H, W)``.
Random transforms take an optional ``torch.Generator`` so a data set can make its
crops a pure function of ``(seed, index, epoch)``.
"""
from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

__all__ = [
    "load_image",
    "resize",
    "center_crop",
    "random_crop",
    "random_resized_crop",
    "random_resized_crop_params",
    "hflip",
]

Size = Union[int, Sequence[int]]
PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- helpers
def _check_image(img: torch.Tensor, fn: str) -> None:
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{fn}: expected a torch.Tensor, got {type(img).__name__}")
    if img.dim() not in (3, 4):
        raise ValueError(
            f"{fn}: expected a C×H×W or B×C×H×W tensor, got shape {tuple(img.shape)}"
        )
    if img.shape[-1] == 0 or img.shape[-2] == 0:
        raise ValueError(f"{fn}: image is empty (shape {tuple(img.shape)})")


def _pair(size: Size, fn: str, what: str = "size") -> Tuple[int, int]:
    """``int`` → ``(s, s)``; a pair of positive ints → itself."""
    if isinstance(size, bool):
        raise TypeError(f"{fn}: {what} must be an int or an (H, W) pair, got a bool")
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise TypeError(
                f"{fn}: {what} must be an int or an (H, W) pair, got {size!r}"
            ) from None
    if h <= 0 or w <= 0:
        raise ValueError(f"{fn}: {what} must be positive, got {size!r}")
    return h, w


def _crop(img: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    return img[..., top : top + h, left : left + w]


def _randint(low: int, high: int, generator: Optional[torch.Generator]) -> int:
    """Uniform integer in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def _uniform(low: float, high: float, generator: Optional[torch.Generator]) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator, dtype=torch.float64).item())


# --------------------------------------------------------------------------- loading
def load_image(path: PathLike) -> torch.Tensor:
    """Read an image file as a ``3×H×W`` float32 tensor in ``[0, 1]``.

    Grayscale is repeated to three channels, alpha and palettes are dropped
    (Pillow's ``convert("RGB")``), 16-bit grayscale is scaled by 1/65535, and the
    EXIF orientation tag is applied so phone photos stand upright.

    A missing file raises :class:`FileNotFoundError`; a file Pillow cannot decode
    (not an image, truncated, corrupt) raises :class:`ValueError`. Both messages
    name the file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"cannot read image {path}: it is a directory")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
                arr = np.asarray(im, dtype=np.float32) / 65535.0
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            else:
                if im.mode != "RGB":
                    im = im.convert("RGB")
                arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image {path}: {type(e).__name__}: {e}") from e
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


# --------------------------------------------------------------------------- resize
def _nearest_index(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    # Pixel-centre aligned nearest neighbour: output pixel i samples the input pixel
    # whose area contains the output centre, (i + 0.5) * n_in / n_out.
    idx = torch.div(
        (2 * torch.arange(n_out, device=device) + 1) * n_in, 2 * n_out, rounding_mode="floor"
    )
    return idx.clamp_(0, n_in - 1)


def resize(img: torch.Tensor, size: Size, mode: str = "bilinear") -> torch.Tensor:
    """Resize a ``C×H×W`` or ``B×C×H×W`` image.

    ``size``: an ``int`` sets the **shorter side** (aspect ratio kept, the longer
    side rounded); ``(H, W)`` sets both.

    ``mode``:

    * ``"bilinear"`` — float images only; anti-aliased when shrinking (a triangle
      filter as wide as the scale factor), so the output stays inside the input's
      value range.
    * ``"nearest"`` — any dtype; pixel-centre aligned and exact: an exact 2×
      enlargement repeats every pixel twice, an exact 2× reduction keeps every
      second pixel starting at index 1 (the same convention as Pillow's NEAREST).
    """
    _check_image(img, "resize")
    H, W = img.shape[-2:]
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        s = int(size)
        if s <= 0:
            raise ValueError(f"resize: size must be positive, got {size!r}")
        if H <= W:
            oh, ow = s, max(s, int(round(W * s / H)))
        else:
            oh, ow = max(s, int(round(H * s / W))), s
    else:
        oh, ow = _pair(size, "resize")

    if mode == "nearest":
        rows = _nearest_index(H, oh, img.device)
        cols = _nearest_index(W, ow, img.device)
        return img.index_select(-2, rows).index_select(-1, cols)
    if mode != "bilinear":
        raise ValueError(f"resize: mode must be 'bilinear' or 'nearest', got {mode!r}")
    if not img.is_floating_point():
        raise ValueError(
            f"resize: bilinear mode needs a floating-point image, got dtype {img.dtype} "
            "(convert it, or use mode='nearest')"
        )
    batched = img.dim() == 4
    x = img if batched else img.unsqueeze(0)
    if (oh, ow) == (H, W):
        out = x.clone()
    else:
        out = F.interpolate(
            x, size=(oh, ow), mode="bilinear", align_corners=False,
            antialias=(oh < H or ow < W),
        )
        # Interpolation weights sum to 1 but float rounding can overshoot by an ulp;
        # keep the promise that the output stays inside the input's value range.
        out = torch.clamp(out, min=x.amin(), max=x.amax())
    return out if batched else out[0]


# --------------------------------------------------------------------------- crops
def center_crop(img: torch.Tensor, size: Size) -> torch.Tensor:
    """The central ``size`` window (a view). With an odd margin the extra row/column
    is left at the bottom/right: ``top = (H − h) // 2``, ``left = (W − w) // 2``.

    Raises :class:`ValueError` when the crop is larger than the image.
    """
    _check_image(img, "center_crop")
    h, w = _pair(size, "center_crop")
    H, W = img.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"center_crop: crop {h}×{w} is larger than the image {H}×{W}")
    return _crop(img, (H - h) // 2, (W - w) // 2, h, w)


def random_crop(
    img: torch.Tensor, size: Size, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """A ``size`` window at a uniformly random position (a view).

    The position comes from ``generator`` (the global torch RNG when ``None``); a
    batch gets one position for all its images. Raises :class:`ValueError` when the
    crop is larger than the image.
    """
    _check_image(img, "random_crop")
    h, w = _pair(size, "random_crop")
    H, W = img.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"random_crop: crop {h}×{w} is larger than the image {H}×{W}")
    top = _randint(0, H - h, generator)
    left = _randint(0, W - w, generator)
    return _crop(img, top, left, h, w)


def random_resized_crop_params(
    height: int,
    width: int,
    scale: Tuple[float, float] = (0.08, 1.0),
    ratio: Tuple[float, float] = (3 / 4, 4 / 3),
    generator: Optional[torch.Generator] = None,
    attempts: int = 10,
) -> Tuple[int, int, int, int]:
    """Draw the window ``(top, left, h, w)`` of a random-resized crop.

    The window's area is a uniform fraction of ``height·width`` in ``scale`` and its
    aspect ratio ``w/h`` is log-uniform in ``ratio``. A draw that does not fit the
    image is redrawn up to ``attempts`` times; after that the window is the largest
    centred one whose aspect ratio is ``ratio`` clipped to the image's.
    """
    lo, hi = float(scale[0]), float(scale[1])
    if not (0 < lo <= hi <= 1):
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}")
    rlo, rhi = float(ratio[0]), float(ratio[1])
    if not (0 < rlo <= rhi):
        raise ValueError(f"ratio must satisfy 0 < low <= high, got {tuple(ratio)}")
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    area = height * width
    log_lo, log_hi = math.log(rlo), math.log(rhi)
    for _ in range(attempts):
        target = area * _uniform(lo, hi, generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(0, height - h, generator)
            left = _randint(0, width - w, generator)
            return top, left, h, w
    # Fallback: a centred window with the aspect ratio clipped into ``ratio``.
    aspect = min(max(width / height, rlo), rhi)
    if width / height > aspect:
        h = height
        w = min(width, max(1, int(round(h * aspect))))
    else:
        w = width
        h = min(height, max(1, int(round(w / aspect))))
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    img: torch.Tensor,
    size: Size,
    scale: Tuple[float, float] = (0.08, 1.0),
    ratio: Tuple[float, float] = (3 / 4, 4 / 3),
    generator: Optional[torch.Generator] = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Crop a random window (see :func:`random_resized_crop_params`) and resize it to
    ``size`` (an ``int`` means a square). Random scale *and* position in one step —
    the standard augmentation for training on photos.
    """
    _check_image(img, "random_resized_crop")
    out = _pair(size, "random_resized_crop")
    H, W = img.shape[-2:]
    top, left, h, w = random_resized_crop_params(H, W, scale, ratio, generator)
    return resize(_crop(img, top, left, h, w), out, mode=mode)


def hflip(img: torch.Tensor) -> torch.Tensor:
    """Mirror left ↔ right (flip the last dimension)."""
    _check_image(img, "hflip")
    return img.flip(-1)
