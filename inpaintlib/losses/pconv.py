"""The partial-convolution training loss (Liu et al., ECCV 2018).

Taught in the "Partial convolution" chapter. With ``M = 1 − hole`` (1 = known) and the
composite ``I_comp = M⊙I_gt + (1−M)⊙I_out``::

    L_total = 1·L_valid + 6·L_hole + 0.05·L_perceptual
              + 120·(L_style_out + L_style_comp) + 0.1·L_tv

* ``L_valid = mean|M⊙(I_out − I_gt)|``, ``L_hole = mean|(1−M)⊙(I_out − I_gt)|``: the
  means run over all ``B·C·H·W`` elements (size-averaged, as the authors state), not
  over the known/missing pixels only.
* ``L_perceptual = Σ_n mean|Ψ_n(I_out) − Ψ_n(I_gt)| + Σ_n mean|Ψ_n(I_comp) − Ψ_n(I_gt)|``
  with Ψ the frozen ImageNet VGG16 pool1–pool3 (or the offline substitute chosen by
  :func:`inpaintlib.nn.perceptual_backbone`).
* ``L_style_out``, ``L_style_comp``: L1 between Gram matrices normalised by ``C·H·W``.
* ``L_tv``: on the composite, over the 1-pixel dilated hole
  (:func:`inpaintlib.losses.tv_loss`).
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import nn

from ..tensors import validate, validate_hole
from .calibration import describe_calibration, layer_scales
from .perceptual import merge_weights, perceptual_loss, style_loss, tv_loss

__all__ = ["PCONV_LOSS_WEIGHTS", "valid_loss", "hole_loss", "PConvLoss"]

#: The paper's loss weights (PConv-Keras eq. 7; naoto0804 ``LAMBDA_DICT``; mmagic).
PCONV_LOSS_WEIGHTS: dict[str, float] = {
    "valid": 1.0,
    "hole": 6.0,
    "perceptual": 0.05,
    "style_out": 120.0,
    "style_comp": 120.0,
    "tv": 0.1,
}


def _check_pixels(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, check: bool = True) -> None:
    validate_hole(hole, check=check)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    if target.dim() != 4 or target.shape[0] != hole.shape[0] or target.shape[-2:] != hole.shape[-2:]:
        raise ValueError(
            f"target must be B×C×H×W matching hole {tuple(hole.shape)}, got {tuple(target.shape)}"
        )


def valid_loss(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
    """``mean|(1−hole)⊙(pred − target)|`` over all ``B·C·H·W`` elements (float32);
    ``check=False`` skips the mask's value checks."""
    _check_pixels(pred, target, hole, check)
    return ((1.0 - hole) * (pred.float() - target.float())).abs().mean()


def hole_loss(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
    """``mean|hole⊙(pred − target)|`` over all ``B·C·H·W`` elements (float32);
    ``check=False`` skips the mask's value checks."""
    _check_pixels(pred, target, hole, check)
    return (hole * (pred.float() - target.float())).abs().mean()


def _features(backbone: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out = backbone(x)
    if isinstance(out, Mapping):
        out = list(out.values())
    elif isinstance(out, torch.Tensor):
        out = [out]
    return list(out)


class PConvLoss(nn.Module):
    """The PConv paper's loss: ``forward(pred, target, hole) -> (total, terms)``.

    Args:
        backbone: frozen feature extractor whose ``forward(x)`` gives a list (or dict) of
            feature maps for images in ``[0, 1]``, e.g.
            ``inpaintlib.nn.perceptual_backbone()``. May be ``None`` when the perceptual
            and both style weights are 0.
        weights: loss weights; keys from :data:`PCONV_LOSS_WEIGHTS`, missing keys take
            the paper's values. A weight of 0 switches a term off: it is not computed
            (and the backbone is not called when no feature term is on).
        calibrate: scale the perceptual and style terms per layer when ``backbone`` is
            not the paper's VGG16, so each has the share of the loss the paper's weights
            intend (:mod:`inpaintlib.losses.calibration`; ``layer_scales`` holds the
            scales, ``calibration`` says what was done). ``False``: raw terms.

    ``terms`` holds each computed term **unweighted** (the feature terms after the
    per-layer calibration, when there is one) (float32 scalars, still attached to
    the graph); ``total = Σ weights[k]·terms[k]``. Target features are computed under
    ``torch.no_grad()`` (one backbone call); the output and the composite go through the
    backbone together in a second call.
    """

    def __init__(self, backbone: Optional[nn.Module], weights: Optional[Mapping[str, float]] = None,
                 calibrate: bool = True):
        super().__init__()
        merged = merge_weights(PCONV_LOSS_WEIGHTS, weights)
        needs_features = any(merged[k] for k in ("perceptual", "style_out", "style_comp"))
        if backbone is None and needs_features:
            raise ValueError("a backbone is needed when the perceptual or style weights are non-zero")
        self.backbone = backbone
        self.weights = merged
        self.layer_scales = (layer_scales(backbone, merged) if calibrate and needs_features and merged["hole"]
                             else None)
        self.calibration = describe_calibration(backbone, self.layer_scales)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, check: bool = True
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``pred``: raw network output ``B×3×H×W``; ``target``: the ground truth in
        ``[0, 1]``; ``hole``: ``B×1×H×W``, 1 = missing. Returns ``(total, terms)``.
        ``target`` and ``hole`` are checked once here (values too unless ``check=False``,
        as in a recipe's training step); the terms do not check again."""
        validate(target, hole, check=check)
        if not isinstance(pred, torch.Tensor) or pred.shape != target.shape:
            shape = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
            raise ValueError(f"pred must have the target's shape {tuple(target.shape)}, got {shape}")
        w = self.weights
        hole = hole.to(pred.dtype)
        comp = hole * pred + (1.0 - hole) * target.to(pred.dtype)

        terms: dict[str, torch.Tensor] = {}
        if w["valid"]:
            terms["valid"] = valid_loss(pred, target, hole, check=False)
        if w["hole"]:
            terms["hole"] = hole_loss(pred, target, hole, check=False)

        want_out = bool(w["perceptual"] or w["style_out"])
        want_comp = bool(w["perceptual"] or w["style_comp"])
        if want_out or want_comp:
            with torch.no_grad():
                f_gt = [f.detach() for f in _features(self.backbone, target.to(pred.dtype))]
            images = [x for x, on in ((pred, want_out), (comp, want_comp)) if on]
            feats = _features(self.backbone, torch.cat(images, 0) if len(images) > 1 else images[0])
            parts = [f.chunk(len(images), 0) for f in feats]
            f_out = [p[0] for p in parts] if want_out else None
            f_comp = [p[-1] for p in parts] if want_comp else None
            sc = self.layer_scales or {}
            if w["perceptual"]:
                terms["perceptual"] = (perceptual_loss(f_out, f_gt, sc.get("perceptual"))
                                       + perceptual_loss(f_comp, f_gt, sc.get("perceptual")))
            if w["style_out"]:
                terms["style_out"] = style_loss(f_out, f_gt, sc.get("style_out"))
            if w["style_comp"]:
                terms["style_comp"] = style_loss(f_comp, f_gt, sc.get("style_comp"))
        if w["tv"]:
            terms["tv"] = tv_loss(comp, hole, check=False)

        total = torch.zeros((), dtype=torch.float32, device=pred.device)
        for k, v in terms.items():
            total = total + w[k] * v
        return total, terms

    def extra_repr(self) -> str:
        return f"weights={self.weights}, calibration={self.calibration!r}"
