"""GMCNN's pixel losses: the confidence-driven reconstruction weight, ``L_rec`` and ``L_ae``.

Taught in the "ID-MRF and the multi-column generator (GMCNN)" chapter (Wang et al.,
NeurIPS 2018; method notes §4.2). The generator loss of the PyTorch code is::

    L_G = 1.4·L_rec + 1.2·L_ae + 0.05·L_mrf + 0.001·(L_adv,global + L_adv,local)

(:data:`GMCNN_LOSS_WEIGHTS`), with

* ``L_rec = mean|M_w ⊙ (completed − gt)| / mean(hole)``, ``completed = pred·hole + gt·(1−hole)``
  (:func:`reconstruction_loss`),
* ``L_ae = mean|(1−hole) ⊙ (pred − gt)| / mean(1−hole)``, the L1 on the known region
  (:func:`known_region_loss`),
* ``L_mrf`` the implicit-diversified MRF loss (:mod:`inpaintlib.losses.idmrf`),
* ``L_adv`` the adversarial terms (:mod:`inpaintlib.losses.adversarial`).

**Value range.** The original normalises images to ``[-1, 1]``, so its ``L_rec`` and
``L_ae`` are twice the same L1 on ``[0, 1]`` images. The two functions below compute the
L1 of whatever they are given; the GMCNN recipe (:mod:`inpaintlib.recipes.gmcnn`) maps the
book's ``[0, 1]`` prediction and ground truth to ``[-1, 1]`` (``2x − 1``) before calling
them, as :class:`~inpaintlib.losses.CTSDGLoss` does, so that the weights above balance
the terms as in the original (on ``[0, 1]`` images ID-MRF and the adversarial terms would
weigh twice as much relative to the L1 terms).

The confidence-driven weight ``M_w`` (:func:`confidence_weight`) says how much to trust the
ground truth at each missing pixel: pixels near the known border have an almost certain
answer and get weight near 1, pixels deep inside a big hole could plausibly be many things
and get less. It is built by spreading the known region's confidence into the hole with a
wide blur, ``iterations`` times::

    init = 1 − hole
    repeat:  conf = (G ∗ init) ⊙ hole;   init = conf + (1 − hole)
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import validate_hole

__all__ = [
    "GMCNN_LOSS_WEIGHTS",
    "gaussian_kernel_1d",
    "gaussian_kernel",
    "confidence_weight",
    "ConfidenceWeight",
    "reconstruction_loss",
    "known_region_loss",
]

#: The PyTorch code's generator-loss weights (``train_options``: lambda_rec, lambda_ae,
#: lambda_mrf, lambda_adv); ``"adv"`` multiplies the *sum* of the global and local terms.
#: (The TensorFlow code differs: 1.4·1.2 on a differently normalised l1, ID-MRF 0.05×1.4,
#: and the ae term doubled while fine-tuning; see the method notes §4.2.)
GMCNN_LOSS_WEIGHTS: dict[str, float] = {"rec": 1.4, "ae": 1.2, "mrf": 0.05, "adv": 0.001}


def gaussian_kernel_1d(size: int = 65, sigma: float = 1.0 / 40,
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The 1-D factor ``g`` of GMCNN's blur kernel ``G = g gᵀ`` (length ``size``, sums to 1).

    The original helper (``gauss_kernel(size, sigma)`` in both the TF and PyTorch code)
    measures ``sigma`` in *normalised units*, not pixels: it splits the interval
    ``[−σ − δ/2, σ + δ/2]`` of a **standard** normal variable, with ``δ = (2σ + 1)/size``,
    into ``size`` equal bins, takes each bin's probability ``p_k = Φ(x_{k+1}) − Φ(x_k)``,
    and forms the 2-D kernel ``sqrt(p pᵀ)`` normalised to sum 1. Since
    ``sqrt(p pᵀ) = sqrt(p) sqrt(p)ᵀ`` the kernel is separable with factor
    ``g = sqrt(p) / Σ sqrt(p)`` — what this function returns.

    So ``sigma`` is roughly how many standard deviations the window spans on each side,
    and the blur's standard deviation in pixels is about
    ``√2 · size / (2σ + δ)`` (the square root widens a Gaussian by √2). The defaults
    (``size=65, σ=1/40``, GMCNN's) give ≈ 1,390 px for a 65-px window: the kernel is
    numerically almost a box filter (max/min ratio ≈ 1.0005). With the helper's own
    defaults ``size=21, σ=3`` it is a real Gaussian of ≈ 4.7 px.

    Computed in float64 (``Φ`` by :func:`torch.special.ndtr`), returned in ``dtype``.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"kernel size must be ≥ 1, got {size}")
    sigma = float(sigma)
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive number, got {sigma}")
    interval = (2.0 * sigma + 1.0) / size
    edges = torch.linspace(-sigma - interval / 2, sigma + interval / 2, size + 1, dtype=torch.float64)
    p = torch.special.ndtr(edges).diff()          # bin probabilities of a standard normal
    g = p.sqrt()
    return (g / g.sum()).to(dtype)


def gaussian_kernel(size: int = 65, sigma: float = 1.0 / 40,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """GMCNN's 2-D blur kernel ``G = g gᵀ`` (``size×size``, sums to 1); see
    :func:`gaussian_kernel_1d` for what ``sigma`` means."""
    g = gaussian_kernel_1d(size, sigma, torch.float64)
    return torch.outer(g, g).to(dtype)


_PADDINGS = ("reflect", "zeros")


def _blur(x: torch.Tensor, g: torch.Tensor, padding: str) -> torch.Tensor:
    """``G ∗ x`` for ``x`` of shape ``B×1×H×W`` with ``G = g gᵀ``: pad once, then a row pass
    and a column pass (two 1-D convolutions instead of one ``k×k``). Output size = input
    size; for even ``k`` the extra pixel of padding goes after (TF "SAME")."""
    k = g.numel()
    before, after = (k - 1) // 2, k // 2
    if padding == "reflect":
        x = F.pad(x, (before, after, before, after), mode="reflect")
    else:
        x = F.pad(x, (before, after, before, after))
    x = F.conv2d(x, g.view(1, 1, 1, k))
    return F.conv2d(x, g.view(1, 1, k, 1))


def _confidence(hole: torch.Tensor, g: torch.Tensor, iterations: int, padding: str) -> torch.Tensor:
    known = 1.0 - hole
    init = known
    conf = torch.zeros_like(hole)
    for _ in range(iterations):        # a loop over iterations, not pixels or samples
        conf = _blur(init, g, padding) * hole
        init = conf + known
    return init                        # = conf in the hole, 1 on known pixels


def _check_confidence_args(hole: torch.Tensor, kernel_size: int, iterations: int, padding: str,
                           check: bool = True) -> None:
    validate_hole(hole, check=check)
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
    if int(iterations) < 1:
        raise ValueError(f"iterations must be ≥ 1, got {iterations}")
    if padding == "reflect":
        pad = int(kernel_size) // 2
        h, w = hole.shape[-2:]
        if pad >= h or pad >= w:
            raise ValueError(
                f"reflection padding of {pad} px (kernel_size={kernel_size}) needs a mask larger than "
                f"{pad}×{pad} px, got {h}×{w}; use a smaller kernel_size (e.g. ≤ {2 * min(h, w) - 1}) "
                f"or padding='zeros'"
            )


def confidence_weight(hole: torch.Tensor, kernel_size: int = 65, sigma: float = 1.0 / 40,
                      iterations: int = 7, padding: str = "reflect") -> torch.Tensor:
    """GMCNN's confidence-driven reconstruction weight ``M_w`` (``B×1×H×W``, no gradient).

    ``init = 1 − hole``; then ``iterations`` times: ``conf = (G ∗ init) ⊙ hole``,
    ``init = conf + (1 − hole)``. Returns the final ``init``: **1 on known pixels** and
    ``conf ∈ (0, 1)`` in the hole, falling from about 0.85–0.95 next to the border to about
    0.5 in the centre of a 128×128 hole in a 256×256 image (default settings).

    The original layers (``ConfidenceDrivenMaskLayer`` / ``priority_loss_mask``) return
    ``conf`` itself, which is 0 on known pixels; the two agree in the hole, so
    :func:`reconstruction_loss` (whose ``completed − gt`` is 0 on known pixels) is the same
    with either. ``hole * confidence_weight(hole)`` is the original's map exactly.

    Args:
        hole: binary ``B×1×H×W`` mask, 1 = missing. Every sample is done in one batched
            convolution per pass (the mask may differ per sample).
        kernel_size: blur window ``k`` (65 in the PyTorch code, 64 in TF; the author
            suggests 128 with ``sigma=1/60, iterations=16`` for 512-px images).
        sigma: the kernel's spread in the helper's normalised units (see
            :func:`gaussian_kernel_1d`); 1/40 makes it nearly a box filter.
        iterations: propagation steps (7).
        padding: ``"reflect"`` (PyTorch code: reflection padding of ``k//2``; needs
            ``H, W > k//2``) or ``"zeros"`` (TF code: zero "SAME" padding).

    The kernel is separable, ``G = g gᵀ``, so each pass is a row and a column 1-D
    convolution. Computed in float32 (float64 for a float64 mask) with autocast off.
    """
    _check_confidence_args(hole, kernel_size, iterations, padding)
    dtype = torch.promote_types(hole.dtype, torch.float32)
    with torch.no_grad(), torch.autocast(device_type=hole.device.type, enabled=False):
        g = gaussian_kernel_1d(kernel_size, sigma, dtype).to(hole.device)
        return _confidence(hole.detach().to(dtype), g, int(iterations), padding)


class ConfidenceWeight(nn.Module):
    """:func:`confidence_weight` as a module that keeps its 1-D kernel ``g`` as a buffer
    (built once, moved with ``.to(device)``, not saved in the state dict).

    ``forward(hole) -> M_w``: ``B×1×H×W``, 1 on known pixels, ``(0, 1)`` in the hole.
    """

    def __init__(self, kernel_size: int = 65, sigma: float = 1.0 / 40, iterations: int = 7,
                 padding: str = "reflect"):
        super().__init__()
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        if int(iterations) < 1:
            raise ValueError(f"iterations must be ≥ 1, got {iterations}")
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.iterations = int(iterations)
        self.padding = padding
        self.register_buffer("g", gaussian_kernel_1d(self.kernel_size, self.sigma, torch.float32),
                             persistent=False)

    @property
    def kernel(self) -> torch.Tensor:
        """The 2-D kernel ``G = g gᵀ`` (``k×k``, sums to 1)."""
        return torch.outer(self.g, self.g)

    def forward(self, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Binary ``B×1×H×W`` hole mask (1 = missing) → ``M_w`` (no gradient).
        ``check=False``: the mask's values are trusted (a training step)."""
        _check_confidence_args(hole, self.kernel_size, self.iterations, self.padding, check)
        dtype = torch.promote_types(hole.dtype, torch.float32)
        with torch.no_grad(), torch.autocast(device_type=hole.device.type, enabled=False):
            g = self.g.to(device=hole.device, dtype=dtype)
            return _confidence(hole.detach().to(dtype), g, self.iterations, self.padding)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, sigma={self.sigma:.6g}, "
                f"iterations={self.iterations}, padding={self.padding!r}")


