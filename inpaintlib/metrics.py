"""Image-quality metrics for inpainting and per-bucket result tables.

Taught in the intro chapter ("What is inpainting?"), section *metrics and their blind
spots*: PSNR and L1 reward blurry averages, SSIM looks at local structure, and a
hole-only L1 shows how far the filled region is from the truth without the known
pixels (which a composite copies exactly) diluting the number.

All functions take images ``B×3×H×W`` in ``[0, 1]`` (see :mod:`inpaintlib.tensors`) and
return one value per image, shape ``(B,)``, computed without Python loops over images.
Raw model outputs may overshoot ``[0, 1]`` slightly: clamping them is the caller's job,
the metrics raise a :class:`ValueError` instead of silently fixing the input.

* :func:`psnr` and :func:`ssim` agree with scikit-image's
  ``peak_signal_noise_ratio`` and ``structural_similarity(..., channel_axis=-1,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)``.
* :func:`l1` is the mean absolute error over every pixel and channel;
  :func:`l1_hole` averages over hole pixels only (the MMagic convention).
* :func:`evaluate` computes all four; :func:`bucket_table` averages them per
  hole-ratio bucket, and :func:`concat_tables` stacks several methods' tables.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .masks import CTSDG_BUCKETS, bucket_indices, hole_ratio
from .tensors import validate, validate_image

__all__ = [
    "psnr",
    "ssim",
    "l1",
    "l1_hole",
    "evaluate",
    "hole_ratio",  # re-exported from inpaintlib.masks
    "bucket_table",
    "concat_tables",
    "BucketTable",
    "METRIC_NAMES",
]

#: Keys returned by :func:`evaluate`, in table-column order.
METRIC_NAMES: Tuple[str, ...] = ("psnr", "ssim", "l1", "l1_hole")

Bucket = Tuple[float, float]


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> torch.dtype:
    """Validate ``pred`` and ``target`` and return the dtype to compute in."""
    validate_image(pred, "pred")
    validate_image(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target shapes differ: pred is {tuple(pred.shape)}, "
            f"target is {tuple(target.shape)}"
        )
    if pred.device != target.device:
        raise ValueError(f"pred is on {pred.device} but target is on {target.device}")
    return torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)


def _check_data_range(data_range: float) -> float:
    data_range = float(data_range)
    if not math.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive number, got {data_range}")
    return data_range


# ---------------------------------------------------------------------------
# per-image metrics
# ---------------------------------------------------------------------------
def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB: ``10·log10(data_range² / MSE)``.

    The MSE is taken over all pixels and channels of each image, so the result has
    shape ``(B,)``. Identical images have zero MSE and give ``+inf`` (as scikit-image
    does) — average PSNRs with care, or report the median, when that can happen.

    Note that this is the mean of per-image PSNRs; some papers instead average the MSE
    over a batch before taking the log, which gives a different (lower) number.
    """
    dtype = _check_pair(pred, target)
    data_range = _check_data_range(data_range)
    diff = pred.to(dtype) - target.to(dtype)
    mse = diff.pow(2).flatten(1).mean(dim=1)
    # mse == 0 → log10(inf) = inf, without a division warning.
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_kernel(window: int, sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    """1-D Gaussian of odd length ``window``, normalised to sum 1 (as scipy.ndimage)."""
    radius = window // 2
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).to(device=device, dtype=dtype)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels.

    Local means, variances and the covariance are computed with a ``window``-wide
    Gaussian (standard deviation ``sigma``) applied as two 1-D convolutions, for all
    images and channels at once (a grouped convolution). Variances use the population
    convention (divide by the weight sum, not ``N−1``). Only positions where the whole
    window fits inside the image contribute (a "valid" convolution) — the same pixels
    scikit-image keeps after cropping ``(window−1)/2`` from each border.

    With the defaults this matches ``skimage.metrics.structural_similarity(p, t,
    channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1.0)`` (scikit-image truncates its Gaussian at ``3.5·sigma``, i.e. an
    11-wide kernel for ``sigma=1.5``). Returns shape ``(B,)``; ``ssim(x, x) == 1``.
    Images smaller than ``window`` in either direction raise :class:`ValueError`.
    """
    dtype = _check_pair(pred, target)
    data_range = _check_data_range(data_range)
    if int(window) != window or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    window = int(window)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if k1 < 0 or k2 < 0:
        raise ValueError(f"k1 and k2 must be non-negative, got k1={k1}, k2={k2}")
    b, c, h, w = pred.shape
    if h < window or w < window:
        raise ValueError(
            f"images of size {h}×{w} are smaller than the SSIM window ({window}); "
            f"use a smaller window or larger images"
        )

    x = pred.to(dtype)
    y = target.to(dtype)
    # Five maps per channel, filtered together: x, y, x², y², x·y.
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # B×5C×H×W
    groups = stack.shape[1]
    g = _gaussian_kernel(window, float(sigma), dtype, pred.device)
    kv = g.view(1, 1, window, 1).expand(groups, 1, window, 1)
    kh = g.view(1, 1, 1, window).expand(groups, 1, 1, window)
    filtered = F.conv2d(F.conv2d(stack, kv, groups=groups), kh, groups=groups)
    ux, uy, uxx, uyy, uxy = filtered.split(c, dim=1)

    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s_map.flatten(2).mean(dim=2).mean(dim=1)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image over all pixels and channels, shape ``(B,)``."""
    dtype = _check_pair(pred, target)
    return (pred.to(dtype) - target.to(dtype)).abs().flatten(1).mean(dim=1)


