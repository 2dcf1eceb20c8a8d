"""Losses of the method chapters.

* :mod:`.perceptual` — Gram matrix, style, perceptual and hole-region TV losses
  ("Partial convolution" chapter; reused by "Dual streams").
* :mod:`.calibration` — per-layer scales that give the perceptual and style terms the
  share of the loss the papers' weights intend with any backbone ("Partial convolution").
* :mod:`.pconv` — the hole/valid L1s and :class:`PConvLoss` with the paper's weights
  ("Partial convolution" chapter).
* :mod:`.gmcnn` — the confidence-driven weight, ``L_rec``, ``L_ae`` and
  :data:`GMCNN_LOSS_WEIGHTS`; :mod:`.idmrf` — the ID-MRF loss; :mod:`.adversarial` —
  hinge and WGAN-GP losses ("ID-MRF and the multi-column generator (GMCNN)" chapter).
* :mod:`.ctsdg` — :class:`CTSDGLoss`, :func:`discriminator_loss`, :func:`bce` and
  :data:`CTSDG_LOSS_WEIGHTS` ("Dual streams" chapter).
"""
from .calibration import (
    FEATURE_TARGETS,
    backbone_shares,
    format_shares,
    layer_scales,
    loss_shares,
    measure_reference_magnitudes,
    reference_magnitudes,
    report_shares,
)
from .perceptual import dilate_hole, gram_matrix, perceptual_loss, style_loss, tv_loss
from .pconv import PCONV_LOSS_WEIGHTS, PConvLoss, hole_loss, valid_loss
from .gmcnn import (
    GMCNN_LOSS_WEIGHTS,
    ConfidenceWeight,
    confidence_weight,
    gaussian_kernel,
    gaussian_kernel_1d,
    known_region_loss,
    reconstruction_loss,
)
from .idmrf import IDMRF_DEFAULT_LAYERS, IDMRFLoss, id_mrf, idmrf_similarity
from .adversarial import gradient_penalty, hinge_d_loss, hinge_g_loss, wgan_d_loss, wgan_g_loss
from .ctsdg import CTSDG_LOSS_WEIGHTS, CTSDGLoss, bce, discriminator_loss

__all__ = [
    "FEATURE_TARGETS",
    "backbone_shares",
    "format_shares",
    "layer_scales",
    "loss_shares",
    "measure_reference_magnitudes",
    "reference_magnitudes",
    "report_shares",
    "dilate_hole",
    "gram_matrix",
    "perceptual_loss",
    "style_loss",
    "tv_loss",
    "PCONV_LOSS_WEIGHTS",
    "PConvLoss",
    "hole_loss",
    "valid_loss",
    "GMCNN_LOSS_WEIGHTS",
    "ConfidenceWeight",
    "confidence_weight",
    "gaussian_kernel",
    "gaussian_kernel_1d",
    "known_region_loss",
    "reconstruction_loss",
    "IDMRF_DEFAULT_LAYERS",
    "IDMRFLoss",
    "id_mrf",
    "idmrf_similarity",
    "gradient_penalty",
    "hinge_d_loss",
    "hinge_g_loss",
    "wgan_d_loss",
    "wgan_g_loss",
    "CTSDG_LOSS_WEIGHTS",
    "CTSDGLoss",
    "bce",
    "discriminator_loss",
]
