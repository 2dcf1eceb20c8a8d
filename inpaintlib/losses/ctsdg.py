"""The CTSDG losses (Guo, Yang, Huang, ICCV 2021; method notes §5.2).

Taught in the "Dual streams" chapter. With ``M = 1 − hole``, the output ``I_out``, the
composite ``I_comp = M⊙I_gt + (1−M)⊙I_out``, the ground truth's Canny edges ``E_gt``::

    L_G = 60·L_hole + 10·L_valid + 0.1·L_perc + 250·L_style + 0.1·L_adv + 1·L_inter

* ``L_hole = mean|(1−M)⊙(I_out − I_gt)|``, ``L_valid = mean|M⊙(I_out − I_gt)|`` (means
  over all ``B·C·H·W`` elements).
* ``L_perc = Σ_{pool1..3} mean|φ(I_out) − φ(I_gt)| + mean|φ(I_comp) − φ(I_gt)|``;
  ``L_style`` the same with Gram matrices normalised by ``C·H·W``.
* ``L_adv = BCE(D(I_out), 1) + BCE(EdgeDetector(I_out), E_gt)`` — the generator is asked
  to fool both discriminator branches *and* to produce edges the edge detector finds
  where the ground truth has them.
* ``L_inter = BCE(projected edge, E_gt) + mean|projected image − I_gt|``.

The discriminator (:func:`discriminator_loss`)::

    L_D = BCE(D_real, 1) + BCE(D_fake, 0) + BCE(EdgeDet(I_gt), E_gt) + BCE(EdgeDet(I_out), E_gt)

**Value ranges.** The original trains in ``[-1, 1]``: its L1 terms compare ``[-1, 1]``
images. The book's generators return ``[0, 1]``; :class:`CTSDGLoss` maps images back
to ``[-1, 1]`` for ``L_hole``, ``L_valid`` and the L1 of ``L_inter`` (2× the ``[0, 1]``
value), so the weights 60, 10 and 1 weigh the same errors as in the original.

**The perceptual network.** The original feeds its VGG16 the ``[-1, 1]`` images
*without* ImageNet normalisation (a mismatch with how VGG16 was trained, noted in the
method notes). Here the backbone is :func:`inpaintlib.nn.perceptual_backbone`: VGG16
pool1–pool3 with its ImageNet normalisation when the weights are present, else the
offline EfficientNet-Lite0 (printed when built); both take ``[0, 1]`` images. So the
feature terms are computed as the network expects its input, and their scale differs
from the original's.

**BCE** (:func:`bce`) is computed on probabilities, as the original (sigmoid outputs,
``nn.BCELoss``: mean over elements, logs clamped at −100), in float32 with autocast
switched off — PyTorch refuses ``binary_cross_entropy`` inside an autocast region.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..tensors import validate
from .calibration import describe_calibration, layer_scales
from .perceptual import merge_weights, perceptual_loss, style_loss

__all__ = ["CTSDG_LOSS_WEIGHTS", "bce", "CTSDGLoss", "discriminator_loss"]

#: The official training options' weights (``options/train_options.py``; the MindSpore port's too).
CTSDG_LOSS_WEIGHTS: dict[str, float] = {
    "hole": 60.0,
    "valid": 10.0,
    "perceptual": 0.1,
    "style": 250.0,
    "adversarial": 0.1,
    "intermediate": 1.0,
}


def bce(prob: torch.Tensor, target) -> torch.Tensor:
    """Binary cross-entropy of probabilities ``prob`` against ``target`` (a tensor of the
    same shape or a float), averaged over all elements, in float32 outside autocast."""
    if not isinstance(prob, torch.Tensor):
        raise TypeError(f"prob must be a torch.Tensor of probabilities, got {type(prob).__name__}")
    with torch.autocast(prob.device.type, enabled=False):
        p = prob.float()
        if isinstance(target, torch.Tensor):
            if target.shape != prob.shape:
                raise ValueError(f"target shape {tuple(target.shape)} differs from prob {tuple(prob.shape)}")
            t = target.to(device=p.device, dtype=torch.float32)
        else:
            t = torch.full_like(p, float(target))
        return F.binary_cross_entropy(p, t)


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, real_edge: torch.Tensor,
                       fake_edge: torch.Tensor, target_edge: torch.Tensor) -> torch.Tensor:
    """``L_D = BCE(D_real, 1) + BCE(D_fake, 0) + BCE(EdgeDet(I_gt), E_gt) + BCE(EdgeDet(I_out), E_gt)``.

    ``real_scores``/``fake_scores``: the discriminator's patch probabilities;
    ``real_edge``/``fake_edge``: its edge detector's maps of the ground truth and of the
    (detached) output; ``target_edge``: the ground truth's Canny edges. Float32 scalar.
    """
    return (bce(real_scores, 1.0) + bce(fake_scores, 0.0)
            + bce(real_edge, target_edge) + bce(fake_edge, target_edge))


class CTSDGLoss(nn.Module):
    """The CTSDG generator loss: ``forward(...) -> (total, terms)`` ("Dual streams" chapter).

    Args:
        backbone: frozen feature extractor for the perceptual and style terms (e.g.
            ``inpaintlib.nn.perceptual_backbone("auto")``); may be ``None`` when both
            their weights are 0.
        weights: overrides of :data:`CTSDG_LOSS_WEIGHTS`; a weight of 0 switches a term off.
        calibrate: per-layer scales of the perceptual and style terms when ``backbone`` is
            not the paper's VGG16 (:mod:`inpaintlib.losses.calibration`), so each keeps
            the share of the loss the weights intend; ``False``: raw terms.

    ``forward(pred, target, hole, projected_image, projected_edge, target_edge,
    fake_scores=None, fake_edge=None)``: images in ``[0, 1]`` (``pred``: the raw
    prediction, ``projected_image``/``projected_edge``: the heads' outputs),
    ``target_edge``: Canny edges of ``target``; ``fake_scores``/``fake_edge``: the
    discriminator's output for ``pred`` (the adversarial term is skipped when they are
    ``None``). ``terms`` holds each term unweighted (``"hole"``, ``"valid"``,
    ``"perceptual"``, ``"style"``, ``"adversarial"``, ``"intermediate"``);
    ``total = Σ weights[k]·terms[k]``.
    """

    def __init__(self, backbone: Optional[nn.Module], weights: Optional[Mapping[str, float]] = None,
                 calibrate: bool = True):
        super().__init__()
        merged = merge_weights(CTSDG_LOSS_WEIGHTS, weights)
        needs_features = bool(merged["perceptual"] or merged["style"])
        if backbone is None and needs_features:
            raise ValueError("a backbone is needed when the perceptual or style weights are non-zero")
        self.backbone = backbone
        self.weights = merged
        # the hole term compares [-1, 1] images: twice the [0, 1] reference L1
        self.layer_scales = (layer_scales(backbone, merged, hole_scale=2.0, style_keys=("style",))
                             if calibrate and needs_features and merged["hole"] else None)
        self.calibration = describe_calibration(backbone, self.layer_scales)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor,
                projected_image: torch.Tensor, projected_edge: torch.Tensor, target_edge: torch.Tensor,
                fake_scores: Optional[torch.Tensor] = None, fake_edge: Optional[torch.Tensor] = None,
                check: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(total, terms)``; see the class docstring. ``check=False`` skips the
        value checks of ``target`` and ``hole`` (a recipe's training step)."""
        validate(target, hole, check=check)
        for name, t, c in (("pred", pred, 3), ("projected_image", projected_image, 3),
                           ("projected_edge", projected_edge, 1), ("target_edge", target_edge, 1)):
            want = (target.shape[0], c, *target.shape[-2:])
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != want:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{name} must have shape {want}, got {shape}")
        w = self.weights
        hole = hole.float()
        out, gt = pred.float() * 2.0 - 1.0, target.float() * 2.0 - 1.0   # the original's [-1, 1]
        terms: dict[str, torch.Tensor] = {}
        if w["hole"]:
            terms["hole"] = (hole * (out - gt)).abs().mean()
        if w["valid"]:
            terms["valid"] = ((1.0 - hole) * (out - gt)).abs().mean()
        if w["perceptual"] or w["style"]:
            comp = hole * pred + (1.0 - hole) * target.to(pred.dtype)
            with torch.no_grad():
                f_gt = [f.detach() for f in self.backbone(target.to(pred.dtype))]
            feats = self.backbone(torch.cat([pred, comp], dim=0))
            f_out = [f.chunk(2, dim=0)[0] for f in feats]
            f_comp = [f.chunk(2, dim=0)[1] for f in feats]
            sc = self.layer_scales or {}
            if w["perceptual"]:
                terms["perceptual"] = (perceptual_loss(f_out, f_gt, sc.get("perceptual"))
                                       + perceptual_loss(f_comp, f_gt, sc.get("perceptual")))
            if w["style"]:
                terms["style"] = style_loss(f_out, f_gt, sc.get("style")) + style_loss(f_comp, f_gt, sc.get("style"))
        if w["adversarial"] and fake_scores is not None:
            if fake_edge is None:
                raise ValueError("fake_edge (the edge detector's map of pred) is needed with fake_scores")
            terms["adversarial"] = bce(fake_scores, 1.0) + bce(fake_edge, target_edge)
        if w["intermediate"]:
            terms["intermediate"] = bce(projected_edge, target_edge) + \
                (projected_image.float() * 2.0 - 1.0 - gt).abs().mean()
        total = torch.zeros((), dtype=torch.float32, device=pred.device)
        for k, v in terms.items():
            total = total + w[k] * v
        return total, terms

    def extra_repr(self) -> str:
        return f"weights={self.weights}, calibration={self.calibration!r}"