def l1_hole(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the hole pixels only, per image, shape ``(B,)``.

    ``sum(|pred − target| · hole) / (3 · sum(hole))`` — summed over pixels and the three
    channels (the MMagic convention). Errors on known pixels are ignored entirely.

    A sample whose hole is empty has nothing to measure and gets ``NaN`` (not 0, which
    would look like a perfect fill); :func:`bucket_table` skips NaNs when averaging.
    """
    dtype = _check_pair(pred, target)
    validate(target, hole)
    hole = hole.to(dtype)
    err = ((pred.to(dtype) - target.to(dtype)).abs() * hole).flatten(1).sum(dim=1)
    area = pred.shape[1] * hole.flatten(1).sum(dim=1)
    return err / area  # 0/0 → NaN for an empty hole


def evaluate(pred: torch.Tensor, target: torch.Tensor, hole: torch.Tensor) -> Dict[str, torch.Tensor]:
    """All metrics of a batch: ``{"psnr", "ssim", "l1", "l1_hole"}``, each of shape ``(B,)``.

    ``pred`` is usually the composited output (``composite(target, raw, hole)``), so
    the whole-image metrics only differ from a perfect score inside the hole.
    """
    validate(target, hole)
    return {
        "psnr": psnr(pred, target),
        "ssim": ssim(pred, target),
        "l1": l1(pred, target),
        "l1_hole": l1_hole(pred, target, hole),
    }


# ---------------------------------------------------------------------------
# buckets
# ---------------------------------------------------------------------------
def _check_buckets(buckets: Sequence[Bucket]) -> List[Bucket]:
    out: List[Bucket] = []
    try:
        pairs = [tuple(b) for b in buckets]
    except TypeError:
        raise ValueError(f"buckets must be a sequence of (lo, hi) pairs, got {buckets!r}") from None
    if not pairs:
        raise ValueError("buckets must contain at least one (lo, hi) pair")
    for b in pairs:
        if len(b) != 2:
            raise ValueError(f"each bucket must be a (lo, hi) pair, got {b!r}")
        lo, hi = float(b[0]), float(b[1])
        if not (0.0 <= lo < hi <= 1.0):
            raise ValueError(f"bucket {b!r} must satisfy 0 <= lo < hi <= 1")
        out.append((lo, hi))
    return out


def _bucket_label(lo: float, hi: float) -> str:
    left = "[" if lo == 0 else "("
    return f"{left}{lo:g}, {hi:g}]"


def _nanmean(values: torch.Tensor) -> float:
    """Mean of the non-NaN values (``+inf`` stays ``+inf``); NaN when there are none."""
    v = values[~torch.isnan(values)]
    return float(v.mean()) if v.numel() else float("nan")


_FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "l1": "{:.4f}", "l1_hole": "{:.4f}"}


def _fmt(key: str, value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _FORMATS.get(key, "{:.4g}").format(value)
    return str(value)


@dataclass
class BucketTable:
    """Per-bucket means of some metrics, one row per bucket plus an ``"all"`` row.

    Each row is a dict with ``"bucket"`` (a label such as ``"(0.1, 0.2]"``), ``"lo"``,
    ``"hi"``, ``"count"`` and one key per metric; a ``"method"`` key comes first when
    the table was built with a method name. ``str(table)`` is the Markdown table.
    """

    rows: List[dict] = field(default_factory=list)

    @property
    def columns(self) -> List[str]:
        """Column names in order (union over rows, first-seen order)."""
        cols: List[str] = []
        for row in self.rows:
            for k in row:
                if k not in cols:
                    cols.append(k)
        return cols

    def _display_columns(self) -> List[str]:
        return [c for c in self.columns if c not in ("lo", "hi")]

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table (``lo``/``hi`` are left out; the label has them)."""
        cols = self._display_columns()
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_fmt(c, row.get(c, "")) for c in cols) + " |")
        return "\n".join(lines)

    def to_csv(self, path: Union[str, os.PathLike]) -> None:
        """Write all columns (full precision) to a CSV file at ``path``."""
        cols = self.columns
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({c: row.get(c, "") for c in cols})

    def __str__(self) -> str:
        return self.to_markdown()


