"""PConv losses against independent NumPy/loop formulas, weights, precision, gradients, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from inpaintlib.losses import (
    PCONV_LOSS_WEIGHTS,
    PConvLoss,
    dilate_hole,
    gram_matrix,
    hole_loss,
    perceptual_loss,
    style_loss,
    tv_loss,
    valid_loss,
)
from inpaintlib.nn import perceptual_backbone


# --------------------------------------------------------------------------- references

def np_gram(f: np.ndarray) -> np.ndarray:
    """Loop reference: G[b, i, j] = Σ_{y,x} f[b,i,y,x]·f[b,j,y,x] / (C·H·W)."""
    b, c, h, w = f.shape
    g = np.zeros((b, c, c), dtype=np.float64)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                g[n, i, j] = np.sum(f[n, i].astype(np.float64) * f[n, j]) / (c * h * w)
    return g


def np_tv(comp: np.ndarray, hole: np.ndarray) -> float:
    """Loop reference for tv_loss: P = hole dilated by its 8 neighbours; a neighbour
    difference counts when both pixels are in P; each direction averaged over all pairs."""
    b, c, h, w = comp.shape
    p = np.zeros((b, h, w), dtype=bool)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                ys, xs = slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2)
                p[n, y, x] = hole[n, 0, ys, xs].max() == 1
    right = down = 0.0
    for n in range(b):
        for ch in range(c):
            for y in range(h):
                for x in range(w):
                    if x + 1 < w and p[n, y, x] and p[n, y, x + 1]:
                        right += abs(comp[n, ch, y, x + 1] - comp[n, ch, y, x])
                    if y + 1 < h and p[n, y, x] and p[n, y + 1, x]:
                        down += abs(comp[n, ch, y + 1, x] - comp[n, ch, y, x])
    return right / (b * c * h * (w - 1)) + down / (b * c * (h - 1) * w)


class TinyBackbone(nn.Module):
    """A small frozen conv net returning three maps (fast stand-in for VGG), counting calls."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g) * 0.5
        self.requires_grad_(False)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        a = torch.relu(self.c1(x))
        b = torch.relu(self.c2(a))
        return [a, b, torch.relu(self.c3(b))]


def sample(seed=0, b=2, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, h, w, generator=g)
    pred = torch.rand(b, 3, h, w, generator=g)
    hole = (torch.rand(b, 1, h, w, generator=g) > 0.6).float()
    return pred, target, hole


# --------------------------------------------------------------------------- terms

def test_gram_matrix_matches_loop_formula_with_chw_normalisation():
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    g = gram_matrix(f)
    assert g.shape == (2, 3, 3) and g.dtype == torch.float32
    np.testing.assert_allclose(g.numpy(), np_gram(f.numpy()), rtol=1e-5, atol=1e-7)
    # symmetric, and the diagonal is the mean square activation of each channel
    torch.testing.assert_close(g, g.transpose(1, 2))
    torch.testing.assert_close(g[:, 0, 0], (f[:, 0].float() ** 2).sum((1, 2)) / (3 * 4 * 5))


def test_gram_is_float32_and_finite_for_large_activations_under_autocast():
    torch.manual_seed(0)
    f64 = torch.rand(2, 8, 32, 32, dtype=torch.float64) * 1000.0  # sums of 1024 products ~ 3e8
    ref = np_gram(f64.numpy())
    half = f64.half()
    naive = torch.bmm(half.float().reshape(2, 8, -1), half.float().reshape(2, 8, -1).transpose(1, 2))
    assert float(naive.max()) > 65504  # the un-normalised sum does not fit in fp16
    g = gram_matrix(half)  # fp16 input
    assert g.dtype == torch.float32 and bool(torch.isfinite(g).all())
    np.testing.assert_allclose(g.numpy(), np_gram(half.double().numpy()), rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g_bf = gram_matrix(f64.float())
        bf_naive = torch.bmm(f64.float().reshape(2, 8, -1), f64.float().reshape(2, 8, -1).transpose(1, 2))
    assert bf_naive.dtype == torch.bfloat16  # what autocast would do without the guard
    assert g_bf.dtype == torch.float32
    np.testing.assert_allclose(g_bf.numpy(), ref, rtol=1e-5)


def test_perceptual_and_style_losses_match_numpy():
    g = torch.Generator().manual_seed(1)
    fa = [torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, 2, 3, generator=g)]
    fb = [torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, 2, 3, generator=g)]
    ref_p = sum(np.abs(a.numpy() - b.numpy()).mean() for a, b in zip(fa, fb))
    ref_s = sum(np.abs(np_gram(a.numpy()) - np_gram(b.numpy())).mean() for a, b in zip(fa, fb))
    assert float(perceptual_loss(fa, fb)) == pytest.approx(ref_p, rel=1e-6)
    assert float(style_loss(fa, fb)) == pytest.approx(ref_s, rel=1e-5)
    # dicts of named maps work the same
    names = ["pool1", "pool2"]
    assert float(style_loss(dict(zip(names, fa)), dict(zip(names, fb)))) == pytest.approx(ref_s, rel=1e-5)
    assert float(perceptual_loss(fa, fa)) == 0.0 and float(style_loss(fb, fb)) == 0.0


