"""Facts about inpaintlib.masks: generators, hole ratios, buckets, mask files, NVIDIA
folders and fixed evaluation sets."""
import json
import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintlib import masks as M
from inpaintlib.masks import (
    CTSDG_BUCKETS,
    DEFAULT_RATIO,
    KINDS,
    PCONV_BUCKETS,
    FixedMaskSet,
    NvidiaMasks,
    bucket_index,
    bucket_indices,
    bucket_label,
    fixed_mask_set,
    generate,
    hole_ratio,
    load_mask,
    save_mask,
)


def np_ratio(hole):
    """Independent hole ratio: count of ones / number of pixels, in float64."""
    arr = hole.numpy()
    return np.count_nonzero(arr == 1) / arr[0].size


def assert_binary(hole):
    assert hole.dtype == torch.float32
    assert bool(((hole == 0) | (hole == 1)).all())


def bbox(hole2d):
    rows = np.flatnonzero(hole2d.any(1))
    cols = np.flatnonzero(hole2d.any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


# ------------------------------------------------------------------ generate: basics


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size, shape", [(32, (1, 32, 32)), ((24, 40), (1, 24, 40))])
def test_generate_shape_dtype_binary(kind, size, shape):
    hole = generate(kind, size, seed=3)
    assert tuple(hole.shape) == shape
    assert_binary(hole)
    assert 0 < hole.sum() < hole.numel()


@pytest.mark.parametrize("kind", KINDS)
def test_generate_is_deterministic_by_seed(kind):
    a = generate(kind, 48, ratio=(0.2, 0.4), seed=11)
    b = generate(kind, 48, ratio=(0.2, 0.4), seed=11)
    assert torch.equal(a, b)
    others = [generate(kind, 48, ratio=(0.2, 0.4), seed=s) for s in range(12, 16)]
    assert not any(torch.equal(a, o) for o in others)


@pytest.mark.parametrize("kind", KINDS)
def test_seed_none_gives_fresh_masks_and_generator_is_advanced(kind):
    fresh = [generate(kind, 48, ratio=(0.2, 0.4)) for _ in range(4)]
    assert len({m.numpy().tobytes() for m in fresh}) > 1
    rng = np.random.default_rng(5)
    a, b = generate(kind, 48, ratio=(0.2, 0.4), seed=rng), generate(kind, 48, ratio=(0.2, 0.4), seed=rng)
    assert not torch.equal(a, b)
    rng2 = np.random.default_rng(5)
    assert torch.equal(a, generate(kind, 48, ratio=(0.2, 0.4), seed=rng2))


RANGES = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.1, 0.2)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ratio", RANGES)
def test_ratio_lands_in_range_over_100_seeds(kind, ratio):
    lo, hi = ratio
    got = np.array([np_ratio(generate(kind, 64, ratio=ratio, seed=s)) for s in range(100)])
    inside = (got >= lo) & (got <= hi) & (got > 0)
    assert inside.mean() >= 0.95  # the brief's requirement ...
    assert inside.all()  # ... and the documented contract: always in range
    # the generator aims at a target drawn across the range, not just at its lower edge
    assert got.max() - got.min() > 0.4 * (hi - lo)


@pytest.mark.parametrize("kind", ["free_form", "dense_points"])
def test_ratio_none_uses_the_default_range(kind):
    lo, hi = DEFAULT_RATIO[kind]
    got = [np_ratio(generate(kind, 64, seed=s)) for s in range(30)]
    assert all(lo <= r <= hi for r in got)


def test_high_ratio_up_to_max_fill_and_256px():
    for kind in ("free_form", "dense_points"):
        hole = generate(kind, 256, ratio=(0.7, 0.8), seed=1)
        assert 0.7 <= np_ratio(hole) <= 0.8
        assert tuple(hole.shape) == (1, 256, 256)


