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
    "frechet_distance",
    "frechet_distance_features",
    "feature_statistics",
    "inception_features",
    "fid",
    "seed_difference",
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


def seed_difference(a: Sequence[float], b: Sequence[float]) -> Dict[str, object]:
    """How two training set-ups of an ablation differ, given one score per seed for each
    (``a`` and ``b``, at least two seeds each): ``diff`` = mean(a) − mean(b), ``se`` = its
    standard error √(var(a)/n_a + var(b)/n_b) (sample variances), ``n`` = (n_a, n_b), and the
    ``verdict`` the book prints: ``"within the noise between seeds at this scale"`` when
    |diff| < 2·se, else ``"larger than the noise between seeds"``. Taught in the ablations of
    the method chapters (Lmser dualities, SC-Lmser, partial convolution, ID-MRF, dual streams).
    """
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"seed_difference needs at least two seeds per set-up to measure the noise, "
                         f"got {len(a)} and {len(b)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("seed_difference got a NaN or infinite score")
    diff = float(a.mean() - b.mean())
    se = float((a.var() / len(a) + b.var() / len(b)).sqrt())
    verdict = ("within the noise between seeds at this scale" if abs(diff) < 2 * se
               else "larger than the noise between seeds")
    return {"diff": diff, "se": se, "n": (len(a), len(b)), "verdict": verdict}


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
        """Write all columns (full precision) to a CSV file at ``path``, atomically (a failed
        write raises :class:`inpaintlib.io.WriteError` naming the file)."""
        from .io import atomic_write

        cols = self.columns
        with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
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


# ---------------------------------------------------------------------------
# Fréchet Inception Distance ("Sketch synthesis with SC-Lmser" chapter)
# ---------------------------------------------------------------------------
def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between two Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``:

    ``‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2·tr((sigma1·sigma2)^½)``, in float64.

    The trace of the matrix square root is computed as ``tr((A^½ B A^½)^½)`` — the same
    number, since ``A B`` and ``A^½ B A^½`` have the same eigenvalues — from two symmetric
    eigen-decompositions, so it stays real and finite for the singular covariances of small
    samples (tiny negative eigenvalues from rounding are set to zero). Taught in the
    "Sketch synthesis with SC-Lmser" chapter.
    """
    import numpy as np

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mu1 and mu2 must be vectors of the same length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"sigma1 and sigma2 must be {d}×{d}, got {s1.shape} and {s2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or Inf")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    w1, v1 = np.linalg.eigh(s1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    inner = root1 @ s2 @ root1
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def feature_statistics(features) -> Tuple["object", "object"]:
    """Mean vector and covariance (``N−1`` normalisation, as ``numpy.cov``) of ``N×D`` features, float64
    ("Sketch synthesis with SC-Lmser" chapter)."""
    import numpy as np

    f = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be N×D with N ≥ 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def inception_features(images: torch.Tensor, model=None, batch_size: int = 50, device=None) -> torch.Tensor:
    """``N×2048`` pool3 features of ``N×C×H×W`` images in ``[0, 1]`` (C = 1 or 3), computed
    ``batch_size`` at a time with ``model`` (default: the pretrained
    :class:`~inpaintlib.nn.inception.FIDInceptionV3`, which raises a clear error when its
    weights file is missing). "Sketch synthesis with SC-Lmser" chapter."""
    from .nn.inception import FIDInceptionV3

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError("images must be an N×1×H×W or N×3×H×W tensor in [0, 1]")
    if not bool(torch.isfinite(images).all()) or float(images.min()) < 0 or float(images.max()) > 1:
        raise ValueError("images must be finite and lie in [0, 1]")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    model = model if model is not None else FIDInceptionV3()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev)
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], int(batch_size)):
            out.append(model(images[start:start + int(batch_size)].to(dev)).double().cpu())
    return torch.cat(out)


def frechet_distance_features(features1, features2) -> float:
    """:func:`frechet_distance` of the Gaussians fitted to two feature sets (``N1×D``, ``N2×D``),
    computed from the features themselves, in float64.

    With ``A`` and ``B`` the centred features divided by ``√(N−1)`` (so ``Σ1 = AᵀA``,
    ``Σ2 = BᵀB``), ``tr Σ1 = ‖A‖²``, ``tr Σ2 = ‖B‖²`` and ``tr (Σ1 Σ2)^½`` is the sum of the
    singular values of ``A Bᵀ`` (an ``N1×N2`` matrix: ``Σ1 Σ2`` and ``(ABᵀ)(ABᵀ)ᵀ`` share their
    non-zero eigenvalues). Exact, always real, and fast when there are fewer images than
    feature dimensions (2048 for Inception). "Sketch synthesis with SC-Lmser" chapter.
    """
    import numpy as np

    def centred(f, name):
        f = f.detach().cpu().double().numpy() if isinstance(f, torch.Tensor) else np.asarray(f, np.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must be N×D with N ≥ 2, got shape {f.shape}")
        if not np.all(np.isfinite(f)):
            raise ValueError(f"{name} contains NaN or Inf")
        return f.mean(axis=0), (f - f.mean(axis=0)) / np.sqrt(f.shape[0] - 1)

    mu1, a = centred(features1, "features1")
    mu2, b = centred(features2, "features2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the feature sets have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    nuclear = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def fid(fake: torch.Tensor, real: torch.Tensor, model=None, batch_size: int = 50, device=None) -> float:
    """Fréchet Inception Distance between two sets of images in ``[0, 1]`` (``N×C×H×W``,
    C = 1 or 3; grey images are repeated to three channels): the Fréchet distance of the
    Gaussians fitted to their :func:`inception_features`
    (:func:`frechet_distance_features`, equal to :func:`frechet_distance` of their
    :func:`feature_statistics`).

    With the pretrained pytorch-fid network this is the number ``pytorch-fid`` computes from
    the same pixels (it reads image files; here they are tensors). FID is biased upwards for
    small sets — compare FIDs only at the same set sizes. Taught in the "Sketch synthesis
    with SC-Lmser" chapter.
    """
    from .nn.inception import FIDInceptionV3

    model = model if model is not None else FIDInceptionV3()
    return frechet_distance_features(inception_features(fake, model, batch_size, device),
                                     inception_features(real, model, batch_size, device))
