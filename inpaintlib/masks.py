"""Hole masks: generators, mask files, the NVIDIA irregular-mask folders, evaluation sets.

Taught in the intro chapter ("What is inpainting?"); each method chapter uses the
mask family of its paper:

* ``"free_form"`` brush strokes (DeepFill v2 / mmagic style) for the partial-convolution
  and ID-MRF chapters;
* ``"rectangle"`` boxes (GMCNN's TensorFlow recipe) for the ID-MRF chapter;
* ``"dense_points"`` many small point-shaped holes (CLmser) for the Lmser chapter;
* :class:`NvidiaMasks`, the NVIDIA irregular mask dataset (partial convolution, CTSDG);
* hole-ratio buckets (:data:`CTSDG_BUCKETS`, :data:`PCONV_BUCKETS`) and
  :func:`fixed_mask_set` for the benchmark chapter.

Conventions (see :mod:`inpaintlib.tensors`): a mask is called ``hole``, a float tensor of
0s and 1s with **1 = missing pixel**. :func:`generate` returns one mask of shape
``1×H×W`` (stack several with ``torch.stack`` to get ``B×1×H×W``). On disk a mask is an
8-bit grayscale PNG with **white (255) = hole**.

Randomness comes from :func:`numpy.random.default_rng`: the same ``seed`` gives the same
mask (on the same NumPy version; :func:`fixed_mask_set` can write its masks to
disk so an evaluation set never changes).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .tensors import validate_hole

__all__ = [
    "MaskFolder",
    "KINDS",
    "DEFAULT_RATIO",
    "MAX_FILL",
    "CTSDG_BUCKETS",
    "PCONV_BUCKETS",
    "generate",
    "hole_ratio",
    "bucket_index",
    "bucket_indices",
    "bucket_label",
    "save_mask",
    "load_mask",
    "NvidiaMasks",
    "FixedMaskSet",
    "fixed_mask_set",
]

SizeLike = Union[int, Sequence[int]]
SeedLike = Union[int, None, np.random.Generator]

#: The mask families :func:`generate` knows.
KINDS = ("free_form", "rectangle", "dense_points")

#: Hole-ratio range used when :func:`generate` is called with ``ratio=None``.
#: ``"rectangle"`` has none: without a ratio it follows GMCNN's fixed-box recipe.
DEFAULT_RATIO = {"free_form": (0.1, 0.6), "dense_points": (0.1, 0.5)}

#: Largest lower bound of a ``ratio`` range that the stroke and point generators accept.
#: Past it the masks stop looking like strokes or points (the image is mostly hole) and
#: covering the last free pixels with random shapes gets slow.
MAX_FILL = 0.8

#: CTSDG reports PSNR/SSIM for hole ratios 0–20 %, 20–40 %, 40–60 % (NVIDIA test masks).
CTSDG_BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))

#: The NVIDIA irregular-mask test set (partial convolution paper) is split into these
#: six hole-ratio buckets of 2,000 masks each.
PCONV_BUCKETS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))

_REFERENCE = 256  # image size at which the default stroke/point/box sizes are given
_MAX_STEPS = 200_000  # safety net for the drawing loops (never reached in practice)


# --------------------------------------------------------------------------- helpers


def _parse_size(size: SizeLike, name: str = "size") -> tuple[int, int]:
    """``int`` or ``(H, W)`` → ``(H, W)`` of positive Python ints."""

    def ok(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1

    if ok(size):
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(ok(v) for v in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"{name} must be a positive int or a pair (H, W) of positive ints, got {size!r}")


def _rng(seed: SeedLike) -> np.random.Generator:
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(f"seed must be a non-negative int, None or a numpy Generator, got {seed!r}")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return int(seed)
    raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _range(value: Any, name: str, *, minimum: float = 0.0, strict: bool = False,
           integer: bool = False) -> tuple[float, float]:
    """A ``(lo, hi)`` pair (or one number meaning ``(v, v)``) with ``minimum ≤ lo ≤ hi``."""
    if _is_real(value):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_real(v) for v in value)):
        raise ValueError(f"{name} must be a number or a pair (lo, hi) of numbers, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if integer and (lo != int(lo) or hi != int(hi)):
        raise ValueError(f"{name} must hold whole numbers, got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} must have lo ≤ hi, got {value!r}")
    if lo < minimum or (strict and lo <= minimum):
        sign = ">" if strict else "≥"
        raise ValueError(f"{name} values must be {sign} {minimum:g}, got {value!r}")
    return lo, hi


def _int_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int (both dimensions) or a pair of ints, each ≥ ``minimum``."""
    vals = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(vals) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in vals
    ):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(vals) < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value!r}")
    return int(vals[0]), int(vals[1])


