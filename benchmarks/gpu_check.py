"""One-shot GPU check: every recipe's training step, inference, data loading, the workshop
budget, DDP and the CTSDG speed goals, on one CUDA machine in at most 8 minutes.

Run once on a lent GPU (H100 / H200); it writes ONE JSON record and a Markdown summary:

    python benchmarks/gpu_check.py                       # CUDA: 256 px, budget 420 s
    python benchmarks/gpu_check.py --dry-run --out-dir /tmp/x   # CPU, tiny sizes, < 1 min

Files: ``<out-dir>/gpu_check-<device-slug>-<UTC date-time>.json`` (a JSON list holding one
record, like the other results files, so :func:`inpaintlib.compare.read_records` reads it)
and the ``.md`` beside it. Both are rewritten after every measurement, so a run stopped
early still leaves what it measured.

What is measured, in this order (each measurement in its own ``try``: a failure is
recorded with its error and the rest still runs):

1. **data** — images/s of each recipe's training stream at 256 px (``TrainingPairs`` with
   the recipe's masks; CTSDG's with its two Canny maps; SC-Lmser's photo–sketch pairs), on
   the CPU, as a step consumes it. The recipes call ``data(step)`` in the training process,
   serially with the GPU step, so a stream slower than the step starves the GPU.
2. **training steps** — one step of each recipe phase (PConv stage 1, GMCNN pre-training
   and fine-tuning, CTSDG, CLmser, SC-Lmser) at the workshop schedule's batch and size,
   built as the recipe builds it (same models, optimisers, loss modules and step function,
   run through :class:`inpaintlib.train.Trainer` inside ``trainer.autocast()``, as
   ``benchmarks/ctsdg.py`` does), in the variants ``fp32``, ``bf16`` (autocast),
   ``channels_last`` (float32) and ``compile`` (``torch.compile``, float32; run last,
   see 6). Warm-up steps excluded, CUDA synchronised around each timed step
   (``speed._median_time``); the batch is made once and is on the device (data time is
   item 1). Peak memory: ``torch.cuda.max_memory_allocated`` since a reset at the start of
   the variant (models, optimiser state, activations).
3. **inference** — each generator in eval mode under ``inference_mode`` at batch 1 and 8,
   float32 and bf16 autocast. CTSDG twice: ``model(image, hole)`` as a user calls it
   (it computes the known-region Canny edges on the CPU) and with the edges given
   (the network alone).
4. **workshop runs** — each recipe's ``train_<m>("workshop", out_dir=<tmp>, max_steps=N)``
   for a few hundred steps (N from the step and data times above so each takes about
   ``--run-seconds``), then each phase's ms/step (from its ``log.csv``, the first log row,
   which holds the warm-up, left out) × the workshop schedule's steps of that phase = the
   extrapolated training time, per recipe run and per chapter (the chapters train several
   runs: :data:`CHAPTER_RUNS`), checked against the workshop budget, 15 min of training per
   chapter.
5. **DDP** — a two-process ``torchrun`` training run with NCCL (``benchmarks/scale.py``'s
   launcher and worker) beside a one-process run when there are ≥ 2 GPUs; with one GPU, the
   one-process ``torchrun`` run alone.
6. **compile** variants of item 2, last, because compiling costs tens of seconds per model;
   each starts only while ``--compile-reserve-s`` seconds are left (CTSDG's first).

Between 3 and 4, **partial convolution**: ``PartialConv2d`` against ``nn.Conv2d`` of the
same shape, forward + backward, on the layers ``benchmarks/partial_conv.py`` times (its
``measure``), in float32 and bf16 autocast (the CPU target, a geometric mean ≤ 1.1×, is
a CPU figure; the GPU's is reported beside it).

Goals reported against (Markdown: met / missed and by how much): CTSDG training step at
256 px, batch 6 ≤ 100 ms; CTSDG inference at batch 1 ≤ 8 ms. The MindSpore port reports
590 ms/step and 76 ms/image on a V100 (their hardware and code; quoted, not measured here).

Deadline: nothing new starts once ``--budget-s`` (default 420) seconds have passed since
the script started (each measurement checks that its usual cost still fits), and a
watchdog writes the record and exits ``--grace-s`` (default 40) seconds after the budget if
a measurement overruns. Without CUDA and without ``--dry-run`` the script exits with
status 2.

``--dry-run`` runs everything on the CPU with tiny sizes (32–64 px, shrunk models, batch
1–2, 1–2 steps; ``compile`` of PConv's step only, with the ``eager`` backend, i.e. Dynamo
capture without Inductor's code generation) to test the script itself; its figures measure
nothing.

The script puts the repository on ``sys.path`` itself (and on ``PYTHONPATH`` for the
torchrun workers), so a machine whose Python has CUDA PyTorch needs no ``pip install -e .``,
only the package's small pure-Python requirements (the EfficientNet-Lite0 wheels, if absent).
``--commit`` records the commit when the tree is a copy without ``.git``.
"""
from __future__ import annotations

import time

_T0 = time.monotonic()  # the budget counts from here, imports included

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, List, Optional  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):          # run as a file with or without `pip install -e .`
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402

from inpaintlib import compare  # noqa: E402

import speed as _speed  # noqa: E402  (benchmarks/speed.py: the synchronised median timer)

RECIPES = ("pconv", "gmcnn", "ctsdg", "clmser", "sc_lmser")
#: (recipe, phase) whose training step is timed; GMCNN's two phases differ a lot in cost.
STEP_CASES = (("pconv", "stage1"), ("gmcnn", "pretrain"), ("gmcnn", "finetune"), ("ctsdg", "train"),
              ("clmser", "train"), ("sc_lmser", "train"))
VARIANTS = ("fp32", "bf16", "channels_last", "compile")
VARIANT_LABELS = {"fp32": ("float32", "contiguous"), "bf16": ("bf16 autocast", "contiguous"),
                  "channels_last": ("float32", "channels_last"), "compile": ("float32", "contiguous")}
BUDGET_PER_CHAPTER_S = 15 * 60.0   # the workshop profile: ≤ 15 min of training per chapter

#: The goals, and what the MindSpore port reports (their hardware and code, not ours).
GOALS = {"ctsdg_train_ms": 100.0, "ctsdg_infer_b1_ms": 8.0, "ctsdg_train_batch": 6}
THEIRS = {"train": "590 ms/step on 1× V100 (MindSpore ModelZoo README, zh, 19.12.2022; "
                   "573 ms on 1× RTX 3090 in the en README)",
          "infer": "76 ms/image at batch 1 on a V100 (same README; 29 ms on Ascend 910)"}

#: Phases of each recipe run: (phase, the schedule field with its steps, its folder under out_dir).
PHASES = {
    "pconv": (("stage1", "stage1_steps", "stage1"), ("stage2", "stage2_steps", "stage2")),
    "gmcnn": (("pretrain", "pretrain_steps", "pretrain"), ("finetune", "finetune_steps", "finetune")),
    "ctsdg": (("train", "train_steps", "train"), ("finetune", "finetune_steps", "finetune")),
    "clmser": (("train", "steps", "."),),
    "sc_lmser": (("train", "steps", "."),),
}
#: Which timed step stands for each phase when choosing the number of steps of a workshop run.
PHASE_CASE = {("pconv", "stage1"): "pconv/stage1", ("pconv", "stage2"): "pconv/stage1",
              ("gmcnn", "pretrain"): "gmcnn/pretrain", ("gmcnn", "finetune"): "gmcnn/finetune",
              ("ctsdg", "train"): "ctsdg/train", ("ctsdg", "finetune"): "ctsdg/train",
              ("clmser", "train"): "clmser/train", ("sc_lmser", "train"): "sc_lmser/train"}
#: How many runs of each phase a chapter's notebook trains in the workshop profile (read from
#: book/*.ipynb at the time of writing; update when a chapter changes). Runs of a related model
#: or a cheaper loss are counted at the recipe's own ms/step, as stated in ``note``.
CHAPTER_RUNS = {
    "pconv": ({"stage1": 7, "stage2": 7},
              "7 two-stage runs: PConv and its plain twin (seed 0), the full loss with seeds 1-2 and the "
              "pixel-only loss with seeds 0-2; counted at PConv's full-loss ms/step (the pixel-only runs skip "
              "the backbone, so an upper bound for them)"),
    "gmcnn": ({"pretrain": 1, "finetune": 2},
              "one pre-training, two fine-tunings (critics with and without ID-MRF); both counted at the "
              "ID-MRF step's cost (an upper bound for the other)"),
    "ctsdg": ({"train": 1, "finetune": 1}, "one two-phase run"),
    "clmser": ({"train": 8},
               "8 runs: the 4 variants (CLmser, CLmser_n, CLmser_w, CAE) on all photos and on 3 photos; "
               "counted at CLmser's ms/step"),
    "sc_lmser": ({"train": 2}, "2 runs: with and without the consistency terms (the latter counted at the "
                               "full step's cost, an upper bound)"),
}
#: --dry-run: schedule overrides that shrink every recipe to CPU size.
#: (CLmser's six and SC-Lmser's five stride-2 levels need 64 px.)
DRY_OVERRIDES = {
    "pconv": {"image_size": 32, "layers": 5, "width": 0.25, "batch_size": 2},
    "gmcnn": {"image_size": 32, "width": 0.25, "batch_pretrain": 2, "batch_finetune": 2, "d_steps": 1},
    "ctsdg": {"image_size": 32, "layers": 5, "width": 0.125, "batch_size": 2},
    "clmser": {"image_size": 64, "batch_size": 2},
    "sc_lmser": {"image_size": 64, "width": 0.125, "batch_size": 1},
}


