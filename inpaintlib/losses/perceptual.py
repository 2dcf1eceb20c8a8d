"""Feature-space losses: Gram matrix, style loss, perceptual loss, hole-region TV loss.

Taught in the "Partial convolution" chapter (Liu et al. 2018, §3.3 of the method notes);
reused by the "Dual streams" chapter (CTSDG). Every function takes *feature lists* from a
frozen backbone (:func:`inpaintlib.nn.perceptual_backbone`), or images for :func:`tv_loss`.

Normalisations (all L1 losses are size-averaged, as the PConv authors state):

* ``gram_matrix(f)[b] = f_b f_bᵀ / (C·H·W)`` with ``f_b`` the ``C×(H·W)`` feature matrix
  (the paper's ``K_n = 1/(C_n H_n W_n)``; its text misprints it as ``1/(C_n H_n K_n)``).
* ``perceptual_loss = Σ_layers mean|Ψ_a − Ψ_b|`` (mean over ``B·C·H·W`` elements).
* ``style_loss = Σ_layers mean|G(Ψ_a) − G(Ψ_b)|`` (mean over ``B·C·C`` elements).
* ``tv_loss`` — see its docstring for exactly which neighbour differences count.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from ..tensors import validate_hole

__all__ = ["gram_matrix", "style_loss", "perceptual_loss", "dilate_hole", "tv_loss", "merge_weights"]

Features = Union[Sequence[torch.Tensor], Mapping[str, torch.Tensor]]


def _as_list(feats: Features, name: str) -> list[torch.Tensor]:
    if isinstance(feats, Mapping):
        feats = list(feats.values())
    elif isinstance(feats, torch.Tensor):
        feats = [feats]
    else:
        feats = list(feats)
    if not feats:
        raise ValueError(f"{name} is empty: expected at least one feature map")
    for i, f in enumerate(feats):
        if not isinstance(f, torch.Tensor) or f.dim() != 4:
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"{name}[{i}] must be a B×C×H×W tensor, got {shape}")
    return feats


def _pair(feats_a: Features, feats_b: Features) -> list[tuple[torch.Tensor, torch.Tensor]]:
    a, b = _as_list(feats_a, "feats_a"), _as_list(feats_b, "feats_b")
    if len(a) != len(b):
        raise ValueError(f"feature lists differ in length: {len(a)} vs {len(b)} layers")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(
                f"layer {i}: feature shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}"
            )
    return list(zip(a, b))


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix ``G = f·fᵀ / (C·H·W)`` per sample: ``B×C×H×W → B×C×C``.

    Always computed in float32, with autocast switched off inside, and with the
    ``1/(C·H·W)`` factor applied inside the matrix product (``baddbmm``'s ``alpha``, as
    NVIDIA recommends for mixed precision): under fp16 the un-normalised sum of
    ``H·W`` products overflows for large activations, under bf16 it loses precision.
    """
    if not isinstance(f, torch.Tensor) or f.dim() != 4:
        shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"gram_matrix expects a B×C×H×W tensor, got {shape}")
    b, c, h, w = f.shape
    with torch.autocast(device_type=f.device.type, enabled=False):
        m = f.reshape(b, c, h * w).float()
        out = torch.zeros(b, c, c, dtype=torch.float32, device=f.device)
        return torch.baddbmm(out, m, m.transpose(1, 2), beta=0.0, alpha=1.0 / (c * h * w))


def _scaled_sum(values: list[torch.Tensor], scales: Optional[Sequence[float]]) -> torch.Tensor:
    if scales is None:
        return sum(values)
    if len(scales) != len(values):
        raise ValueError(f"got {len(scales)} layer scales for {len(values)} layers")
    return sum(float(s) * v for s, v in zip(scales, values))


def perceptual_loss(feats_a: Features, feats_b: Features,
                    scales: Optional[Sequence[float]] = None) -> torch.Tensor:
    """``Σ_layers s_l·mean|a − b|``: the L1 distance between feature maps, size-averaged per
    layer and summed over layers (float32). ``scales`` (default all 1) are the per-layer
    calibration of :mod:`inpaintlib.losses.calibration`."""
    return _scaled_sum([(x.float() - y.float()).abs().mean() for x, y in _pair(feats_a, feats_b)], scales)


