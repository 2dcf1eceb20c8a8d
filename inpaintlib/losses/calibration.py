"""Perceptual and style terms that mean the same with any backbone.

Taught in the "Partial convolution" chapter (section *Loss weights and the backbone*);
used by :class:`~inpaintlib.losses.PConvLoss` and :class:`~inpaintlib.losses.CTSDGLoss`.

The papers' weights (PConv: perceptual 0.05, style 120; CTSDG: perceptual 0.1, style 250)
were tuned for VGG16's pool1–pool3 features. Another backbone has other feature
magnitudes: with EfficientNet-Lite0 the weighted style terms of PConv are ~99 % of the
loss and the pixel terms are drowned. So, for any backbone but the paper's, each layer of
each feature term gets a scale ``s`` chosen once from **reference magnitudes**:

1. **Reference state.** The 14 training photos of the sample bank (fixed centre crops,
   :data:`REFERENCE_SIZE` px), each with a fixed free-form hole (20–40 % of the image,
   seed :data:`REFERENCE_SEED`), the hole filled with the photo's own Gaussian blur
   (σ = size/16): a plausible, blurry fill — what a network produces early in training.
2. **Magnitudes.** On those pairs, measure per layer ``l`` the unweighted perceptual term
   ``P_l`` (output and composite together, as the loss sums them), the style terms
   ``S_l`` of the output and of the composite, and the hole L1 ``H`` (``[0, 1]`` scale).
   :func:`measure_reference_magnitudes` does this; the numbers for the offline backbone
   are stored in ``reference_magnitudes.json`` beside this file (a test re-measures them).
3. **Rule.** On the reference state, every weighted feature term is given the share the
   paper's weights intend relative to the weighted hole term, split equally over its
   layers::

       w_term · s_l · M_l  =  target[term] · w_hole · H_loss / L

   with ``H_loss`` the loss's own hole term (``H``; ``2·H`` for CTSDG, which compares
   ``[−1, 1]`` images) and ``L`` the number of layers.

**The targets** (:data:`FEATURE_TARGETS`) are stated, not measured: perceptual 1 and
style 1 (the two style terms of PConv ½ each) times the weighted hole term, i.e. at the
reference state the hole, perceptual and style terms weigh the same. That is the balance
a weight search like the PConv paper's (§4, on 100 validation images) aims for; VGG16
itself cannot be loaded offline here, so its exact shares are not known to this package.
With a VGG16 file, :func:`backbone_shares` measures the paper backbone's own shares at
the reference state (``perceptual_backbone("vgg16")``), so the targets can be checked or
replaced; with VGG16 the losses use the paper's weights unscaled.
"""
from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "REFERENCE_SIZE",
    "REFERENCE_SEED",
    "FEATURE_TARGETS",
    "PAPER_BACKBONES",
    "reference_pairs",
    "measure_reference_magnitudes",
    "reference_magnitudes",
    "backbone_key",
    "layer_scales",
    "backbone_shares",
    "describe_calibration",
    "loss_shares",
    "format_shares",
    "report_shares",
]

#: Side of the reference crops, in pixels.
REFERENCE_SIZE = 128
#: Seed of the reference holes.
REFERENCE_SEED = 1729
#: Hole-ratio range of the reference holes.
REFERENCE_RATIO = (0.2, 0.4)
#: At the reference state: weighted feature term / weighted hole term.
FEATURE_TARGETS: dict[str, float] = {"perceptual": 1.0, "style": 1.0}
#: Backbones the papers' weights were tuned for: no calibration.
PAPER_BACKBONES = ("vgg16",)

_STORE = Path(__file__).with_name("reference_magnitudes.json")


def backbone_key(backbone) -> str:
    """``"<kind>:<layer>,<layer>,..."``: what the stored magnitudes are keyed by."""
    kind = getattr(backbone, "kind", type(backbone).__name__)
    layers = getattr(backbone, "layers", ())
    return f"{kind}:{','.join(layers)}"