# ------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """Sizes, repetitions and time allowances of one run (GPU defaults or the dry run's)."""

    dry_run: bool
    device: torch.device
    budget_s: float
    grace_s: float = 40.0
    step_warmup: int = 3
    step_runs: int = 10
    infer_warmup: int = 5
    infer_runs: int = 20
    infer_batches: tuple = (1, 8)
    data_seconds: float = 2.0
    run_seconds: float = 20.0
    run_steps: tuple = (80, 400)        # (min, max) steps of a workshop run's first phase
    run_overhead_s: float = 15.0        # building, backbone loading and checkpoints of one workshop run
    compile_backend: str = "inductor"
    compile_reserve_s: float = 90.0
    compile_cases: Optional[tuple] = None   # None: every case; the dry run compiles PConv's step only
    pconv_rounds: int = 10              # timed rounds per PartialConv2d / Conv2d layer
    pconv_shrink: int = 1               # the dry run divides the layers' sizes and channels by this (batch 2)
    backbone: str = "auto"
    skip: tuple = ()
    overrides: Dict[str, dict] = field(default_factory=dict)

    @classmethod
    def make(cls, args) -> "Settings":
        dev = torch.device("cpu" if args.dry_run else "cuda")
        if args.dry_run:
            s = cls(True, dev, args.budget_s if args.budget_s is not None else 45.0, grace_s=15.0, step_warmup=0,
                    step_runs=1, infer_warmup=1, infer_runs=1, infer_batches=(1, 2), data_seconds=0.2,
                    run_seconds=1.0, run_steps=(2, 2), run_overhead_s=2.0,
                    compile_backend=args.compile_backend or "eager", compile_reserve_s=5.0,
                    compile_cases=("pconv/stage1",), pconv_rounds=1, pconv_shrink=8,
                    overrides={k: dict(v) for k, v in DRY_OVERRIDES.items()})
        else:
            s = cls(False, dev, args.budget_s if args.budget_s is not None else 420.0,
                    compile_backend=args.compile_backend or "inductor")
        s.backbone = args.backbone
        s.skip = tuple(x.strip() for x in (args.skip or "").split(",") if x.strip())
        if args.grace_s is not None:
            s.grace_s = args.grace_s
        if args.compile_reserve_s is not None:
            s.compile_reserve_s = args.compile_reserve_s
        if args.run_seconds is not None:
            s.run_seconds = args.run_seconds
        return s

    def schedule(self, recipe: str):
        """The workshop schedule of ``recipe`` (shrunk in the dry run)."""
        return _recipe_module(recipe).schedule("workshop", **self.overrides.get(recipe, {}))


def _recipe_module(recipe: str):
    import importlib

    return importlib.import_module(f"inpaintlib.recipes.{recipe}")


class Deadline:
    """Seconds left of the budget, counted from the script's start (imports included)."""

    def __init__(self, budget_s: float, start: float = _T0):
        self.budget_s, self.start = float(budget_s), start

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def allows(self, need_s: float) -> bool:
        return self.left() >= need_s


# --------------------------------------------------------------------- the record


class Recorder:
    """The one record of this run, written (JSON + Markdown) after every measurement.

    Thread-safe, so the watchdog can write it while a measurement runs."""

    def __init__(self, record: dict, json_path: Path, md_path: Path):
        self.record, self.json_path, self.md_path = record, json_path, md_path
        self.lock = threading.RLock()

    def add(self, section: str, entry: dict) -> dict:
        with self.lock:
            self.record.setdefault(section, []).append(entry)
        return entry

    def update(self, entry: dict, **values) -> None:
        with self.lock:
            entry.update(values)

    def save(self) -> None:
        """Atomically replace both files with the record as it stands."""
        with self.lock:
            rec = self.record
            rec["wall_s"] = round(time.monotonic() - _T0, 2)
            rec["goals"] = goal_lines(rec)
            tmp = self.json_path.with_name(self.json_path.name + ".partial")
            tmp.unlink(missing_ok=True)
            compare.append_records(tmp, [rec])           # the results files' format: a list of records
            os.replace(tmp, self.json_path)
            md = self.md_path.with_name(self.md_path.name + ".partial")
            md.write_text(render_markdown(compare.read_records(self.json_path)[0]), encoding="utf-8")
            os.replace(md, self.md_path)


def _error(err: BaseException) -> dict:
    """An exception as a record: its type and first line, and the end of its traceback."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    return {"status": "error", "error": f"{type(err).__name__}: {first}"[:500],
            "traceback": "".join(tb)[-2500:]}


def _free_memory(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _reset_peak(dev: torch.device) -> None:
    _free_memory(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak_bytes(dev: torch.device) -> Optional[int]:
    if dev.type != "cuda":
        return None
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def _timing(times: List[float], batch: int) -> dict:
    med = statistics.median(times)
    return {"ms": round(med * 1e3, 3), "ms_mean": round(statistics.fmean(times) * 1e3, 3),
            "ms_min": round(min(times) * 1e3, 3), "timed_runs": len(times),
            "images_per_s": round(batch / med, 2) if med > 0 else None}


# ------------------------------------------------------------------- device facts


def _driver_version() -> Optional[str]:
    """The NVIDIA driver's version: ``nvidia-smi``, else NVML (``nvidia-ml-py``)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:  # noqa: BLE001  (no NVML: the record says unknown)
        return None


