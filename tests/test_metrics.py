"""inpaintlib.metrics: PSNR/SSIM against scikit-image, L1 formulas, bucket tables."""
import csv
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintlib.metrics import (
    METRIC_NAMES,
    BucketTable,
    bucket_table,
    concat_tables,
    evaluate,
    hole_ratio,
    l1,
    l1_hole,
    psnr,
    ssim,
)


def to_t(arrays):
    """List of H×W×3 float arrays → B×3×H×W float32 tensor."""
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy()).float()


def sk_ssim(a, b):
    return structural_similarity(
        a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0,
    )


def batch(b=3, h=16, w=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, h, w, generator=g)
    pred = torch.rand(b, 3, h, w, generator=g)
    hole = (torch.rand(b, 1, h, w, generator=g) > 0.6).float()
    hole[:, :, 0, 0] = 1.0  # never empty
    return pred, target, hole


ASTRONAUT = skdata.astronaut().astype(np.float64) / 255.0


@pytest.mark.parametrize("h,w", [(11, 11), (32, 32), (24, 57), (64, 40)])
def test_psnr_ssim_match_skimage(h, w):
    rng = np.random.default_rng(h * 100 + w)
    # natural crops + noise, and pure random images, in one batch
    t_nat = ASTRONAUT[60 : 60 + h, 180 : 180 + w]
    t_nat2 = ASTRONAUT[300 : 300 + h, 100 : 100 + w]
    p_nat = np.clip(t_nat + rng.normal(0, 0.08, t_nat.shape), 0, 1)
    p_nat2 = np.clip(t_nat2 + rng.normal(0, 0.02, t_nat2.shape), 0, 1)
    t_rnd, p_rnd = rng.random((h, w, 3)), rng.random((h, w, 3))
    targets = [t_nat, t_nat2, t_rnd]
    preds = [p_nat, p_nat2, p_rnd]
    # compare on the float32 values the tensors actually hold
    targets = [a.astype(np.float32).astype(np.float64) for a in targets]
    preds = [a.astype(np.float32).astype(np.float64) for a in preds]
    P, T = to_t(preds), to_t(targets)
    got_psnr, got_ssim = psnr(P, T), ssim(P, T)
    assert got_psnr.shape == got_ssim.shape == (3,)
    for i in range(3):
        assert got_psnr[i].item() == pytest.approx(
            peak_signal_noise_ratio(targets[i], preds[i], data_range=1.0), abs=1e-3
        )
        assert got_ssim[i].item() == pytest.approx(sk_ssim(preds[i], targets[i]), abs=1e-3)


def test_ssim_matches_skimage_tightly_in_float64():
    rng = np.random.default_rng(7)
    t = ASTRONAUT[:40, :48]
    p = np.clip(t + rng.normal(0, 0.05, t.shape), 0, 1)
    P = torch.from_numpy(p.transpose(2, 0, 1).copy())[None]
    T = torch.from_numpy(t.transpose(2, 0, 1).copy())[None]
    assert ssim(P, T).dtype == torch.float64
    assert ssim(P, T).item() == pytest.approx(sk_ssim(p, t), abs=1e-9)


def test_psnr_constant_error_is_exact():
    target = torch.full((2, 3, 8, 9), 0.2, dtype=torch.float64)
    pred = target + 0.1  # MSE = 0.01 → 20 dB
    assert torch.allclose(psnr(pred, target), torch.tensor([20.0, 20.0], dtype=torch.float64))
    target = torch.full((1, 3, 8, 8), 0.25)
    pred = torch.full((1, 3, 8, 8), 0.75)  # exact in float32: MSE = 0.25 → 10·log10(4)
    assert psnr(pred, target).item() == pytest.approx(10 * math.log10(4.0), abs=1e-6)


def test_psnr_identical_is_inf_and_data_range_scales():
    _, target, _ = batch()
    assert torch.isinf(psnr(target, target)).all()
    pred = (target + 0.05).clamp(0, 1)
    diff = psnr(pred, target, data_range=2.0) - psnr(pred, target)
    assert torch.allclose(diff, torch.full((3,), 20 * math.log10(2.0)), atol=1e-4)


def test_ssim_of_identical_images_is_one():
    _, target, _ = batch(h=24, w=30)
    assert torch.allclose(ssim(target, target), torch.ones(3), atol=1e-6)


def test_ssim_is_per_image_not_mixed_across_batch():
    pred, target, _ = batch(b=4, h=20, w=20)
    full = ssim(pred, target)
    single = torch.cat([ssim(pred[i : i + 1], target[i : i + 1]) for i in range(4)])
    assert torch.allclose(full, single, atol=1e-6)


def test_ssim_bad_window_and_too_small_image():
    pred, target, _ = batch(h=10, w=30)
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(pred, target)
    assert ssim(pred, target, window=7).shape == (3,)
    with pytest.raises(ValueError, match="odd"):
        ssim(pred, target, window=6)
    with pytest.raises(ValueError, match="sigma"):
        ssim(pred, target, window=7, sigma=0)


