"""The backbone calibration of the perceptual and style terms (inpaintlib.losses.calibration)."""
import json

import numpy as np
import pytest
import torch

from inpaintlib.losses import CTSDG_LOSS_WEIGHTS, PCONV_LOSS_WEIGHTS, CTSDGLoss, PConvLoss
from inpaintlib.losses import calibration as cal
from inpaintlib.nn import perceptual_backbone


@pytest.fixture(scope="module")
def effnet():
    return perceptual_backbone("efficientnet_lite0", verbose=False)


@pytest.fixture(scope="module")
def ref_state():
    return cal.reference_pairs()


def _np_gram(f):
    b, c, h, w = f.shape
    m = f.reshape(b, c, h * w).astype(np.float64)
    return m @ m.transpose(0, 2, 1) / (c * h * w)


def _per_layer(backbone, fill, gt):
    """Independent per-layer magnitudes: NumPy Gram matrices, float64."""
    with torch.no_grad():
        fo = [f.numpy().astype(np.float64) for f in backbone(fill)]
        fg = [f.numpy().astype(np.float64) for f in backbone(gt)]
    perc = [2 * np.abs(a - g).mean() for a, g in zip(fo, fg)]     # output and composite (equal here)
    style = [np.abs(_np_gram(a) - _np_gram(g)).mean() for a, g in zip(fo, fg)]
    return perc, style


def test_reference_state_is_a_blurred_fill_inside_fixed_holes(ref_state):
    fill, gt, hole = ref_state
    assert fill.shape == gt.shape == (14, 3, cal.REFERENCE_SIZE, cal.REFERENCE_SIZE)
    assert hole.shape == (14, 1, cal.REFERENCE_SIZE, cal.REFERENCE_SIZE)
    ratios = hole.mean(dim=(1, 2, 3))
    assert bool(((ratios >= 0.2) & (ratios <= 0.4)).all())
    assert torch.equal(fill * (1 - hole), gt * (1 - hole))          # known pixels exact
    assert float((hole * (fill - gt)).abs().sum()) > 0
    again = cal.reference_pairs()
    assert all(torch.equal(a, b) for a, b in zip(ref_state, again))  # deterministic


def test_stored_magnitudes_match_a_fresh_measurement(effnet, ref_state):
    stored = json.loads(cal._STORE.read_text())[cal.backbone_key(effnet)]
    fill, gt, hole = ref_state
    perc, style = _per_layer(effnet, fill, gt)
    assert stored["hole"] == pytest.approx(float(np.abs(hole.numpy() * (fill - gt).numpy()).mean()), rel=1e-5)
    assert stored["perceptual"] == pytest.approx(perc, rel=1e-4)
    assert stored["style_out"] == pytest.approx(style, rel=1e-4)
    assert stored["style_comp"] == pytest.approx(style, rel=1e-4)


def test_pconv_calibration_gives_each_feature_term_the_hole_terms_weight(effnet, ref_state):
    fill, gt, hole = ref_state
    loss = PConvLoss(effnet)
    assert loss.layer_scales is not None and "calibrated" in loss.calibration
    _, terms = loss(fill, gt, hole)
    w = PCONV_LOSS_WEIGHTS
    hole_w = w["hole"] * float(np.abs(hole.numpy() * (fill - gt).numpy()).mean())
    assert w["perceptual"] * float(terms["perceptual"]) == pytest.approx(cal.FEATURE_TARGETS["perceptual"] * hole_w,
                                                                       rel=1e-3)
    style_w = w["style_out"] * float(terms["style_out"]) + w["style_comp"] * float(terms["style_comp"])
    assert style_w == pytest.approx(cal.FEATURE_TARGETS["style"] * hole_w, rel=1e-3)
    # each layer carries an equal part of its term
    perc, style = _per_layer(effnet, fill, gt)
    for key, mags in (("perceptual", perc), ("style_out", style)):
        parts = [s * m for s, m in zip(loss.layer_scales[key], mags)]
        assert parts == pytest.approx([parts[0]] * len(parts), rel=1e-3)
    # uncalibrated, the style terms swamp the loss (the reason for the rule)
    raw = cal.backbone_shares(effnet, w)
    assert raw["style_out"] > 100


def test_ctsdg_calibration_uses_its_minus_one_one_hole_term(effnet, ref_state):
    fill, gt, hole = ref_state
    loss = CTSDGLoss(effnet, weights={"adversarial": 0, "intermediate": 0})
    edge = torch.zeros_like(hole)
    _, terms = loss(fill, gt, hole, fill, edge, edge)
    w = CTSDG_LOSS_WEIGHTS
    hole_w = w["hole"] * 2 * float(np.abs(hole.numpy() * (fill - gt).numpy()).mean())
    assert w["hole"] * float(terms["hole"]) == pytest.approx(hole_w, rel=1e-4)
    assert w["perceptual"] * float(terms["perceptual"]) == pytest.approx(hole_w, rel=1e-3)
    assert w["style"] * float(terms["style"]) == pytest.approx(hole_w, rel=1e-3)


def test_paper_backbone_and_switches_leave_the_terms_unscaled(effnet):
    class FakeVGG(torch.nn.Module):
        kind = "vgg16"
        layers = ("pool1",)

        def forward(self, x):
            return [x]

    assert PConvLoss(FakeVGG()).layer_scales is None
    assert "unscaled" in PConvLoss(FakeVGG()).calibration
    assert PConvLoss(effnet, calibrate=False).layer_scales is None
    off = {"perceptual": 0, "style_out": 0, "style_comp": 0}
    assert PConvLoss(None, weights=off).layer_scales is None
    with pytest.raises(ValueError, match="layer scales"):
        from inpaintlib.losses import perceptual_loss
        perceptual_loss([torch.zeros(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)], scales=[1.0, 2.0])


def test_loss_shares_formula():
    shares = cal.loss_shares({"hole": 0.5, "style_out": 0.01, "extra": 3.0}, {"hole": 6, "style_out": 120})
    assert shares == pytest.approx({"hole": 3 / 4.2, "style_out": 1.2 / 4.2})
    assert cal.format_shares(shares).startswith("hole 71%")