def test_valid_and_hole_losses_are_size_averaged_l1():
    pred, target, hole = sample(2)
    p, t, h = pred.numpy(), target.numpy(), hole.numpy()
    n = p.size  # B·C·H·W: all elements, not only the known or missing ones
    assert float(valid_loss(pred, target, hole)) == pytest.approx(np.abs((1 - h) * (p - t)).sum() / n, rel=1e-6)
    assert float(hole_loss(pred, target, hole)) == pytest.approx(np.abs(h * (p - t)).sum() / n, rel=1e-6)
    # together they are the plain L1
    total = valid_loss(pred, target, hole) + hole_loss(pred, target, hole)
    assert float(total) == pytest.approx(np.abs(p - t).mean(), rel=1e-6)


def test_tv_loss_matches_loop_reference_on_the_dilated_hole():
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        comp = torch.rand(2, 3, 7, 9, generator=g)
        hole = (torch.rand(2, 1, 7, 9, generator=g) > 0.8).float()
        assert float(tv_loss(comp, hole)) == pytest.approx(np_tv(comp.numpy(), hole.numpy()), rel=1e-5)


def test_tv_region_is_exactly_the_one_pixel_dilation():
    hole = torch.zeros(1, 1, 9, 9)
    hole[0, 0, 4, 4] = 1.0
    p = dilate_hole(hole)
    assert int(p.sum()) == 9 and bool((p[0, 0, 3:6, 3:6] == 1).all())
    comp = torch.rand(1, 3, 9, 9)
    base = float(tv_loss(comp, hole))
    changed = comp.clone()
    changed[..., :3, :] = torch.rand(1, 3, 3, 9)  # rows 0–2 lie outside P: no effect
    changed[..., 6:, :] = torch.rand(1, 3, 3, 9)
    assert float(tv_loss(changed, hole)) == base
    inside = comp.clone()
    inside[..., 3, 3] += 0.5  # a corner of P (diagonal neighbour of the hole) counts
    assert float(tv_loss(inside, hole)) != base
    assert float(tv_loss(comp, torch.zeros(1, 1, 9, 9))) == 0.0
    flat = torch.full((1, 3, 9, 9), 0.3)
    assert float(tv_loss(flat, hole)) == 0.0


# --------------------------------------------------------------------------- PConvLoss

def test_paper_weights():
    assert PCONV_LOSS_WEIGHTS == {"valid": 1, "hole": 6, "perceptual": 0.05,
                                  "style_out": 120, "style_comp": 120, "tv": 0.1}


def test_pconv_loss_terms_and_total_against_independent_formulas():
    bb = TinyBackbone()
    loss = PConvLoss(bb, calibrate=False)
    pred, target, hole = sample(3)
    total, terms = loss(pred, target, hole)
    assert set(terms) == set(PCONV_LOSS_WEIGHTS)

    p, t, h = pred.numpy(), target.numpy(), hole.numpy()
    comp = h * p + (1 - h) * t
    with torch.no_grad():
        f_out = [f.numpy() for f in bb(pred)]
        f_comp = [f.numpy() for f in bb(torch.from_numpy(comp))]
        f_gt = [f.numpy() for f in bb(target)]
    ref = {
        "valid": np.abs((1 - h) * (p - t)).mean(),
        "hole": np.abs(h * (p - t)).mean(),
        "perceptual": sum(np.abs(a - c).mean() for a, c in zip(f_out, f_gt))
        + sum(np.abs(a - c).mean() for a, c in zip(f_comp, f_gt)),
        "style_out": sum(np.abs(np_gram(a) - np_gram(c)).mean() for a, c in zip(f_out, f_gt)),
        "style_comp": sum(np.abs(np_gram(a) - np_gram(c)).mean() for a, c in zip(f_comp, f_gt)),
        "tv": np_tv(comp, h),
    }
    for k, v in ref.items():
        assert float(terms[k]) == pytest.approx(v, rel=1e-5, abs=1e-8), k
    expected_total = sum(PCONV_LOSS_WEIGHTS[k] * ref[k] for k in ref)
    assert float(total) == pytest.approx(expected_total, rel=1e-5)
    assert total.dtype == torch.float32 and total.dim() == 0