def test_l1_and_l1_hole_match_numpy():
    pred, target, hole = batch(b=3, h=12, w=15, seed=3)
    p, t, m = pred.numpy(), target.numpy(), hole.numpy()
    exp_l1 = np.abs(p - t).reshape(3, -1).mean(axis=1)
    exp_hole = np.array(
        [(np.abs(p[i] - t[i]) * m[i]).sum() / (3 * m[i].sum()) for i in range(3)]
    )
    np.testing.assert_allclose(l1(pred, target).numpy(), exp_l1, rtol=1e-5)
    np.testing.assert_allclose(l1_hole(pred, target, hole).numpy(), exp_hole, rtol=1e-5)


def test_l1_hole_ignores_known_region_errors():
    pred, target, hole = batch(seed=5)
    spoiled = torch.where(hole.bool().expand_as(pred), pred, 1.0 - target)  # wreck known pixels
    assert torch.allclose(l1_hole(pred, target, hole), l1_hole(spoiled, target, hole))
    assert not torch.allclose(l1(pred, target), l1(spoiled, target))
    # a perfect fill of the hole gives zero hole error whatever happens elsewhere
    perfect = torch.where(hole.bool().expand_as(pred), target, pred)
    assert torch.equal(l1_hole(perfect, target, hole), torch.zeros(3))


def test_l1_hole_empty_hole_is_nan():
    pred, target, hole = batch()
    hole[1] = 0.0
    out = l1_hole(pred, target, hole)
    assert torch.isnan(out[1]) and torch.isfinite(out[[0, 2]]).all()


@pytest.mark.parametrize("fn", [psnr, ssim, l1])
def test_bad_inputs_raise(fn):
    pred, target, _ = batch(h=16, w=16)
    with pytest.raises(ValueError, match="shapes differ"):
        fn(pred, target[:, :, :15])
    bad = pred.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, target)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(pred * 1.5, target)  # e.g. an unclamped model output
    with pytest.raises(ValueError, match="pred.*3 channels"):
        fn(pred[:, :1], target[:, :1])


def test_l1_hole_and_evaluate_validate_hole():
    pred, target, hole = batch()
    with pytest.raises(ValueError, match="binary"):
        l1_hole(pred, target, hole * 0.5 + 0.25)
    with pytest.raises(ValueError, match="batch sizes differ"):
        evaluate(pred, target, hole[:2])
    with pytest.raises(ValueError, match="spatial sizes differ"):
        l1_hole(pred, target, hole[:, :, :8])


def test_evaluate_returns_all_metrics_per_image():
    pred, target, hole = batch(b=4)
    out = evaluate(pred, target, hole)
    assert tuple(out) == METRIC_NAMES
    for name, fn in [("psnr", psnr), ("ssim", ssim), ("l1", l1)]:
        assert out[name].shape == (4,)
        assert torch.equal(out[name], fn(pred, target))
    assert torch.equal(out["l1_hole"], l1_hole(pred, target, hole))


