"""Comparing methods: every learned method and the classical baselines on the same
held-out images and the same fixed masks, per hole-ratio bucket, plus the bookkeeping of
benchmark results (records appended to JSON files, never overwritten).

Taught in the "Comparing the methods" chapter; the scripts ``benchmarks/quality.py``,
``benchmarks/speed.py`` and ``benchmarks/scale.py`` are built on it.

* :data:`METHODS` lists what the book knows about each method (title, chapter, task).
  A method takes part in a comparison once its training recipe is registered
  (:func:`inpaintlib.registry.recipe_names`), so chapters added later appear without
  changing this module. Methods that are not inpainting (SC-Lmser translates photos to
  sketches) are left out of the inpainting comparison.
* :func:`evaluation_set` — the held-out images and the fixed free-form mask set of a
  profile; :func:`evaluate_fill` scores one model or baseline on it;
  :func:`compare` scores several and returns one record per method.
* :func:`trained_model` — load-or-train a method through its recipe;
  :func:`training_budget` and :func:`training_seconds` say how much training a number
  cost (from the recipe's schedule and the Trainer logs).
* :func:`append_records` / :func:`read_records` — the results files, a JSON list that
  every run extends; :func:`run_info` — commit, date and machine for each record.
"""
from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import torch

from . import baselines as _baselines
from . import masks as _masks
from . import metrics as _metrics
from .data import SampleBank, checkpoint_root
from .data.paths import repo_root
from .profiles import Profile, get_profile
from .registry import get_recipe, recipe_names
from .tensors import composite, validate

__all__ = [
    "MethodInfo",
    "METHODS",
    "BASELINE_NAMES",
    "LPIPS_NOTE",
    "inpainting_methods",
    "method_info",
    "recipe_schedule",
    "training_budget",
    "training_seconds",
    "trained_steps",
    "recipe_run_dir",
    "trained_model",
    "EvaluationSet",
    "evaluation_set",
    "evaluate_fill",
    "compare",
    "records_table",
    "beats_best_baseline",
    "reference_records",
    "reference_goals",
    "fid_network",
    "run_info",
    "git_commit",
    "append_records",
    "read_records",
    "results_dir",
]

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class MethodInfo:
    """What the book says about a method: its display title, the chapter that teaches it
    (a notebook name in ``book/``) and its task (``"inpainting"`` or another one)."""

    name: str
    title: str
    chapter: str
    task: str = "inpainting"


#: The methods of the book, by recipe name, in the book's order. A method appears in a
#: comparison only when its recipe is registered.
METHODS: Dict[str, MethodInfo] = {
    "clmser": MethodInfo("clmser", "CLmser", "clmser"),
    "pconv": MethodInfo("pconv", "Partial convolution", "pconv"),
    "gmcnn": MethodInfo("gmcnn", "GMCNN + ID-MRF", "gmcnn"),
    "ctsdg": MethodInfo("ctsdg", "CTSDG", "ctsdg"),
    "sc_lmser": MethodInfo("sc_lmser", "SC-Lmser", "sc_lmser", task="photo→sketch"),
}

#: The three classical baselines of the intro chapter (:mod:`inpaintlib.baselines`).
BASELINE_NAMES = ("telea", "ns", "biharmonic")

#: Why no LPIPS column: the metric needs network weights that are downloaded on first use.
LPIPS_NOTE = ("LPIPS not computed: it needs the LPIPS network weights, which are downloaded on "
              "first use, and the book runs offline")