def test_composite_terms_ignore_pred_on_known_pixels():
    loss = PConvLoss(TinyBackbone())
    pred, target, hole = sample(4)
    _, a = loss(pred, target, hole)
    other = pred * hole + torch.rand_like(pred) * (1 - hole)  # change only known pixels
    _, b = loss(other, target, hole)
    for k in ("hole", "style_comp", "tv"):
        assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-6), k
    assert float(a["valid"]) != float(b["valid"])


def test_gradients_reach_pred_but_not_the_frozen_backbone(capsys):
    bb = perceptual_backbone("random_vgg16", verbose=False)
    loss = PConvLoss(bb)
    pred, target, hole = sample(5, b=1, h=16, w=16)
    pred.requires_grad_(True)
    total, _ = loss(pred, target, hole)
    total.backward()
    assert pred.grad is not None and bool(torch.isfinite(pred.grad).all())
    assert float(pred.grad[hole.expand_as(pred) == 1].abs().sum()) > 0
    assert float(pred.grad[hole.expand_as(pred) == 0].abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in bb.parameters())


def test_zero_weight_skips_the_term_and_the_backbone():
    pred, target, hole = sample(6)
    bb = TinyBackbone()
    total, terms = PConvLoss(bb)(pred, target, hole)
    assert bb.calls == 2  # target (no grad) + [output, composite] in one batch

    bb = TinyBackbone()
    off = {"perceptual": 0, "style_out": 0, "style_comp": 0}
    t2, terms2 = PConvLoss(bb, weights=off)(pred, target, hole)
    assert bb.calls == 0
    assert set(terms2) == {"valid", "hole", "tv"}
    assert float(t2) == pytest.approx(float(terms["valid"] + 6 * terms["hole"] + 0.1 * terms["tv"]), rel=1e-6)

    bb = TinyBackbone()
    t3, terms3 = PConvLoss(bb, weights={"perceptual": 0, "style_out": 0, "tv": 0})(pred, target, hole)
    assert bb.calls == 2 and set(terms3) == {"valid", "hole", "style_comp"}
    assert float(terms3["style_comp"]) == pytest.approx(float(terms["style_comp"]), rel=1e-6)

    t4, terms4 = PConvLoss(None, weights=off)(pred, target, hole)  # no backbone needed
    assert float(t4) == pytest.approx(float(t2))


def test_bf16_autocast_gives_float32_finite_loss():
    loss = PConvLoss(TinyBackbone())
    pred, target, hole = sample(7)
    ref, _ = loss(pred, target, hole)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, terms = loss(pred, target, hole)
    assert total.dtype == torch.float32 and bool(torch.isfinite(total))
    assert all(v.dtype == torch.float32 for v in terms.values())
    assert float(total) == pytest.approx(float(ref), rel=0.05)


def test_bad_inputs_are_clear_errors():
    loss = PConvLoss(TinyBackbone())
    pred, target, hole = sample(8)
    with pytest.raises(ValueError, match="pred must have the target's shape"):
        loss(pred[:, :, :-1], target, hole)
    soft = hole.clone()
    soft[0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="binary"):
        loss(pred, target, soft)
    with pytest.raises(ValueError, match="spatial sizes differ"):
        loss(pred, target, hole[..., :-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss(pred, target * 2, hole)
    with pytest.raises(ValueError, match="binary"):
        tv_loss(target, soft)
    with pytest.raises(ValueError, match="shapes differ"):
        valid_loss(pred, target[:1], hole)
    with pytest.raises(ValueError, match="unknown loss term 'l1'"):
        PConvLoss(TinyBackbone(), weights={"l1": 1})
    with pytest.raises(ValueError, match="must be ≥ 0"):
        PConvLoss(TinyBackbone(), weights={"tv": -1})
    with pytest.raises(ValueError, match="backbone is needed"):
        PConvLoss(None)
    with pytest.raises(ValueError, match="differ in length"):
        style_loss([torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 2, 3, 3)] * 2)
    with pytest.raises(ValueError, match="feature shapes differ"):
        perceptual_loss([torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 2, 3, 4)])
    with pytest.raises(ValueError, match="B×C×H×W"):
        gram_matrix(torch.zeros(2, 3, 4))