def device_info(dev: torch.device) -> dict:
    """What the record is about: the GPU's name and properties, CUDA / cuDNN / NCCL / driver
    versions and the numeric settings that change speed."""
    info = {"torch": torch.__version__, "torch_cuda_build": torch.version.cuda,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    if dev.type == "cuda":
        info.update(name=torch.cuda.get_device_name(dev), gpu_count=torch.cuda.device_count(),
                    cuda_runtime=torch.version.cuda, driver=_driver_version())
        try:                       # the rest is informative: never let it stop the check
            props = torch.cuda.get_device_properties(dev)
            info.update(capability=f"{props.major}.{props.minor}", total_memory_bytes=int(props.total_memory),
                        multiprocessors=props.multi_processor_count, cudnn=torch.backends.cudnn.version(),
                        bf16_supported=torch.cuda.is_bf16_supported())
            v = torch.cuda.nccl.version()
            info["nccl"] = ".".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
        except Exception as err:  # noqa: BLE001
            info["device_info_error"] = f"{type(err).__name__}: {err}"
    else:
        info.update(name=f"CPU ({compare._cpu_name()})", gpu_count=0, cuda_runtime=None, driver=None)
    return info


def device_slug(info: dict, dry_run: bool) -> str:
    if dry_run:
        return "cpu-dry-run"
    return re.sub(r"[^a-z0-9]+", "-", info["name"].lower()).strip("-") or "gpu"


# ------------------------------------------------------------------- the steps


@dataclass
class StepCase:
    """One recipe phase's training step, built as the recipe builds it."""

    name: str                       # "<recipe>/<phase>"
    batch_size: int
    image_size: int
    models: dict
    optimizers: dict
    step_fn: Callable
    data: Callable                  # data(step) -> batch, the recipe's own stream
    aux: list = field(default_factory=list)   # loss modules that follow the models to the device
    schedulers: dict = field(default_factory=dict)
    loss: str = ""


def build_case(recipe: str, phase: str, settings: Settings, backbone: Optional[str] = None) -> StepCase:
    """The models, optimisers, loss modules, step function and data stream of ``recipe``'s
    ``phase`` at the workshop schedule (shrunk in the dry run), as ``train_<recipe>`` builds
    them (``inpaintlib/recipes/<recipe>.py``)."""
    from inpaintlib.data import TrainingPairs
    from inpaintlib.recipes._common import paper_backbone

    sched = settings.schedule(recipe)
    backbone = backbone or settings.backbone
    torch.manual_seed(0)
    name = f"{recipe}/{phase}"
    if recipe == "pconv" and phase == "stage1":
        from inpaintlib.losses import PConvLoss
        from inpaintlib.nn import perceptual_backbone
        from inpaintlib.recipes.pconv import make_step_fn
        from inpaintlib.registry import build_model

        net = build_model("pconv", **sched.model_config())
        bb = perceptual_backbone(paper_backbone("workshop", backbone, "vgg16"), verbose=False)
        loss = PConvLoss(bb)
        return StepCase(name, sched.batch_size, sched.image_size, {"g": net},
                        {"g": torch.optim.Adam(net.parameters(), lr=sched.lr1)}, make_step_fn(loss),
                        TrainingPairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=0), [loss],
                        loss=f"PConv loss ({bb.description})")
    if recipe == "gmcnn":
        from inpaintlib.models import GMCNN, GlobalDiscriminator, LocalDiscriminator
        from inpaintlib.recipes import gmcnn

        g = GMCNN(**sched.model_config())
        conf = sched.confidence()
        if phase == "pretrain":
            return StepCase(name, sched.batch_pretrain, sched.image_size, {"g": g},
                            {"g": torch.optim.Adam(g.parameters(), lr=sched.lr_pretrain, betas=sched.betas)},
                            gmcnn.pretrain_step_fn(conf), gmcnn.training_pairs(sched, sched.batch_pretrain, 0),
                            [conf], loss="1.4·L_rec + 1.2·L_ae")
        if phase == "finetune":
            local = sched.image_size // 2 if sched.masks == "rectangle" else None
            dg = GlobalDiscriminator(in_size=sched.image_size, width=sched.width)
            dl = LocalDiscriminator(in_size=local or sched.image_size, width=sched.width)
            mrf = gmcnn.idmrf_loss(paper_backbone("workshop", backbone, "vgg19"), verbose=False)
            opts = {"g": torch.optim.Adam(g.parameters(), lr=sched.lr_finetune, betas=sched.betas),
                    "d": torch.optim.Adam(list(dg.parameters()) + list(dl.parameters()), lr=sched.lr_finetune,
                                          betas=sched.betas)}
            return StepCase(name, sched.batch_finetune, sched.image_size, {"g": g, "dg": dg, "dl": dl}, opts,
                            gmcnn.finetune_step_fn(conf, mrf, sched.d_steps, "hinge", local_size=local),
                            gmcnn.training_pairs(sched, sched.batch_finetune, 1), [conf, mrf],
                            loss=f"{sched.d_steps} hinge critic steps + L_rec, L_ae, ID-MRF ({mrf.description}), "
                                 "adversarial")
    if recipe == "ctsdg" and phase == "train":
        from inpaintlib.losses import CTSDGLoss
        from inpaintlib.models import CTSDG, CTSDGDiscriminator
        from inpaintlib.nn import perceptual_backbone
        from inpaintlib.recipes.ctsdg import EdgePairs, make_step_fn

        g, d = CTSDG(**sched.model_config()), CTSDGDiscriminator(width=sched.width)
        bb = perceptual_backbone(paper_backbone("workshop", backbone, "vgg16"), verbose=False)
        loss = CTSDGLoss(bb)
        opts = {"g": torch.optim.Adam(g.parameters(), lr=sched.lr_train),
                "d": torch.optim.Adam(d.parameters(), lr=sched.lr_train * sched.d_lr_ratio)}
        pairs = TrainingPairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=0)
        data = EdgePairs(pairs, sched.sigma)
        return StepCase(name, sched.batch_size, sched.image_size, {"g": g, "d": d}, opts, make_step_fn(loss), data,
                        [loss], loss=f"G step (CTSDG loss, {bb.description}) then D step")
    if recipe == "clmser" and phase == "train":
        from inpaintlib.models import CLmser
        from inpaintlib.recipes import clmser

        net = CLmser.variant("CLmser")
        opt = torch.optim.Adam(net.parameters(), lr=sched.lr, weight_decay=0.0, amsgrad=sched.amsgrad)
        return StepCase(name, sched.batch_size, sched.image_size, {"g": net}, {"g": opt}, clmser.make_step_fn(),
                        clmser.training_pairs(sched, seed=0), schedulers={"g": clmser.make_scheduler(opt, sched)},
                        loss="MSE over every pixel")
    if recipe == "sc_lmser" and phase == "train":
        from inpaintlib.models import PatchDiscriminator, SCLmser
        from inpaintlib.recipes import sc_lmser

        model = SCLmser(**sched.model_config())
        dy, dx = PatchDiscriminator(4, width=sched.width), PatchDiscriminator(4, width=sched.width)
        opts = {"dy": torch.optim.Adam(dy.parameters(), lr=sched.lr_d, betas=sched.betas),
                "dx": torch.optim.Adam(dx.parameters(), lr=sched.lr_d, betas=sched.betas),
                "f": torch.optim.Adam(model.F.parameters(), lr=sched.lr_g, betas=sched.betas),
                "g": torch.optim.Adam(model.G.parameters(), lr=sched.lr_g, betas=sched.betas)}
        data, which = sc_lmser.default_data(sched, 0, verbose=False)
        return StepCase(name, sched.batch_size, sched.image_size, {"g": model.G, "f": model.F, "dy": dy, "dx": dx},
                        opts, sc_lmser.make_step_fn(True), data,
                        loss=f"D, F and G steps with consistency ({which} data)")
    raise ValueError(f"no training step for recipe {recipe!r}, phase {phase!r}")


def case_shape(recipe: str, phase: str, settings: Settings) -> tuple:
    """``(batch, image size)`` of a recipe phase's step in the workshop schedule."""
    sched = settings.schedule(recipe)
    batch = {"pretrain": "batch_pretrain", "finetune": "batch_finetune"}.get(phase, "batch_size")
    return int(getattr(sched, batch)), int(sched.image_size)


class StepRunner:
    """A built :class:`StepCase` inside a :class:`~inpaintlib.train.Trainer` with the variant's
    precision, memory format and compilation; ``one()`` runs one training step on a fixed
    batch already on the device."""

    def __init__(self, case: StepCase, variant: str, device: torch.device, out_dir: Path,
                 compile_backend: str = "inductor"):
        from inpaintlib.train import Trainer, move_to

        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        self.case, self.variant = case, variant
        compile_opts = {"backend": compile_backend} if variant == "compile" else False
        self.trainer = Trainer(case.models, case.optimizers, case.step_fn, schedulers=case.schedulers or None,
                               out_dir=out_dir, max_steps=1, device=device, progress=False, resume=False, seed=0,
                               amp="bf16" if variant == "bf16" else "off",
                               channels_last=variant == "channels_last", compile=compile_opts)
        for m in case.aux:                       # as the recipes' run_phase does
            if isinstance(m, torch.nn.Module):
                m.to(self.trainer.device)
        self.batch = move_to(case.data(0), self.trainer.device, variant == "channels_last")

    def one(self) -> dict:
        with self.trainer.autocast():
            return self.case.step_fn(self.trainer, self.batch)

    def close(self) -> None:
        self.trainer.close()


def time_training_step(recipe: str, phase: str, variant: str, settings: Settings, tmp: Path) -> dict:
    """One variant of one recipe phase's training step: median ms/step over
    ``settings.step_runs`` steps after ``step_warmup`` warm-up steps (compile: the first call,
    which compiles, timed apart), images/s, peak CUDA memory."""
    dev = settings.device
    _reset_peak(dev)
    case = build_case(recipe, phase, settings)
    out = {"batch": case.batch_size, "size": case.image_size, "loss": case.loss,
           "params": sum(p.numel() for m in case.models.values() for p in m.parameters())}
    runner = StepRunner(case, variant, dev, tmp / f"{recipe}-{phase}-{variant}", settings.compile_backend)
    try:
        if variant == "compile":
            _speed._sync(dev)
            t = time.perf_counter()
            runner.one()
            _speed._sync(dev)
            out["compile_first_call_s"] = round(time.perf_counter() - t, 2)
            out["compile_backend"] = settings.compile_backend
        _, times = _speed._median_time(runner.one, dev, settings.step_warmup, settings.step_runs)
        out.update(_timing(times, case.batch_size))
        out["peak_memory_bytes"] = _peak_bytes(dev)
    finally:
        runner.close()
        del runner, case
        if variant == "compile":
            torch._dynamo.reset()
        _free_memory(dev)
    return out


# --------------------------------------------------------------------- inference


def build_generator(name: str, settings: Settings) -> torch.nn.Module:
    """The generator of recipe ``name`` with the workshop schedule's configuration."""
    sched = settings.schedule(name)
    if name == "pconv":
        from inpaintlib.registry import build_model

        return build_model("pconv", **sched.model_config())
    if name == "gmcnn":
        from inpaintlib.models import GMCNN

        return GMCNN(**sched.model_config())
    if name == "ctsdg":
        from inpaintlib.models import CTSDG

        return CTSDG(**sched.model_config())
    if name == "clmser":
        from inpaintlib.models import CLmser

        return CLmser.variant("CLmser")
    if name == "sc_lmser":
        from inpaintlib.models import SCLmser

        return SCLmser(**sched.model_config())
    raise ValueError(f"unknown generator {name!r}")


#: Inference entries: (label, generator, how it is called).
INFERENCE_CASES = (("pconv", "pconv", "model(image, hole)"), ("gmcnn", "gmcnn", "model(image, hole)"),
                   ("ctsdg", "ctsdg", "model(image, hole): known-region Canny edges computed on the CPU"),
                   ("ctsdg (edges given)", "ctsdg", "model(image, hole, edge=...): the network alone"),
                   ("clmser", "clmser", "model(image, hole)"),
                   ("sc_lmser", "sc_lmser", "model(photo): G, photo to sketch"))