# --------------------------------------------------------------------------- buckets
BUCKETS = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bucket_table_counts_and_means_against_manual(dtype):
    # boundaries given in the ratios' own precision stay in the lower bucket
    ratios = torch.tensor([0.0, 0.1, 0.2, 0.25, 0.4, 0.45, 0.6, 0.7, 0.05], dtype=dtype)
    vals = torch.arange(9, dtype=torch.float32)
    metrics = {"l1": vals, "ssim": 10 * vals}
    table = bucket_table(ratios, metrics, BUCKETS)
    assert [r["bucket"] for r in table.rows] == ["[0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "all"]
    # manual membership: first bucket includes 0 and 0.2; (lo, hi] elsewhere; 0.7 in none
    members = [[0, 1, 2, 8], [3, 4], [5, 6]]
    for row, idx in zip(table.rows, members):
        assert row["count"] == len(idx)
        assert row["l1"] == pytest.approx(np.mean(idx))
        assert row["ssim"] == pytest.approx(10 * np.mean(idx))
    assert table.rows[-1]["count"] == 9
    assert table.rows[-1]["l1"] == pytest.approx(4.0)


def test_bucket_table_default_buckets_are_ctsdg():
    from inpaintlib.masks import CTSDG_BUCKETS

    ratios = torch.tensor([0.1, 0.3, 0.5, 0.55])
    table = bucket_table(ratios, {"l1": torch.ones(4)})
    assert [(r["lo"], r["hi"]) for r in table.rows[:-1]] == [tuple(b) for b in CTSDG_BUCKETS]
    assert [r["count"] for r in table.rows] == [1, 1, 2, 4]


def test_bucket_boundary_from_a_real_float32_mask():
    hole = torch.zeros(1, 1, 10, 10)
    hole[:, :, :2] = 1.0  # exactly 20 % missing, ratio computed in float32
    table = bucket_table(hole_ratio(hole), {"l1": torch.ones(1)}, BUCKETS)
    assert [r["count"] for r in table.rows] == [1, 0, 0, 1]


def test_bucket_table_nan_skipped_empty_bucket_nan_and_method_column():
    ratios = torch.tensor([0.0, 0.1, 0.15])
    metrics = {"l1_hole": torch.tensor([float("nan"), 0.2, 0.4])}
    table = bucket_table(ratios, metrics, BUCKETS, method="telea")
    first, second = table.rows[0], table.rows[1]
    assert first["method"] == "telea" and list(first)[0] == "method"
    assert first["count"] == 3 and first["l1_hole"] == pytest.approx(0.3)
    assert second["count"] == 0 and math.isnan(second["l1_hole"])


def test_bucket_table_with_evaluate_output():
    pred, target, hole = batch(b=5, h=16, w=16, seed=11)
    out = evaluate(pred, target, hole)
    ratios = hole_ratio(hole)
    assert torch.allclose(ratios, hole.mean(dim=(1, 2, 3)))
    table = bucket_table(ratios, out, [(0.0, 0.5), (0.5, 1.0)])
    assert table.rows[-1]["psnr"] == pytest.approx(out["psnr"].mean().item(), rel=1e-6)
    assert sum(r["count"] for r in table.rows[:-1]) == 5


def test_bucket_table_markdown_csv_and_concat(tmp_path):
    ratios = torch.tensor([0.1, 0.3])
    t1 = bucket_table(ratios, {"psnr": torch.tensor([30.0, 20.0])}, BUCKETS[:2], method="telea")
    t2 = bucket_table(ratios, {"psnr": torch.tensor([float("inf"), 25.0])}, BUCKETS[:2], method="ns")
    both = concat_tables([t1, t2])
    assert isinstance(both, BucketTable) and len(both.rows) == 6
    md = both.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "| method | bucket | count | psnr |"
    assert lines[2] == "| telea | [0, 0.2] | 1 | 30.00 |"
    assert "| ns | [0, 0.2] | 1 | inf |" in lines
    assert str(both) == md
    path = tmp_path / "table.csv"
    both.to_csv(path)
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and rows[3]["method"] == "ns"
    assert float(rows[1]["psnr"]) == 20.0 and rows[2]["bucket"] == "all"


def test_bucket_table_bad_input():
    with pytest.raises(ValueError, match="3 values but there are 2"):
        bucket_table(torch.tensor([0.1, 0.2]), {"l1": torch.zeros(3)}, BUCKETS)
    with pytest.raises(ValueError, match="lo < hi"):
        bucket_table(torch.tensor([0.1]), {"l1": torch.zeros(1)}, [(0.3, 0.2)])
    with pytest.raises(ValueError, match="non-empty dict"):
        bucket_table(torch.tensor([0.1]), {}, BUCKETS)
    with pytest.raises(ValueError, match="concat_tables"):
        concat_tables([[]])


# --------------------------------------------------------------------------- properties
@st.composite
def image_pairs(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    h = draw(st.integers(11, 20))
    w = draw(st.integers(11, 20))
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, h, w, generator=g)
    # mix: sometimes b is a small perturbation of a, sometimes independent
    scale = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    b = (a + scale * (torch.rand(2, 3, h, w, generator=g) - 0.5)).clamp(0, 1)
    return a, b


@settings(max_examples=25, deadline=None)
@given(image_pairs())
def test_properties_symmetry_and_bounds(pair):
    a, b = pair
    pa, pb = psnr(a, b), psnr(b, a)
    assert torch.equal(pa, pb)
    sa, sb = ssim(a, b), ssim(b, a)
    assert torch.allclose(sa, sb, atol=1e-6)
    assert (sa <= 1.0 + 1e-6).all() and (sa >= -1.0 - 1e-6).all()
    assert (l1(a, b) >= 0).all()
    assert torch.allclose(l1(a, b), l1(b, a))


def test_seed_difference_compares_the_gap_with_the_noise_between_seeds():
    from inpaintlib.metrics import seed_difference

    far = seed_difference([20.0, 20.2, 19.8], [18.0, 18.1, 17.9])
    assert far["diff"] == pytest.approx(2.0) and far["n"] == (3, 3)
    assert far["se"] == pytest.approx(((0.04 / 3) + (0.01 / 3)) ** 0.5)
    assert far["verdict"] == "larger than the noise between seeds"
    near = seed_difference([20.0, 21.0, 19.0], [19.8, 20.8, 18.8])
    assert near["verdict"] == "within the noise between seeds at this scale"
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_difference([1.0], [2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        seed_difference([1.0, float("nan")], [2.0, 3.0])
