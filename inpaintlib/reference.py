"""Reference models: each method after tens of CPU-minutes, shipped with the book.

Taught in every method chapter ("the same method after N CPU-minutes", beside the
reader's live quick run) and in the "Comparing the methods" chapter.

A quick-profile run lasts seconds to a couple of minutes; at that budget no network
beats a classical fill. The reference models are longer runs of the *same recipes* on
the same data — the sample bank's 14 training photos, random crops — at a size a CPU
affords (:data:`SPECS`), made by one command from a seed::

    .venv/bin/python -m inpaintlib.reference build pconv      # or clmser, gmcnn, ctsdg, all

Each run leaves two files in ``inpaintlib/reference_models/``: ``<method>.pt``, a model
file (:func:`inpaintlib.registry.save_model`) with the weights in half precision, and
``<method>.json``, its **card**: command, commit, device, wall time, steps of each phase,
data, masks, seed, the weights file's SHA-256 and size, and the per-bucket scores on the
held-out photos (mean ± standard error) beside Telea, Navier–Stokes, biharmonic and a
mean-colour fill on the same pairs. :func:`load_reference` returns the model (float32,
eval mode) and :func:`card` the card; :func:`check_card` verifies that a card matches its
file. ``inpaintlib inpaint IMAGE MASK --method pconv`` uses the reference model, run at the
size it was trained at (:mod:`inpaintlib.inference`).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

__all__ = ["REFERENCE_DIR", "ReferenceSpec", "SPECS", "reference_names", "reference_path", "card",
           "load_reference", "check_card", "evaluate_reference", "build", "scores_table", "provenance",
           "show_reference", "inpainting_references", "evaluate_sketches", "main"]

REFERENCE_DIR = Path(__file__).with_name("reference_models")
#: Masks per hole-ratio bucket in a card's evaluation (held-out photos, fixed free-form masks).
EVAL_PER_BUCKET = 24
#: Seed of the evaluation masks (the comparison chapter's).
EVAL_SEED = 0


@dataclass(frozen=True)
class ReferenceSpec:
    """What one reference run trains: the recipe, its schedule overrides and the seed."""

    method: str
    model: str
    overrides: dict
    seed: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)   # further keyword arguments of the recipe
    task: str = "inpainting"                     # or "photo→sketch" (SC-Lmser)

    @property
    def image_size(self) -> int:
        return int(self.overrides["image_size"])


#: One spec per method. Sizes and widths are what 2 CPU cores train in tens of minutes.
SPECS: dict[str, ReferenceSpec] = {
    "pconv": ReferenceSpec(
        "pconv", "pconv",
        dict(image_size=128, layers=6, width=0.25, batch_size=6, stage1_steps=3600, stage2_steps=900, lr1=5e-4),
        note="6-level U-Net at ×0.25 width (1.17 M parameters); calibrated EfficientNet-Lite0 feature terms"),
    "clmser": ReferenceSpec(
        "clmser", "clmser",
        dict(image_size=128, batch_size=8, steps=1200, masks="free_form"),
        note="the released CLmser (DCW + DPN), trained on free-form holes so the card's test is its task"),
    "ctsdg": ReferenceSpec(
        "ctsdg", "ctsdg",
        dict(image_size=128, layers=6, width=0.125, batch_size=6, train_steps=1000, finetune_steps=250, lr_train=5e-4),
        note="6-level streams at ×0.125 width; calibrated EfficientNet-Lite0 feature terms"),
    "gmcnn": ReferenceSpec(
        "gmcnn", "gmcnn",
        dict(image_size=64, width=0.25, pretrain_steps=1500, finetune_steps=300, masks="free_form"),
        note="×0.25 width; ID-MRF on EfficientNet-Lite0 features; free-form holes"),
    "sc_lmser": ReferenceSpec(
        "sc_lmser", "sc_lmser",
        dict(image_size=64, width=0.125, batch_size=1, steps=2500, lr_g=4e-4, lr_d=8e-4, cpu_threads=1),
        note="G and F at ×0.125 width with the supervised alternating consistency; pencil-sketch proxy pairs",
        extra={"dataset": "proxy"}, task="photo→sketch"),
}


def inpainting_references() -> list[str]:
    """Methods with an inpainting reference model (SC-Lmser's is photo → sketch)."""
    return [m for m, spec in SPECS.items() if spec.task == "inpainting"]


def reference_names(task: Optional[str] = None) -> list[str]:
    """Methods whose reference model file is present (of ``task`` only, when given)."""
    return sorted(m for m, spec in SPECS.items()
                  if reference_path(m).is_file() and (task is None or spec.task == task))


def reference_path(method: str, root: Optional[Path] = None) -> Path:
    """``<root>/<method>.pt`` (default root: the package's ``reference_models`` folder)."""
    return Path(root or REFERENCE_DIR) / f"{method}.pt"


def card(method: str, root: Optional[Path] = None) -> dict:
    """The card of a reference model (``<method>.json``)."""
    path = reference_path(method, root).with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(
            f"no reference model card for {method!r} ({path}); build it with "
            f"`python -m inpaintlib.reference build {method}`")
    return json.loads(path.read_text())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_reference(method: str, root: Optional[Path] = None) -> nn.Module:
    """The reference model of ``method`` in float32 and eval mode. Its card's
    ``image_size`` is stored on it as ``model.reference_size`` (the size it was trained
    at) and the card itself as ``model.reference_card``."""
    if method not in SPECS:
        raise ValueError(f"no reference model is defined for {method!r}; methods: {', '.join(SPECS)}")
    path = reference_path(method, root)
    if not path.is_file():
        raise FileNotFoundError(
            f"the reference model of {method!r} is missing ({path}); build it with "
            f"`python -m inpaintlib.reference build {method}`")
    info = card(method, root)
    if SPECS[method].task != "inpainting":
        from .models.sc_lmser import load_sc_lmser

        model = load_sc_lmser(path).float().eval()
    else:
        from .registry import load_model

        model = load_model(path).float().eval()
    model.reference_size = int(info["image_size"])
    model.reference_card = info
    return model


def check_card(method: str, root: Optional[Path] = None) -> list[str]:
    """Every way the card of ``method`` disagrees with its model file (empty: it matches)."""
    path = reference_path(method, root)
    info = card(method, root)
    problems = []
    if info.get("weights_sha256") != _sha256(path):
        problems.append("weights_sha256 differs from the file's")
    if info.get("weights_bytes") != path.stat().st_size:
        problems.append("weights_bytes differs from the file's size")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("model", "sc_lmser") != info.get("model"):
        problems.append(f"model {payload.get('model')!r} in the file, {info.get('model')!r} on the card")
    if payload.get("config") != info.get("config"):
        problems.append("config differs")
    n = sum(v.numel() for k, v in payload["state_dict"].items()
            if v.is_floating_point() and not k.endswith(("running_mean", "running_var")))
    if info.get("parameters") != n:
        problems.append(f"{n} floating-point weights in the file, {info.get('parameters')} on the card")
    return problems


# --------------------------------------------------------------------------- evaluation

def mean_se(values: torch.Tensor) -> dict:
    """``{mean, se, n}`` of the finite values (standard error with the unbiased std)."""
    v = values.double()
    v = v[torch.isfinite(v)]
    n = v.numel()
    se = float(v.std(unbiased=True) / n ** 0.5) if n > 1 else float("nan")
    return {"mean": float(v.mean()) if n else float("nan"), "se": se, "n": n}


def evaluate_reference(models: dict, size: int, per_bucket: int = EVAL_PER_BUCKET, seed: int = EVAL_SEED,
                       images=None) -> dict:
    """Score ``models`` (name → ``fill(image, hole)``) and the classical fills on the held-out
    photos with fixed free-form masks: ``{name: {bucket: {metric: {mean, se, n}}}}`` plus
    ``"_eval"`` (how the set was made)."""
    from . import compare
    from . import masks as _masks
    from .baselines import Baseline, mean_colour_fill

    data = compare.evaluation_set(size=size, per_bucket=per_bucket, seed=seed, images=images)
    fills = dict(models)
    for name in compare.BASELINE_NAMES:
        fills[name] = Baseline(name)
    fills["mean_colour"] = mean_colour_fill
    ids = _masks.bucket_indices(data.ratios, data.buckets)
    out = {"_eval": {**data.description, "composited": True,
                     "metrics": "inpaintlib.metrics.evaluate (PSNR, SSIM on [0,1]; hole L1)"}}
    for name, fill in fills.items():
        res = compare.evaluate_fill(fill, data)
        rows = {}
        for b, bucket in enumerate(data.buckets):
            sel = ids == b
            rows[_masks.bucket_label(bucket)] = {k: mean_se(v[sel]) for k, v in res["metrics"].items()
                                                if k in ("psnr", "ssim", "l1_hole")}
        rows["all"] = {k: mean_se(v) for k, v in res["metrics"].items() if k in ("psnr", "ssim", "l1_hole")}
        out[name] = rows
    return out


def evaluate_sketches(model: nn.Module, size: int, n: int = EVAL_PER_BUCKET) -> dict:
    """SC-Lmser's photo → sketch on ``n`` held-out proxy pairs (crops of the 4 held-out photos):
    L1 and SSIM of ``G(x)`` against the sketch, beside a blank white page."""
    from . import metrics
    from .data.sketches import SketchPairs

    photo, sketch = SketchPairs(n, size, split="heldout", length=n)(0)
    with torch.no_grad():
        gx = model.eval().photo_to_sketch(photo).float().clamp(0, 1)
    grey3 = lambda t: t.repeat(1, 3, 1, 1)  # noqa: E731  (the metrics take 3 channels)
    out = {"_eval": {"images": f"held-out sample-bank photos, {n} crops, pencil-sketch proxy", "size": size}}
    for name, pred in (("sc_lmser", gx), ("blank page", torch.ones_like(sketch))):
        out[name] = {"heldout": {"l1": mean_se(metrics.l1(grey3(pred), grey3(sketch))),
                                 "ssim": mean_se(metrics.ssim(grey3(pred), grey3(sketch)))}}
    return out


# --------------------------------------------------------------------------- building

def _half_state(model: nn.Module) -> dict:
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()}


