"""Classical (non-learned) inpainting baselines with the same call as a model.

Taught in the intro chapter ("What is inpainting?"), section *classical baselines*:

* :func:`telea` — fast marching from the hole border inwards, each pixel a weighted
  average of known neighbours (Telea 2004; OpenCV ``INPAINT_TELEA``).
* :func:`navier_stokes` — propagates isophotes (lines of equal brightness) into the
  hole with fluid-dynamics equations (Bertalmío et al. 2001; OpenCV ``INPAINT_NS``).
* :func:`biharmonic` — fills the hole with the smoothest surface (solution of the
  biharmonic equation) that meets the known border (scikit-image).

They fill small holes in smooth regions well and fail on large holes and texture —
the gap the learned models of later chapters close.

Each baseline is called like a model, ``pred = telea(image, hole)``, with ``image``
``B×3×H×W`` in ``[0, 1]`` and ``hole`` ``B×1×H×W`` (1 = missing), and returns the raw
prediction ``B×3×H×W`` in ``[0, 1]`` on the input's device and dtype. Like a model it
never sees the hole pixels: they are zeroed before the classical algorithm runs. The
OpenCV methods work on 8-bit images, so their predictions (known pixels included) are
quantised to multiples of 1/255; ``composite(image, pred, hole)`` pastes the exact known
pixels back. The classical solvers run one image at a time (an unavoidable loop over
the batch). :class:`Baseline` wraps one so benchmark code can treat baselines and
``torch.nn.Module`` models alike.
"""
from __future__ import annotations

import inspect
from typing import Callable, Dict, Iterator

import cv2
import numpy as np
import torch

from .tensors import validate

__all__ = [
    "telea",
    "navier_stokes",
    "biharmonic",
    "BASELINES",
    "get_baseline",
    "Baseline",
    "mean_colour_fill",
]


def _run_per_image(
    image: torch.Tensor,
    hole: torch.Tensor,
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> torch.Tensor:
    """Apply ``fill(rgb_float64_HxWx3 with hole zeroed, bool_mask_HxW) -> HxWx3 in [0,1]``
    to every sample; samples with an empty hole are returned unchanged."""
    validate(image, hole)
    img = image.detach()
    if img.shape[0] == 0:  # an empty batch: nothing to fill
        return img.clone()
    hl = hole.detach()
    masked = (img * (1.0 - hl)).to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    masks = hl[:, 0].to("cpu").numpy() > 0.5
    full = masks.reshape(masks.shape[0], -1).all(axis=1)
    if full.any():
        raise ValueError(
            f"hole covers the whole image for sample(s) {np.flatnonzero(full).tolist()}: "
            f"there are no known pixels to inpaint from"
        )
    out = img.clone()
    for i in range(img.shape[0]):  # one solver call per image: unavoidable
        if not masks[i].any():
            continue  # empty hole: keep the image exactly
        filled = np.clip(fill(masked[i], masks[i]), 0.0, 1.0)
        out[i] = torch.from_numpy(np.ascontiguousarray(filled.transpose(2, 0, 1))).to(
            device=img.device, dtype=img.dtype
        )
    return out


def _check_radius(radius: float) -> float:
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    return float(radius)


def _opencv_fill(flag: int, radius: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def fill(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        src = np.round(rgb * 255.0).astype(np.uint8)
        m = mask.astype(np.uint8) * 255
        res = cv2.inpaint(src, m, radius, flag)
        return res.astype(np.float64) / 255.0

    return fill


def telea(image: torch.Tensor, hole: torch.Tensor, radius: float = 3) -> torch.Tensor:
    """Telea's fast-marching inpainting (OpenCV ``INPAINT_TELEA``).

    ``radius`` is the neighbourhood (in pixels) each filled pixel averages over.
    Works on 8-bit RGB: the prediction is quantised to multiples of 1/255 (known
    pixels within 1/255 of the input). Samples with an empty hole are returned
    unchanged; a hole covering the whole image raises :class:`ValueError`.
    """
    return _run_per_image(image, hole, _opencv_fill(cv2.INPAINT_TELEA, _check_radius(radius)))


def navier_stokes(image: torch.Tensor, hole: torch.Tensor, radius: float = 3) -> torch.Tensor:
    """Navier–Stokes-based inpainting (OpenCV ``INPAINT_NS``).

    Same contract as :func:`telea`: 8-bit quantised prediction, empty hole → the
    image unchanged, a hole covering everything → :class:`ValueError`.
    """
    return _run_per_image(image, hole, _opencv_fill(cv2.INPAINT_NS, _check_radius(radius)))


def _biharmonic_fill(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    return inpaint_biharmonic(rgb, mask, channel_axis=-1)


def biharmonic(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting (``skimage.restoration.inpaint_biharmonic``, per channel).

    Not quantised: known pixels are returned as given (up to float conversion), and the
    fill — which can overshoot slightly near strong edges — is clipped to ``[0, 1]``.
    Reproduces linear ramps almost exactly. Empty hole → the image unchanged; a hole
    covering the whole image raises :class:`ValueError`. Slower than the OpenCV methods
    on large holes (it solves a sparse linear system per image).
    """
    return _run_per_image(image, hole, _biharmonic_fill)


#: Baselines by name.
def mean_colour_fill(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The floor every learned method must clear: each image's hole filled with the mean
    colour of its known pixels (vectorised over the batch; not one of :data:`BASELINES`)."""
    validate(image, hole)
    known = 1.0 - hole.to(image.dtype)
    mean = (image * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    return known * image + (1.0 - known) * mean


BASELINES: Dict[str, Callable[..., torch.Tensor]] = {
    "telea": telea,
    "ns": navier_stokes,
    "biharmonic": biharmonic,
}


def get_baseline(name: str) -> Callable[..., torch.Tensor]:
    """Look up a baseline function by name (``"telea"``, ``"ns"``, ``"biharmonic"``)."""
    try:
        return BASELINES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown baseline {name!r}; valid names: {', '.join(sorted(BASELINES))}"
        ) from None


class Baseline:
    """A baseline that quacks like a model: ``Baseline("telea")(image, hole) → pred``.

    ``.name`` is the baseline's name; ``eval()``, ``train()`` and ``to()`` do nothing and
    return ``self``; ``parameters()`` is empty (so parameter counts give 0). Extra
    keyword arguments (e.g. ``radius=5``) are passed to the baseline function.
    """

    def __init__(self, name: str, **kwargs) -> None:
        self.fn = get_baseline(name)
        try:
            inspect.signature(self.fn).bind(None, None, **kwargs)
        except TypeError as err:
            raise ValueError(f"baseline {name!r} does not accept {sorted(kwargs)}: {err}") from None
        self.name = name
        self.kwargs = dict(kwargs)
        self.training = False

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """Inpaint ``image`` where ``hole`` is 1; see the baseline function."""
        return self.fn(image, hole, **self.kwargs)

    __call__ = forward

    def eval(self) -> "Baseline":
        """No-op (there is nothing to switch); returns ``self``."""
        return self

    def train(self, mode: bool = True) -> "Baseline":
        """No-op: a classical baseline cannot be trained; returns ``self``."""
        return self

    def to(self, *args, **kwargs) -> "Baseline":
        """No-op: the output follows the input's device; returns ``self``."""
        return self

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """No learnable parameters: an empty iterator."""
        return iter(())

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Baseline({self.name!r}{extra})"
