"""Losses of the method chapters.

* :mod:`.perceptual` — Gram matrix, style, perceptual and hole-region TV losses
  ("Partial convolution" chapter; reused by "Dual streams").
* :mod:`.pconv` — the hole/valid L1s and :class:`PConvLoss` with the paper's weights
  ("Partial convolution" chapter).
"""
from .perceptual import dilate_hole, gram_matrix, perceptual_loss, style_loss, tv_loss
from .pconv import PCONV_LOSS_WEIGHTS, PConvLoss, hole_loss, valid_loss

__all__ = [
    "dilate_hole",
    "gram_matrix",
    "perceptual_loss",
    "style_loss",
    "tv_loss",
    "PCONV_LOSS_WEIGHTS",
    "PConvLoss",
    "hole_loss",
    "valid_loss",
]