def time_inference(label: str, name: str, model: torch.nn.Module, batch: int, dtype: str,
                   settings: Settings) -> dict:
    """Latency of one generator's forward pass (``model``, built by :func:`build_generator`,
    on the device, in eval mode) under ``inference_mode``: median of ``infer_runs`` calls
    after ``infer_warmup``; peak memory since the reset at the start (weights included)."""
    from inpaintlib.data import TrainingPairs

    dev = settings.device
    _reset_peak(dev)
    size = settings.schedule(name).image_size
    image, hole = TrainingPairs(batch, size, seed=0)(0)
    image, hole = image.to(dev), hole.to(dev)
    if label == "sc_lmser":
        args, kwargs = (image,), {}
    elif label == "ctsdg (edges given)":
        from inpaintlib.models.ctsdg import known_region_edges

        args, kwargs = (image, hole), {"edge": known_region_edges(image, hole, model.sigma)}
    else:
        args, kwargs = (image, hole), {}
    def infer():
        with torch.inference_mode(), (torch.autocast(dev.type, dtype=torch.bfloat16) if dtype == "bf16"
                                      else nullcontext()):
            model(*args, **kwargs)

    _, times = _speed._median_time(infer, dev, settings.infer_warmup, settings.infer_runs)
    return {"size": size, **_timing(times, batch), "peak_memory_bytes": _peak_bytes(dev)}


# -------------------------------------------------------------------------- data


def data_stream(case: str, settings: Settings):
    """``(data, batch, size, description)``: the stream a recipe phase's step consumes."""
    from inpaintlib.data import TrainingPairs

    recipe, phase = case.split("/")
    sched = settings.schedule(recipe)
    if recipe == "pconv":
        return (TrainingPairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=0), sched.batch_size,
                sched.image_size, "TrainingPairs, free-form holes")
    if recipe == "gmcnn":
        from inpaintlib.recipes.gmcnn import training_pairs

        b = sched.batch_pretrain if phase == "pretrain" else sched.batch_finetune
        return training_pairs(sched, b, 0), b, sched.image_size, f"TrainingPairs, {sched.masks} holes"
    if recipe == "ctsdg":
        from inpaintlib.recipes.ctsdg import EdgePairs

        return (EdgePairs(TrainingPairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=0),
                          sched.sigma), sched.batch_size, sched.image_size,
                "TrainingPairs, free-form holes + 2 Canny maps per image (EdgePairs)")
    if recipe == "clmser":
        from inpaintlib.recipes.clmser import training_pairs

        return training_pairs(sched, seed=0), sched.batch_size, sched.image_size, "TrainingPairs, dense-point holes"
    if recipe == "sc_lmser":
        from inpaintlib.recipes.sc_lmser import default_data

        data, which = default_data(sched, 0, verbose=False)
        return data, sched.batch_size, sched.image_size, f"photo–sketch pairs ({which})"
    raise ValueError(f"unknown case {case!r}")


def time_data(case: str, settings: Settings) -> dict:
    """Images/s of a recipe phase's data stream on the CPU: ``data(step)`` for consecutive
    steps for about ``settings.data_seconds`` (at least 2 calls) after one warm-up call."""
    data, batch, size, desc = data_stream(case, settings)
    data(0)                                           # warm-up: the sample bank's first load
    times, step, start = [], 1, time.perf_counter()
    while len(times) < 2 or time.perf_counter() - start < settings.data_seconds:
        t = time.perf_counter()
        data(step)
        times.append(time.perf_counter() - t)
        step += 1
    med = statistics.median(times)
    return {"stream": desc, "batch": batch, "size": size, "calls": len(times), "s_per_batch": round(med, 5),
            "images_per_s": round(batch / med, 2), "torch_threads": torch.get_num_threads()}


def starvation(data_entry: dict, step_entry: Optional[dict], workers: Optional[int] = None) -> dict:
    """Whether the GPU would wait for the data. ``data_entry`` times ``data(step)`` in one
    process. The recipes compute it in the profile's ``workers`` data processes
    (:class:`inpaintlib.data.Prefetched`; default: the workshop profile's), which make batches
    while the GPU computes: a step then costs max(data / workers, GPU step), where the
    workers can use at most the machine's cores but one."""
    if not step_entry or step_entry.get("status") != "ok":
        return {"gpu_step_variant": None, "verdict": "no step time to compare"}
    if workers is None:
        from inpaintlib.profiles import get_profile

        workers = get_profile("workshop").num_workers
    usable = max(1, min(workers, (os.cpu_count() or 2) - 1)) if workers > 0 else 0
    d, g = data_entry["s_per_batch"], step_entry["ms"] / 1e3
    per_batch = d / usable if usable else d
    wall = max(per_batch, g) if usable else d + g
    return {"gpu_step_variant": step_entry["variant"], "gpu_images_per_s": step_entry["images_per_s"],
            "workers": workers, "data_s_per_batch_with_workers": round(per_batch, 5),
            "data_share_of_step": round(d / (d + g), 3),
            "gpu_busy_share": round(g / wall, 3),
            "verdict": "data-bound: the GPU would wait" if per_batch > g else "GPU-bound: the data keeps up"}


# ----------------------------------------------------------------- workshop runs


def phase_time_from_log(log_path: Path) -> dict:
    """ms/step of one phase from its Trainer ``log.csv`` (cumulative ``time`` column): the
    rows after the first (which holds the warm-up) when there are two or more, else all."""
    from inpaintlib.train import read_log

    log = read_log(log_path)
    steps, t = [int(s) for s in log["step"]], log["time"]
    if len(steps) >= 2:
        n, secs, warm = steps[-1] - steps[0], t[-1] - t[0], False
    else:
        n, secs, warm = steps[-1], t[-1], True
    return {"measured_steps": n, "measured_s": round(secs, 4), "includes_warmup": warm, "trained_steps": steps[-1]}


def extrapolate(phases: List[dict], runs: Optional[Dict[str, int]] = None,
                budget_s: float = BUDGET_PER_CHAPTER_S) -> dict:
    """Full-schedule training time from measured phases.

    ``phases``: ``[{"phase", "measured_steps", "measured_s", "schedule_steps"}, ...]``;
    ``runs``: how many runs of each phase the chapter trains (default 1 each).
    Per phase: ms/step = 1000 · measured_s / measured_steps; extrapolated_s = ms/step ·
    schedule_steps / 1000; chapter_s = extrapolated_s · runs. Returns the phases with these
    fields, ``recipe_training_s`` (one run: Σ extrapolated_s), ``chapter_training_s``
    (Σ chapter_s), ``budget_s``, ``within_budget`` (chapter_training_s ≤ budget_s),
    ``margin_s`` (budget_s − chapter_training_s; negative: over) and ``recipe_within_budget``."""
    runs = runs or {}
    out, recipe_s, chapter_s = [], 0.0, 0.0
    for p in phases:
        if not p["measured_steps"] > 0 or not p["measured_s"] >= 0:
            raise ValueError(f"phase {p.get('phase')!r}: needs measured_steps > 0 and measured_s >= 0, got {p}")
        ms = 1000.0 * p["measured_s"] / p["measured_steps"]
        est = ms * p["schedule_steps"] / 1000.0
        n = int(runs.get(p["phase"], 1))
        out.append({**p, "ms_per_step": round(ms, 3), "extrapolated_s": round(est, 2), "chapter_runs": n,
                    "chapter_s": round(est * n, 2)})
        recipe_s += est
        chapter_s += est * n
    return {"phases": out, "recipe_training_s": round(recipe_s, 2), "chapter_training_s": round(chapter_s, 2),
            "budget_s": budget_s, "within_budget": chapter_s <= budget_s, "margin_s": round(budget_s - chapter_s, 2),
            "recipe_within_budget": recipe_s <= budget_s}


def choose_steps(recipe: str, steps_by_case: Dict[str, dict], data_by_case: Dict[str, dict],
                 settings: Settings) -> tuple:
    """``(max_steps, estimated seconds)`` for a workshop run of about ``settings.run_seconds``:
    the recipes run ``max_steps`` steps of the first phase and ``max_steps // 4`` of the
    second; a step costs the bf16 step (the Trainer's ``amp="auto"`` on CUDA) plus its data."""
    lo, hi = settings.run_steps
    per_n = 0.0
    for k, (phase, _, _) in enumerate(PHASES[recipe]):
        case = PHASE_CASE[(recipe, phase)]
        st = steps_by_case.get(case)
        d = data_by_case.get(case)
        if not st or not d:
            return lo if lo == hi else min(hi, max(lo, 100)), None
        per_n += (st["ms"] / 1e3 + d["s_per_batch"]) * (1.0 if k == 0 else 0.25)
    n = int(min(hi, max(lo, settings.run_seconds / per_n)))
    return n, n * per_n