def build(method: str, root: Optional[Path] = None, work: Optional[Path] = None, steps_scale: float = 1.0,
          command: Optional[str] = None, evaluate: bool = True) -> dict:
    """Train the reference model of ``method`` from :data:`SPECS`, write ``<method>.pt``
    (half precision) and ``<method>.json`` (its card) under ``root`` and return the card.

    ``work`` holds the run's checkpoints (default ``checkpoints/reference/<method>``;
    an existing finished run there is loaded, not retrained). ``steps_scale`` shrinks
    every phase (tests use it; a card records the steps that actually ran)."""
    from .compare import run_info
    from .data import TRAIN_NAMES, PHOTOS, checkpoint_root
    from .registry import MODEL_FORMAT, get_recipe

    if method not in SPECS:
        raise ValueError(f"no reference spec for {method!r}; choose one of {', '.join(SPECS)}")
    spec = SPECS[method]
    overrides = dict(spec.overrides)
    if steps_scale != 1.0:
        for k, v in list(overrides.items()):
            if k.endswith("steps"):
                overrides[k] = max(1, int(round(v * steps_scale)))
    root = Path(root or REFERENCE_DIR)
    work = Path(work or checkpoint_root() / "reference" / method)
    info = run_info(command=command)
    torch.manual_seed(spec.seed)
    start = time.perf_counter()
    net = get_recipe(spec.method)(profile="quick", out_dir=work, overrides=overrides, seed=spec.seed,
                                  progress=True, **spec.extra)
    wall = time.perf_counter() - start
    net = net.cpu().eval()
    config = torch.load(work / f"{spec.model}.pt", map_location="cpu", weights_only=True)["config"]
    root.mkdir(parents=True, exist_ok=True)
    path = reference_path(method, root)
    state = _half_state(net)
    meta = {"reference": method, "seed": spec.seed, "overrides": overrides}
    if spec.task == "inpainting":
        payload = {"format": MODEL_FORMAT, "model": spec.model, "config": config, "state_dict": state, "meta": meta}
    else:   # load_sc_lmser's format: G and F in one state dict
        from .models.sc_lmser import MODEL_FORMAT as SC_FORMAT

        payload = {"format": SC_FORMAT, "config": net.config(), "state_dict": state, "meta": meta}
        config = net.config()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)

    logs = sorted(work.glob("**/log.csv"))
    phases = {}
    for log in logs:
        lines = log.read_text().strip().splitlines()
        if len(lines) > 1:
            header = lines[0].split(",")
            last = dict(zip(header, lines[-1].split(",")))
            phases[str(log.parent.relative_to(work)) or "."] = {
                "steps": int(float(last["step"])), "seconds": round(float(last.get("time", "nan")), 1)}
    n_params = sum(v.numel() for k, v in state.items()
                   if v.is_floating_point() and not k.endswith(("running_mean", "running_var")))
    info_card = {
        "method": method, "model": spec.model, "config": config, "image_size": spec.image_size,
        "schedule_overrides": overrides, "seed": spec.seed, "note": spec.note,
        "command": command or f"python -m inpaintlib.reference build {method}",
        "commit": info.get("commit"), "date": info.get("date"), "device": info.get("device"),
        "machine": info.get("machine"), "threads": info.get("threads"), "torch": info.get("torch"),
        "load_average_at_start": info.get("load_average"),
        "wall_seconds": round(wall, 1), "phases": phases,
        "data": {"images": f"sample bank, train split ({len(TRAIN_NAMES)} photos), random crops",
                 "photos": {n: {"source": PHOTOS[n][1], "licence": PHOTOS[n][2]} for n in TRAIN_NAMES}},
        "parameters": n_params, "weights_file": path.name, "weights_dtype": "float16",
        "weights_bytes": path.stat().st_size, "weights_sha256": _sha256(path),
        "profile_base": "quick (recipe and loss as in the chapters; sizes and steps from the overrides)",
    }
    if evaluate and spec.task == "inpainting":
        model = load_reference_file(path, spec.image_size)
        info_card["scores"] = evaluate_reference({method: model}, spec.image_size)
    elif evaluate:
        from .models.sc_lmser import load_sc_lmser

        info_card["scores"] = evaluate_sketches(load_sc_lmser(path).float(), spec.image_size)
    card_path = path.with_suffix(".json")
    tmp = card_path.with_name(card_path.name + ".tmp")
    tmp.write_text(json.dumps(info_card, indent=1, default=str) + "\n")
    os.replace(tmp, card_path)
    return info_card