def style_loss(feats_a: Features, feats_b: Features, scales: Optional[Sequence[float]] = None) -> torch.Tensor:
    """``Σ_layers s_l·mean|G(a) − G(b)|`` with :func:`gram_matrix` (normalised by ``C·H·W``);
    the mean is over the ``B·C·C`` Gram entries; ``scales`` as in :func:`perceptual_loss`."""
    return _scaled_sum([(gram_matrix(x) - gram_matrix(y)).abs().mean() for x, y in _pair(feats_a, feats_b)],
                       scales)


def dilate_hole(hole: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """Grow the hole by ``pixels`` in every direction, diagonals included (a
    ``(2p+1)×(2p+1)`` square structuring element, like the Keras PConv code's all-ones
    3×3 kernel). Pixels outside the image count as known."""
    k = 2 * pixels + 1
    return F.max_pool2d(hole, kernel_size=k, stride=1, padding=pixels)


def tv_loss(comp: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Total-variation smoothing on the 1-pixel dilated hole region ``P``.

    ``P = dilate_hole(hole)`` (3×3 square dilation). A difference between two
    neighbouring pixels counts **only when both pixels lie in P** (the paper's sums over
    ``(i,j)∈P, (i,j+1)∈P`` and ``(i,j)∈P, (i+1,j)∈P``)::

        tv = Σ_{P∩P→} |I(i,j+1) − I(i,j)| / (B·C·H·(W−1))
           + Σ_{P∩P↓} |I(i+1,j) − I(i,j)| / (B·C·(H−1)·W)

    i.e. each direction is size-averaged over *all* neighbour pairs of the image (pairs
    outside P contribute 0), so the weight 0.1 means the same at every image size.
    Differences are taken per channel. Deviations elsewhere: the Keras code also counts
    pairs with one pixel outside P (the difference of ``P⊙I_comp``), naoto0804's code
    applies TV to the whole composite.

    Args:
        comp: the composite ``B×C×H×W`` (``hole·out + (1−hole)·gt``), ``H, W ≥ 2``.
        hole: ``B×1×H×W`` binary, 1 = missing.
        check: ``False`` skips the mask's value checks (shapes are always checked).
    """
    validate_hole(hole, check=check)
    if comp.dim() != 4 or comp.shape[0] != hole.shape[0] or comp.shape[-2:] != hole.shape[-2:]:
        raise ValueError(
            f"comp must be B×C×H×W matching hole {tuple(hole.shape)}, got {tuple(comp.shape)}"
        )
    if comp.shape[-1] < 2 or comp.shape[-2] < 2:
        raise ValueError(f"tv_loss needs H, W ≥ 2, got {tuple(comp.shape[-2:])}")
    p = dilate_hole(hole.float())
    x = comp.float()
    right = (x[..., :, 1:] - x[..., :, :-1]).abs() * (p[..., :, 1:] * p[..., :, :-1])
    down = (x[..., 1:, :] - x[..., :-1, :]).abs() * (p[..., 1:, :] * p[..., :-1, :])
    return right.mean() + down.mean()


def merge_weights(defaults: Mapping[str, float], weights: Optional[Mapping[str, float]]) -> dict[str, float]:
    """``defaults`` with the entries of ``weights`` replaced: every key must be a known term and
    every weight a number ≥ 0 (a weight of 0 switches its term off). Shared by the loss classes
    (:class:`~inpaintlib.losses.PConvLoss`, :class:`~inpaintlib.losses.CTSDGLoss`)."""
    merged = dict(defaults)
    for k, v in (weights or {}).items():
        if k not in defaults:
            raise ValueError(f"unknown loss term {k!r}; terms are {list(defaults)}")
        v = float(v)
        if not v >= 0.0:
            raise ValueError(f"loss weight {k!r} must be ≥ 0, got {v}")
        merged[k] = v
    return merged