def _check_ratio(ratio: Any) -> tuple[float, float]:
    if not (isinstance(ratio, (tuple, list)) and len(ratio) == 2 and all(_is_real(v) for v in ratio)):
        raise ValueError(f"ratio must be a pair (lo, hi) of hole fractions, got {ratio!r}")
    lo, hi = float(ratio[0]), float(ratio[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi <= 1.0):
        raise ValueError(f"ratio must satisfy 0 ≤ lo < hi ≤ 1, got {ratio!r}")
    return lo, hi


def _f32_ratio(counts: np.ndarray, n: int) -> np.ndarray:
    """Hole ratio exactly as :func:`hole_ratio` computes it (float32 ``count / n``)."""
    return (np.asarray(counts, dtype=np.float32) / np.float32(n)).astype(np.float64)


def _count_bounds(lo: float, hi: float, n: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Smallest and largest hole-pixel counts ``c ≥ 1`` whose ratio lies in ``[lo, hi]``.

    The ratio is float32 ``c / n`` (monotone in ``c``), so only a few counts around
    ``lo·n`` and ``hi·n`` need checking.
    """
    def near(x: float) -> np.ndarray:
        return np.arange(max(1, math.floor(x * n) - 2), min(n, math.ceil(x * n) + 2) + 1)

    low, high = near(lo), near(hi)
    low = low[_f32_ratio(low, n) >= lo]
    high = high[_f32_ratio(high, n) <= hi]
    if low.size == 0 or high.size == 0 or low[0] > high[-1]:
        raise ValueError(
            f"ratio range ({lo:g}, {hi:g}) contains no achievable hole-pixel count for a "
            f"{shape[0]}×{shape[1]} mask (at least one hole pixel); widen the range"
        )
    return int(low[0]), int(high[-1])


def _to_tensor(canvas: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((canvas > 0).astype(np.float32))[None]


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


# ----------------------------------------------------------------------- free-form


def _free_form_params(h: int, w: int, vertices=(4, 10), max_angle=6.0, length=None,
                      brush_width=None) -> dict:
    s = min(h, w) / _REFERENCE
    v = _range(vertices, "vertices", minimum=2, integer=True)
    if not _is_real(max_angle) or not (0 <= float(max_angle) < math.inf):
        raise ValueError(f"max_angle must be a finite number ≥ 0 (radians), got {max_angle!r}")
    ln = _range((20 * s, 128 * s) if length is None else length, "length", minimum=0)
    bw = _range((max(1.0, 10 * s), max(1.0, 45 * s)) if brush_width is None else brush_width,
                "brush_width", minimum=1)
    return {"vertices": (int(v[0]), int(v[1])), "max_angle": float(max_angle), "length": ln,
            "brush_width": bw}


def _capsule(h: int, w: int, x0: float, y0: float, x1: float, y1: float, radius: float
             ) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels whose centres lie within ``radius`` of the segment ``(x0,y0)–(x1,y1)``.

    Returns the bounding-box slices and a boolean array over that box (vectorised; a
    brush stroke segment with round caps, so consecutive segments meet in round joints).
    """
    r = max(radius, 0.5)
    top, bottom = max(0, int(math.floor(min(y0, y1) - r))), min(h, int(math.ceil(max(y0, y1) + r)) + 1)
    left, right = max(0, int(math.floor(min(x0, x1) - r))), min(w, int(math.ceil(max(x0, x1) + r)) + 1)
    ys = np.arange(top, bottom, dtype=np.float32)[:, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :]
    dx, dy = x1 - x0, y1 - y0
    norm = dx * dx + dy * dy
    if norm > 0:
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / norm, 0.0, 1.0)
    else:
        t = np.zeros((1, 1), np.float32)
    ex, ey = xs - (x0 + t * dx), ys - (y0 + t * dy)
    inside = ex * ex + ey * ey <= r * r
    return (slice(top, bottom), slice(left, right)), inside


def _draw_free_form(rng: np.random.Generator, h: int, w: int, c_lo: int, c_hi: int, p: dict
                    ) -> np.ndarray:
    """Add brush strokes until the hole count reaches a target drawn in ``[c_lo, c_hi]``.

    Each stroke is a polyline: a random start, a random first heading, then
    ``vertices − 1`` segments, each turning by up to ``±max_angle`` radians and of random
    length, painted with one round brush of diameter ``brush_width`` (:func:`_capsule`).
    Vertices are clipped to the image so a stroke never walks off it. The stroke in
    progress stops as soon as the target is reached (trimming); a segment that would
    overshoot ``c_hi`` is dropped and the brush and lengths shrink by half for the next
    strokes.
    """
    canvas = np.zeros((h, w), bool)
    target = int(rng.integers(c_lo, c_hi + 1))
    count, shrink, steps = 0, 1.0, 0
    while True:
        n_vert = int(rng.integers(p["vertices"][0], p["vertices"][1] + 1))
        radius = max(1.0, rng.uniform(*p["brush_width"]) * shrink) / 2
        x, y = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        heading = rng.uniform(0, 2 * math.pi)
        for k in range(n_vert - 1):
            steps += 1
            if steps > _MAX_STEPS:  # pragma: no cover - safety net
                raise RuntimeError("free-form generator did not reach the requested hole ratio")
            if k:
                heading += rng.uniform(-p["max_angle"], p["max_angle"])
            length = rng.uniform(*p["length"]) * shrink
            nx = min(max(x + length * math.cos(heading), 0.0), w - 1.0)
            ny = min(max(y + length * math.sin(heading), 0.0), h - 1.0)
            box, inside = _capsule(h, w, x, y, nx, ny, radius)
            sub = canvas[box]
            c = count + int(np.count_nonzero(inside & ~sub))
            if c > c_hi:  # overshoot: drop the segment, shrink, start a new stroke
                shrink *= 0.5
                break
            sub |= inside
            count, x, y = c, nx, ny
            if count >= target:
                return canvas.astype(np.uint8)


# --------------------------------------------------------------------- dense points


def _dense_points_params(h: int, w: int, radius=None, roundness=(0.5, 1.0)) -> dict:
    s = min(h, w) / _REFERENCE
    r = _range((max(0.5, 2 * s), max(0.5, 8 * s)) if radius is None else radius, "radius",
               minimum=0.5)
    rd = _range(roundness, "roundness", minimum=0, strict=True)
    if rd[1] > 1:
        raise ValueError(f"roundness (minor/major axis ratio) must be ≤ 1, got {roundness!r}")
    return {"radius": r, "roundness": rd}


def _stamp_ellipses(h: int, w: int, cx: np.ndarray, cy: np.ndarray, ra: np.ndarray,
                    rb: np.ndarray, ang: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels covered by filled ellipses, vectorised: ``(flat_index, ellipse_id)`` pairs
    sorted by ellipse id.

    Each ellipse is tested on a ``(2R+1)²`` window of offsets around its nearest pixel
    (``R`` = the largest semi-axis, rounded up); the nearest pixel always counts, so a
    tiny ellipse is still a one-pixel dot.
    """
    r = int(math.ceil(float(ra.max()))) if ra.size else 0
    off = np.arange(-r, r + 1, dtype=np.float32)
    dy, dx = np.meshgrid(off, off, indexing="ij")
    dy, dx = dy.ravel()[None], dx.ravel()[None]
    px = np.rint(cx).astype(np.float32)[:, None] + dx  # k × window
    py = np.rint(cy).astype(np.float32)[:, None] + dy
    vx = px - cx.astype(np.float32)[:, None]
    vy = py - cy.astype(np.float32)[:, None]
    c = np.cos(ang).astype(np.float32)[:, None]
    s = np.sin(ang).astype(np.float32)[:, None]
    u = (vx * c + vy * s) / ra.astype(np.float32)[:, None]
    v = (vy * c - vx * s) / rb.astype(np.float32)[:, None]
    inside = (u * u + v * v <= 1.0) | ((dx == 0) & (dy == 0))
    inside &= (px >= 0) & (px < w) & (py >= 0) & (py < h)
    ids, _ = np.nonzero(inside)
    flat = py[inside].astype(np.int64) * w + px[inside].astype(np.int64)
    return flat, ids


def _draw_dense_points(rng: np.random.Generator, h: int, w: int, c_lo: int, c_hi: int, p: dict
                       ) -> np.ndarray:
    """Scatter small filled ellipses (random radius, roundness and angle) until the hole
    count reaches a target drawn in ``[c_lo, c_hi]``.

    Points come in batches sized from the expected coverage and are rasterised in one
    vectorised step (:func:`_stamp_ellipses`). Points are taken in order and the batch is
    cut right after the point that reaches the target (trimming); if that very point would
    overshoot ``c_hi`` it is dropped and later points get smaller radii. Centres are
    continuous, so even one-pixel dots land anywhere.
    """
    n = h * w
    canvas = np.zeros(n, bool)
    target = int(rng.integers(c_lo, c_hi + 1))
    r_lo, r_hi = p["radius"]
    q_lo, q_hi = p["roundness"]
    count, shrink, steps = 0, 1.0, 0
    while count < target:
        steps += 1
        if steps > _MAX_STEPS:  # pragma: no cover - safety net
            raise RuntimeError("dense-points generator did not reach the requested hole ratio")
        mean_area = max(1.0, math.pi * ((r_lo + r_hi) / 2 * shrink) ** 2 * (q_lo + q_hi) / 2)
        free_now, free_then = max(1, n - count), max(1, n - target)
        k = int(1.25 * n * math.log(free_now / free_then) / mean_area) + 4
        cx = rng.uniform(-0.5, w - 0.5, k)
        cy = rng.uniform(-0.5, h - 0.5, k)
        ra = rng.uniform(r_lo, r_hi, k) * shrink
        rb = ra * rng.uniform(q_lo, q_hi, k)
        ang = rng.uniform(0, math.pi, k)
        flat, ids = _stamp_ellipses(h, w, cx, cy, ra, rb, ang)
        fresh = ~canvas[flat]
        flat, ids = flat[fresh], ids[fresh]
        _, first = np.unique(flat, return_index=True)  # earliest point covering each pixel
        cum = count + np.cumsum(np.bincount(ids[first], minlength=k))
        j = int(np.searchsorted(cum, target))  # first point reaching the target
        if j == k:
            keep = k - 1
        elif cum[j] <= c_hi:
            keep = j
        else:  # that point alone jumps past c_hi: stop before it, use smaller points
            keep = j - 1
            shrink *= 0.7
        if keep >= 0:
            canvas[flat[ids <= keep]] = True
            count = int(cum[keep])
    return canvas.reshape(h, w).astype(np.uint8)


# ------------------------------------------------------------------------ rectangle


def _rectangle_params(h: int, w: int, box_size=None, margin=0, max_delta=None,
                      aspect=(0.75, 4 / 3)) -> dict:
    m = _int_pair(margin, "margin", 0)
    if 2 * m[0] >= h or 2 * m[1] >= w:
        raise ValueError(f"margin {margin!r} leaves no room inside a {h}×{w} image")
    box = None if box_size is None else _int_pair(box_size, "box_size", 1)
    if box is not None and (box[0] > h - 2 * m[0] or box[1] > w - 2 * m[1]):
        raise ValueError(
            f"box_size {box} does not fit inside a {h}×{w} image with margin {m}"
        )
    if max_delta is None:
        delta = (int(round(32 * h / _REFERENCE)), int(round(32 * w / _REFERENCE)))
    else:
        delta = _int_pair(max_delta, "max_delta", 0)
    if box is None and (h < 2 or w < 2):
        raise ValueError(f"a {h}×{w} image is too small for the default box (half the image)")
    b = box or (h // 2, w // 2)
    if b[0] - 2 * (delta[0] // 2) < 1 or b[1] - 2 * (delta[1] // 2) < 1:
        raise ValueError(f"max_delta {delta} would shrink the {b} box to nothing")
    asp = _range(aspect, "aspect", minimum=0, strict=True)
    return {"box_size": box, "margin": m, "max_delta": delta, "aspect": asp}


def _draw_rectangle(rng: np.random.Generator, h: int, w: int, bounds: Optional[tuple[int, int]],
                    p: dict) -> np.ndarray:
    """GMCNN's box, or (with a ratio and no ``box_size``) a box sized to the ratio."""
    (mh, mw), canvas = p["margin"], np.zeros((h, w), np.uint8)
    if bounds is None or p["box_size"] is not None:
        bh, bw = p["box_size"] or (h // 2, w // 2)
        dmax_h, dmax_w = p["max_delta"][0] // 2, p["max_delta"][1] // 2
        if bounds is None:
            dh, dw = int(rng.integers(0, dmax_h + 1)), int(rng.integers(0, dmax_w + 1))
        else:  # uniform over the shrink pairs whose area lands in the requested range
            gh, gw = np.meshgrid(np.arange(dmax_h + 1), np.arange(dmax_w + 1), indexing="ij")
            area = (bh - 2 * gh) * (bw - 2 * gw)
            ok = np.flatnonzero(((area >= bounds[0]) & (area <= bounds[1])).ravel())
            if ok.size == 0:
                lo_r, hi_r = _f32_ratio([area.min(), area.max()], h * w)
                raise ValueError(
                    f"a rectangle with box_size ({bh}, {bw}) and max_delta {p['max_delta']} "
                    f"covers {lo_r:.4g}–{hi_r:.4g} of a {h}×{w} image, which misses the "
                    f"requested ratio; leave box_size unset to size the box from the ratio"
                )
            pick = int(ok[rng.integers(0, ok.size)])
            dh, dw = int(gh.ravel()[pick]), int(gw.ravel()[pick])
        top = int(rng.integers(mh, h - mh - bh + 1))
        left = int(rng.integers(mw, w - mw - bw + 1))
        canvas[top + dh:top + bh - dh, left + dw:left + bw - dw] = 255
        return canvas

    # Box sized from the ratio: target area t, aspect a (hole h/w relative to the image's).
    c_lo, c_hi = bounds
    hmax, wmax = h - 2 * mh, w - 2 * mw
    t = float(rng.uniform(c_lo, c_hi))
    a = math.exp(rng.uniform(math.log(p["aspect"][0]), math.log(p["aspect"][1])))
    want_h = math.sqrt(t * a * h / w)
    hs = np.arange(1, hmax + 1)
    w_lo = np.maximum(1, -(-c_lo // hs))
    w_hi = np.minimum(wmax, c_hi // hs)
    feasible = w_lo <= w_hi
    # (feasibility was checked by generate(); this is the nearest feasible height)
    cand = hs[feasible]
    bh = int(cand[np.argmin(np.abs(cand - want_h))])
    bw = int(np.clip(round(t / bh), w_lo[bh - 1], w_hi[bh - 1]))
    top = int(rng.integers(mh, h - mh - bh + 1))
    left = int(rng.integers(mw, w - mw - bw + 1))
    canvas[top:top + bh, left:left + bw] = 255
    return canvas


def _rectangle_feasible(h: int, w: int, c_lo: int, c_hi: int, p: dict) -> None:
    if p["box_size"] is not None:
        return  # checked while drawing (needs the shrink grid)
    hmax, wmax = h - 2 * p["margin"][0], w - 2 * p["margin"][1]
    hs = np.arange(1, hmax + 1)
    if not np.any(np.maximum(1, -(-c_lo // hs)) <= np.minimum(wmax, c_hi // hs)):
        raise ValueError(
            f"no rectangle inside a {h}×{w} image with margin {p['margin']} has an area of "
            f"{c_lo}–{c_hi} pixels (the requested ratio): at most {hmax}×{wmax} fits and no "
            f"height × width product lands in that range"
        )


_PARAMS = {
    "free_form": _free_form_params,
    "dense_points": _dense_points_params,
    "rectangle": _rectangle_params,
}


# ------------------------------------------------------------------------- generate


def generate(kind: str, size: SizeLike, ratio: Optional[Sequence[float]] = None,
             seed: SeedLike = None, **params) -> torch.Tensor:
    """Draw one random hole mask: a float32 tensor ``1×H×W`` of 0s and 1s (1 = hole).

    Args:
        kind: ``"free_form"``, ``"rectangle"`` or ``"dense_points"`` (see below).
        size: ``H`` (square) or ``(H, W)``.
        ratio: ``(lo, hi)``, the hole fraction the mask must have, ``0 ≤ lo < hi ≤ 1``.
            The result always satisfies ``lo ≤ hole_ratio(mask) ≤ hi`` (the ratio is
            measured as :func:`hole_ratio` does) and has at least one hole pixel; inside
            the range the generator aims at a target drawn uniformly from it. ``None``
            uses :data:`DEFAULT_RATIO` for strokes and points and GMCNN's fixed box for
            rectangles. Impossible requests raise :class:`ValueError`: a range holding no
            whole pixel count, ``lo > MAX_FILL`` for strokes/points, or a range no
            rectangle can cover.
        seed: int (same seed → identical mask), ``None`` (fresh randomness) or a
            :class:`numpy.random.Generator` (advanced by the call).
        **params: the kind's own settings (all sizes in pixels; defaults are given for a
            256-px image and scaled by ``min(H, W) / 256``). An unknown name raises
            :class:`TypeError`.

    ``"free_form"`` — brush strokes like DeepFill v2 / mmagic's irregular masks.
    Strokes are added one by one until the ratio target is reached.

    * ``vertices=(4, 10)``: vertices per stroke (inclusive), i.e. 3–9 segments;
    * ``max_angle=6.0``: each segment turns from the previous heading by a uniform angle
      in ``±max_angle`` radians (6.0, mmagic's value, makes strokes zig-zag freely;
      smaller values give smoother strokes);
    * ``length=(20, 128)``: segment length in pixels at 256 px;
    * ``brush_width=(10, 45)``: brush diameter in pixels at 256 px (at least 1): a pixel
      is painted when its centre lies within ``brush_width / 2`` of the stroke's path.

    ``"rectangle"`` — GMCNN's TensorFlow box (methods.md §4.4).

    * ``box_size``: box height and width (int or ``(h, w)``); default half the image
      (128 at 256 px);
    * ``margin=0``: the box lies at a uniformly random position at least ``margin``
      pixels from every border (int or ``(top/bottom, left/right)``);
    * ``max_delta``: default 32 at 256 px (scaled per dimension). Each dimension draws
      ``d`` uniformly from ``0..max_delta//2`` and loses ``d`` pixels at *both* ends, as
      in GMCNN's ``bbox2mask``: hole sides lie in ``[box − 2·(max_delta//2), box]``,
      i.e. 96–128 px at 256 px;
    * with ``ratio`` and an explicit ``box_size``, the shrink ``(d_h, d_w)`` is drawn
      uniformly among those that land in the range (ValueError if none does);
    * with ``ratio`` and no ``box_size``, the box is sized from the ratio instead: a
      target area drawn from the range and a hole aspect ``(h/H)/(w/W)`` drawn
      log-uniformly from ``aspect=(0.75, 4/3)`` (GMCNN's 96–128 px spread). Any range
      reaching up to ``(H − 2·margin)(W − 2·margin)`` pixels is supported.

    ``"dense_points"`` — CLmser's "irregularly and densely distributed point-shaped"
    holes: many small filled ellipses at uniformly random places. The CLmser code ships
    no generator and the paper gives no recipe (density, sizes), so these defaults are
    this library's choice.

    * ``radius=(2, 8)``: major semi-axis in pixels at 256 px (at least 0.5, one pixel);
    * ``roundness=(0.5, 1.0)``: minor/major axis ratio; the angle is uniform.

    Returns:
        ``torch.float32`` tensor ``1×H×W`` on the CPU.

    Strokes and points are rasterised with vectorised NumPy (one array expression per
    stroke segment or batch of points, no per-pixel Python). Typical cost on one CPU
    core: ≈1 ms for 64 px, ≈2–15 ms for 256 px.
    """
    if not isinstance(kind, str) or kind not in KINDS:
        hint = " ('nvidia' masks come from the NvidiaMasks dataset)" if kind == "nvidia" else ""
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {', '.join(KINDS)}{hint}")
    h, w = _parse_size(size)
    factory = _PARAMS[kind]
    known = factory.__code__.co_varnames[2:factory.__code__.co_argcount]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {', '.join(unknown)} for mask kind {kind!r}; "
            f"valid ones: {', '.join(known)}"
        )
    p = factory(h, w, **params)
    n = h * w
    if ratio is None and kind == "rectangle":
        return _to_tensor(_draw_rectangle(_rng(seed), h, w, None, p))
    lo, hi = _check_ratio(DEFAULT_RATIO[kind] if ratio is None else ratio)
    if kind != "rectangle" and lo > MAX_FILL:
        raise ValueError(
            f"{kind} masks support ratio ranges with lo ≤ {MAX_FILL} (got lo = {lo:g}); "
            f"beyond that the image is mostly hole"
        )
    c_lo, c_hi = _count_bounds(lo, hi, n, (h, w))
    if kind == "rectangle":
        _rectangle_feasible(h, w, c_lo, c_hi, p)
    rng = _rng(seed)
    if kind == "free_form":
        canvas = _draw_free_form(rng, h, w, c_lo, c_hi, p)
    elif kind == "dense_points":
        canvas = _draw_dense_points(rng, h, w, c_lo, c_hi, p)
    else:
        canvas = _draw_rectangle(rng, h, w, (c_lo, c_hi), p)
    return _to_tensor(canvas)


# ----------------------------------------------------------------- ratio & buckets


def hole_ratio(hole: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels: shape ``(B,)`` for ``B×1×H×W``, a 0-dim tensor for ``1×H×W``.

    Computed as ``count / (H·W)`` in the mask's floating dtype (float32 for generated
    masks), so bucket edges compare exactly (see :func:`bucket_indices`). The mask must be
    binary; anything else raises :class:`ValueError`.
    """
    if isinstance(hole, torch.Tensor) and hole.dim() == 3:
        validate_hole(hole.unsqueeze(0))
        return hole.sum(dim=(-3, -2, -1)) / hole[0].numel()
    validate_hole(hole)
    return hole.sum(dim=(1, 2, 3)) / hole[0, 0].numel()


def _check_buckets(buckets: Iterable[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    try:
        out = tuple((float(lo), float(hi)) for lo, hi in buckets)
    except (TypeError, ValueError):
        raise ValueError(f"buckets must be a sequence of (lo, hi) pairs, got {buckets!r}") from None
    if not out:
        raise ValueError("buckets must not be empty")
    for lo, hi in out:
        if not (0.0 <= lo < hi <= 1.0):
            raise ValueError(f"bucket ({lo:g}, {hi:g}) must satisfy 0 ≤ lo < hi ≤ 1")
    for (_, hi_a), (lo_b, _) in zip(out, out[1:]):
        if lo_b < hi_a:
            raise ValueError(f"buckets must be sorted and must not overlap, got {out}")
    return out


def bucket_indices(ratios: torch.Tensor, buckets: Sequence[Sequence[float]] = CTSDG_BUCKETS
                   ) -> torch.Tensor:
    """Vectorised :func:`bucket_index`: a LongTensor of ``ratios``' shape (−1 = no bucket).

    Convention: a bucket ``(lo, hi)`` holds ratios ``lo < r ≤ hi`` — the NVIDIA/PConv
    convention ``(0.1, 0.2]`` — except that a bucket starting at 0 also holds 0
    (CTSDG's 0–20 % is ``[0, 0.2]``). So a ratio of exactly 0.2 belongs to ``(0, 0.2]``,
    not to ``(0.2, 0.4]``; with :data:`PCONV_BUCKETS` a ratio of 0.01 or less is in no
    bucket. Edges are compared in the ratios' own dtype, so a float32 ratio of ``20/100``
    counts as exactly 0.2.
    """
    b = _check_buckets(buckets)
    if not isinstance(ratios, torch.Tensor):
        ratios = torch.as_tensor(ratios, dtype=torch.float64)
    if not ratios.is_floating_point():
        ratios = ratios.to(torch.float64)
    if ratios.numel() and not bool(torch.isfinite(ratios).all()):
        raise ValueError("ratios contain NaN or Inf")
    lo = torch.tensor([x[0] for x in b], dtype=ratios.dtype, device=ratios.device)
    hi = torch.tensor([x[1] for x in b], dtype=ratios.dtype, device=ratios.device)
    r = ratios.unsqueeze(-1)
    inside = ((r > lo) | ((lo == 0) & (r == 0))) & (r <= hi)
    idx = torch.arange(len(b), device=ratios.device).expand_as(inside)
    return torch.where(inside.any(-1), torch.where(inside, idx, 0).sum(-1),
                       torch.full_like(ratios, -1, dtype=torch.long))


def bucket_index(ratio: Union[float, torch.Tensor], buckets: Sequence[Sequence[float]] = CTSDG_BUCKETS
                 ) -> int:
    """Index of the bucket holding one hole ratio, or −1 if it is in none.

    See :func:`bucket_indices` for the edge convention (``(lo, hi]``, and 0 belongs to a
    bucket starting at 0). A Python float is compared in float64, a tensor in its dtype.
    """
    if isinstance(ratio, torch.Tensor):
        if ratio.numel() != 1:
            raise ValueError(f"bucket_index takes one ratio, got shape {tuple(ratio.shape)}; "
                             f"use bucket_indices for many")
        t = ratio.reshape(())
    elif _is_real(ratio):
        t = torch.tensor(float(ratio), dtype=torch.float64)
    else:
        raise ValueError(f"ratio must be a number or a one-element tensor, got {ratio!r}")
    return int(bucket_indices(t, buckets))


def _pct(x: float) -> str:
    return f"{round(x * 100, 6):g}"


def bucket_label(bucket: Sequence[float], ascii: bool = False) -> str:
    """``(0.0, 0.2)`` → ``"0–20%"`` (en dash); with ``ascii=True`` → ``"0-20pct"``
    (used for folder names)."""
    lo, hi = _check_buckets([bucket])[0]
    return f"{_pct(lo)}-{_pct(hi)}pct" if ascii else f"{_pct(lo)}–{_pct(hi)}%"


# ------------------------------------------------------------------------- file IO


def _read_gray(path: Union[str, os.PathLike]) -> np.ndarray:
    """A mask file as an ``H×W`` float32 array in ``[0, 1]``; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mask file not found: {p}")
    try:
        with Image.open(p) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float32) / 65535.0
            elif img.mode == "F":
                arr = np.asarray(img, dtype=np.float32)
            else:
                arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except Exception as e:  # PIL raises several types for broken files
        raise ValueError(f"cannot read mask file {p}: {e}") from e
    if not np.isfinite(arr).all():
        raise ValueError(f"mask file {p} contains NaN or Inf values")
    return np.clip(arr, 0.0, 1.0)


def _check_threshold(threshold: Any) -> float:
    if not _is_real(threshold) or not (0.0 <= float(threshold) < 1.0):
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    return float(threshold)


def save_mask(hole: torch.Tensor, path: Union[str, os.PathLike]) -> Path:
    """Write one mask (``1×H×W`` or ``1×1×H×W``) as an 8-bit grayscale PNG, white (255) = hole.

    Parent folders are created; the file is written atomically (a failed write raises
    :class:`inpaintlib.io.WriteError` naming it). Returns the path written.
    """
    if not isinstance(hole, torch.Tensor):
        raise TypeError(f"hole must be a torch.Tensor, got {type(hole).__name__}")
    if hole.dim() == 3:
        hole = hole.unsqueeze(0)
    validate_hole(hole)
    if hole.shape[0] != 1:
        raise ValueError(f"save_mask writes one mask; got a batch of {hole.shape[0]}")
    from .io import save_image

    arr = (hole[0, 0].detach().cpu().numpy() > 0.5).astype(np.uint8) * 255
    return save_image(Image.fromarray(arr, mode="L"), Path(path), format="PNG")


def load_mask(path: Union[str, os.PathLike], size: Optional[SizeLike] = None,
              threshold: float = 0.5, invert: bool = False) -> torch.Tensor:
    """Read a mask file as a float32 ``1×H×W`` tensor of 0s and 1s (1 = hole).

    Pixels brighter than ``threshold`` (on a 0–1 scale; colour images are converted to
    gray) are holes, i.e. white = hole as :func:`save_mask` writes; ``invert=True`` is for
    files where black marks the hole. ``size`` (int or ``(H, W)``) resizes with nearest
    neighbour after thresholding. A missing file raises :class:`FileNotFoundError`, an
    unreadable one :class:`ValueError`; both name the file.
    """
    thr = _check_threshold(threshold)
    hole = _read_gray(path) > thr
    if invert:
        hole = ~hole
    if size is not None:
        hh, ww = _parse_size(size)
        hole = cv2.resize(hole.astype(np.uint8), (ww, hh), interpolation=cv2.INTER_NEAREST) > 0
    return torch.from_numpy(hole.astype(np.float32))[None]


# --------------------------------------------------------------------- NVIDIA masks


class MaskFolder(Dataset):
    """Every PNG mask under a folder (searched recursively, sorted by path) as a hole mask,
    with the augmentation of the partial-convolution paper on request.

    This is the reader behind ``--masks FOLDER`` of ``inpaintlib train`` and ``eval`` and
    behind :class:`NvidiaMasks` (the NVIDIA irregular masks, one folder per split).

    Polarity: **white = hole** by default (NVIDIA's files and inpaintlib's mask files), so
    a pixel is a hole when its gray value (0–1) is above ``threshold`` (0.6, the value on
    NVIDIA's page). Pass ``invert=True`` for folders where black marks the hole.

    Augmentation (``augment=True``), following the paper's description (Liu et al. 2018,
    §4.1: "random dilation, rotation and cropping"; the paper gives no range for the
    dilation, the first author's project page for the paper, http://masc.cs.gmu.edu/wiki/partialconv,
    asks for "random dilation (5~47 pixels)" of the training masks, which are 512 px), in
    this order on the mask at its file resolution:

    1. dilation of the holes with an elliptical kernel whose size is drawn uniformly from
       ``dilation=(5, 47)`` pixels at ``reference_size=512`` px and scaled to the file's
       size (made odd; 1 = none);
    2. rotation by a uniform angle in ``±rotation`` degrees (default 180: any angle;
       corners that enter from outside are known pixels);
    3. a random square-ish crop (the output's aspect) whose side is a uniform fraction
       ``crop_scale=(0.5, 1.0)`` of the largest that fits, at a uniform position — this
       is the random translation and cropping;
    4. nearest-neighbour resize to ``size``.

    Without augmentation the largest centred crop with the output's aspect is resized
    (nearest) to ``size``.

    ``dataset[i]`` is a float32 ``1×H×W`` binary tensor. Augmentation draws come from
    ``numpy.random.default_rng([seed, epoch, i])``, so the same (seed, epoch, index)
    always gives the same mask, also across DataLoader workers; call :meth:`set_epoch`
    to get fresh augmentations (:class:`~inpaintlib.data.TrainingPairs` does, every step).

    Missing folder → :class:`FileNotFoundError`, empty folder → :class:`ValueError`, both
    naming the folder; a file that cannot be read raises an error naming the file.
    """

    def __init__(self, folder: Union[str, os.PathLike], size: SizeLike = 256, augment: bool = False,
                 threshold: float = 0.6, seed: int = 0, invert: bool = False,
                 dilation: Sequence[float] = (5, 47), rotation: float = 180.0,
                 crop_scale: Sequence[float] = (0.5, 1.0), reference_size: int = 512):
        if not isinstance(augment, bool):
            raise ValueError(f"augment must be True, False or None, got {augment!r}")
        self.folder = Path(folder)
        self.size = _parse_size(size)
        self.augment = augment
        self.threshold = _check_threshold(threshold)
        self.seed = _check_seed(seed)
        self.invert = bool(invert)
        self.dilation = _range(dilation, "dilation", minimum=1)
        if not _is_real(rotation) or not (0 <= float(rotation) <= 180):
            raise ValueError(f"rotation must be a number of degrees in [0, 180], got {rotation!r}")
        self.rotation = float(rotation)
        self.crop_scale = _range(crop_scale, "crop_scale", minimum=0, strict=True)
        if self.crop_scale[1] > 1:
            raise ValueError(f"crop_scale must lie in (0, 1], got {crop_scale!r}")
        self.reference_size = _parse_size(reference_size, "reference_size")[0]
        self.epoch = 0
        if not self.folder.is_dir():
            raise FileNotFoundError(self._missing_message())
        self.paths = sorted(p for p in self.folder.rglob("*")
                            if p.suffix.lower() == ".png" and p.is_file() and not p.name.startswith("."))
        if not self.paths:
            raise ValueError(f"no PNG mask files found in {self.folder}")

    def _missing_message(self) -> str:
        return f"mask folder not found: {self.folder}"

    def describe(self) -> str:
        """One line: where the masks come from, how many, polarity and augmentation."""
        polarity = "black = hole" if self.invert else "white = hole"
        aug = (f"augmented (dilation {self.dilation[0]:g}–{self.dilation[1]:g} px at {self.reference_size} px, "
               f"rotation ±{self.rotation:g}°, crop {self.crop_scale[0]:g}–{self.crop_scale[1]:g})"
               if self.augment else "not augmented (centre crop, nearest resize)")
        return f"{len(self)} PNG masks from {self.folder} ({polarity}, threshold {self.threshold:g}), {aug}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.folder)!r}, {len(self)} masks, augment={self.augment})"

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Use a different (but reproducible) augmentation stream for this epoch."""
        self.epoch = _check_seed(epoch)

    def _crop(self, m: np.ndarray, scale: float, rng: Optional[np.random.Generator]) -> np.ndarray:
        h, w = m.shape
        out_h, out_w = self.size
        fit = min(h / out_h, w / out_w)  # largest crop with the output's aspect
        ch = max(1, min(h, int(round(out_h * fit * scale))))
        cw = max(1, min(w, int(round(out_w * fit * scale))))
        if rng is None:
            top, left = (h - ch) // 2, (w - cw) // 2
        else:
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return m[top:top + ch, left:left + cw]

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} masks")
        index = index % len(self)
        m = (_read_gray(self.paths[index]) > self.threshold)
        if self.invert:
            m = ~m
        m = m.astype(np.uint8)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            h, w = m.shape
            k = rng.uniform(*self.dilation) * min(h, w) / self.reference_size
            k = 2 * int(round(k) // 2) + 1
            if k > 1:
                m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            angle = rng.uniform(-self.rotation, self.rotation)
            if angle:
                rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
                m = cv2.warpAffine(m, rot, (w, h), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            m = self._crop(m, rng.uniform(*self.crop_scale), rng)
        else:
            m = self._crop(m, 1.0, None)
        out_h, out_w = self.size
        if m.shape != (out_h, out_w):
            m = cv2.resize(m, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
        return torch.from_numpy((m > 0).astype(np.float32))[None]


class NvidiaMasks(MaskFolder):
    """The NVIDIA irregular mask dataset (partial-convolution chapter, CTSDG chapter): a
    :class:`MaskFolder` per split.

    Layout: PNG files under ``<root>/train`` and ``<root>/test`` (searched recursively,
    sorted by path); ``data_scripts/nvidia_masks.py`` arranges the downloads this way.
    ``root`` defaults to ``data_root()/"nvidia_masks"``. Augmentation (see
    :class:`MaskFolder`) defaults to on for ``split="train"`` and off for ``"test"``.
    """

    def __init__(self, root: Union[str, os.PathLike, None] = None, size: SizeLike = 256, split: str = "train",
                 augment: Optional[bool] = None, threshold: float = 0.6, seed: int = 0,
                 invert: bool = False, dilation: Sequence[float] = (5, 47),
                 rotation: float = 180.0, crop_scale: Sequence[float] = (0.5, 1.0),
                 reference_size: int = 512):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if augment is None:
            augment = split == "train"
        if root is None:
            from .data.paths import data_root

            root = data_root() / "nvidia_masks"
        self.root = Path(root)
        self.split = split
        super().__init__(self.root / split, size, augment=augment, threshold=threshold, seed=seed, invert=invert,
                         dilation=dilation, rotation=rotation, crop_scale=crop_scale, reference_size=reference_size)

    def _missing_message(self) -> str:
        return (f"NVIDIA mask folder not found: {self.folder} (expected PNG files under <root>/{self.split}; "
                f"run `python data_scripts/prepare.py nvidia_masks` to download and prepare them)")


# ------------------------------------------------------------------ fixed mask sets


class FixedMaskSet(Dataset):
    """A deterministic evaluation set of masks grouped by hole-ratio bucket.

    ``dataset[i]`` is ``(hole, bucket_index)`` with ``hole`` a float32 ``1×H×W`` mask.
    Attributes: ``masks`` (``N×1×H×W`` float32), ``buckets`` (the bucket tuple),
    ``bucket_ids`` (LongTensor ``(N,)``), ``ratios`` (float32 ``(N,)``, from
    :func:`hole_ratio`), ``kind``, ``size``, ``seed``, ``root`` (``None`` if in memory).
    Masks are ordered bucket by bucket.
    """

    def __init__(self, masks: torch.Tensor, bucket_ids: torch.Tensor,
                 buckets: Sequence[Sequence[float]], kind: str, size: tuple[int, int],
                 seed: int, root: Optional[Path] = None, params: Optional[dict] = None):
        validate_hole(masks)
        self.masks = masks
        self.bucket_ids = bucket_ids.to(torch.long)
        self.buckets = _check_buckets(buckets)
        self.ratios = hole_ratio(masks)
        self.kind, self.size, self.seed, self.root = kind, size, seed, root
        self.params = dict(params or {})

    def __len__(self) -> int:
        return self.masks.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.masks[index], int(self.bucket_ids[index])

    def __repr__(self) -> str:
        counts = torch.bincount(self.bucket_ids, minlength=len(self.buckets)).tolist()
        per = ", ".join(f"{bucket_label(b)}: {c}" for b, c in zip(self.buckets, counts))
        return (f"FixedMaskSet(kind={self.kind!r}, size={self.size}, seed={self.seed}, "
                f"{len(self)} masks; {per})")


_MANIFEST = "manifest.json"
_MANIFEST_KEYS = ("kind", "size", "seed", "n_per_bucket", "buckets", "params")


def fixed_mask_set(kind: str, n: int, size: SizeLike, buckets: Sequence[Sequence[float]] = CTSDG_BUCKETS,
                   seed: int = 0, root: Optional[Union[str, os.PathLike]] = None,
                   **params) -> FixedMaskSet:
    """A deterministic evaluation set: ``n`` masks **per bucket**, each inside its bucket.

    Mask ``i`` of bucket ``b`` is ``generate(kind, size, ratio=bucket, seed=rng, **params)``
    with ``rng = numpy.random.default_rng([seed, b, i, attempt])``; ``attempt`` only
    increases in the rare case a mask's ratio sits exactly on the bucket's open lower
    edge (buckets are ``(lo, hi]``, see :func:`bucket_indices`).

    With ``root``, the first call writes ``<root>/<bucket_label(b, ascii=True)>/<i:05d>.png``
    (``i`` = the mask's index in the whole set) and ``<root>/manifest.json`` (kind, size,
    seed, n_per_bucket, buckets, params, files, bucket ids and ratios), the manifest last.
    Later calls read the PNGs back — the same tensors bit for bit — so an evaluation set
    survives library upgrades. A manifest made with other settings raises
    :class:`ValueError` asking to delete the folder or choose another ``root``.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (masks per bucket) must be a positive int, got {n!r}")
    n = int(n)
    b = _check_buckets(buckets)
    hw = _parse_size(size)
    seed = _check_seed(seed)
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose one of {', '.join(KINDS)}")
    want = {"kind": kind, "size": list(hw), "seed": seed, "n_per_bucket": n,
            "buckets": _jsonable(b), "params": _jsonable(params)}
    folder = None if root is None else Path(root)
    if folder is not None and (folder / _MANIFEST).is_file():
        return _read_fixed_set(folder, want, b, params)

    masks, ids = [], []
    for bi, bucket in enumerate(b):
        for i in range(n):
            for attempt in range(1000):
                rng = np.random.default_rng([seed, bi, i, attempt])
                m = generate(kind, hw, ratio=bucket, seed=rng, **params)
                if bucket_index(hole_ratio(m), b) == bi:
                    break
            else:  # pragma: no cover - would need 1000 masks exactly on an edge
                raise RuntimeError(f"could not draw a {kind} mask inside bucket {bucket}")
            masks.append(m)
            ids.append(bi)
    result = FixedMaskSet(torch.stack(masks), torch.tensor(ids, dtype=torch.long), b, kind, hw,
                          seed, folder, params)
    if folder is not None:
        from .io import ensure_folder, write_text

        ensure_folder(folder)  # a folder, not a file: a clear error before any mask is written
        files = []
        for j, (m, bi) in enumerate(zip(result.masks, ids)):
            rel = f"{bucket_label(b[bi], ascii=True)}/{j:05d}.png"
            save_mask(m, folder / rel)
            files.append(rel)
        manifest = dict(want, files=files, bucket_ids=ids,
                        ratios=[float(r) for r in result.ratios])
        write_text(folder / _MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
    return result


def _read_fixed_set(folder: Path, want: dict, b: tuple, params: dict) -> FixedMaskSet:
    path = folder / _MANIFEST
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read mask-set manifest {path}: {e}") from e
    diffs = [f"{k}={got.get(k)!r} (asked {want[k]!r})" for k in _MANIFEST_KEYS
             if got.get(k) != want[k]]
    if diffs:
        raise ValueError(
            f"the fixed mask set in {folder} was made with different settings: "
            f"{'; '.join(diffs)}. Delete the folder or choose another root."
        )
    try:
        files, ids, ratios = got["files"], got["bucket_ids"], got["ratios"]
    except KeyError as e:
        raise ValueError(f"mask-set manifest {path} lacks the entry {e}; delete the folder") from None
    h, w = want["size"]
    masks = torch.stack([load_mask(folder / f) for f in files])
    if masks.shape[-2:] != (h, w):
        raise ValueError(f"mask files in {folder} are {tuple(masks.shape[-2:])}, manifest says {(h, w)}")
    result = FixedMaskSet(masks, torch.tensor(ids, dtype=torch.long), b, want["kind"], (h, w),
                          want["seed"], folder, params)
    changed = (result.ratios != torch.tensor(ratios, dtype=result.ratios.dtype)).nonzero()
    if changed.numel():
        bad = folder / files[int(changed[0, 0])]
        raise ValueError(f"mask file {bad} no longer matches {path}; delete the folder to rebuild it")
    return result