def load_reference_file(path: Path, size: int) -> nn.Module:
    from .registry import load_model

    model = load_model(path).float().eval()
    model.reference_size = size
    return model


def scores_table(info: dict, metric: str = "psnr") -> str:
    """A Markdown table of a card's per-bucket scores: one row per method, ``mean ± se``."""
    scores = info["scores"]
    names = [k for k in scores if not k.startswith("_")]
    buckets = list(scores[names[0]])
    if metric not in scores[names[0]][buckets[0]]:
        metric = next(iter(scores[names[0]][buckets[0]]))
    lines = ["| method | " + " | ".join(buckets) + " |", "|---|" + "---|" * len(buckets)]
    for n in names:
        cells = [f"{scores[n][b][metric]['mean']:.2f} ± {scores[n][b][metric]['se']:.2f}" for b in buckets]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def provenance(info: dict) -> str:
    """One line: what a reference model is and what made it."""
    steps = " + ".join(f"{v['steps']:,}" + (f" ({k})" if k != "." else "") for k, v in info.get("phases", {}).items())
    return (f"{info['method']} reference model: {info['image_size']} px, {steps} steps, "
            f"{info['wall_seconds'] / 60:.0f} CPU-minutes on {info.get('machine', '?')} "
            f"({info.get('threads', '?')} threads), seed {info['seed']}, commit {str(info.get('commit'))[:10]}, "
            f"{info.get('date', '?')[:10]}; data: {info['data']['images']}")