def run_workshop(recipe: str, max_steps: int, settings: Settings, tmp: Path) -> dict:
    """Train ``recipe`` with the workshop profile for ``max_steps`` steps (its second phase,
    if any, a quarter of that) into ``tmp``; extrapolate each phase to the full schedule."""
    mod = _recipe_module(recipe)
    full = mod.schedule("workshop")                      # what the chapter runs
    out_dir = tmp / f"workshop-{recipe}"
    kwargs = dict(out_dir=out_dir, max_steps=max_steps, device=settings.device, progress=False,
                  overrides=settings.overrides.get(recipe) or None)
    if recipe in ("pconv", "gmcnn", "ctsdg"):
        kwargs["backbone"] = settings.backbone
    t = time.perf_counter()
    getattr(mod, f"train_{recipe}")("workshop", **kwargs)
    wall = time.perf_counter() - t
    phases = []
    for phase, field_name, folder in PHASES[recipe]:
        p = phase_time_from_log(out_dir / folder / "log.csv")
        phases.append({"phase": phase, "schedule_steps": int(getattr(full, field_name)), **p})
    runs, note = CHAPTER_RUNS[recipe]
    ext = extrapolate(phases, runs, BUDGET_PER_CHAPTER_S)
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"max_steps": max_steps, "wall_s": round(wall, 2), "chapter_runs_note": note,
            "training_s_measured": round(sum(p["measured_s"] for p in phases), 2), **ext}


# ----------------------------------------------------------------------------- DDP


def ddp_check(settings: Settings, deadline: Deadline, tmp: Path) -> dict:
    """A two-process ``torchrun`` run with NCCL (``benchmarks/scale.py``: PConv, quick model,
    Trainer + DDP) and the same with one process, when there are ≥ 2 GPUs; with one GPU the
    one-process ``torchrun`` run alone (the launcher and the Trainer under it; a process group
    forms only with ≥ 2 processes)."""
    n = torch.cuda.device_count() if settings.device.type == "cuda" else 0
    if settings.dry_run:
        return {"status": "skipped", "gpus": n,
                "reason": "dry run on the CPU: the NCCL check needs ≥ 2 GPUs "
                          "(tests/test_train.py runs DDP with gloo)"}
    if n < 1:
        return {"status": "skipped", "gpus": n, "reason": "no GPU (torch.cuda.device_count() = 0)"}
    import scale

    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + paths)   # the workers import inpaintlib
    res = {"status": "ok", "gpus": n, "runs": [],
           "model": "PConv U-Net of the quick profile (5 levels, width ×0.25), full PConv loss"}
    if n < 2:
        res["note"] = (f"{n} GPU: one process under torchrun only; the two-process NCCL run needs ≥ 2 GPUs "
                       "(torch.cuda.device_count() = 1)")
    for nproc in ((2, 1) if n >= 2 else (1,)):
        if not deadline.allows(45):
            res["runs"].append({"nproc": nproc, "status": "skipped", "reason": "deadline"})
            continue
        r = scale.launch(nproc, tmp / f"ddp{nproc}", steps=20, warmup=3, global_batch=8, size=256, threads=1,
                         timeout=max(30.0, deadline.left() - 10))
        res["runs"].append({"status": "ok", **r})
    two = next((r for r in res["runs"] if r.get("nproc") == 2 and r["status"] == "ok"), None)
    one = next((r for r in res["runs"] if r.get("nproc") == 1 and r["status"] == "ok"), None)
    if two and one:
        res["speedup_2_vs_1"] = round(two["images_per_s"] / one["images_per_s"], 3)
    if two and two.get("backend") != "nccl":
        res["status"] = "error"
        res["error"] = f"the two-process run used backend {two.get('backend')!r}, not nccl"
    return res


# --------------------------------------------------------------------------- goals


def _judged(goal: dict, entry: dict) -> dict:
    """``goal`` with the measurement of ``entry`` and met/missed, or why it was not measured."""
    if entry.get("status") == "ok":
        goal["measured_ms"] = entry["ms"]
        goal["status"], goal["by_ms"], goal["by_pct"] = _by(entry["ms"], goal["target_ms"])
    else:
        goal["status"] = "not measured"
        goal["reason"] = entry.get("reason") or entry.get("error")
    return goal


def _by(measured: float, target: float) -> tuple:
    diff = target - measured
    return ("met" if measured <= target else "missed"), round(abs(diff), 3), round(100.0 * abs(diff) / target, 1)


def goal_lines(rec: dict) -> List[dict]:
    """The CTSDG goals against what this run measured (every variant that ran)."""
    dry = rec.get("dry_run", False)
    goals = []
    steps = [e for e in rec.get("training_steps", []) if e.get("case") == "ctsdg/train"]
    for e in steps:
        g = {"goal": "ctsdg_train_step", "target_ms": GOALS["ctsdg_train_ms"], "variant": e["variant"],
             "dtype": e.get("dtype"), "batch": e.get("batch"), "size": e.get("size"), "theirs": THEIRS["train"],
             "comparable": not dry and e.get("batch") == GOALS["ctsdg_train_batch"] and e.get("size") == 256}
        goals.append(_judged(g, e))
    for e in rec.get("inference", []):
        if e.get("model") not in ("ctsdg", "ctsdg (edges given)") or e.get("batch") != 1:
            continue
        g = {"goal": "ctsdg_inference_b1", "target_ms": GOALS["ctsdg_infer_b1_ms"], "variant": e["model"],
             "dtype": e.get("dtype"), "batch": 1, "size": e.get("size"), "theirs": THEIRS["infer"],
             "comparable": not dry and e.get("size") == 256}
        goals.append(_judged(g, e))
    return goals


# ------------------------------------------------------------------------ Markdown


def _mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.0f} MiB"


def _ms(x) -> str:
    return "—" if x is None else (f"{x:,.2f}" if x < 10 else f"{x:,.1f}")


def _status(e: dict) -> str:
    s = e.get("status", "?")
    if s == "ok":
        return "ok"
    why = e.get("reason") or e.get("error") or ""
    return f"{s}: {why}".replace("|", "/").replace("\n", " ")[:200]


def goal_line(g: dict, device: str) -> str:
    """One CTSDG goal as a Markdown bullet: what was measured, where, and the verdict."""
    if g["goal"] == "ctsdg_train_step":
        kind = f"{g.get('dtype')}" + ("" if g.get("variant") in ("fp32", "bf16") else f", {g.get('variant')}")
        what = f"CTSDG training step (G + D iteration, {kind}, batch {g['batch']}, {g['size']} px, {device})"
    else:
        what = f"CTSDG inference (`{g['variant']}`, {g['dtype']}, batch 1, {g['size']} px, {device})"
    if g["status"] == "not measured":
        res = f"not measured ({g.get('reason')})"
    else:
        res = (f"{_ms(g['measured_ms'])} ms — **{g['status']}** by {_ms(g['by_ms'])} ms ({g['by_pct']:.0f} %)"
               + ("" if g.get("comparable") else " (not comparable: dry run or another batch/size)"))
    return f"- {what}: goal ≤ {g['target_ms']:.0f} ms: {res}"