def test_dense_points_are_many_small_blobs():
    hole = generate("dense_points", 64, ratio=(0.1, 0.2), seed=0)[0].numpy().astype(np.uint8)
    n_labels, labels = cv2.connectedComponents(hole, connectivity=8)
    assert n_labels - 1 >= 30  # many separate points
    areas = np.bincount(labels.ravel())[1:]
    assert np.median(areas) <= 20  # each one small (radius ≤ 2 px at 64 px)


def test_dense_points_radius_parameter_controls_blob_size():
    big = generate("dense_points", 64, ratio=(0.2, 0.3), seed=0, radius=(4, 4), roundness=(1, 1))
    small = generate("dense_points", 64, ratio=(0.2, 0.3), seed=0, radius=(1, 1), roundness=(1, 1))
    count = lambda h: cv2.connectedComponents(h[0].numpy().astype(np.uint8))[0] - 1
    assert count(small) > 2 * count(big)


def test_free_form_brush_width_sets_stroke_thickness():
    def median_depth(hole):  # median distance of a hole pixel to the nearest known pixel
        h = hole[0].numpy().astype(np.uint8)
        return float(np.median(cv2.distanceTransform(h, cv2.DIST_L2, 3)[h > 0]))

    # a round brush of diameter d: depths spread over 0 … d/2, median about d/4
    thin = generate("free_form", 128, ratio=(0.2, 0.3), seed=2, brush_width=(3, 3))
    thick = generate("free_form", 128, ratio=(0.2, 0.3), seed=2, brush_width=(15, 15))
    assert 0.5 <= median_depth(thin) <= 2.0
    assert 3.5 <= median_depth(thick) <= 6.0


@pytest.mark.parametrize("seg", [(3.2, 4.7, 20.5, 11.0, 2.5), (10, 10, 10, 10, 5.5), (0, 30, 31, 0, 0.5)])
def test_stroke_segment_is_the_set_of_pixels_within_half_the_brush(seg):
    x0, y0, x1, y1, radius = seg
    box, inside = M._capsule(32, 32, x0, y0, x1, y1, radius)
    painted = np.zeros((32, 32), bool)
    painted[box] = inside
    # independent formula: distance from each pixel centre to the segment, in float64
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    d = np.array([x1 - x0, y1 - y0])
    t = np.clip(((xx - x0) * d[0] + (yy - y0) * d[1]) / max(d @ d, 1e-300), 0, 1)
    dist = np.hypot(xx - (x0 + t * d[0]), yy - (y0 + t * d[1]))
    expected = dist <= radius
    assert np.count_nonzero(painted != expected) <= 2  # float32 rounding on the rim at most
    assert painted.sum() > 0


# ---------------------------------------------------------------------- rectangles


def test_rectangle_gmcnn_sizes_and_margins_at_256():
    box, delta, margin = 128, 32, 8
    heights, widths = set(), set()
    for s in range(200):
        h = generate("rectangle", 256, seed=s, margin=margin)[0].numpy() > 0
        t, b, l, r = bbox(h)
        assert h.sum() == (b - t) * (r - l)  # a solid rectangle
        # each dimension loses d ∈ 0..max_delta/2 at both ends: box − max_delta … box
        for side, lo_edge, hi_edge in ((b - t, t, b), (r - l, l, r)):
            assert box - delta <= side <= box and (box - side) % 2 == 0
            d = (box - side) // 2
            assert lo_edge - d >= margin and hi_edge + d <= 256 - margin  # full box inside margins
        heights.add(b - t)
        widths.add(r - l)
    assert min(heights) == 96 and max(heights) == 128
    assert min(widths) == 96 and max(widths) == 128


def test_rectangle_defaults_scale_with_image_size_and_custom_params():
    sides = {bbox(generate("rectangle", 64, seed=s)[0].numpy() > 0)[1]
             - bbox(generate("rectangle", 64, seed=s)[0].numpy() > 0)[0] for s in range(100)}
    assert sides <= set(range(24, 33)) and {24, 32} <= sides  # box 32, max_delta 8 at 64 px
    for s in range(50):
        h = generate("rectangle", (64, 96), seed=s, box_size=(40, 60), max_delta=(8, 12),
                     margin=(4, 6))[0].numpy() > 0
        t, b, l, r = bbox(h)
        assert 32 <= b - t <= 40 and 48 <= r - l <= 60
        assert t >= 4 and b <= 60 and l >= 6 and r <= 90