def show_reference(method: str, live: Optional[nn.Module] = None, live_label: str = "this page's quick run",
                   n: int = 3, root: Optional[Path] = None, display: bool = True, live_size: Optional[int] = None):
    """The chapters' "same method after N CPU-minutes" cell: the reference model beside
    ``live`` (the reader's quick run, run at ``live_size`` — default the size it records — by
    :func:`inpaintlib.inference.inpaint`)
    and Telea on held-out photos — one example per hole-ratio bucket — and the card's
    per-bucket PSNR table. Returns ``(figure, table_markdown, provenance_line)``; when the
    reference model is missing it says how to build it and returns ``(None, "", message)``."""
    from . import compare
    from .baselines import telea
    from .inference import inpaint
    from .tensors import mask_image
    from .viz import show_images

    if not reference_path(method, root).is_file():
        line = (f"The {method} reference model is not in this copy of the book "
                f"({reference_path(method, root)}); `python -m inpaintlib.reference build {method}` makes it.")
        print(line)
        return None, "", line
    info = card(method, root)
    model = load_reference(method, root)
    size = info["image_size"]
    # one fixed mask per bucket (the same generator and seed as the card's set, n = 1 per bucket)
    data = compare.evaluation_set(size=size, per_bucket=max(1, -(-n // 3)), seed=EVAL_SEED)
    x, h = data.images[:n], data.holes[:n]
    cols = [("input", mask_image(x, h))]
    if live is not None:   # run where it lives, at the size it was trained at (live_size)
        dev = next(live.parameters()).device
        cols.append((live_label, inpaint(live.eval(), x.to(dev), h.to(dev), size=live_size).float().cpu()))
    cols += [(f"reference ({info['wall_seconds'] / 60:.0f} CPU-min)", inpaint(model, x, h)),
             ("Telea", inpaint(telea, x, h, strategy="native")), ("truth", x)]
    tiles, titles = [], []
    for i in range(len(x)):
        r = float(h[i].mean())
        for name, imgs in cols:
            tiles.append(imgs[i])
            titles.append(f"{name}\n{r:.0%} hole" if name == "input" else name)
    fig = show_images(tiles, titles=titles, nrow=len(cols), size=1.9)
    table = scores_table(info)
    line = provenance(info)
    if display:
        try:
            from IPython.display import Markdown, display as show

            show(Markdown(scores_markdown(table, line)))
        except ImportError:  # pragma: no cover
            print(line)
            print(table)
    return fig, table, line


def scores_markdown(table: str, line: str) -> str:
    """A reference model's provenance line and score table (the ``table`` and ``line`` that
    :func:`show_reference` returns) as the Markdown it displays. Chapters that show the figure
    in one cell (so it gets a numbered caption) display this in the next."""
    return (f"**{line}**\n\nPSNR (dB, mean ± standard error over {EVAL_PER_BUCKET} held-out "
            f"pairs per bucket, composited; from the model's card):\n\n{table}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inpaintlib.reference",
                                description="Build or inspect the reference models shipped with the book.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="train a method's reference model and write its card")
    b.add_argument("methods", nargs="+", help=f"{', '.join(SPECS)} or all")
    b.add_argument("--out", default=None, help="folder for the model files and cards (default: the package's)")
    b.add_argument("--work", default=None, help="folder for the training checkpoints")
    s = sub.add_parser("show", help="print a card's scores")
    s.add_argument("method")
    args = p.parse_args(argv)
    if args.cmd == "show":
        info = card(args.method)
        print(json.dumps({k: v for k, v in info.items() if k != "scores"}, indent=1, default=str))
        print(scores_table(info))
        return 0
    methods = list(SPECS) if args.methods == ["all"] else args.methods
    for m in methods:
        work = Path(args.work) / m if args.work else None
        cmd = "python -m inpaintlib.reference build " + m + (f" --out {args.out}" if args.out else "")
        info = build(m, root=Path(args.out) if args.out else None, work=work, command=cmd)
        print(f"{m}: {info['wall_seconds']:.0f} s, {info['weights_bytes'] / 1e6:.1f} MB")
        print(scores_table(info))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