def _check_pixels(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, check: bool = True) -> None:
    validate_hole(hole, check=check)
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if target.dim() != 4 or target.shape[0] != hole.shape[0] or target.shape[-2:] != hole.shape[-2:]:
        raise ValueError(
            f"target must be B×C×H×W matching hole {tuple(hole.shape)}, got {tuple(target.shape)}"
        )


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor,
                        weight: Optional[torch.Tensor] = None, check: bool = True) -> torch.Tensor:
    """GMCNN's confidence-driven reconstruction loss ``L_rec`` (float32 scalar)::

        completed = pred·hole + target·(1 − hole)
        L_rec = mean|M_w ⊙ (completed − target)| / mean(hole)

    Both means are over the whole batch, as in the PyTorch code: the numerator over all
    ``B·C·H·W`` elements (``nn.L1Loss``), the denominator over all ``B·1·H·W`` mask
    pixels. Only hole pixels contribute (``completed = target`` elsewhere), so the value
    of ``M_w`` on known pixels does not matter. A batch with no hole pixels gives 0.

    The value scales with the images' range: pass ``[-1, 1]`` images for the original's
    value (the GMCNN recipe does), ``[0, 1]`` images give half of it.

    Args:
        pred: the generator's raw output ``B×C×H×W``.
        target: the ground truth, same shape.
        hole: binary ``B×1×H×W``, 1 = missing.
        weight: ``M_w`` (``B×1×H×W``, broadcast over channels); ``None`` computes
            :func:`confidence_weight` with the default settings.
        check: ``False`` skips the mask's value checks (shapes are always checked).
    """
    _check_pixels(pred, target, hole, check)
    if weight is None:
        weight = confidence_weight(hole)
    elif not isinstance(weight, torch.Tensor) or weight.dim() != 4 or weight.shape[1] != 1 \
            or weight.shape[0] != hole.shape[0] or weight.shape[-2:] != hole.shape[-2:]:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must have the hole's shape {tuple(hole.shape)}, got {shape}")
    hole32, target32 = hole.float(), target.float()
    completed = pred.float() * hole32 + target32 * (1.0 - hole32)
    numerator = (weight.float() * (completed - target32)).abs().mean()
    return numerator / hole32.mean().clamp_min(torch.finfo(torch.float32).tiny)


def known_region_loss(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor,
                      check: bool = True) -> torch.Tensor:
    """GMCNN's ``L_ae``, the L1 on known pixels (float32 scalar)::

        L_ae = mean|(1 − hole) ⊙ (pred − target)| / mean(1 − hole)

    Batch-wide means as in :func:`reconstruction_loss`: ``B·C·H·W`` elements in the
    numerator, ``B·1·H·W`` mask pixels in the denominator. A batch with no known pixels
    gives 0. Like :func:`reconstruction_loss` it is the original's value for ``[-1, 1]``
    images (what the GMCNN recipe passes) and half of it for ``[0, 1]`` images.
    ``check=False`` skips the mask's value checks.
    """
    _check_pixels(pred, target, hole, check)
    known = 1.0 - hole.float()
    numerator = (known * (pred.float() - target.float())).abs().mean()
    return numerator / known.mean().clamp_min(torch.finfo(torch.float32).tiny)