def bucket_table(
    ratios: torch.Tensor,
    metrics: Dict[str, torch.Tensor],
    buckets: Sequence[Bucket] = CTSDG_BUCKETS,
    method: Optional[str] = None,
) -> BucketTable:
    """Average each metric per hole-ratio bucket.

    ``ratios`` holds each sample's hole ratio (see :func:`hole_ratio`), shape ``(N,)``;
    ``metrics`` maps names to ``(N,)`` tensors (e.g. :func:`evaluate`'s output,
    concatenated over batches). ``buckets`` are ``(lo, hi)`` pairs meaning ``(lo, hi]``,
    except that a bucket starting at 0 also contains ratio 0 — the same convention as
    :mod:`inpaintlib.masks`. A sample falling in no bucket only counts in the final
    ``"all"`` row. Bucket membership is :func:`inpaintlib.masks.bucket_indices` (edges
    compared in the ratios' own dtype); the default buckets are ``CTSDG_BUCKETS``
    (0–20 %, 20–40 %, 40–60 %). Means skip NaNs (e.g. ``l1_hole`` of an empty hole);
    an empty bucket has count 0 and NaN means. With ``method`` each row starts with that name, so tables
    of several methods can be stacked with :func:`concat_tables`.
    """
    buckets = _check_buckets(buckets)
    ratios = torch.as_tensor(ratios).detach().flatten()
    if not ratios.is_floating_point():
        ratios = ratios.to(torch.float64)
    if ratios.numel() and not bool(torch.isfinite(ratios).all()):
        raise ValueError("ratios contains NaN or Inf values")
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("metrics must be a non-empty dict of name → (N,) tensor")
    n = ratios.numel()
    values: Dict[str, torch.Tensor] = {}
    for name, v in metrics.items():
        v = torch.as_tensor(v).detach().flatten().to(device=ratios.device, dtype=torch.float64)
        if v.numel() != n:
            raise ValueError(
                f"metric {name!r} has {v.numel()} values but there are {n} ratios"
            )
        values[name] = v
    idx = bucket_indices(ratios, buckets)

    def make_row(label: str, lo: Optional[float], hi: Optional[float], sel: torch.Tensor) -> dict:
        row: dict = {}
        if method is not None:
            row["method"] = method
        row.update(bucket=label, lo=lo, hi=hi, count=int(sel.sum()))
        for name, v in values.items():
            row[name] = _nanmean(v[sel])
        return row

    rows = [make_row(_bucket_label(lo, hi), lo, hi, idx == i) for i, (lo, hi) in enumerate(buckets)]
    all_sel = torch.ones(n, dtype=torch.bool, device=ratios.device)
    rows.append(make_row("all", None, None, all_sel))
    return BucketTable(rows)


def concat_tables(tables: Iterable[BucketTable]) -> BucketTable:
    """Stack several tables (e.g. one per method) into one; rows keep their order."""
    rows: List[dict] = []
    for t in tables:
        if not isinstance(t, BucketTable):
            raise ValueError(f"concat_tables takes BucketTable objects, got {type(t).__name__}")
        rows.extend(dict(r) for r in t.rows)
    return BucketTable(rows)