def render_markdown(rec: dict) -> str:
    """The Markdown summary of a gpu_check record (every figure with device, dtype, batch, size)."""
    di = rec.get("device_info", {})
    dev = di.get("name", "?")
    short = dev.replace("NVIDIA ", "")
    dry = rec.get("dry_run", False)
    L = [f"# GPU check: {dev}", ""]
    if dry:
        L += ["**DRY RUN** on the CPU with shrunk models at 32–64 px, batch 1–2, 1–2 steps: tests the script, "
              "measures nothing. No figure below is comparable with a goal.", ""]
    L += [f"- device: **{dev}** ×{di.get('gpu_count', 0)}"
          + (f", compute capability {di.get('capability')}, {_mib(di.get('total_memory_bytes'))}, "
             f"{di.get('multiprocessors')} SMs" if di.get("capability") else ""),
          f"- CUDA runtime {di.get('cuda_runtime')}, driver {di.get('driver')}, cuDNN {di.get('cudnn')}, "
          f"NCCL {di.get('nccl')}; torch {rec.get('torch')}, python {rec.get('python')}",
          f"- host: {rec.get('machine')}; torch CPU threads {di.get('torch_threads')}; cudnn.benchmark "
          f"{di.get('cudnn_benchmark')}, TF32 conv {di.get('cudnn_allow_tf32')} / "
          f"matmul {di.get('matmul_allow_tf32')}",
          f"- commit {rec.get('commit')}, {rec.get('date')}; command `{rec.get('command')}`",
          f"- budget {rec.get('budget_s')} s; wall time {rec.get('wall_s')} s; "
          f"{'finished' if rec.get('finished') else 'NOT finished: ' + str(rec.get('stopped') or 'still running')}",
          f"- perceptual backbone: {rec.get('settings', {}).get('backbone_description', '?')}", ""]

    L += ["## Goals (CTSDG)", ""]
    goals = rec.get("goals", [])
    if not goals:
        L += ["No CTSDG figure was measured.", ""]
    L += [goal_line(g, short) for g in goals]
    L += ["", f"The MindSpore port reports (theirs, not measured here): training {THEIRS['train']}; "
              f"inference {THEIRS['infer']}.", ""]

    L += ["## Training steps", "",
          "One step of each recipe phase at the workshop schedule's batch and size, built as the recipe builds it, "
          "run through the Trainer; the batch is already on the device (data: see below). Median of the timed steps "
          f"after {rec.get('settings', {}).get('step_warmup')} warm-up steps; compile's first call (compilation) "
          "apart. Peak: `torch.cuda.max_memory_allocated` since the variant started.", "",
          "| device | recipe / phase | batch | size | variant | dtype | memory format | ms/step | images/s "
          "| peak memory | compile (first call) | status |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in rec.get("training_steps", []):
        first = e.get("compile_first_call_s")
        L.append(f"| {short} | {e['case']} | {e.get('batch', '—')} | {e.get('size', '—')} px | {e['variant']} | "
                 f"{e.get('dtype')} | {e.get('memory_format')} | {_ms(e.get('ms'))} | {e.get('images_per_s', '—')} "
                 f"| {_mib(e.get('peak_memory_bytes'))} | {'—' if first is None else f'{first} s'} | {_status(e)} |")
    L += ["", "## Inference", "", "Eval mode, `torch.inference_mode()`, median of the timed calls after warm-up.", "",
          "| device | generator | call | batch | size | dtype | ms | images/s | peak memory | status |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for e in rec.get("inference", []):
        L.append(f"| {short} | {e['model']} | {e.get('call', '')} | {e['batch']} | {e.get('size', '—')} px | "
                 f"{e['dtype']} | {_ms(e.get('ms'))} | {e.get('images_per_s', '—')} | "
                 f"{_mib(e.get('peak_memory_bytes'))} | {_status(e)} |")
    L += ["", "## PartialConv2d against nn.Conv2d", "",
          "The same layer shape, forward + backward with bias, fastest of the timed rounds (in brackets the median "
          "of per-round ratios); CUDA synchronised around each run. The CPU target (geometric mean ≤ 1.1×) is "
          "`benchmarks/results/partial_conv-cpu.md`'s.", "",
          "| device | layer | shape | batch × size | mode | dtype | Conv2d | PartialConv2d | ratio | status |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    ratios: Dict[str, List[float]] = {}
    for e in rec.get("partial_conv", []):
        if e.get("status") == "ok":
            ratios.setdefault(e["dtype"], []).append(e["ratio"])
        L.append(f"| {short} | {e['layer']} | {e.get('shape', '')} | {e.get('batch')} × {e.get('size')} px | "
                 f"{e.get('mode')} | {e['dtype']} | {_ms(e.get('conv_ms'))} ms | {_ms(e.get('pconv_ms'))} ms | "
                 + (f"**{e['ratio']:.2f}×** ({e['median_ratio']:.2f}×)" if e.get("status") == "ok" else "—")
                 + f" | {_status(e)} |")
    L.append("")
    for dtype, rs in ratios.items():
        L.append(f"- {dtype}: ratio from {min(rs):.2f}× to {max(rs):.2f}× (geometric mean "
                 f"{statistics.geometric_mean(rs):.2f}×, {len(rs)} layers, {short})")
    L += ["", "## Data loading (CPU) against the GPU step", "",
          "`data(step)` timed in one process. The recipes make batches in the profile's data workers "
          "(`inpaintlib.data.Prefetched`: 4 in `workshop`) while the GPU computes, so a step takes the larger of "
          "data time / workers and GPU time; the last columns judge that.", "",
          "| recipe / phase | stream | batch | size | data: ms/batch (1 process) | data images/s | "
          "GPU step images/s (variant) | workers | GPU busy | verdict | status |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in rec.get("data_loader", []):
        sv = e.get("starvation", {})
        share = sv.get("gpu_busy_share")
        L.append(f"| {e['case']} | {e.get('stream', '')} | {e.get('batch', '—')} | {e.get('size', '—')} px | "
                 f"{_ms(None if e.get('s_per_batch') is None else e['s_per_batch'] * 1e3)} | "
                 f"{e.get('images_per_s', '—')} | "
                 f"{sv.get('gpu_images_per_s', '—')} ({sv.get('gpu_step_variant') or '—'}, {short}) | "
                 f"{sv.get('workers', '—')} | {'—' if share is None else format(share, '.0%')} | "
                 f"{sv.get('verdict', '—')} | {_status(e)} |")
    L += ["", "## Workshop profile: training time per chapter", "",
          f"Each recipe trained with `profile=\"workshop\"` for a few hundred steps on {short} (the Trainer's "
          "`amp=\"auto\"`: bf16 on CUDA), its data made on the CPU as the chapter makes it; ms/step per phase "
          "from its log.csv (the first log row, which holds the warm-up, left out) × the workshop schedule's steps "
          "= the extrapolated time. Budget: ≤ 15 min (900 s) of training per chapter.", "",
          "| recipe | phase | steps run | ms/step (incl. data) | schedule steps | one run | runs in the chapter "
          "| chapter | status |",
          "|---|---|---|---|---|---|---|---|---|"]
    for e in rec.get("workshop", []):
        if e.get("status") != "ok":
            L.append(f"| {e['recipe']} | — | — | — | — | — | — | — | {_status(e)} |")
            continue
        for p in e["phases"]:
            L.append(f"| {e['recipe']} | {p['phase']} | {p['trained_steps']} | {_ms(p['ms_per_step'])}"
                     f"{' (incl. warm-up)' if p['includes_warmup'] else ''} | {p['schedule_steps']:,} | "
                     f"{p['extrapolated_s']:,.0f} s | {p['chapter_runs']} | {p['chapter_s']:,.0f} s | ok |")
    L.append("")
    for e in rec.get("workshop", []):
        if e.get("status") == "ok":
            verdict = "**within**" if e["within_budget"] else "**over**"
            L.append(f"- {e['recipe']}: one run ≈ {e['recipe_training_s'] / 60:,.1f} min; the chapter "
                     f"({e['chapter_runs_note']}) ≈ {e['chapter_training_s'] / 60:,.1f} min of training on {short}: "
                     f"{verdict} the 15-min budget by {abs(e['margin_s']) / 60:,.1f} min.")
    L += ["", "## Two processes (torchrun, NCCL)", ""]
    ddp = rec.get("ddp") or {}
    if ddp.get("status") == "ok":
        if ddp.get("note"):
            L.append(f"- {ddp['note']}")
        for r in ddp.get("runs", []):
            if r.get("status") == "ok":
                L.append(f"- {r['nproc']} process(es), backend {r['backend']}, global batch {r['global_batch']}, "
                         f"{r.get('size', 256)} px ({ddp.get('model')}): {r['images_per_s']:.1f} images/s")
            else:
                L.append(f"- {r['nproc']} process(es): {_status(r)}")
        if "speedup_2_vs_1" in ddp:
            L.append(f"- 2 vs 1 process: {ddp['speedup_2_vs_1']:.2f}×")
    else:
        L.append(f"- {_status(ddp) if ddp else 'not run'}")
    errs = rec.get("errors", [])
    L += ["", "## Errors", ""] + ([f"- {x}" for x in errs] if errs else ["None."]) + [""]
    return "\n".join(L)


# ------------------------------------------------------------------- the book's summary

SUMMARY_NAME = "gpu_check-summary.md"   # included by the workshop guide and the comparison chapter


def newest_record(folder: Path) -> tuple:
    """``(path, record)`` of the newest GPU (not dry-run) ``gpu_check-*.json`` in ``folder``,
    by the record's date; ``(None, None)`` when there is none."""
    found = []
    for path in sorted(Path(folder).glob("gpu_check-*.json")):
        for rec in compare.read_records(path):
            if rec.get("benchmark") == "gpu_check" and not rec.get("dry_run", False):
                found.append((str(rec.get("date", "")), path, rec))
    if not found:
        return None, None
    _, path, rec = max(found, key=lambda t: t[0])
    return path, rec


def summary_markdown(rec: Optional[dict], name: str = "") -> str:
    """What the book quotes from a GPU check record: the workshop budget per chapter, each
    recipe's training step per variant, the CTSDG goals beside the MindSpore port's figures.
    Without a record, a sentence saying that nothing was measured on a GPU yet."""
    if rec is None:
        return ("No GPU check has been recorded for this project yet, so no GPU figure is given here. On a CUDA "
                "machine (one H100/H200), `python benchmarks/gpu_check.py` measures every recipe's training step, "
                "inference, the workshop budget per chapter and the CTSDG goals in under 8 minutes, and "
                f"`python benchmarks/gpu_check.py --summarise` rewrites this summary (`benchmarks/results/{SUMMARY_NAME}`) "
                "from its record.\n")
    di = rec.get("device_info", {})
    dev = di.get("name", "?")
    short = dev.replace("NVIDIA ", "")
    L = [f"Measured by `benchmarks/gpu_check.py` on **{dev}** ×{di.get('gpu_count', 0)} on "
         f"{str(rec.get('date', '?'))[:10]}, commit {str(rec.get('commit', '?'))[:10]} (record `{name}`; torch "
         f"{rec.get('torch')}, CUDA {di.get('cuda_runtime')})"
         + (": **a DRY RUN on the CPU at tiny sizes, which measures nothing**." if rec.get("dry_run") else "."), ""]
    L += ["| chapter | one training run | runs in the chapter | chapter's training | budget | verdict |",
          "|---|---|---|---|---|---|"]
    for e in rec.get("workshop", []):
        if e.get("status") != "ok":
            L.append(f"| {e['recipe']} | — | — | — | 15 min | {_status(e)} |")
            continue
        verdict = (f"within, {abs(e['margin_s']) / 60:,.1f} min to spare" if e["within_budget"]
                   else f"**over** by {abs(e['margin_s']) / 60:,.1f} min")
        L.append(f"| {e['recipe']} | {e['recipe_training_s'] / 60:,.1f} min | {e['chapter_runs_note']} | "
                 f"{e['chapter_training_s'] / 60:,.1f} min | 15 min | {verdict} |")
    L += ["", f"Workshop profile, {short}, the Trainer's bf16 autocast: each recipe trained for a few hundred "
              "steps with its data made on the CPU, the time per step × the schedule's steps.", ""]
    steps: Dict[str, Dict[str, dict]] = {}
    for e in rec.get("training_steps", []):
        steps.setdefault(e["case"], {})[e["variant"]] = e
    L += ["| recipe / phase | batch × size | " + " | ".join(VARIANT_LABELS[v][0] + ("" if v in ("fp32", "bf16")
                                                                                   else f", {v}") for v in VARIANTS)
          + " |", "|---|---|" + "---|" * len(VARIANTS)]
    for case, by in steps.items():
        first = next(iter(by.values()))
        cells = [(f"{_ms(by[v]['ms'])} ms" if by.get(v, {}).get("status") == "ok" else
                  _status(by[v]) if v in by else "—") for v in VARIANTS]
        L.append(f"| {case} | {first.get('batch', '—')} × {first.get('size', '—')} px | " + " | ".join(cells) + " |")
    L += ["", f"One training step (ms, median after warm-up, {short}; the batch already on the GPU).", ""]
    L += [goal_line(g, short) for g in rec.get("goals") or goal_lines(rec)]
    L += ["", f"The MindSpore port reports (their figures and hardware, not measured here): training "
              f"{THEIRS['train']}; inference {THEIRS['infer']}.", ""]
    return "\n".join(L)


def write_summary(folder: Path) -> Path:
    """Write :func:`summary_markdown` of the newest GPU record in ``folder`` to
    ``folder/gpu_check-summary.md``."""
    path, rec = newest_record(folder)
    out = Path(folder) / SUMMARY_NAME
    out.write_text(summary_markdown(rec, path.name if path else ""), encoding="utf-8")
    return out


# ---------------------------------------------------------------------------- main


def _measure(rec: Recorder, section: str, entry: dict, deadline: Deadline, need_s: float,
             fn: Callable[[], dict]) -> dict:
    """Run one measurement: skip it when the deadline leaves less than ``need_s``; record
    its result or its error; write the record."""
    rec.add(section, entry)
    rec.update(entry, started_s=round(deadline.elapsed(), 2))
    if not deadline.allows(need_s):
        rec.update(entry, status="skipped", reason=f"deadline ({deadline.left():.0f} s left, needs ~{need_s:.0f} s)")
    else:
        rec.update(entry, status="running")
        try:
            rec.update(entry, **fn())
            rec.update(entry, status="ok")
        except Exception as err:  # noqa: BLE001  (recorded; the rest still runs)
            rec.update(entry, **_error(err))
            with rec.lock:
                what = entry.get("case") or entry.get("model") or entry.get("recipe")
                rec.record.setdefault("errors", []).append(f"{section} {what} {entry.get('variant', '')}: "
                                                           f"{entry['error']}")
            print(f"  error: {entry['error']}", flush=True)
    rec.update(entry, seconds=round(deadline.elapsed() - entry["started_s"], 2))
    rec.save()
    return entry


def _watchdog(rec: Recorder, settings: Settings) -> threading.Timer:
    """At budget + grace: mark what is running as interrupted, write the record, exit."""

    def fire():
        try:
            with rec.lock:
                for section in ("data_loader", "training_steps", "inference", "workshop"):
                    for e in rec.record.get(section, []):
                        if e.get("status") == "running":
                            e.update(status="interrupted", reason="the watchdog stopped the run at the deadline")
                rec.record["stopped"] = "watchdog: a measurement overran the budget; the record holds what finished"
                rec.record["finished"] = False
                rec.save()
            print(f"gpu_check: watchdog at {time.monotonic() - _T0:.0f} s: wrote {rec.json_path}", flush=True)
        finally:
            os._exit(0)

    t = threading.Timer(max(1.0, settings.budget_s + settings.grace_s - (time.monotonic() - _T0)), fire)
    t.daemon = True
    t.start()
    return t


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="run on the CPU with tiny sizes (tests the script)")
    ap.add_argument("--out-dir", default=str(compare.results_dir()), help="where the .json and .md go "
                    "(default benchmarks/results/)")
    ap.add_argument("--budget-s", type=float, default=None, help="deadline in seconds from the start "
                    "(default 420; dry run 45)")
    ap.add_argument("--grace-s", type=float, default=None, help="the watchdog writes and exits this long after "
                    "the budget (default 40; dry run 15)")
    ap.add_argument("--backbone", default="auto", help="perceptual backbone for PConv/CTSDG/GMCNN (default auto: "
                    "VGG when its weights are found, else EfficientNet-Lite0, as the recipes)")
    ap.add_argument("--compile-backend", default=None, help="torch.compile backend (default inductor; dry run eager)")
    ap.add_argument("--compile-reserve-s", type=float, default=None,
                    help="start a compile variant only with this many seconds left (default 90; dry run 5)")
    ap.add_argument("--run-seconds", type=float, default=None, help="target length of each workshop run (default 20)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: data, steps, inference, "
                    "partial_conv, workshop, ddp, compile")
    ap.add_argument("--commit", default=None, help="the commit to record when the tree is a copy without .git")
    ap.add_argument("--summarise", action="store_true", help=f"measure nothing: rewrite {SUMMARY_NAME} in --out-dir "
                    "from the newest GPU record there (the book includes it); a GPU run does this itself")
    ap.add_argument("--note", default=None, help="a sentence stored with the record")
    return ap.parse_args(argv)


@dataclass
class Run:
    """What the sections share: the record, the settings, the clock, a temporary folder and
    the figures later sections build on (data and bf16 step times by case)."""

    rec: Recorder
    settings: Settings
    deadline: Deadline
    device_name: str
    tmp: Path
    data_by_case: Dict[str, dict] = field(default_factory=dict)
    steps_by_case: Dict[str, dict] = field(default_factory=dict)

    @property
    def big(self) -> bool:
        return not self.settings.dry_run


def section_data(run: Run) -> None:
    """1. Images/s of every recipe phase's data stream (CPU)."""
    s = run.settings
    for recipe, phase in STEP_CASES:
        case = f"{recipe}/{phase}"
        if "data" in s.skip:
            run.rec.add("data_loader", {"case": case, "status": "skipped", "reason": "--skip data"})
            continue
        e = _measure(run.rec, "data_loader", {"case": case, "device": "cpu"}, run.deadline, 3 * s.data_seconds + 2,
                     lambda: time_data(case, s))
        if e["status"] == "ok":
            run.data_by_case[case] = e
        print(f"data {case}: {_status(e)} {e.get('images_per_s', '')} images/s", flush=True)


def _step_entry(run: Run, recipe: str, phase: str, variant: str) -> dict:
    dtype, fmt = VARIANT_LABELS[variant]
    batch, size = case_shape(recipe, phase, run.settings)
    return {"case": f"{recipe}/{phase}", "recipe": recipe, "phase": phase, "variant": variant, "dtype": dtype,
            "memory_format": fmt, "batch": batch, "size": size, "device": run.device_name}


def section_steps(run: Run) -> None:
    """2. Every recipe phase's training step in fp32, bf16 and channels_last (compile: last),
    then whether each data stream keeps up with its bf16 step."""
    for variant in VARIANTS[:-1]:
        for recipe, phase in STEP_CASES:
            entry = _step_entry(run, recipe, phase, variant)
            if "steps" in run.settings.skip:
                run.rec.add("training_steps", {**entry, "status": "skipped", "reason": "--skip steps"})
                continue
            e = _measure(run.rec, "training_steps", entry, run.deadline, 15 if run.big else 1,
                         lambda: time_training_step(recipe, phase, variant, run.settings, run.tmp))
            if e["status"] == "ok" and variant == "bf16":      # the Trainer's amp="auto" on CUDA
                run.steps_by_case[entry["case"]] = e
            print(f"step {entry['case']} {variant}: {_status(e)} {_ms(e.get('ms'))} ms", flush=True)
    for case, d in run.data_by_case.items():
        run.rec.update(d, starvation=starvation(d, run.steps_by_case.get(case)))
    run.rec.save()


def section_inference(run: Run) -> None:
    """3. Every generator at each batch, fp32 and bf16 (one build per generator)."""
    s = run.settings
    for label, name, call in INFERENCE_CASES:
        built: Dict[str, torch.nn.Module] = {}

        def generator(name=name):
            if "g" not in built:
                torch.manual_seed(0)
                built["g"] = build_generator(name, s).to(s.device).eval()
            return built["g"]

        for batch in s.infer_batches:
            for dtype in ("fp32", "bf16"):
                entry = {"model": label, "generator": name, "call": call, "batch": batch, "dtype": dtype,
                         "size": s.schedule(name).image_size, "device": run.device_name}
                if "inference" in s.skip:
                    run.rec.add("inference", {**entry, "status": "skipped", "reason": "--skip inference"})
                    continue
                e = _measure(run.rec, "inference", entry, run.deadline, 5 if run.big else 0.5,
                             lambda: time_inference(label, name, generator(), batch, dtype, s))
                print(f"inference {label} b{batch} {dtype}: {_status(e)} {_ms(e.get('ms'))} ms", flush=True)
        built.clear()
        _free_memory(s.device)


def pconv_shapes(settings: Settings) -> list:
    """``benchmarks/partial_conv.py``'s layers; the dry run's are shrunk: sizes and channels
    divided by ``pconv_shrink`` (an RGB input keeps its 3), batch 2."""
    import partial_conv

    k = settings.pconv_shrink
    if k == 1:
        return list(partial_conv.SHAPES)
    shapes = []
    for label, cin, cout, kern, stride, size, _, multi, grad in partial_conv.SHAPES:
        if isinstance(multi, tuple):
            multi = tuple(max(1, c // k) for c in multi)
        cin = sum(multi) if isinstance(multi, tuple) else (cin if cin <= 4 else max(1, cin // k))
        shapes.append((label, cin, max(1, cout // k), kern, stride, max(8, size // k), 2, multi, grad))
    return shapes


def time_partial_conv(shape: tuple, dtype: str, settings: Settings) -> dict:
    import partial_conv

    t = partial_conv.measure(shape, settings.device, settings.pconv_rounds, amp=dtype == "bf16")
    return {"conv_ms": round(t["conv"] * 1e3, 3), "pconv_ms": round(t["pconv"] * 1e3, 3),
            "mask_ms": round(t["mask"] * 1e3, 4), "ratio": round(t["pconv"] / t["conv"], 3),
            "median_ratio": round(t["median_ratio"], 3)}


def section_partial_conv(run: Run) -> None:
    """3b. ``PartialConv2d`` against ``nn.Conv2d`` of the same shape, fp32 and bf16."""
    import partial_conv

    s = run.settings
    for dtype in ("fp32", "bf16"):
        for shape in pconv_shapes(s):
            label, cin, cout, k, stride, size, batch, multi, _ = shape
            entry = {"layer": label, "shape": f"{cin}→{cout}, {k}×{k}, stride {stride}", "batch": batch,
                     "size": size, "mode": partial_conv._mode(multi), "dtype": dtype, "device": run.device_name}
            if "partial_conv" in s.skip:
                run.rec.add("partial_conv", {**entry, "status": "skipped", "reason": "--skip partial_conv"})
                continue
            e = _measure(run.rec, "partial_conv", entry, run.deadline, 3 if run.big else 0.5,
                         lambda: time_partial_conv(shape, dtype, s))
            print(f"partial_conv {label} {dtype}: {_status(e)} {e.get('ratio', '—')}×", flush=True)
    _free_memory(s.device)


def section_workshop(run: Run) -> None:
    """4. Each recipe's workshop run, a few hundred steps, extrapolated to its schedule."""
    s = run.settings
    for recipe in RECIPES:
        entry = {"recipe": recipe, "profile": "workshop", "device": run.device_name}
        if "workshop" in s.skip:
            run.rec.add("workshop", {**entry, "status": "skipped", "reason": "--skip workshop"})
            continue
        n, est = choose_steps(recipe, run.steps_by_case, run.data_by_case, s)
        need = 1.5 * (est or (40 if run.big else 1)) + s.run_overhead_s
        e = _measure(run.rec, "workshop", {**entry, "estimated_s": None if est is None else round(est, 1)},
                     run.deadline, need, lambda: run_workshop(recipe, n, s, run.tmp))
        print(f"workshop {recipe}: {_status(e)} chapter {e.get('chapter_training_s', '—')} s", flush=True)


def section_ddp(run: Run) -> None:
    """5. Two processes under torchrun with NCCL (skipped with one GPU)."""
    if "ddp" in run.settings.skip:
        ddp = {"status": "skipped", "reason": "--skip ddp"}
    else:
        try:
            ddp = ddp_check(run.settings, run.deadline, run.tmp)
        except Exception as err:  # noqa: BLE001  (recorded)
            ddp = _error(err)
    with run.rec.lock:
        run.rec.record["ddp"] = ddp
        if ddp["status"] == "error":
            run.rec.record["errors"].append(f"ddp: {ddp['error']}")
    print(f"ddp: {_status(ddp)}", flush=True)
    run.rec.save()


def section_compile(run: Run) -> None:
    """6. The compile variant of every step, CTSDG's first, while ``compile_reserve_s`` is left."""
    s = run.settings
    cases = sorted(STEP_CASES, key=lambda c: (c != ("ctsdg", "train"), c))
    for recipe, phase in cases:
        entry = _step_entry(run, recipe, phase, "compile")
        if "compile" in s.skip or "steps" in s.skip:
            run.rec.add("training_steps", {**entry, "status": "skipped", "reason": "--skip"})
            continue
        if s.compile_cases is not None and entry["case"] not in s.compile_cases:
            run.rec.add("training_steps", {**entry, "status": "skipped",
                                           "reason": f"dry run: compile tried on {', '.join(s.compile_cases)} only "
                                                     "(Dynamo capture of every model takes ~30 s on 2 cores)"})
            continue
        e = _measure(run.rec, "training_steps", entry, run.deadline, s.compile_reserve_s,
                     lambda: time_training_step(recipe, phase, "compile", s, run.tmp))
        print(f"step {entry['case']} compile: {_status(e)} {_ms(e.get('ms'))} "
              f"ms (first call {e.get('compile_first_call_s', '—')} s)", flush=True)
    run.rec.save()


def new_record(settings: Settings, info: dict, args, argv) -> dict:
    """The record's head: what ran where (``compare.run_info``), the device, the settings."""
    run = compare.run_info(settings.device, note=args.note,
                           command=" ".join(["python benchmarks/gpu_check.py"] + list(argv)))
    if args.commit:
        run["commit"] = args.commit
    record = {"benchmark": "gpu_check", "schema": 1, "dry_run": settings.dry_run, **run, "device_info": info,
              "budget_s": settings.budget_s, "finished": False, "stopped": None,
              "settings": {k: v for k, v in vars(settings).items() if k != "device"},
              "data_loader": [], "training_steps": [], "inference": [], "partial_conv": [], "workshop": [],
              "ddp": None, "errors": []}
    try:
        from inpaintlib.nn import perceptual_backbone

        record["settings"]["backbone_description"] = perceptual_backbone(settings.backbone, verbose=False).description
    except Exception as err:  # noqa: BLE001  (the steps that need it will record the error)
        record["settings"]["backbone_description"] = f"unavailable: {type(err).__name__}: {err}"
    return record


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.summarise:
        print(f"gpu_check: wrote {write_summary(Path(args.out_dir))}")
        return 0
    if not args.dry_run and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}): this "
              "script measures a GPU. Run it on a CUDA machine, or use --dry-run to test it on the CPU.",
              file=sys.stderr)
        return 2
    settings = Settings.make(args)
    if args.dry_run:
        torch.set_num_threads(1)   # tiny tensors: one thread is faster, and unaffected by a busy machine
    info = device_info(settings.device)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"gpu_check-{device_slug(info, settings.dry_run)}-{stamp}"
    rec = Recorder(new_record(settings, info, args, argv), base.with_suffix(".json"), base.with_suffix(".md"))
    rec.save()
    watchdog = _watchdog(rec, settings)
    print(f"gpu_check on {info['name']} ({'dry run' if settings.dry_run else 'CUDA'}), budget "
          f"{settings.budget_s:.0f} s -> {rec.json_path}", flush=True)

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        run = Run(rec, settings, Deadline(settings.budget_s), info["name"], Path(tmp))
        for section in (section_data, section_steps, section_inference, section_partial_conv, section_workshop,
                        section_ddp, section_compile):
            section(run)

    watchdog.cancel()
    with rec.lock:
        record = rec.record
        record["finished"] = True
        late = [e for sec in ("data_loader", "training_steps", "inference", "partial_conv", "workshop")
                for e in record.get(sec, [])
                if str(e.get("reason", "")).startswith("deadline")]
        if late:
            record["stopped"] = (f"deadline: {len(late)} measurement(s) did not fit the {settings.budget_s:.0f}-s "
                                 "budget and were skipped (see their reasons)")
        rec.save()
    if not settings.dry_run:               # the book's summary follows the newest GPU record
        print(f"gpu_check: wrote {write_summary(out_dir)}", flush=True)
    print(f"gpu_check: wrote {rec.json_path} and {rec.md_path} in {time.monotonic() - _T0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