def test_rectangle_ratio_with_explicit_box_picks_a_reachable_shrink():
    # box 32 with max_delta 8 at 64 px: sides 24..32, ratio 0.14..0.25
    for s in range(50):
        h = generate("rectangle", 64, ratio=(0.2, 0.3), seed=s, box_size=32)
        assert 0.2 <= np_ratio(h) <= 0.25
    with pytest.raises(ValueError, match="box_size"):
        generate("rectangle", 64, ratio=(0.4, 0.6), seed=0, box_size=32)


def test_rectangle_ratio_without_box_is_a_solid_box_inside_margins():
    for s in range(50):
        h = generate("rectangle", 64, ratio=(0.3, 0.6), seed=s, margin=4)[0].numpy() > 0
        t, b, l, r = bbox(h)
        assert h.sum() == (b - t) * (r - l)
        assert t >= 4 and l >= 4 and b <= 60 and r <= 60
        assert 0.3 <= h.mean() <= 0.6
    with pytest.raises(ValueError, match="no rectangle"):
        generate("rectangle", 64, ratio=(0.8, 0.9), seed=0, margin=4)  # 56²/64² = 0.77 max


# -------------------------------------------------------------------------- errors


def test_generate_errors():
    with pytest.raises(ValueError, match="unknown mask kind 'blobs'"):
        generate("blobs", 32)
    with pytest.raises(ValueError, match="NvidiaMasks"):
        generate("nvidia", 32)
    for size in (0, -3, (32,), (32, 0), 2.5, True, "32"):
        with pytest.raises(ValueError, match="size"):
            generate("free_form", size)
    for ratio in ((0.3, 0.2), (-0.1, 0.2), (0.2, 1.5), 0.3, (0.5, 0.5), (float("nan"), 0.5)):
        with pytest.raises(ValueError, match="ratio"):
            generate("dense_points", 32, ratio=ratio)
    with pytest.raises(ValueError, match="no achievable hole-pixel count"):
        generate("free_form", 8, ratio=(0.1, 0.105))  # 6.4 … 6.72 pixels of 64
    with pytest.raises(ValueError, match="lo ≤ 0.8"):
        generate("free_form", 32, ratio=(0.85, 0.95))
    with pytest.raises(TypeError, match="radius"):
        generate("free_form", 32, radius=3)
    with pytest.raises(TypeError, match="brush_width"):
        generate("rectangle", 32, brush_width=3)
    with pytest.raises(ValueError, match="seed"):
        generate("rectangle", 32, seed=-1)


@pytest.mark.parametrize(
    "kind, params, message",
    [
        ("free_form", {"brush_width": 0}, "brush_width"),
        ("free_form", {"vertices": (1, 3)}, "vertices"),
        ("free_form", {"length": (30, 10)}, "length"),
        ("free_form", {"max_angle": -1}, "max_angle"),
        ("dense_points", {"radius": (3, 1)}, "radius"),
        ("dense_points", {"roundness": (0.5, 2)}, "roundness"),
        ("rectangle", {"margin": 16}, "margin"),
        ("rectangle", {"box_size": 30, "margin": 2}, "box_size"),
        ("rectangle", {"box_size": 10, "max_delta": 20}, "max_delta"),
    ],
)
def test_generate_rejects_bad_params(kind, params, message):
    with pytest.raises(ValueError, match=message):
        generate(kind, 32, seed=0, **params)


# ------------------------------------------------------------------- hole ratio


def test_hole_ratio_matches_an_independent_count():
    g = torch.Generator().manual_seed(0)
    holes = (torch.rand(5, 1, 13, 17, generator=g) > 0.6).float()
    r = hole_ratio(holes)
    assert r.shape == (5,) and r.dtype == torch.float32
    counts = holes.numpy().reshape(5, -1).sum(1)
    assert np.array_equal(r.numpy(), (counts / (13 * 17)).astype(np.float32))
    single = hole_ratio(holes[2])
    assert single.shape == () and float(single) == pytest.approx(counts[2] / 221, abs=1e-7)


