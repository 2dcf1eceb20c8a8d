"""Grayscale and Canny edge maps: the structure inputs of CTSDG.

Taught in the CTSDG chapter (texture and structure streams); :func:`grayscale` is
also used by the intro chapter's metrics section.

CTSDG's structure stream reads the Canny edges and the gray image of the photo:
``skimage.feature.canny(rgb2gray(img), sigma=2)``. :func:`edges` does exactly that on
the clean ``[0, 1]`` image (the official code ran it on the already-normalised
``[-1, 1]`` image by mistake, see the chapter). :func:`grayscale` is a vectorised
torch conversion with ITU-R BT.601 luma weights by default (or scikit-image's
``rgb2gray`` weights, BT.709, with ``weights="709"``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..tensors import validate_image

__all__ = ["grayscale", "edges", "LUMA_601", "LUMA_709"]

#: ITU-R BT.601 luma weights (R, G, B) — JPEG, OpenCV, Pillow "L".
LUMA_601 = (0.299, 0.587, 0.114)
#: ITU-R BT.709 weights used by ``skimage.color.rgb2gray`` (and CTSDG's gray input).
LUMA_709 = (0.2125, 0.7154, 0.0721)


def _as_batch(image: torch.Tensor, fn: str, check: bool = True) -> tuple:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{fn}: expected a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 3:
        return validate_image(image.unsqueeze(0), check=check), True
    return validate_image(image, check=check), False


def grayscale(image: torch.Tensor, weights: str = "601", check: bool = True) -> torch.Tensor:
    """Luma of an RGB image in ``[0, 1]``: ``B×3×H×W → B×1×H×W`` (``3×H×W → 1×H×W``).

    ``weights="601"`` (default): ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601).
    ``weights="709"``: ``0.2125 R + 0.7154 G + 0.0721 B``, scikit-image's ``rgb2gray``.
    ``check=False`` skips the image's value checks (a training step).
    """
    x, single = _as_batch(image, "grayscale", check)
    if weights == "601":
        w = LUMA_601
    elif weights == "709":
        w = LUMA_709
    else:
        raise ValueError(f"grayscale: weights must be '601' or '709', got {weights!r}")
    kernel = torch.tensor(w, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    out = (x * kernel).sum(dim=1, keepdim=True).clamp_(0.0, 1.0)
    return out[0] if single else out


def edges(
    image: torch.Tensor,
    sigma: float = 2.0,
    low_threshold: Optional[float] = None,
    high_threshold: Optional[float] = None,
) -> torch.Tensor:
    """Canny edge map of an RGB image in ``[0, 1]``: ``B×3×H×W → B×1×H×W`` of 0/1
    floats (``3×H×W → 1×H×W``), on the image's device and dtype.

    Computes ``skimage.feature.canny(skimage.color.rgb2gray(img), sigma, low_threshold,
    high_threshold)`` per image (scikit-image runs on the CPU, one image at a time);
    the thresholds default to scikit-image's (0.1 and 0.2 of the [0, 1] range).
    CTSDG uses ``sigma=2``.
    """
    from skimage.color import rgb2gray
    from skimage.feature import canny

    x, single = _as_batch(image, "edges")
    if not sigma > 0:
        raise ValueError(f"edges: sigma must be positive, got {sigma}")
    arr = x.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    maps = np.stack(
        [
            canny(rgb2gray(a), sigma=sigma, low_threshold=low_threshold, high_threshold=high_threshold)
            for a in arr
        ]
    )
    out = torch.from_numpy(maps[:, None].astype(np.float32)).to(device=x.device, dtype=x.dtype)
    return out[0] if single else out