def method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; a registered recipe missing from
    :data:`METHODS` gets a default entry (an inpainting method titled by its name).
    Taught in the "Comparing the methods" chapter."""
    if name in METHODS:
        return METHODS[name]
    return MethodInfo(name, name, name)


def inpainting_methods(names: Optional[Iterable[str]] = None) -> List[str]:
    """The registered recipes that are inpainting methods, in the book's order.

    ``names`` (e.g. from ``--methods``) restricts the list; an unknown or unregistered
    name, or a method of another task, raises :class:`ValueError` saying why.
    Taught in the "Comparing the methods" chapter."""
    registered = recipe_names()
    order = {n: i for i, n in enumerate(METHODS)}
    available = sorted((n for n in registered if method_info(n).task == "inpainting"),
                       key=lambda n: (order.get(n, len(order)), n))
    if names is None:
        return available
    chosen = []
    for n in names:
        if n in available:
            chosen.append(n)
        elif n in registered:
            raise ValueError(f"{n!r} is not an inpainting method ({method_info(n).task}); "
                             f"inpainting methods: {', '.join(available) or 'none'}")
        else:
            raise ValueError(f"no training recipe is registered for {n!r}; "
                             f"registered: {', '.join(registered) or 'none'}")
    return chosen


# ----------------------------------------------------------------------- budgets


def _recipe_module(name: str):
    return sys.modules.get(get_recipe(name).__module__)


def recipe_schedule(name: str, profile: Union[str, Profile, None] = None):
    """The schedule dataclass of a method's recipe for ``profile`` (the recipe module's
    ``schedule(profile)``), or ``None`` when the recipe module has none.
    Taught in the "Comparing the methods" chapter."""
    mod = _recipe_module(name)
    fn = getattr(mod, "schedule", None)
    if fn is None:
        return None
    return fn(get_profile(profile))


def _jsonable(x):
    return json.loads(json.dumps(x, default=str))


#: Schedule fields ending in ``steps`` that count something per training step, not steps.
PER_STEP_COUNTS = frozenset({"d_steps", "critic_steps", "accumulation_steps", "warmup_steps"})


def training_budget(name: str, profile: Union[str, Profile, None] = None) -> dict:
    """How much training the recipe does in ``profile``: ``{"steps", "image_size",
    "schedule"}``. ``steps`` is the schedule's ``total_steps`` if it has one, else the sum
    of its ``*_steps`` fields (every phase; per-step counts such as GMCNN's critic
    ``d_steps`` excluded, see :data:`PER_STEP_COUNTS`); missing fields are ``None``.
    Taught in the "Comparing the methods" chapter."""
    sched = recipe_schedule(name, profile)
    if sched is None or not is_dataclass(sched):
        return {"steps": None, "image_size": None, "schedule": None}
    fields = asdict(sched)
    total = getattr(sched, "total_steps", None)
    if not isinstance(total, int):
        steps = [v for k, v in fields.items()
                 if k.endswith("steps") and k not in PER_STEP_COUNTS and isinstance(v, int)]
        total = sum(steps) if steps else None
    return {"steps": total, "image_size": fields.get("image_size"), "schedule": _jsonable(fields)}


def recipe_run_dir(name: str, profile: Union[str, Profile, None] = None) -> Path:
    """Where the recipe keeps its run for ``profile``: the recipe module's
    ``run_dir(profile=...)`` when it has one (e.g. CLmser's ``clmser-CLmser-<profile>``),
    else ``checkpoint_root()/<name>-<profile>``. Taught in the "Comparing the methods" chapter."""
    prof = get_profile(profile)
    fn = getattr(_recipe_module(name), "run_dir", None)
    if fn is not None and "profile" in inspect.signature(fn).parameters:
        return Path(fn(profile=prof))
    return checkpoint_root() / f"{name}-{prof.name}"


def _phase_logs(name: str, profile, run_dir: Optional[PathLike]) -> List[dict]:
    from .train import read_log

    root = Path(run_dir) if run_dir is not None else recipe_run_dir(name, profile)
    logs = []
    for log in sorted(root.rglob("log.csv")) if root.is_dir() else []:
        try:
            logs.append(read_log(log))
        except (OSError, ValueError):
            continue
    return logs


def trained_steps(name: str, profile: Union[str, Profile, None] = None,
                  run_dir: Optional[PathLike] = None) -> Optional[int]:
    """Steps the checkpoints really hold: the last ``step`` of every phase's ``log.csv``,
    summed (``None`` without logs). Differs from :func:`training_budget` when a checkpoint
    was trained with another schedule or ``max_steps``. Taught in the "Comparing the methods" chapter."""
    steps = [int(log["step"][-1]) for log in _phase_logs(name, profile, run_dir) if log.get("step")]
    return sum(steps) if steps else None


def training_seconds(name: str, profile: Union[str, Profile, None] = None,
                     run_dir: Optional[PathLike] = None) -> float:
    """Training time of the recipe's run for ``profile``: the sum over its phases of the
    last ``time`` value of each ``log.csv`` (the Trainer's training seconds, resumes
    included). ``run_dir`` defaults to :func:`recipe_run_dir`. NaN when no log is found.
    Taught in the "Comparing the methods" chapter."""
    total, found = 0.0, False
    for log in _phase_logs(name, profile, run_dir):
        t = [v for v in log.get("time", []) if not math.isnan(v)]
        if t:
            total += t[-1]
            found = True
    return total if found else math.nan


def trained_model(name: str, profile: Union[str, Profile, None] = None, progress: bool = False,
                  **kwargs) -> torch.nn.Module:
    """Load-or-train a method through its registered recipe and return the generator in
    eval mode: ``get_recipe(name)(profile, ...)``, with ``trained_size`` set to the
    schedule's image size. Checkpoints live under :func:`recipe_run_dir`, so a second call
    only loads them. Taught in the "Comparing the methods" chapter."""
    recipe = get_recipe(name)
    params = inspect.signature(recipe).parameters
    if "progress" in params:
        kwargs.setdefault("progress", progress)
    model = recipe(get_profile(profile), **kwargs)
    size = training_budget(name, profile).get("image_size")
    if size:
        model.trained_size = int(size)   # inpaintlib.inference runs it at this size
    return model.eval()


# ------------------------------------------------------------------- evaluation


@dataclass
class EvaluationSet:
    """Images, holes and hole ratios every method is scored on, and how they were made.
    Taught in the "Comparing the methods" chapter."""

    images: torch.Tensor
    holes: torch.Tensor
    ratios: torch.Tensor
    buckets: tuple
    description: dict

    def __len__(self) -> int:
        return self.images.shape[0]


def _folder_images(folder: PathLike, size: int) -> List[torch.Tensor]:
    from .data.folders import ImageFolder

    ds = ImageFolder(folder, size=size, crop="center")
    return [ds[i] for i in range(len(ds))]


def evaluation_set(profile: Union[str, Profile, None] = None, size: Optional[int] = None,
                   per_bucket: Optional[int] = None, images: Optional[PathLike] = None,
                   kind: str = "free_form", buckets: Sequence[Sequence[float]] = _masks.CTSDG_BUCKETS,
                   seed: int = 0, mask_root: Optional[PathLike] = None) -> EvaluationSet:
    """The comparison's test set: ``per_bucket`` fixed masks per hole-ratio bucket
    (:func:`inpaintlib.masks.fixed_mask_set`, seeded) paired in turn with the held-out
    sample-bank photos (or the images of the folder ``images``, centre-cropped), at the
    profile's image size.

    Defaults: ``size`` = the profile's image size, ``per_bucket`` = ``max(4,
    eval_images // 2)`` — the numbers the method chapters use, so every held-out photo
    meets every bucket.
    """
    prof = get_profile(profile)
    size = int(size or prof.image_size)
    per_bucket = int(per_bucket or max(4, prof.eval_images // 2))
    mask_set = _masks.fixed_mask_set(kind, per_bucket, size, buckets=buckets, seed=seed, root=mask_root)
    if images is None:
        bank = SampleBank("heldout", size=size)
        photos = [bank[i] for i in range(len(bank))]
        source = f"sample bank, held-out split ({len(photos)} photos)"
    else:
        photos = _folder_images(images, size)
        if not photos:
            raise ValueError(f"no images found in {images}")
        source = f"folder {images} ({len(photos)} images)"
    n = len(mask_set)
    target = torch.stack([photos[i % len(photos)] for i in range(n)])
    desc = {"images": source, "pairs": n, "size": size, "mask_kind": kind, "mask_seed": seed,
            "masks_per_bucket": per_bucket,
            "buckets": [_masks.bucket_label(b) for b in mask_set.buckets]}
    return EvaluationSet(target, mask_set.masks, mask_set.ratios, tuple(mask_set.buckets), desc)


def evaluate_fill(fill: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], data: EvaluationSet,
                  device: Union[str, torch.device, None] = None, batch_size: int = 16) -> dict:
    """Score one model or baseline (``fill(image, hole) -> prediction``) on ``data``.

    Runs in batches without gradients on ``device`` (baselines always run on the CPU),
    clamps the raw prediction to [0, 1], pastes the known pixels back
    (:func:`~inpaintlib.tensors.composite`) and computes PSNR, SSIM, L1 and hole L1 per
    image (:func:`inpaintlib.metrics.evaluate`). Returns ``{"metrics": {name: (N,)},
    "outputs": N×3×H×W composites (CPU), "seconds_per_image": wall time / N}``.
    Taught in the "Comparing the methods" chapter."""
    validate(data.images, data.holes)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    is_module = isinstance(fill, torch.nn.Module)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if not is_module:
        dev = torch.device("cpu")
    else:
        fill = fill.to(dev).eval()
    outputs = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            x = data.images[i:i + batch_size].to(dev)
            h = data.holes[i:i + batch_size].to(dev)
            pred = fill(x, h).float().clamp(0, 1)
            outputs.append(composite(x, pred, h).cpu())
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / max(1, len(data))
    out = torch.cat(outputs)
    return {"metrics": _metrics.evaluate(out, data.images, data.holes), "outputs": out,
            "seconds_per_image": seconds}


def _bucket_rows(data: EvaluationSet, values: Mapping[str, torch.Tensor]) -> List[dict]:
    table = _metrics.bucket_table(data.ratios, dict(values), data.buckets)
    rows = []
    for row in table.rows:
        label = "all" if row["bucket"] == "all" else _masks.bucket_label((row["lo"], row["hi"]))
        rows.append({"bucket": label, "count": row["count"],
                     **{k: row[k] for k in values}})
    return rows


def fid_network():
    """``(network, None)`` for FID — ``inpaintlib.metrics.fid``'s Inception network when the
    library has it and its weights are present — or ``(None, reason)``.
    Taught in the "Comparing the methods" chapter."""
    if getattr(_metrics, "fid", None) is None:
        return None, "FID not computed: inpaintlib.metrics has no fid() in this version"
    try:
        from .nn.inception import FIDInceptionV3

        return FIDInceptionV3().eval(), None
    except Exception as err:  # missing Inception weights file, ...
        return None, f"FID not computed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _fid(net, outputs: torch.Tensor, target: torch.Tensor):
    try:
        value = float(_metrics.fid(outputs, target, model=net))
    except Exception as err:
        return None, f"FID not computed: {type(err).__name__}: {err}"
    return value, (f"FID of {len(outputs)} images at {outputs.shape[-1]} px against the originals: biased "
                   "upwards for small sets, comparable only between methods on this same set")


def compare(models: Mapping[str, Callable], data: EvaluationSet, profile: Union[str, Profile, None] = None,
            baselines: Sequence[str] = BASELINE_NAMES, device: Union[str, torch.device, None] = None,
            keep_outputs: bool = False) -> List[dict]:
    """Score every learned method in ``models`` (name → generator) and every classical
    baseline on the same ``data``; one record per method.

    A record holds ``method``, ``title``, ``kind`` (``"learned"`` / ``"baseline"``),
    ``profile``, ``budget`` (:func:`training_budget`; ``None`` for baselines and for models
    without a registered recipe), ``training_seconds`` (:func:`training_seconds`),
    ``trained_steps`` (:func:`trained_steps`), ``device``, ``eval`` (how the set was made),
    ``buckets`` (per-bucket means of PSNR, SSIM, L1, hole L1 and an ``"all"`` row),
    ``inference_ms_per_image``, ``fid`` (or ``None``) with ``fid_note``, and
    ``lpips_note``. With ``keep_outputs`` the composites are kept under ``"outputs"``
    (a tensor: not JSON; drop it before saving).
    Taught in the "Comparing the methods" chapter."""
    prof = get_profile(profile)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    entries = [(n, m, "learned") for n, m in models.items()]
    entries += [(n, _baselines.Baseline(n), "baseline") for n in baselines]
    registered = set(recipe_names())
    net, why_not = fid_network()
    records = []
    for name, fill, kind in entries:
        res = evaluate_fill(fill, data, device=dev if kind == "learned" else "cpu")
        fid, fid_note = (None, why_not) if net is None else _fid(net, res["outputs"], data.images)
        recipe = kind == "learned" and name in registered   # a model without a recipe has no budget
        rec = {
            "method": name,
            "title": method_info(name).title if kind == "learned" else name,
            "kind": kind,
            "profile": prof.name,
            "budget": training_budget(name, prof) if recipe else None,
            "training_seconds": training_seconds(name, prof) if recipe else None,
            "trained_steps": trained_steps(name, prof) if recipe else None,
            "device": str(dev if kind == "learned" else torch.device("cpu")),
            "eval": dict(data.description),
            "buckets": _bucket_rows(data, res["metrics"]),
            "inference_ms_per_image": 1000 * res["seconds_per_image"],
            "fid": fid,
            "fid_note": fid_note,
            "lpips_note": LPIPS_NOTE,
        }
        if keep_outputs:
            rec["outputs"] = res["outputs"]
        records.append(rec)
    return records


def records_table(records: Sequence[dict], metrics: Sequence[str] = ("psnr", "ssim", "l1_hole"),
                  buckets: bool = True) -> str:
    """A Markdown table of quality records: one row per method and bucket (or only the
    ``"all"`` row with ``buckets=False``). Taught in the "Comparing the methods" chapter."""
    fmt = {"psnr": "{:.2f}", "ssim": "{:.4f}", "l1": "{:.4f}", "l1_hole": "{:.4f}"}
    lines = ["| method | kind | bucket | n | " + " | ".join(metrics) + " |",
             "|---|---|---|---|" + "---|" * len(metrics)]
    for rec in records:
        for row in rec["buckets"]:
            if not buckets and row["bucket"] != "all":
                continue
            vals = ["nan" if row[m] is None or (isinstance(row[m], float) and math.isnan(row[m]))
                    else fmt.get(m, "{:.4g}").format(row[m]) for m in metrics]
            lines.append(f"| {rec['method']} | {rec['kind']} | {row['bucket']} | {row['count']} | "
                         + " | ".join(vals) + " |")
    return "\n".join(lines)


def beats_best_baseline(records: Sequence[dict], buckets: Sequence[str] = ("20–40%", "40–60%"),
                        metric: str = "psnr") -> List[dict]:
    """The book's goal, checked on ``records``: for every learned method and bucket, its
    ``metric`` against the best classical baseline's in that bucket.

    Returns rows ``{"method", "bucket", metric, "best_baseline", "baseline_value",
    "beats"}`` (higher is better for PSNR and SSIM, lower for the L1 metrics).
    Taught in the "Comparing the methods" chapter."""
    lower_is_better = metric.startswith("l1")

    def value(rec, bucket):
        for row in rec["buckets"]:
            if row["bucket"] == bucket:
                return row[metric]
        raise ValueError(f"record {rec['method']!r} has no bucket {bucket!r}")

    base = [r for r in records if r["kind"] == "baseline"]
    if not base:
        raise ValueError("no baseline records to compare with")
    out = []
    for rec in (r for r in records if r["kind"] == "learned"):
        for bucket in buckets:
            pick = min if lower_is_better else max
            best = pick(base, key=lambda r: value(r, bucket))
            v, b = value(rec, bucket), value(best, bucket)
            out.append({"method": rec["method"], "bucket": bucket, metric: v,
                        "best_baseline": best["method"], "baseline_value": b,
                        "beats": bool(v < b if lower_is_better else v > b)})
    return out


# ------------------------------------------------------------ reference models


def reference_records(data: Optional[EvaluationSet] = None, live: Optional[Mapping[str, Callable]] = None,
                      baselines: Sequence[str] = BASELINE_NAMES, keep_outputs: bool = False,
                      methods: Optional[Iterable[str]] = None) -> List[dict]:
    """The reference models shipped with the book (:mod:`inpaintlib.reference`) beside
    ``live`` models (e.g. the quick runs: name → model, each run at the size it was trained
    at by :func:`inpaintlib.inference.inpaint`), the classical baselines and the mean-colour
    fill, on ``data`` (default: the reference cards' set — held-out photos at the reference
    size, :data:`inpaintlib.reference.EVAL_PER_BUCKET` free-form masks per bucket).

    Records as :func:`compare`'s, with ``kind`` ``"reference"``, ``"learned"``,
    ``"baseline"`` or ``"floor"`` (the mean-colour fill), ``"psnr_se"`` (standard error)
    in every bucket row, and for reference models the card's ``"card"`` summary.
    Taught in the "Comparing the methods" chapter."""
    from . import reference as _ref
    from .baselines import mean_colour_fill
    from .inference import inpaint, model_size

    shipped = _ref.reference_names("inpainting")
    names = [m for m in (methods or shipped) if m in shipped]
    if data is None:
        size = _ref.card(names[0])["image_size"] if names else 128
        data = evaluation_set(size=size, per_bucket=_ref.EVAL_PER_BUCKET, seed=_ref.EVAL_SEED)
    size = data.images.shape[-1]

    def at_own_size(model):
        return lambda x, h: inpaint(model, x, h, size=model_size(model), raw=True)

    entries = []
    for m in names:
        model = _ref.load_reference(m)
        entries.append((f"{m} (reference)", at_own_size(model), "reference", m, _ref.card(m)))
    for name, model in (live or {}).items():
        entries.append((name, at_own_size(model), "learned", None, None))
    entries += [(n, _baselines.Baseline(n), "baseline", None, None) for n in baselines]
    entries.append(("mean colour", mean_colour_fill, "floor", None, None))
    ids = _masks.bucket_indices(data.ratios, data.buckets)
    records = []
    for name, fill, kind, method, card in entries:
        res = evaluate_fill(fill, data)
        rows = _bucket_rows(data, res["metrics"])
        psnr = res["metrics"]["psnr"]
        for row in rows:
            sel = psnr if row["bucket"] == "all" else psnr[ids == data.description["buckets"].index(row["bucket"])]
            row["psnr_se"] = _ref.mean_se(sel)["se"]
        rec = {"method": name, "title": name, "kind": kind, "eval": dict(data.description), "buckets": rows,
               "inference_ms_per_image": 1000 * res["seconds_per_image"], "size": size}
        if card is not None:
            rec["card"] = {k: card.get(k) for k in ("image_size", "phases", "wall_seconds", "machine", "commit",
                                                     "date", "seed", "command")}
            rec["budget"] = {"steps": sum(p["steps"] for p in card["phases"].values()),
                             "image_size": card["image_size"], "cpu_minutes": round(card["wall_seconds"] / 60, 1)}
        if keep_outputs:
            rec["outputs"] = res["outputs"]
        records.append(rec)
    return records


#: The reference models' targets (the book's issue list): every one beats the mean-colour
#: fill in every bucket; these three also beat the best classical baseline's PSNR in 40–60 %
#: and come within 0.5 dB of it in 20–40 %.
REFERENCE_TARGET_METHODS = ("pconv", "gmcnn", "ctsdg")


def reference_goals(records: Sequence[dict]) -> List[dict]:
    """Check the reference targets on :func:`reference_records`' output: one row per
    reference model and test ``{"method", "test", "value", "against", "margin", "met"}``
    (``margin`` in dB: positive is good)."""
    by_kind = {}
    for r in records:
        by_kind.setdefault(r["kind"], []).append(r)

    def psnr(rec, bucket):
        return next(row["psnr"] for row in rec["buckets"] if row["bucket"] == bucket)

    floor = by_kind["floor"][0]
    out = []
    for rec in by_kind.get("reference", []):
        method = rec["method"].split(" ")[0]
        for bucket in ("0–20%", "20–40%", "40–60%"):
            v, f = psnr(rec, bucket), psnr(floor, bucket)
            out.append({"method": rec["method"], "test": f"beats the mean-colour fill, {bucket}", "value": v,
                        "against": f, "margin": v - f, "met": v > f})
        if method in REFERENCE_TARGET_METHODS:
            for bucket, slack in (("40–60%", 0.0), ("20–40%", 0.5)):
                best = max(by_kind["baseline"], key=lambda b: psnr(b, bucket))
                v, b = psnr(rec, bucket), psnr(best, bucket)
                test = (f"beats {best['method']} (best baseline), {bucket}" if not slack else
                        f"within {slack} dB of {best['method']} (best baseline), {bucket}")
                out.append({"method": rec["method"], "test": test, "value": v, "against": b,
                            "margin": v - b + slack, "met": v - b + slack > 0})
    return out


# --------------------------------------------------------------- results files


def results_dir() -> Path:
    """``benchmarks/results`` in the repository. Taught in the "Comparing the methods" chapter."""
    return repo_root() / "benchmarks" / "results"


def git_commit(root: Optional[PathLike] = None) -> str:
    """``git rev-parse HEAD`` of the repository (``"unknown"`` outside git), with
    ``+dirty`` appended when tracked files have uncommitted changes.
    Taught in the "Comparing the methods" chapter."""
    cwd = str(root or repo_root())
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return "unknown"
        commit = head.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_info(device: Union[str, torch.device, None] = None, note: Optional[str] = None,
             command: Optional[str] = None) -> dict:
    """Where and when a benchmark ran: ``commit``, ``date`` (UTC, ISO 8601), ``device``,
    ``machine`` (CPU model and core count, GPU name on CUDA), ``torch``, ``python``,
    ``threads`` (torch CPU threads), ``load_average`` (the machine's 1, 5 and 15-minute
    load averages when the run started: other jobs slow a benchmark down), and
    ``command`` / ``note`` when given. Taught in the "Comparing the methods" chapter."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    machine = f"{_cpu_name()}, {os.cpu_count()} cores"
    if dev.type == "cuda" and torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name(dev)}"
    info = {"commit": git_commit(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device": str(dev), "machine": machine, "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads()}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if command:
        info["command"] = command
    if note:
        info["note"] = note
    return info


def read_records(path: PathLike) -> List[dict]:
    """The records of a results file (a JSON list); ``[]`` when the file does not exist.
    Anything else than a list of objects raises :class:`ValueError` naming the file.
    Taught in the "Comparing the methods" chapter."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "[]")
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); it should be a list of records") from err
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path} should hold a JSON list of records (objects)")
    return data


def append_records(path: PathLike, records: Sequence[dict]) -> List[dict]:
    """Append ``records`` to the results file ``path`` (a JSON list), keeping every
    earlier record: history is never overwritten. Written atomically; returns the whole
    list. NaN and infinities are stored as ``null``. Taught in the "Comparing the methods" chapter."""
    records = [_clean(r) for r in records]
    for r in records:
        if not isinstance(r, dict):
            raise ValueError(f"records must be dicts, got {type(r).__name__}")
    from .io import write_text

    path = Path(path)
    allrecs = read_records(path) + records
    write_text(path, json.dumps(allrecs, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return allrecs


def _clean(x):
    """JSON-safe copy: tensors to numbers, NaN/inf to None, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _clean(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item"):
        return _clean(x.item())
    return str(x)