def reference_pairs(size: int = REFERENCE_SIZE, seed: int = REFERENCE_SEED):
    """``(fill, gt, hole)``: the reference state (module docstring, step 1)."""
    from ..data import sample_bank_images
    from ..data.transforms import center_crop, resize
    from ..masks import generate

    gt = torch.stack([center_crop(resize(img, size), size) for _, img in sample_bank_images("train")])
    hole = torch.stack([generate("free_form", size, ratio=REFERENCE_RATIO, seed=np.random.default_rng([seed, i]))
                        for i in range(len(gt))]).float()
    sigma = size / 16.0
    r = int(3 * sigma)
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(gt.dtype)
    blurred = F.pad(gt, (r, r, r, r), mode="reflect")
    blurred = F.conv2d(blurred, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    blurred = F.conv2d(blurred, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    fill = hole * blurred + (1 - hole) * gt
    return fill, gt, hole


@torch.no_grad()
def measure_reference_magnitudes(backbone, size: int = REFERENCE_SIZE) -> dict:
    """Per-layer reference magnitudes of ``backbone`` (module docstring, step 2).

    Returns ``{"hole": H, "perceptual": [P_l], "style_out": [S_l], "style_comp": [S_l]}``
    where the perceptual entry already sums the output's and the composite's L1 (as
    :class:`PConvLoss` and :class:`CTSDGLoss` do).
    """
    from .perceptual import gram_matrix

    fill, gt, hole = reference_pairs(size)
    comp = hole * fill + (1 - hole) * gt          # equal to fill: the known pixels are exact
    f_gt = backbone(gt)
    f_out, f_comp = backbone(fill), backbone(comp)
    perc = [float((a - g).abs().mean() + (c - g).abs().mean()) for a, c, g in zip(f_out, f_comp, f_gt)]
    s_out = [float((gram_matrix(a) - gram_matrix(g)).abs().mean()) for a, g in zip(f_out, f_gt)]
    s_comp = [float((gram_matrix(c) - gram_matrix(g)).abs().mean()) for c, g in zip(f_comp, f_gt)]
    return {"size": size, "seed": REFERENCE_SEED, "hole": float((hole * (fill - gt)).abs().mean()),
            "perceptual": perc, "style_out": s_out, "style_comp": s_comp}


@functools.lru_cache(maxsize=None)
def _stored() -> dict:
    if not _STORE.is_file():
        return {}
    return json.loads(_STORE.read_text())


def reference_magnitudes(backbone) -> dict:
    """The stored magnitudes of ``backbone`` (measured and cached when none are stored)."""
    key = backbone_key(backbone)
    found = _stored().get(key)
    if found is None:
        found = measure_reference_magnitudes(backbone)
        _stored()[key] = found
    return found


def layer_scales(backbone, weights: Mapping[str, float], *, hole_key: str = "hole", hole_scale: float = 1.0,
                 style_keys: Sequence[str] = ("style_out", "style_comp"),
                 targets: Optional[Mapping[str, float]] = None) -> Optional[dict[str, list[float]]]:
    """Per-layer scales of the feature terms of a loss (module docstring, step 3).

    ``weights``: the loss's weights; ``hole_key``: its hole term; ``hole_scale``: the
    loss's hole term over the ``[0, 1]`` hole L1 (2 for losses on ``[−1, 1]``);
    ``style_keys``: the loss's style terms — several (PConv: output and composite,
    sharing the style target equally) or one (``"style"``, CTSDG: output + composite).
    Returns ``None`` for a paper backbone (:data:`PAPER_BACKBONES`) or when every feature
    weight is 0; else ``{term: [s_l per layer]}`` for ``"perceptual"`` and each style key.
    """
    if getattr(backbone, "kind", None) in PAPER_BACKBONES:
        return None
    targets = dict(FEATURE_TARGETS, **(targets or {}))
    mags = reference_magnitudes(backbone)
    hole_ref = weights.get(hole_key, 0.0) * hole_scale * mags["hole"]
    if hole_ref <= 0:
        raise ValueError("calibration needs a positive hole weight (the reference term)")
    out: dict[str, list[float]] = {}
    plan = [("perceptual", mags["perceptual"], targets["perceptual"])]
    for key in style_keys:
        layers = ([o + c for o, c in zip(mags["style_out"], mags["style_comp"])] if key == "style"
                  else mags[key])
        plan.append((key, layers, targets["style"] / len(style_keys)))
    for key, layers, target in plan:
        w = weights.get(key, 0.0)
        if not w:
            continue
        n = len(layers)
        out[key] = [target * hole_ref / (n * w * m) for m in layers]
    return out or None


def backbone_shares(backbone, weights: Mapping[str, float], *, hole_key: str = "hole", hole_scale: float = 1.0,
                    style_keys: Sequence[str] = ("style_out", "style_comp")) -> dict[str, float]:
    """Each weighted feature term over the weighted hole term on the reference state,
    *uncalibrated*: what ``weights`` give with ``backbone`` as it is (e.g. the paper's
    VGG16, to compare with :data:`FEATURE_TARGETS`)."""
    mags = measure_reference_magnitudes(backbone)
    hole_ref = weights[hole_key] * hole_scale * mags["hole"]
    shares = {"perceptual": weights.get("perceptual", 0.0) * sum(mags["perceptual"]) / hole_ref}
    for key in style_keys:
        total = (sum(mags["style_out"]) + sum(mags["style_comp"]) if key == "style" else sum(mags[key]))
        shares[key] = weights.get(key, 0.0) * total / hole_ref
    return shares


def describe_calibration(backbone, scales: Optional[Mapping[str, Sequence[float]]]) -> str:
    """One line saying whether and how a loss's feature terms are calibrated."""
    if backbone is None:
        return "no feature terms"
    name = getattr(backbone, "kind", type(backbone).__name__)
    if scales is None:
        return f"feature terms unscaled ({name}: the paper's weights as they are)"
    parts = ", ".join(f"{k} ×[{', '.join(f'{v:.3g}' for v in vals)}]" for k, vals in scales.items())
    return (f"feature terms calibrated for {name} (per layer: {parts}) so that perceptual and style each "
            f"weigh {FEATURE_TARGETS['perceptual']:g}× / {FEATURE_TARGETS['style']:g}× the hole term on the "
            f"reference state")


def loss_shares(terms: Mapping[str, float], weights: Mapping[str, float]) -> dict[str, float]:
    """Each weighted term's share of the weighted total: ``w_k·t_k / Σ_j w_j·t_j``.
    ``terms`` are unweighted values (a log row); keys without a weight are ignored."""
    weighted = {k: float(weights[k]) * float(v) for k, v in terms.items() if k in weights}
    total = sum(weighted.values())
    return {k: (v / total if total else 0.0) for k, v in weighted.items()}


def format_shares(shares: Mapping[str, float]) -> str:
    """``"hole 41% · valid 6% · ..."``, largest first."""
    return " · ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))


def _log_rows(log: Path) -> list[dict]:
    if not Path(log).is_file():
        return []
    with open(log, newline="") as f:
        return list(csv.DictReader(f))


def report_shares(log, weights: Mapping[str, float], label: str = "", verbose: bool = True
                  ) -> Optional[dict]:
    """Print each weighted loss term's share of the total at the first and the last logged
    step of a run (from its ``log.csv``); return ``{"start": shares, "end": shares}``."""
    rows = _log_rows(log)
    if not rows:
        return None
    picked = {}
    for name, row in (("start", rows[0]), ("end", rows[-1])):
        terms = {k: float(v) for k, v in row.items() if k in weights and v not in ("", None)}
        picked[name] = loss_shares(terms, weights)
    if verbose:
        prefix = f"{label}: " if label else ""
        print(f"{prefix}weighted loss shares at step {rows[0]['step']}: {format_shares(picked['start'])}")
        print(f"{prefix}weighted loss shares at step {rows[-1]['step']}: {format_shares(picked['end'])}")
    return picked