def test_hole_ratio_rejects_bad_masks():
    with pytest.raises(ValueError, match="binary"):
        hole_ratio(torch.full((1, 1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="4 dimensions"):
        hole_ratio(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="1 channel"):
        hole_ratio(torch.zeros(2, 3, 4, 4))


# ----------------------------------------------------------------------- buckets


def test_bucket_constants():
    assert CTSDG_BUCKETS == ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))
    assert PCONV_BUCKETS == ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))


@pytest.mark.parametrize(
    "ratio, ctsdg, pconv",
    [
        (0.0, 0, -1),  # CTSDG's first bucket includes 0
        (0.005, 0, -1),
        (0.01, 0, -1),  # (0.01, 0.1] excludes its lower edge
        (0.0101, 0, 0),
        (0.1, 0, 0),
        (0.2, 0, 1),  # exactly 20 %: the lower bucket, (lo, hi]
        (0.2000001, 1, 2),
        (0.4, 1, 3),
        (0.55, 2, 5),
        (0.6, 2, 5),
        (0.6000001, -1, -1),
        (0.9, -1, -1),
    ],
)
def test_bucket_index_edges(ratio, ctsdg, pconv):
    assert bucket_index(ratio, CTSDG_BUCKETS) == ctsdg
    assert bucket_index(ratio, PCONV_BUCKETS) == pconv


def test_bucket_edges_are_exact_for_float32_mask_ratios():
    hole = torch.zeros(1, 1, 10, 10)
    hole.view(-1)[:20] = 1  # exactly 20 % holes
    r = hole_ratio(hole)
    assert r.dtype == torch.float32 and float(r) != 0.2  # float32(0.2) is not the double 0.2
    assert bucket_index(r[0], CTSDG_BUCKETS) == 0
    assert bucket_indices(r, CTSDG_BUCKETS).tolist() == [0]
    hole.view(-1)[:60] = 1
    assert bucket_index(hole_ratio(hole)[0], CTSDG_BUCKETS) == 2


def test_bucket_indices_vectorised_matches_scalar():
    g = torch.Generator().manual_seed(1)
    ratios = torch.cat([torch.rand(212, generator=g, dtype=torch.float64),
                        torch.tensor([0.0, 0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0], dtype=torch.float64)])
    for buckets in (CTSDG_BUCKETS, PCONV_BUCKETS):
        idx = bucket_indices(ratios.reshape(13, 17), buckets)
        assert idx.dtype == torch.long and idx.shape == (13, 17)
        assert idx.flatten().tolist() == [bucket_index(float(r), buckets) for r in ratios]


def test_bucket_labels_and_bad_buckets():
    assert [bucket_label(b) for b in CTSDG_BUCKETS] == ["0–20%", "20–40%", "40–60%"]
    assert bucket_label(PCONV_BUCKETS[0]) == "1–10%"
    assert bucket_label((0.0, 0.2), ascii=True) == "0-20pct"
    with pytest.raises(ValueError, match="overlap"):
        bucket_index(0.1, ((0.0, 0.3), (0.2, 0.4)))
    with pytest.raises(ValueError, match="lo < hi"):
        bucket_index(0.1, ((0.3, 0.2),))
    with pytest.raises(ValueError, match="NaN"):
        bucket_index(float("nan"))


# ------------------------------------------------------------------------ file IO


def test_save_load_round_trip_and_polarity(tmp_path):
    hole = generate("free_form", (24, 40), seed=0)
    path = save_mask(hole, tmp_path / "sub" / "m.png")
    assert path.is_file()
    with Image.open(path) as img:
        assert img.mode == "L" and img.format == "PNG" and img.size == (40, 24)
        arr = np.asarray(img)
    assert set(np.unique(arr)) == {0, 255}
    assert np.array_equal(arr == 255, hole[0].numpy() == 1)  # white = hole on disk
    back = load_mask(path)
    assert back.dtype == torch.float32 and torch.equal(back, hole)
    assert torch.equal(load_mask(path, invert=True), 1 - hole)
    save_mask(hole.unsqueeze(0), tmp_path / "batch1.png")  # 1×1×H×W is fine too
    assert torch.equal(load_mask(tmp_path / "batch1.png"), hole)


def test_save_mask_rejects_bad_masks(tmp_path):
    with pytest.raises(ValueError, match="binary"):
        save_mask(torch.full((1, 4, 4), 0.5), tmp_path / "x.png")
    with pytest.raises(ValueError, match="batch of 2"):
        save_mask(torch.zeros(2, 1, 4, 4), tmp_path / "x.png")


def test_load_mask_threshold_resize_and_colour(tmp_path):
    arr = np.array([[0, 127, 128, 255]], np.uint8).repeat(4, 0)
    Image.fromarray(arr).save(tmp_path / "g.png")
    assert load_mask(tmp_path / "g.png")[0, 0].tolist() == [0, 0, 1, 1]  # > 0.5 is a hole
    assert load_mask(tmp_path / "g.png", threshold=0.6)[0, 0].tolist() == [0, 0, 0, 1]
    blocks = (np.random.default_rng(0).random((4, 4)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(blocks).convert("RGB").save(tmp_path / "rgb.png")
    up = load_mask(tmp_path / "rgb.png", size=(8, 12))
    assert up.shape == (1, 8, 12)
    expected = np.kron(blocks > 0, np.ones((2, 3), bool)).astype(np.float32)
    assert np.array_equal(up[0].numpy(), expected)  # nearest neighbour


def test_load_mask_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_mask(tmp_path / "nope.png")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png"):
        load_mask(tmp_path / "broken.png")
    with pytest.raises(ValueError, match="threshold"):
        load_mask(tmp_path / "broken.png", threshold=1.5)


# -------------------------------------------------------------------- NVIDIA masks


def write_png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


@pytest.fixture
def nvidia_root(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        arr = np.zeros((64, 64), np.uint8)
        arr[10 + 5 * i:30 + 5 * i, 20:44] = 255  # white = hole
        write_png(tmp_path / "train" / ("deep" if i == 2 else "") / f"m{i}.png", arr)
    square = np.zeros((64, 64), np.uint8)
    square[8:24, 32:56] = 255
    square[40, 40] = 160  # 0.627 > 0.6: hole
    square[50, 50] = 150  # 0.588 ≤ 0.6: known
    write_png(tmp_path / "test" / "a.png", square)
    write_png(tmp_path / "test" / "b.png", (rng.random((64, 64)) > 0.7) * 255)
    return tmp_path


def test_nvidia_masks_polarity_and_threshold_without_augmentation(nvidia_root):
    ds = NvidiaMasks(nvidia_root, size=64, split="test")
    assert len(ds) == 2 and ds.augment is False
    hole = ds[0]
    assert hole.shape == (1, 64, 64)
    assert_binary(hole)
    expected = np.zeros((64, 64), np.float32)
    expected[8:24, 32:56] = 1
    expected[40, 40] = 1
    assert np.array_equal(hole[0].numpy(), expected)
    inverted = NvidiaMasks(nvidia_root, size=64, split="test", invert=True)[0]
    assert torch.equal(inverted, 1 - hole)
    half = NvidiaMasks(nvidia_root, size=32, split="test")[0]
    assert torch.equal(half[0], hole[0, ::2, ::2])  # nearest-neighbour resize


def test_nvidia_masks_train_augmentation_is_deterministic_and_binary(nvidia_root):
    ds = NvidiaMasks(nvidia_root, size=32, split="train", seed=7)
    assert len(ds) == 3 and ds.augment is True  # found recursively
    a = [ds[i] for i in range(3)]
    for m in a:
        assert m.shape == (1, 32, 32)
        assert_binary(m)
    again = NvidiaMasks(nvidia_root, size=32, split="train", seed=7)
    assert all(torch.equal(x, again[i]) for i, x in enumerate(a))
    other_seed = NvidiaMasks(nvidia_root, size=32, split="train", seed=8)
    assert any(not torch.equal(x, other_seed[i]) for i, x in enumerate(a))
    ds.set_epoch(1)
    assert any(not torch.equal(x, ds[i]) for i, x in enumerate(a))
    plain = NvidiaMasks(nvidia_root, size=32, split="train", augment=False)
    assert any(not torch.equal(x, plain[i]) for i, x in enumerate(a))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch.shape == (3, 1, 32, 32)


def test_nvidia_dilation_kernel_size(tmp_path):
    arr = np.zeros((64, 64), np.uint8)
    arr[31, 29] = 255
    write_png(tmp_path / "train" / "dot.png", arr)
    # a dilation range given at a reference size is scaled: (18, 18) at reference 128 → 9 px at 64 px
    ds = NvidiaMasks(tmp_path, size=64, dilation=(18, 18), reference_size=128, rotation=0,
                     crop_scale=(1, 1))
    hole = ds[0][0].numpy() > 0
    t, b, l, r = bbox(hole)
    assert (b - t, r - l) == (9, 9) and (t + b - 1) / 2 == 31 and (l + r - 1) / 2 == 29
    assert hole[31, 25:34].all() and hole[27:36, 29].all()


def test_nvidia_masks_errors_name_folder_and_file(tmp_path, nvidia_root):
    with pytest.raises(FileNotFoundError, match="train"):
        NvidiaMasks(tmp_path / "missing")
    (tmp_path / "empty" / "test").mkdir(parents=True)
    with pytest.raises(ValueError, match="no PNG mask files.*empty"):
        NvidiaMasks(tmp_path / "empty", split="test")
    with pytest.raises(ValueError, match="split"):
        NvidiaMasks(nvidia_root, split="val")
    (nvidia_root / "test" / "c_broken.png").write_bytes(b"\x89PNG garbage")
    ds = NvidiaMasks(nvidia_root, size=32, split="test")
    with pytest.raises(ValueError, match="c_broken.png"):
        ds[2]
    with pytest.raises(IndexError):
        ds[3]


# ---------------------------------------------------------------- fixed mask sets


def test_fixed_mask_set_in_memory():
    fs = fixed_mask_set("dense_points", 4, 32, seed=1)
    assert isinstance(fs, FixedMaskSet) and len(fs) == 12
    assert fs.masks.shape == (12, 1, 32, 32)
    assert_binary(fs.masks)
    assert fs.buckets == CTSDG_BUCKETS
    assert fs.bucket_ids.dtype == torch.long
    assert fs.bucket_ids.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(fs.ratios, hole_ratio(fs.masks))
    assert torch.equal(bucket_indices(fs.ratios, CTSDG_BUCKETS), fs.bucket_ids)  # inside its bucket
    hole, b = fs[5]
    assert torch.equal(hole, fs.masks[5]) and b == 1
    assert torch.equal(fixed_mask_set("dense_points", 4, 32, seed=1).masks, fs.masks)
    assert not torch.equal(fixed_mask_set("dense_points", 4, 32, seed=2).masks, fs.masks)


def test_fixed_mask_set_pconv_buckets_with_rectangles():
    fs = fixed_mask_set("rectangle", 3, 32, buckets=PCONV_BUCKETS, seed=0)
    assert len(fs) == 18
    assert torch.equal(bucket_indices(fs.ratios, PCONV_BUCKETS), fs.bucket_ids)


def test_fixed_mask_set_written_then_read_back(tmp_path, monkeypatch):
    root = tmp_path / "eval"
    first = fixed_mask_set("free_form", 3, 32, seed=4, root=root)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["kind"] == "free_form" and manifest["size"] == [32, 32]
    assert manifest["seed"] == 4 and manifest["buckets"] == [list(b) for b in CTSDG_BUCKETS]
    assert manifest["ratios"] == [float(r) for r in first.ratios]
    assert (root / "0-20pct" / "00000.png").is_file()
    assert (root / "40-60pct" / "00008.png").is_file()
    with Image.open(root / "20-40pct" / "00003.png") as img:  # white = hole on disk
        assert np.array_equal(np.asarray(img) == 255, first.masks[3, 0].numpy() == 1)

    def no_generation(*args, **kwargs):
        raise AssertionError("the second call must read the files, not generate")

    monkeypatch.setattr(M, "generate", no_generation)
    second = fixed_mask_set("free_form", 3, 32, seed=4, root=root)
    assert torch.equal(second.masks, first.masks)
    assert torch.equal(second.bucket_ids, first.bucket_ids)
    assert torch.equal(second.ratios, first.ratios)
    with pytest.raises(ValueError, match="seed=4.*Delete the folder or choose another root"):
        fixed_mask_set("free_form", 3, 32, seed=5, root=root)
    with pytest.raises(ValueError, match="kind"):
        fixed_mask_set("dense_points", 3, 32, seed=4, root=root)


def test_fixed_mask_set_detects_a_changed_file(tmp_path):
    root = tmp_path / "eval"
    fs = fixed_mask_set("dense_points", 2, 32, seed=0, root=root)
    save_mask(1 - fs.masks[1], root / "0-20pct" / "00001.png")
    with pytest.raises(ValueError, match="00001.png"):
        fixed_mask_set("dense_points", 2, 32, seed=0, root=root)


def test_fixed_mask_set_errors():
    with pytest.raises(ValueError, match="n"):
        fixed_mask_set("free_form", 0, 32)
    with pytest.raises(ValueError, match="unknown mask kind"):
        fixed_mask_set("nvidia", 2, 32)


# ------------------------------------------------------------ property tests


def _some_rectangle_fits(h, w, ratio):
    """Brute force: is there a box (bh ≤ h, bw ≤ w) whose area ratio lies in the range?"""
    areas = np.outer(np.arange(1, h + 1), np.arange(1, w + 1)).astype(np.float32) / np.float32(h * w)
    return bool(np.any((areas >= np.float32(ratio[0])) & (areas <= np.float32(ratio[1]))))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    h=st.integers(8, 72),
    w=st.integers(8, 72),
    seed=st.integers(0, 2**32 - 1),
    lo=st.floats(0.0, 0.7),
    width=st.floats(0.05, 0.4),
)
@example(kind="rectangle", h=8, w=8, seed=0, lo=0.671875, width=0.0625)  # no 8×8 box has 43–47 px
def test_property_binary_shape_ratio(kind, h, w, seed, lo, width):
    ratio = (lo, min(1.0, lo + width))
    if kind == "rectangle" and not _some_rectangle_fits(h, w, ratio):
        # On tiny images some ranges contain no h×w product: a clear error, not a wrong mask.
        with pytest.raises(ValueError, match="no rectangle"):
            generate(kind, (h, w), ratio=ratio, seed=seed)
        return
    hole = generate(kind, (h, w), ratio=ratio, seed=seed)
    assert tuple(hole.shape) == (1, h, w)
    assert_binary(hole)
    r = float(hole_ratio(hole))
    assert ratio[0] <= r <= ratio[1] and r > 0
    assert math.isclose(r, np_ratio(hole), rel_tol=1e-6)
    assert torch.equal(hole, generate(kind, (h, w), ratio=ratio, seed=seed))


@settings(max_examples=40, deadline=None)
@given(size=st.integers(16, 96), seed=st.integers(0, 10_000))
def test_property_rectangle_without_ratio(size, seed):
    hole = generate("rectangle", size, seed=seed)[0].numpy() > 0
    t, b, l, r = bbox(hole)
    box, half_delta = size // 2, round(32 * size / 256) // 2
    assert hole.sum() == (b - t) * (r - l)
    assert box - 2 * half_delta <= b - t <= box and box - 2 * half_delta <= r - l <= box
