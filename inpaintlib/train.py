"""The one training loop: :class:`Trainer`.

Taught in the appendix of the intro chapter ("What is inpainting?") and used by every
method chapter (CLmser, SC-Lmser, PConv, GMCNN, CTSDG): a chapter writes only a
``step_fn`` that computes its losses; the Trainer does everything else.

A chapter's training cell looks like this::

    def step_fn(trainer, batch):
        image, hole = batch
        pred = trainer.models["g"](image, hole)
        loss = (pred - image).abs().mean()
        trainer.optimize("g", loss)          # zero_grad, backward, guard, clip, step
        return {"l1": loss}                  # logged (mean over each log window)

    trainer = Trainer({"g": net}, {"g": torch.optim.Adam(net.parameters(), 2e-4)}, step_fn,
                      out_dir="runs/pconv-quick", max_steps=150)
    trainer.fit(data)                        # data(step) -> batch, or a DataLoader

A GAN step calls :meth:`Trainer.optimize` once per optimiser, as many times as it likes
(e.g. several critic steps per generator step); each call steps that optimiser and its
scheduler, so schedules count *optimiser* steps.

What the loop provides, and the choices made:

* **Mixed precision.** ``amp="auto"``: bf16 autocast on CUDA (fp16 if the GPU has no
  bf16), off elsewhere; ``"bf16"``, ``"fp16"`` (with one ``GradScaler`` per optimiser,
  updated after each of its steps) or ``"off"``. ``step_fn`` runs inside autocast;
  backward runs outside it.
* **NaN/Inf guard.** :meth:`~Trainer.optimize` checks the loss and the gradient norm
  *before* stepping. A non-finite value raises :class:`FloatingPointError` naming the
  loss and the step and suggesting a lower learning rate. Nothing is stepped with the
  bad gradients and **no checkpoint is written**: ``out_dir/last.pt`` (the last periodic
  checkpoint) is the last good state. (With fp16 the ``GradScaler`` handles overflowing
  gradients itself by skipping the step, as it is meant to; only the loss is checked.)
* **Gradient clipping** by total norm over each optimiser's parameters
  (``grad_clip=1.0`` or ``{"g": 1.0}``).
* **Checkpoints** are atomic (``<path>.tmp`` then ``os.replace``, :mod:`inpaintlib.io`) and
  hold every model, optimiser, scheduler and GradScaler, the step, the config, the RNG
  states of every rank (python ``random``, NumPy, torch CPU and CUDA) and the data
  position. A failed write (full disk, file-size limit) raises
  :class:`inpaintlib.io.WriteError` naming the file and leaves the previous checkpoint and
  no temporary behind; ``log.csv`` rows are appended so that a failed append is cut back.
* **Nothing loads half.** :meth:`~Trainer.load` (resume) and :meth:`~Trainer.load_weights`
  check the whole checkpoint first — model names, keys and shapes, optimiser parameter
  groups, and (for a resume) the same ``config`` apart from run lengths — and raise
  :class:`CheckpointMismatchError` naming the file, what was expected and what was found,
  with nothing copied. :func:`load_or_train` also compares the stored run with the one
  asked for (see there).
* **Exact resume.** A new Trainer on the same ``out_dir`` resumes from ``last.pt``
  (``resume=True``): training 2N steps equals training N, stopping, and training N more.
  With the callable form ``data(step)`` this holds for any ``data`` that is a function of
  the step. With an iterable (e.g. a ``DataLoader``) the Trainer records the epoch, the
  number of batches consumed and the RNG state at the start of the epoch; on resume it
  rewinds the RNG, re-creates the epoch's order, skips the consumed batches (they are
  loaded again, which costs time) and then restores the checkpoint's RNG. This is exact
  when the order comes from torch's RNG or the loader's ``generator`` (shuffle, random
  sampler, ``DistributedSampler``) and the loader has ``num_workers=0`` or non-persistent
  workers; a one-shot iterator cannot be rewound.
* **Ctrl-C** (``KeyboardInterrupt``) saves ``last.pt`` at the last completed step, with
  the RNG states as they were when the unfinished step began, and re-raises, so the cell
  stops visibly and calling ``fit`` again resumes. The resume is exact unless the
  interrupt landed after an optimiser had already stepped in the unfinished step (that
  partial update is kept in the checkpoint). Under DDP only rank 0's RNG is saved then.
* **Logs**: ``out_dir/log.csv`` with columns ``step``, the names ``step_fn`` returns,
  ``lr`` (``lr_<name>`` with several optimisers) and ``time`` (training seconds, summed
  over resumes). Each row holds the mean over the steps since the previous row. On resume
  the rows after the checkpoint's step are dropped before appending, so re-run steps are
  never duplicated. ``tensorboard=True`` also writes ``out_dir/tb``. A ``tqdm`` progress
  bar shows the latest row.
* **Samples**: every ``sample_every`` steps ``sample_fn(trainer)`` (run in eval mode, no
  grad) returns ``N×3×H×W`` images, saved as ``out_dir/samples/step_000100.png``.
* **Several GPUs / machines** with ``torchrun`` (``WORLD_SIZE > 1``): the Trainer joins
  the process group (NCCL on CUDA, gloo on CPU), uses ``cuda:LOCAL_RANK``, wraps every
  model that has trainable parameters in ``DistributedDataParallel`` and, for the callable
  form, gives rank ``r`` the contiguous chunk ``r`` of the global batch
  (``batch[r·B/W:(r+1)·B/W]``; B must be divisible by the world size W). An iterable
  should already be per-rank (a ``DataLoader`` with a ``DistributedSampler``). Only rank 0
  writes checkpoints, logs and samples; every rank runs ``sample_fn``. Every wait has a
  timeout (``INPAINTLIB_DDP_TIMEOUT`` seconds, default 600): reaching the rendezvous store,
  the other ranks' arrival — a rank that gives up raises :class:`DistributedStartError`
  naming the ranks that never came — and every later collective. Launch with
  ``torchrun --standalone --nproc-per-node=N`` on one machine, so torchrun picks and holds
  the rendezvous port itself.
* **BatchNorm under DDP** (``sync_bn``). Plain BatchNorm normalises over the process's own
  chunk: at batch 6 over 3 GPUs, over 2 images, which is noisy and not the statistics a
  one-GPU run at batch 6 uses. So by default (``sync_bn=None``), when ``WORLD_SIZE > 1`` on
  CUDA, every model that DDP wraps and that has BatchNorm layers gets them replaced by
  ``nn.SyncBatchNorm`` (``convert_sync_batchnorm``) before wrapping: mean and variance (and
  the running statistics) are taken over the global batch, at the cost of one all-gather per
  BatchNorm layer per forward. The layers keep their parameter and buffer tensors, so state
  dicts have the same keys and checkpoints load in single-process runs and back. PyTorch's
  SyncBatchNorm only runs on GPUs (CUDA, XPU, HPU), so on CPU (gloo) the default keeps
  per-process statistics and says so on rank 0. ``sync_bn=False`` keeps per-process
  statistics; one process: nothing changes.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import time
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from .io import WriteError, appending, atomic_write, ensure_folder, load_torch, save_torch, state_mismatch, write_text
from .tensors import device as pick_device
from .viz import save_grid

__all__ = [
    "Trainer",
    "seed_everything",
    "resolve_amp",
    "move_to",
    "shard_batch",
    "load_checkpoint",
    "load_or_train",
    "read_log",
    "CheckpointMismatchError",
    "DistributedStartError",
    "ddp_timeout",
    "convert_sync_bn",
    "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = "inpaintlib-trainer/1"

StepFn = Callable[["Trainer", Any], Optional[Mapping[str, Union[float, torch.Tensor]]]]


# ----------------------------------------------------------------------------- helpers


def seed_everything(seed: int) -> None:
    """Seed python ``random``, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def resolve_amp(amp: Union[str, bool, None], device_type: str,
                bf16_supported: Optional[bool] = None) -> Optional[torch.dtype]:
    """Turn the ``amp`` setting into an autocast dtype (``None`` = full precision).

    ``"auto"``: bf16 on CUDA (fp16 if ``bf16_supported`` is false), off elsewhere.
    ``"bf16"`` / ``"fp16"`` force a dtype; ``"off"`` (or ``False``/``None``) disables it.
    """
    key = "off" if amp in (None, False) else str(amp).strip().lower()
    if key == "auto":
        if device_type != "cuda":
            return None
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_supported else torch.float16
    if key in ("off", "none", "false", "fp32", "float32"):
        return None
    if key in ("bf16", "bfloat16"):
        return torch.bfloat16
    if key in ("fp16", "float16", "half"):
        return torch.float16
    raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {amp!r}")


def move_to(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move every tensor in ``batch`` (a tensor, or tuples/lists/dicts of them) to ``device``.

    Copies are ``non_blocking`` (they overlap with compute when the loader pins memory).
    With ``channels_last``, 4-D floating tensors are stored channels-last.
    """
    if isinstance(batch, torch.Tensor):
        t = batch.to(device, non_blocking=True)
        if channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        return t
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to(v, device, channels_last) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to(v, device, channels_last) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device, channels_last) for v in batch)
    return batch


def shard_batch(batch: Any, rank: int, world_size: int) -> Any:
    """Rank ``rank``'s contiguous chunk of a global batch: ``t[r·B/W:(r+1)·B/W]`` for
    every tensor (dim ≥ 1) in ``batch``. Raises :class:`ValueError` if B is not divisible
    by ``world_size``. Non-tensor entries are passed through unchanged."""
    if world_size == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 0:
            return batch
        n = batch.shape[0]
        if n % world_size:
            raise ValueError(
                f"the global batch size {n} is not divisible by the world size {world_size}; "
                f"each rank must get an equal share"
            )
        k = n // world_size
        return batch[rank * k:(rank + 1) * k]
    if isinstance(batch, Mapping):
        return type(batch)({k: shard_batch(v, rank, world_size) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(shard_batch(v, rank, world_size) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(shard_batch(v, rank, world_size) for v in batch)
    return batch


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not fit the Trainer (other models, architecture or optimisers) or
    the run asked for (another config, e.g. profile; a longer run than ``max_steps``). Raised
    before anything is copied; the message names the file, what was expected and what was found."""


class DistributedStartError(RuntimeError):
    """The process group of a ``torchrun`` job did not form in time; the message names the rank
    that reports it and the ranks that did not arrive."""


#: Default seconds a rank waits for the others (at start-up and in every collective) before it
#: stops with :class:`DistributedStartError` or a timeout error: ``INPAINTLIB_DDP_TIMEOUT``.
DDP_TIMEOUT_S = 600.0


def ddp_timeout() -> float:
    """Seconds a rank waits for the others: ``$INPAINTLIB_DDP_TIMEOUT`` or :data:`DDP_TIMEOUT_S`."""
    value = os.environ.get("INPAINTLIB_DDP_TIMEOUT", "").strip()
    if not value:
        return DDP_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"INPAINTLIB_DDP_TIMEOUT must be a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise ValueError(f"INPAINTLIB_DDP_TIMEOUT must be positive, got {value!r}")
    return seconds


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``<path>.tmp``, flush to disk, then rename over ``path``; on failure
    the temporary is removed and :class:`inpaintlib.io.WriteError` names the file and the cause."""
    save_torch(obj, path)


def load_checkpoint(path: Union[str, os.PathLike], map_location: Any = "cpu") -> dict:
    """Read a Trainer checkpoint (safely: ``weights_only=True``) and return its dict.

    Keys: ``step``, ``max_steps``, ``config``, ``models``, ``optimizers``, ``schedulers``,
    ``scalers``, ``rng``, ``data``, ``log_window``, ``elapsed``, ``last_logs``,
    ``world_size``, ``format`` (and ``lineage`` and ``sync_bn``, the names of the models whose
    BatchNorm was synchronised, in checkpoints from this version on). Raises
    :class:`FileNotFoundError` or :class:`ValueError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = load_torch(path, "Trainer checkpoint", map_location=map_location)  # errors name the file
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an inpaintlib Trainer checkpoint ({CHECKPOINT_FORMAT})")
    missing = [k for k in ("step", "config", "models", "optimizers", "schedulers", "scalers", "rng", "data",
                           "log_window", "elapsed", "last_logs") if k not in ckpt]
    if missing:
        raise ValueError(f"{path} is a damaged Trainer checkpoint: it has no {', '.join(missing)}")
    return ckpt


def _is_length_key(key: str) -> bool:
    """Config keys that only say how long a run is (``steps``, ``stage1_steps``, ...): a
    checkpoint with fewer steps of the same run can be continued."""
    return key in ("steps", "max_steps") or key.endswith("_steps")


def _config_diff(stored: Mapping, wanted: Mapping) -> list[str]:
    """``key: stored → requested`` for every config entry (other than run lengths) that differs."""
    keys = sorted(k for k in set(stored) | set(wanted)
                  if not _is_length_key(k) and stored.get(k, "<absent>") != wanted.get(k, "<absent>"))
    return [f"{k}: {stored.get(k, '<absent>')!r} in the file, {wanted.get(k, '<absent>')!r} asked" for k in keys]


def read_log(path: Union[str, os.PathLike]) -> dict[str, list[float]]:
    """Read a Trainer's ``log.csv`` (or the ``out_dir`` holding it) into columns:
    ``{"step": [...], "l1": [...], ...}``; empty cells become NaN."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty")
    header, body = rows[0], rows[1:]
    return {h: [float(r[i]) if i < len(r) and r[i] != "" else math.nan for r in body]
            for i, h in enumerate(header)}


_GROUP_GENERATION = 0  # how many process groups this process has joined (the same on every rank)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _join_process_group(backend: str, rank: int, world_size: int) -> None:
    """Join the ``torchrun`` job's process group, or stop with a message that says who is missing.

    Every wait has a timeout (:func:`ddp_timeout`): reaching the rendezvous store at
    ``MASTER_ADDR:MASTER_PORT``, waiting for the other ranks to arrive — each rank writes an
    arrival key, so a rank that gives up names the ranks that never came — and every later
    collective (``init_process_group(timeout=...)``).
    """
    global _GROUP_GENERATION
    from datetime import timedelta

    import torch.distributed as dist

    seconds = ddp_timeout()
    timeout = timedelta(seconds=seconds)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    hint = ("start every rank with the same torchrun command (e.g. torchrun --standalone "
            "--nproc-per-node=N script.py) and check that the machines reach each other; "
            f"INPAINTLIB_DDP_TIMEOUT={seconds:g} is the wait in seconds")
    # torchrun's agent hosts the store (every rank is a client); a hand-started job has rank 0
    # host it — without waiting for the clients there: the arrival keys below name who is missing
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    try:
        addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    except (KeyError, ValueError) as err:
        raise DistributedStartError(f"rank {rank} of {world_size}: MASTER_ADDR and MASTER_PORT must name the "
                                    f"rendezvous ({type(err).__name__}: {err}); {hint}") from err
    try:
        store = dist.TCPStore(addr, port, None, rank == 0 and not agent, timeout,
                              wait_for_workers=False, multi_tenant=not agent)
    except Exception as err:
        raise DistributedStartError(f"rank {rank} of {world_size}: could not reach the rendezvous store at "
                                    f"{where} within {seconds:g} s ({_first_line(err)}); {hint}") from err
    _GROUP_GENERATION += 1
    prefix = (f"inpaintlib/arrived/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
              f"{_GROUP_GENERATION}/")
    keys = [f"{prefix}{r}" for r in range(world_size)]
    try:
        store.set(keys[rank], "1")
        store.wait(keys, timeout)
    except Exception as err:
        try:
            missing = [r for r in range(world_size) if not store.check([keys[r]])]
        except Exception:  # the store itself is gone (rank 0 hosts it and died)
            missing = None
        who = (f"rank(s) {', '.join(map(str, missing))} did not arrive" if missing
               else f"the rendezvous store at {where} stopped answering")
        raise DistributedStartError(f"rank {rank} of {world_size}: the process group did not form within "
                                    f"{seconds:g} s: {who} ({_first_line(err)}); {hint}") from err
    # a prefix per group: a group joined after an earlier one was left must not read its addresses
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f"default_pg/{_GROUP_GENERATION}", store),
                            rank=rank, world_size=world_size, timeout=timeout)


def _rng_state() -> dict:
    """This process's RNG states, in types that ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _loader_generators(data: Any) -> list[torch.Generator]:
    """The torch generators that decide a DataLoader's order (its own and its sampler's)."""
    gens = []
    for obj in (data, getattr(data, "sampler", None), getattr(data, "batch_sampler", None),
                getattr(getattr(data, "batch_sampler", None), "sampler", None)):
        g = getattr(obj, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not h for h in gens):
            gens.append(g)
    return gens


def _csv_value(v: float) -> str:
    return "" if v is None else f"{v:.8g}"


def _sync_bn_supported(device: torch.device) -> bool:
    """Whether ``nn.SyncBatchNorm`` can synchronise on ``device`` (PyTorch's kernels: GPUs only)."""
    return device.type in ("cuda", "xpu", "hpu", torch._C._get_privateuse1_backend_name())


def _has_batchnorm(m: nn.Module) -> bool:
    """Whether ``m`` holds a BatchNorm layer that is not already an ``nn.SyncBatchNorm``."""
    return any(isinstance(x, nn.modules.batchnorm._BatchNorm) and not isinstance(x, nn.SyncBatchNorm)
               for x in m.modules())


def _plan_sync_bn(models: Mapping[str, nn.Module], sync_bn: Optional[bool], world_size: int,
                  device: torch.device) -> tuple[list[str], str]:
    """Which models get ``nn.SyncBatchNorm``, and the note rank 0 prints (``""``: none).

    Candidates are the models DDP wraps (they have trainable parameters) that hold BatchNorm
    layers. One process or ``sync_bn=False``: none. ``None`` (automatic) and ``True``: all of
    them on a GPU; on a device SyncBatchNorm cannot run on (CPU), ``None`` keeps per-process
    statistics and ``True`` raises :class:`ValueError`.
    """
    if sync_bn is not None and not isinstance(sync_bn, bool):
        raise TypeError(f"sync_bn must be None (automatic), True or False, got {sync_bn!r}")
    if world_size <= 1 or sync_bn is False:
        return [], ""
    names = [n for n, m in models.items()
             if any(p.requires_grad for p in m.parameters()) and _has_batchnorm(m)]
    if not names:
        return [], ""
    if not _sync_bn_supported(device):
        if sync_bn:
            raise ValueError(
                f"sync_bn=True, but PyTorch's SyncBatchNorm runs only on GPUs (CUDA, XPU, HPU) and this "
                f"run is on {device.type}: pass sync_bn=False (or leave it None) to keep per-process "
                f"BatchNorm statistics, or train on GPUs")
        return [], (f"sync_bn: off: SyncBatchNorm needs GPUs, so the BatchNorm statistics of "
                    f"{', '.join(names)} are per process (1/{world_size} of the global batch each)")
    return names, (f"sync_bn: the BatchNorm layers of {', '.join(names)} are SyncBatchNorm: statistics "
                   f"over the global batch of all {world_size} processes")


def convert_sync_bn(m: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer in ``m`` by an ``nn.SyncBatchNorm``
    (``nn.SyncBatchNorm.convert_sync_batchnorm``, layer by layer, leaving existing
    SyncBatchNorm layers alone). The new layers hold the *same* parameter and buffer
    tensors, train/eval mode and state-dict keys, so optimisers built on ``m`` still work and
    checkpoints stay interchangeable with plain BatchNorm. ``m`` is changed in place and
    returned, except when ``m`` itself is a BatchNorm layer: then a new layer (sharing its
    tensors) is returned."""
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if isinstance(m, nn.SyncBatchNorm):
            return m
        new = nn.SyncBatchNorm.convert_sync_batchnorm(m)
        if _LINEAGE_ATTR in m.__dict__:
            new.__dict__[_LINEAGE_ATTR] = m.__dict__[_LINEAGE_ATTR]
        return new
    for name, child in list(m.named_children()):
        new = convert_sync_bn(child)
        if new is not child:
            m.add_module(name, new)
    return m


# ----------------------------------------------------------------------------- the Trainer


class Trainer:
    """The training loop every chapter uses (taught in the intro chapter's appendix).

    Args:
        models: one ``nn.Module`` (named ``"model"``) or a dict ``{"g": G, "d": D}``.
            They are moved to ``device``; in ``step_fn`` call them as
            ``trainer.models[name]`` (possibly DDP-wrapped / compiled), elsewhere use
            ``trainer.module(name)`` (always the plain module). Train/eval modes are left
            as you set them.
        optimizers: one optimizer or a dict keyed by name. A single optimizer takes the
            single model's name (``"model"``), or ``"main"`` when there are several models.
        step_fn: ``step_fn(trainer, batch) -> dict`` computes the losses, calls
            :meth:`optimize` for each optimiser and returns scalars to log.
        schedulers: an LR scheduler (single optimizer) or a dict keyed by optimizer name;
            each is stepped after every step of its optimizer.
        out_dir: where ``last.pt``, ``log.csv``, ``config.json``, ``samples/`` and ``tb/`` go.
        max_steps: train until this many steps are done (``fit`` returns at once if a
            resumed checkpoint already has them).
        device: ``None`` picks CUDA, MPS, then CPU (:func:`inpaintlib.tensors.device`).
            Under ``torchrun`` with CUDA, ``cuda:LOCAL_RANK``.
        amp: ``"auto"`` | ``"bf16"`` | ``"fp16"`` | ``"off"`` (see :func:`resolve_amp`).
        grad_clip: max total gradient norm, a float for every optimizer or a dict by name.
        channels_last: store models and 4-D batch tensors channels-last (faster convs on GPU).
        compile: ``True`` or a dict of ``torch.compile`` keyword arguments.
        sync_bn: synchronise BatchNorm across processes under DDP (see the module notes).
            ``None`` (default): when ``WORLD_SIZE > 1`` on GPUs, every model DDP wraps that has
            BatchNorm layers gets ``nn.SyncBatchNorm`` (:func:`convert_sync_bn`), so
            statistics come from the global batch, as in one process (plain BatchNorm at
            batch 6 over 3 GPUs would normalise over 2 images); on CPU (gloo), where
            SyncBatchNorm cannot run, statistics stay per process. ``True``: the same, but
            on CPU a :class:`ValueError`. ``False``: per-process statistics. Models without
            BatchNorm, and single-process runs, are never changed. The choice is printed on
            rank 0, kept as ``trainer.sync_bn_models`` and stored in checkpoints
            (``"sync_bn"``); state-dict keys do not change. Frozen BatchNorm (eval mode)
            does not synchronise. If a model *is* a BatchNorm layer, ``trainer.module(name)``
            is its SyncBatchNorm copy (same tensors); otherwise the layers are swapped inside
            your module.
        ddp_kwargs: extra ``DistributedDataParallel`` arguments, e.g.
            ``{"find_unused_parameters": True}`` for a model some steps do not use. (Call
            each DDP model once per backward: concatenate real and fake into one critic call.)
        log_every, ckpt_every, sample_every: periods in steps (``None`` = never; a
            checkpoint is always written at the end of ``fit``).
        sample_fn: ``sample_fn(trainer) -> N×3×H×W`` images for the sample grids.
        tensorboard: also log to TensorBoard (needs the ``tensorboard`` package).
        seed: seeds every RNG (``seed + rank``) when the Trainer is built; ``None`` leaves
            them alone. Seed before building your models with :func:`seed_everything`.
        progress: show a ``tqdm`` progress bar (rank 0 only).
        resume: resume from ``out_dir/last.pt`` if it exists when ``fit`` starts. A run
            that starts from step 0 replaces the ``log.csv`` it finds.
        config: a JSON-able dict stored in checkpoints and ``config.json``.
        check_batch: ``check_batch(batch)`` raises a clear error for bad input; called on
            every batch where it enters, *before* it moves to the device (on a host batch it
            costs no device sync). Default: ``step_fn.check_batch`` when the step function
            has one (the recipes' do: they validate ``(image, hole)`` here once, and their
            models, critics and losses skip the value checks inside the step).

    **Host syncs per step.** The loop itself reads one value per optimiser step: the
    NaN/Inf guard's flag, so that no update is ever made from a non-finite loss or
    gradient. Logged values stay on the device until a log row is written.
    """

    def __init__(
        self,
        models: Union[nn.Module, Mapping[str, nn.Module]],
        optimizers: Union[torch.optim.Optimizer, Mapping[str, torch.optim.Optimizer]],
        step_fn: StepFn,
        *,
        out_dir: Union[str, os.PathLike],
        max_steps: int,
        schedulers: Any = None,
        device: Union[str, torch.device, None] = None,
        amp: Union[str, bool, None] = "auto",
        grad_clip: Union[float, Mapping[str, float], None] = None,
        channels_last: bool = False,
        compile: Union[bool, Mapping[str, Any]] = False,
        ddp_kwargs: Optional[Mapping[str, Any]] = None,
        sync_bn: Optional[bool] = None,
        log_every: int = 10,
        ckpt_every: Optional[int] = None,
        sample_every: Optional[int] = None,
        sample_fn: Optional[Callable[["Trainer"], torch.Tensor]] = None,
        tensorboard: bool = False,
        seed: Optional[int] = 0,
        progress: bool = True,
        resume: bool = True,
        config: Optional[Mapping[str, Any]] = None,
        check_batch: Optional[Callable[[Any], None]] = None,
    ):
        # --- names: models, optimizers, schedulers -------------------------------------
        if isinstance(models, nn.Module):
            models = {"model": models}
        if not isinstance(models, Mapping) or not models:
            raise ValueError("models must be an nn.Module or a non-empty dict of them")
        for name, m in models.items():
            if not isinstance(m, nn.Module):
                raise TypeError(f"models[{name!r}] must be an nn.Module, got {type(m).__name__}")
        if isinstance(optimizers, torch.optim.Optimizer):
            optimizers = {(next(iter(models)) if len(models) == 1 else "main"): optimizers}
        if not isinstance(optimizers, Mapping) or not optimizers:
            raise ValueError("optimizers must be an Optimizer or a non-empty dict of them")
        self.optimizers: dict[str, torch.optim.Optimizer] = dict(optimizers)
        if schedulers is None:
            schedulers = {}
        elif not isinstance(schedulers, Mapping):
            if len(self.optimizers) != 1:
                raise ValueError("with several optimizers, pass schedulers as a dict keyed by optimizer name")
            schedulers = {next(iter(self.optimizers)): schedulers}
        unknown = set(schedulers) - set(self.optimizers)
        if unknown:
            raise ValueError(
                f"schedulers {sorted(unknown)} have no optimizer of that name; "
                f"optimizers are {sorted(self.optimizers)}"
            )
        self.schedulers: dict[str, Any] = dict(schedulers)
        if isinstance(grad_clip, Mapping):
            unknown = set(grad_clip) - set(self.optimizers)
            if unknown:
                raise ValueError(f"grad_clip names unknown optimizers {sorted(unknown)}")
        if int(max_steps) < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        for name, every in (("log_every", log_every), ("ckpt_every", ckpt_every),
                            ("sample_every", sample_every)):
            if every is not None and int(every) < 1:
                raise ValueError(f"{name} must be a positive number of steps or None, got {every}")
        if sample_every and sample_fn is None:
            raise ValueError("sample_every is set but no sample_fn was given")

        self.step_fn = step_fn
        self.check_batch = check_batch if check_batch is not None else getattr(step_fn, "check_batch", None)
        self.max_steps = int(max_steps)
        self.grad_clip = grad_clip
        self.channels_last = bool(channels_last)
        self.log_every = int(log_every) if log_every else None
        self.ckpt_every = ckpt_every
        self.sample_every = sample_every
        self.sample_fn = sample_fn
        self.tensorboard = bool(tensorboard)
        self.progress = bool(progress)
        self.resume = bool(resume)
        self.config = json.loads(json.dumps(dict(config or {}), default=str))
        self.out_dir = Path(out_dir)

        # --- where to run: one process, or one of WORLD_SIZE processes under torchrun ---
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0")) if self.world_size > 1 else 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0")) if self.world_size > 1 else 0
        self.is_main = self.rank == 0
        self._owns_group = False
        self._tb = None
        self.device = self._pick_device(device)
        # which models get SyncBatchNorm: decided (or refused) before joining, so no rank waits
        sync_names, note = _plan_sync_bn(models, sync_bn, self.world_size, self.device)
        self._join_group()

        # --- precision -----------------------------------------------------------------
        self.amp_dtype = resolve_amp(amp, self.device.type)
        self.scalers: dict[str, Any] = {}
        if self.amp_dtype == torch.float16:
            self.scalers = {n: torch.amp.GradScaler(self.device.type) for n in self.optimizers}

        # --- models: the plain modules, and what step_fn calls (DDP / compiled) ---------
        self._modules: dict[str, nn.Module] = dict(models)
        for m in self._modules.values():
            self._place_model(m)
        for n in sync_names:  # after the move, so that a replaced root BatchNorm shares the moved tensors
            self._modules[n] = convert_sync_bn(self._modules[n])
        self.sync_bn_models: tuple[str, ...] = tuple(sync_names)  # models with SyncBatchNorm
        if note and self.is_main:
            print(note)
        self.models: dict[str, nn.Module] = {
            n: self._wrap_model(m, compile, ddp_kwargs) for n, m in self._modules.items()
        }

        if seed is not None:
            seed_everything(int(seed) + self.rank)
        self.seed = seed

        # --- state ---------------------------------------------------------------------
        self.step = 0  # completed steps
        self.last_logs: dict[str, float] = {}
        self._elapsed = 0.0  # training seconds from earlier runs of this out_dir
        self._t0: Optional[float] = None
        self._sums: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._data_state: Optional[dict] = None  # iterable data: epoch, offset, epoch RNG
        self._loaded = False
        self._saved_step: Optional[int] = None  # step of the last checkpoint in out_dir
        self._step_rng: Optional[dict] = None  # RNG states when the current step began
        self._start_lineage: Optional[dict] = None  # where the models' weights came from at step 0
        self._lineage_id: Optional[str] = None  # the id written with load_or_train's final checkpoint
        self._bar = None

    def _pick_device(self, device) -> torch.device:
        """The device: under torchrun with CUDA ``cuda:LOCAL_RANK`` (made current)."""
        if self.world_size == 1:
            return pick_device(str(device)) if device is not None else pick_device()
        if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return torch.device(device if device is not None else "cpu")

    def _join_group(self) -> None:
        """Under torchrun, join the process group (NCCL on CUDA, gloo otherwise) unless
        one is open already."""
        if self.world_size == 1:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            _join_process_group("nccl" if self.device.type == "cuda" else "gloo", self.rank, self.world_size)
            self._owns_group = True

    def _place_model(self, m: nn.Module) -> None:
        """Move ``m`` to the device (channels-last if asked). ``Module.to()`` keeps the
        Parameter objects, so optimizers built earlier still work."""
        m.to(self.device)
        if self.channels_last:
            m.to(memory_format=torch.channels_last)

    def _wrap_model(self, m: nn.Module, compile, ddp_kwargs) -> nn.Module:
        """Wrap ``m`` in DDP when distributed and it has trainable parameters; compile it
        if asked."""
        if self.world_size > 1 and any(p.requires_grad for p in m.parameters()):
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            m = DDP(m, device_ids=ids, **dict(ddp_kwargs or {}))
        if compile:
            m = torch.compile(m, **(dict(compile) if isinstance(compile, Mapping) else {}))
        return m

    # ------------------------------------------------------------------ small accessors

    @property
    def ckpt_path(self) -> Path:
        """``out_dir/last.pt``: where periodic, final and Ctrl-C checkpoints go."""
        return self.out_dir / "last.pt"

    @property
    def log_path(self) -> Path:
        """``out_dir/log.csv``."""
        return self.out_dir / "log.csv"

    def module(self, name: str = "model") -> nn.Module:
        """The plain ``nn.Module`` registered as ``name`` (never DDP-wrapped or compiled)."""
        if name not in self._modules:
            raise KeyError(f"no model named {name!r}; models are {sorted(self._modules)}")
        return self._modules[name]

    @property
    def distributed(self) -> bool:
        """True when running under ``torchrun`` with more than one process."""
        return self.world_size > 1

    def lr(self, name: str) -> float:
        """The current learning rate of optimizer ``name`` (its first parameter group)."""
        return float(self.optimizers[name].param_groups[0]["lr"])

    def autocast(self):
        """The autocast context ``step_fn`` runs in (disabled when ``amp`` is off)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    # ------------------------------------------------------------------ one optimiser step

    def optimize(self, name: str, loss: torch.Tensor, *,
                 parts: Optional[Mapping[str, torch.Tensor]] = None) -> torch.Tensor:
        """One update of optimizer ``name`` from ``loss``; returns the gradient norm.

        In order: ``zero_grad``; ``backward`` (outside autocast, through the GradScaler
        with fp16); the NaN/Inf guard on the loss and the gradient norm; gradient
        clipping; ``optimizer.step()``; the optimizer's scheduler ``step()``.
        ``parts`` (optional) are the loss terms, named in the error message if the loss
        is not finite. The returned norm is the total gradient norm before clipping.
        """
        if name not in self.optimizers:
            raise KeyError(f"no optimizer named {name!r}; optimizers are {sorted(self.optimizers)}")
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError(f"the loss for {name!r} must be a scalar tensor, got "
                             f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}")
        if not loss.requires_grad:
            raise ValueError(f"the loss for {name!r} does not require grad: was it computed "
                             f"under torch.no_grad() or from detached tensors?")
        opt = self.optimizers[name]
        scaler = self.scalers.get(name)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=False):
            (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(opt)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            raise ValueError(f"the loss for {name!r} produced no gradient for any parameter of "
                             f"optimizer {name!r}: does it depend on that model?")
        clip = self.grad_clip.get(name) if isinstance(self.grad_clip, Mapping) else self.grad_clip
        if clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, float(clip))
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])

        # The guard: one small flag, made the same on every rank, read once.
        bad = ~torch.isfinite(loss.detach().float())
        if scaler is None:
            bad = bad | ~torch.isfinite(norm)
        bad = bad.to(torch.float32).reshape(1)
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item():
            self._raise_non_finite(name, loss, norm, parts)

        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        if name in self.schedulers:
            self.schedulers[name].step()
        return norm.detach()

    def _raise_non_finite(self, name, loss, norm, parts) -> None:
        value = float(loss.detach().float())
        what = (f"loss for optimizer {name!r} is {value}" if not math.isfinite(value)
                else f"gradient norm for optimizer {name!r} is {float(norm)} (the loss, {value:.6g}, is finite)")
        if not math.isfinite(value) and parts:
            bad = [k for k, v in parts.items() if not math.isfinite(float(torch.as_tensor(v).detach().float()))]
            if bad:
                what += f"; non-finite terms: {', '.join(bad)}"
        if self.distributed and math.isfinite(value) and math.isfinite(float(norm)):
            what = f"loss or gradient for optimizer {name!r} is not finite on another rank"
        last = f"{self.ckpt_path} (step {self._saved_step})" if self._saved_step is not None else "none yet"
        raise FloatingPointError(
            f"Non-finite training value at step {self.step + 1}: {what}. Nothing was updated "
            f"with these gradients and no checkpoint was written. Try lowering the learning "
            f"rate of {name!r} (currently {self.lr(name):.3g}), setting grad_clip, or amp='off'. "
            f"Last good checkpoint: {last}."
        )

    # ------------------------------------------------------------------ the loop

    def fit(self, data: Union[Callable[[int], Any], Iterable]) -> dict[str, float]:
        """Train until ``max_steps``; return the last log row (``step``, losses, lr, time).

        ``data`` is either a callable ``data(step) -> batch`` (the global batch for the
        0-based step index; preferred, as resume is exact for any such function), or an
        iterable such as a ``DataLoader`` (cycled through epochs). Batches are moved to the
        device; under DDP the callable's batch is sharded with :func:`shard_batch`.
        """
        if self.resume and not self._loaded and self.step == 0 and self.ckpt_path.is_file():
            self.load(self.ckpt_path)
        if self.step == 0:  # a fresh run: remember which weights it starts from (load_or_train)
            self._start_lineage = {n: getattr(m, _LINEAGE_ATTR, None) for n, m in self._modules.items()}
        if self.is_main:
            ensure_folder(self.out_dir)
            self._trim_log()
            if self.config:
                write_text(self.out_dir / "config.json", json.dumps(self.config, indent=2))
        if self.step >= self.max_steps:
            return dict(self.last_logs)

        batches = self._batches(data)
        self._start_bar()
        self._t0 = time.perf_counter()
        try:
            while self.step < self.max_steps:
                self._step_rng = _rng_state()  # so Ctrl-C can save the step's starting RNG
                batch, position = next(batches)
                if self.check_batch is not None:   # the boundary: checked once, on the host
                    self.check_batch(batch)
                batch = move_to(batch, self.device, self.channels_last)
                with self.autocast():
                    logs = self.step_fn(self, batch)
                self.step += 1
                self._step_rng = None
                if position is not None:
                    self._data_state = position
                self._accumulate(logs)
                if self.log_every and (self.step % self.log_every == 0 or self.step == self.max_steps):
                    self._write_log_row()
                if self.sample_every and self.step % self.sample_every == 0:
                    self.save_samples()
                if self.ckpt_every and self.step % self.ckpt_every == 0 and self.step < self.max_steps:
                    self.save()
                if self._bar is not None:
                    self._bar.update(1)
        except KeyboardInterrupt:
            self._save_on_interrupt()
            raise
        finally:
            self._stop_clock()
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        if self._sums:  # log_every=None: still record the final means
            self._write_log_row()
        self.save()
        return dict(self.last_logs)

    def _batches(self, data):
        """Yield ``(batch, position)`` from step ``self.step`` on; ``position`` is the data
        state to record once that step completes (``None`` for the callable form)."""
        if callable(data) and not isinstance(data, Iterable):
            ahead = getattr(data, "batches", None)  # inpaintlib.data.Prefetched: worker processes
            if ahead is not None:
                for batch in ahead(self.step, self.rank, self.world_size):
                    yield batch, None
            from .data.loader import step_batch  # this rank's share only, when the stream can read one

            step = self.step
            while True:
                yield step_batch(data, step, self.rank, self.world_size), None
                step += 1
        if not isinstance(data, Iterable):
            raise TypeError(f"data must be a callable data(step) or an iterable (wrap a Dataset in a "
                            f"DataLoader), got {type(data).__name__}")
        if self.distributed and hasattr(data, "sampler") and not hasattr(data.sampler, "set_epoch"):
            warnings.warn("under torchrun, give the DataLoader a DistributedSampler so each rank "
                          "sees its own share of the data", stacklevel=3)
        epoch, skip, rewind = 0, 0, None
        if self._data_state is not None:
            epoch, skip, rewind = (self._data_state["epoch"], self._data_state["offset"],
                                   self._data_state["epoch_rng"])
        while True:
            now = _rng_state() if rewind is not None else None
            if rewind is not None:  # re-create this epoch's order as it was
                torch.set_rng_state(rewind["torch"])
                for g, s in zip(_loader_generators(data), rewind["generators"]):
                    g.set_state(s)
            epoch_rng = {"torch": torch.get_rng_state(),
                         "generators": [g.get_state() for g in _loader_generators(data)]}
            sampler = getattr(data, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            it = iter(data)
            offset = 0
            for _ in range(skip):  # batches already used before the checkpoint
                next(it)
                offset += 1
            if now is not None:
                _set_rng_state(now)
            skip, rewind = 0, None
            for batch in it:
                offset += 1
                yield batch, {"epoch": epoch, "offset": offset, "epoch_rng": epoch_rng}
            if offset == 0:
                raise ValueError("data yielded no batches")
            if it is data:
                raise ValueError(
                    f"the data iterator ran out after step {self.step}, before max_steps="
                    f"{self.max_steps}; pass a re-iterable (list, DataLoader) or a callable data(step)"
                )
            epoch += 1

    def _accumulate(self, logs) -> None:
        if logs is None:
            return
        if not isinstance(logs, Mapping):
            raise TypeError(f"step_fn must return a dict of scalars (or None), got {type(logs).__name__}")
        for k, v in logs.items():
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    raise ValueError(f"step_fn returned {k!r} with shape {tuple(v.shape)}; log values must be scalars")
                v = v.detach().float().reshape(())
            else:
                v = float(v)
            self._sums[k] = self._sums.get(k, 0.0) + v
            self._counts[k] = self._counts.get(k, 0) + 1

    # ------------------------------------------------------------------ logging

    def _lr_columns(self) -> dict[str, float]:
        if len(self.optimizers) == 1:
            return {"lr": self.lr(next(iter(self.optimizers)))}
        return {f"lr_{n}": self.lr(n) for n in self.optimizers}

    def _elapsed_now(self) -> float:
        return self._elapsed + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def _stop_clock(self) -> None:
        self._elapsed = self._elapsed_now()
        self._t0 = None

    def _write_log_row(self) -> None:
        means = {k: self._sums[k] / self._counts[k] for k in self._sums}
        self._sums, self._counts = {}, {}
        if self.distributed and means:  # log the mean over all ranks, not rank 0's share
            import torch.distributed as dist

            t = torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(())
                             for v in means.values()])
            dist.all_reduce(t)
            means = dict(zip(means, (t / self.world_size).tolist()))
        tensors = [k for k, v in means.items() if isinstance(v, torch.Tensor)]
        if tensors:  # the step's tensors to the host in one copy: one device sync per log row
            means.update(zip(tensors, torch.stack([means[k].to(self.device).reshape(()) for k in tensors]).tolist()))
        means = {k: float(v) for k, v in means.items()}
        row = {"step": self.step, **means, **self._lr_columns(), "time": round(self._elapsed_now(), 3)}
        self.last_logs = row
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
        if not self.is_main:
            return
        if self.log_path.is_file() and self.log_path.stat().st_size > 0:
            with open(self.log_path, newline="") as f:
                header = next(csv.reader(f))
            new = [k for k in row if k not in header]
            if new:
                raise ValueError(
                    f"step_fn returned {new} at step {self.step}, which {self.log_path} has no column "
                    f"for (columns: {header}); return the same names every step"
                )
            line = [row.get(h) for h in header]
        else:
            header = list(row)
            line = list(row.values())
        with appending(self.log_path, newline="") as f:  # a failed append leaves no half row
            w = csv.writer(f)
            if f.tell() == 0:
                w.writerow(header)
            w.writerow([str(v) if h == "step" else _csv_value(v) for h, v in zip(header, line)])
        if self.tensorboard:
            tb = self._writer()
            for k, v in row.items():
                if k != "step":
                    tb.add_scalar(k, v, self.step)
            tb.flush()

    def _trim_log(self) -> None:
        """Drop log rows after ``self.step`` (steps that will be run again)."""
        if not self.log_path.is_file():
            return
        if self.step == 0:
            self.log_path.unlink()
            return
        with open(self.log_path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= self.step]
        if len(keep) == len(rows):
            return
        with atomic_write(self.log_path, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    def _writer(self):
        """The TensorBoard ``SummaryWriter`` (imported lazily; rank 0 only)."""
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError(
                    "tensorboard=True needs the 'tensorboard' package: pip install tensorboard "
                    "(or pip install 'inpaintlib[tensorboard]'), or use tensorboard=False; "
                    "log.csv is written either way"
                ) from exc
            self._tb = SummaryWriter(str(self.out_dir / "tb"), purge_step=self.step + 1 if self.step else None)
        return self._tb

    def _start_bar(self) -> None:
        if not (self.progress and self.is_main):
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self.max_steps, initial=self.step, desc=self.out_dir.name,
                         dynamic_ncols=True, leave=True)

    # ------------------------------------------------------------------ samples

    @contextmanager
    def eval_mode(self):
        """Put every model in eval mode (and no grad) for the block; restore modes after."""
        modes = {n: [m.training for m in mod.modules()] for n, mod in self._modules.items()}
        try:
            for mod in self._modules.values():
                mod.eval()
            with torch.no_grad():
                yield
        finally:
            for n, mod in self._modules.items():
                for m, was in zip(mod.modules(), modes[n]):
                    m.train(was)

    def save_samples(self) -> Optional[Path]:
        """Run ``sample_fn`` (every rank, eval mode, no grad) and save the grid as
        ``out_dir/samples/step_000100.png`` (rank 0). Returns the path on rank 0."""
        if self.sample_fn is None:
            raise ValueError("no sample_fn was given to the Trainer")
        with self.eval_mode():
            images = self.sample_fn(self)
        if not self.is_main:
            return None
        path = self.out_dir / "samples" / f"step_{self.step:06d}.png"
        try:
            path = save_grid(images.detach().float().cpu(), path)
        except OSError as err:  # save_grid writes <path>.tmp, then renames it
            tmp = path.with_name(path.name + ".tmp")
            if tmp.exists():
                tmp.unlink()
            if isinstance(err, WriteError):
                raise
            raise WriteError(path, err) from err
        if self.tensorboard:
            from .viz import make_grid

            self._writer().add_image("samples", make_grid(images.detach().float().cpu()).clamp(0, 1), self.step)
        return path

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self, collective: bool = True) -> dict:
        """Everything needed to resume (see :func:`load_checkpoint` for the keys).

        Under DDP this gathers every rank's RNG states, so all ranks must call it (unless
        ``collective=False``, which stores this rank's only).
        """
        rng = [_rng_state()]
        if self.distributed and collective:
            import torch.distributed as dist

            gathered: list = [None] * self.world_size
            dist.all_gather_object(gathered, rng[0])
            rng = gathered
        window = {"sums": {k: float(v) for k, v in self._sums.items()}, "counts": dict(self._counts)}
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "max_steps": self.max_steps,
            "world_size": self.world_size,
            "sync_bn": list(self.sync_bn_models),
            "config": self.config,
            "models": {n: m.state_dict() for n, m in self._modules.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "rng": rng,
            "data": self._data_state,
            "log_window": window,
            "elapsed": self._elapsed_now(),
            "last_logs": dict(self.last_logs),
            "lineage": {"id": self._lineage_id, "start": dict(self._start_lineage or {})},
        }

    def save(self, path: Union[str, os.PathLike, None] = None) -> Path:
        """Write a checkpoint atomically (rank 0) to ``path`` (default ``out_dir/last.pt``);
        all ranks wait for it. Returns the path."""
        path = Path(path) if path is not None else self.ckpt_path
        state = self.state_dict()
        if self.is_main:
            _atomic_save(state, path)
            if path == self.ckpt_path:
                self._saved_step = self.step
        self._barrier()
        return path

    def _save_on_interrupt(self) -> None:
        """Save at the last completed step, with the RNG as it was when the unfinished
        step began (also put back in memory, so calling ``fit`` again continues exactly)."""
        if self._step_rng is not None:
            _set_rng_state(self._step_rng)
            self._step_rng = None
        if self.is_main:  # no collectives here: the other ranks may be gone already
            _atomic_save(self.state_dict(collective=False), self.ckpt_path)
            self._saved_step = self.step
            print(f"Interrupted: saved {self.ckpt_path} at step {self.step}; call fit() again to resume.")

    def load(self, path: Union[str, os.PathLike, None] = None) -> dict:
        """Restore everything from a checkpoint (default ``out_dir/last.pt``) so that
        ``fit`` continues exactly where it stopped. Returns the checkpoint dict.

        The checkpoint is checked whole before anything is copied: it must hold these models
        with these keys and shapes, these optimisers (same parameter groups), schedulers and
        scalers, and the same ``config`` apart from run lengths (``steps``, ``*_steps``). A
        checkpoint of another method, architecture or profile raises
        :class:`CheckpointMismatchError` naming the file, and the Trainer is left untouched."""
        path = Path(path) if path is not None else self.ckpt_path
        ckpt = load_checkpoint(path)
        self.check_checkpoint(ckpt, path, full=True)
        self._copy_models(ckpt, strict=True)
        for kind, mine in (("optimizers", self.optimizers), ("schedulers", self.schedulers),
                           ("scalers", self.scalers)):
            for n, obj in mine.items():
                obj.load_state_dict(ckpt[kind][n])
        self.step = int(ckpt["step"])
        self._saved_step = self.step
        self._data_state = ckpt["data"]
        self._sums = dict(ckpt["log_window"]["sums"])
        self._counts = dict(ckpt["log_window"]["counts"])
        self._elapsed = float(ckpt["elapsed"])
        self.last_logs = dict(ckpt["last_logs"])
        self._start_lineage = dict((ckpt.get("lineage") or {}).get("start") or {}) or None
        rng = ckpt["rng"]
        if self.rank < len(rng):
            _set_rng_state(rng[self.rank])
        else:
            warnings.warn(f"{path} has no RNG state for rank {self.rank} (it was saved by "
                          f"{len(rng)} process(es)); this rank's random numbers will differ", stacklevel=2)
        self._loaded = True
        return ckpt

    def _describe(self) -> str:
        return ", ".join(f"{n}: {type(m).__name__}" for n, m in self._modules.items())

    def check_checkpoint(self, ckpt: dict, path: Union[str, os.PathLike], *, full: bool = True,
                         strict: bool = True) -> None:
        """Raise :class:`CheckpointMismatchError` (naming ``path``, what this Trainer expects and
        what the file holds) unless ``ckpt`` fits: the same model names, keys and shapes
        (missing and unexpected keys allowed with ``strict=False``); with ``full`` also the
        optimisers' parameter groups, the schedulers and scalers, and the same ``config``
        apart from run lengths. Nothing is copied."""
        path = Path(path)
        found = ckpt.get("models") if isinstance(ckpt.get("models"), Mapping) else {}
        missing = set(self._modules) - set(found)
        if missing:
            raise CheckpointMismatchError(
                f"{path} holds models {sorted(found)}, not {sorted(missing)}: it was written by another method "
                f"(this Trainer trains {self._describe()}). Nothing was loaded; train into another out_dir, "
                f"or delete {path} to start again")
        problems = []
        for n, m in self._modules.items():
            bad = state_mismatch(m.state_dict(), found[n], strict=strict)
            if bad:
                problems.append(f"model {n!r} ({type(m).__name__}): {'; '.join(bad)}")
        if problems:
            raise CheckpointMismatchError(
                f"{path} does not fit this Trainer's models ({self._describe()}): {' | '.join(problems)}. "
                f"It was written for another architecture or method (its config: {ckpt.get('config')}). "
                f"Nothing was loaded; train into another out_dir, or delete {path} to start again")
        if not full:
            return
        for kind, mine in (("optimizers", self.optimizers), ("schedulers", self.schedulers),
                           ("scalers", self.scalers)):
            have = ckpt.get(kind) if isinstance(ckpt.get(kind), Mapping) else {}
            absent = set(mine) - set(have)
            if absent:
                raise CheckpointMismatchError(f"{path} has no state for {kind} {sorted(absent)} (it has "
                                              f"{sorted(have)}); nothing was loaded")
        for n, opt in self.optimizers.items():
            groups = [len(g["params"]) for g in opt.param_groups]
            stored = [len(g.get("params", ())) for g in ckpt["optimizers"][n].get("param_groups", ())]
            if groups != stored:
                raise CheckpointMismatchError(
                    f"{path}: optimizer {n!r} has parameter groups of sizes {stored} in the file but {groups} "
                    f"here (another model or another choice of trained parameters); nothing was loaded")
        diff = _config_diff(ckpt.get("config") or {}, self.config)
        if diff:
            raise CheckpointMismatchError(
                f"{path} was written by another run: {'; '.join(diff)}. Nothing was loaded; train into "
                f"another out_dir (each profile has its own), or delete {path.parent} to start again")

    def _copy_models(self, ckpt: dict, strict: bool) -> None:
        for n, m in self._modules.items():
            m.load_state_dict(ckpt["models"][n], strict=strict)

    def load_weights(self, path: Union[str, os.PathLike], strict: bool = True) -> dict:
        """Load only the models' weights from a checkpoint (no optimiser, step or RNG);
        returns the checkpoint dict. For evaluating or fine-tuning a trained model. A
        checkpoint whose models do not fit raises :class:`CheckpointMismatchError` before
        any weight is copied."""
        path = Path(path)
        ckpt = load_checkpoint(path)
        self.check_checkpoint(ckpt, path, full=False, strict=strict)
        self._copy_models(ckpt, strict)
        return ckpt

    def _barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Close the TensorBoard writer and leave the process group if the Trainer joined it."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self._owns_group = False


_LINEAGE_ATTR = "_inpaintlib_lineage"  # on a model: the id of the final checkpoint its weights are


def _new_lineage_id(trainer: Trainer) -> str:
    """A fresh id for a final checkpoint (rank 0's, under DDP, so every rank marks the same)."""
    import uuid

    rid = uuid.uuid4().hex
    if trainer.distributed:
        import torch.distributed as dist

        box = [rid]
        dist.broadcast_object_list(box, src=0)
        rid = box[0]
    return rid


def _mark_lineage(trainer: Trainer, rid: Optional[str]) -> None:
    for m in trainer._modules.values():
        m.__dict__[_LINEAGE_ATTR] = rid


def _stale_start(trainer: Trainer, ckpt: dict) -> list[str]:
    """Models whose weights in memory came from a final checkpoint (an earlier phase, loaded or
    trained in this process) other than the one the stored run started from: that run is stale."""
    lineage = ckpt.get("lineage")
    if not isinstance(lineage, Mapping):  # written before lineages were recorded
        return []
    start = lineage.get("start") or {}
    return [n for n, m in trainer._modules.items()
            if getattr(m, _LINEAGE_ATTR, None) is not None and start.get(n) != getattr(m, _LINEAGE_ATTR)]


def _say(trainer: Trainer, message: str) -> None:
    if trainer.progress and trainer.is_main:
        print(message)


def _train_and_save(trainer: Trainer, data, path: Path, fresh: bool = False) -> dict:
    resume = trainer.resume
    if fresh:  # do not resume from a stale last.pt either
        trainer.resume = False
    try:
        logs = trainer.fit(data)
    finally:
        trainer.resume = resume
    trainer._lineage_id = _new_lineage_id(trainer)
    trainer.save(path)
    _mark_lineage(trainer, trainer._lineage_id)
    return {**logs, "step": trainer.step, "trained": True, "checkpoint": str(path)}


def load_or_train(trainer: Trainer, data, path: Union[str, os.PathLike, None] = None) -> dict:
    """The book's *load-or-train* cell: if the final checkpoint ``path`` (default
    ``trainer.out_dir/final.pt``) holds the run asked for, load the models' weights from it
    and return without training; otherwise ``trainer.fit(data)`` and save the checkpoint there.

    The stored run is compared with the one asked for before anything is copied:

    * other models, architecture or optimisers, or another ``config`` (profile, image size,
      learning rate, ... — everything but the run lengths ``steps``/``*_steps``):
      :class:`CheckpointMismatchError` naming the file, what was asked and what was found;
      train into another ``out_dir`` (each profile has its own) or delete the folder;
    * the same run with **fewer** steps than ``max_steps``: training *continues* from it
      (models, optimisers, schedulers, RNG as stored) up to ``max_steps``;
    * **more** steps than ``max_steps``: :class:`CheckpointMismatchError` (its weights are not
      the run asked for);
    * a run that started from other weights than the ones the models hold now (an earlier
      phase of the recipe was trained again in this process): this phase is trained again.

    Returns the last log row plus ``trained`` (whether training ran), ``checkpoint`` and,
    when an earlier run was continued, ``continued_from`` (its step).
    """
    path = Path(path) if path is not None else trainer.out_dir / "final.pt"
    if path.exists():
        ckpt = load_checkpoint(path)
        trainer.check_checkpoint(ckpt, path, full=True)
        step = int(ckpt["step"])
        stale = _stale_start(trainer, ckpt)
        if stale:
            _say(trainer, f"{path} was trained from other weights of {', '.join(stale)} than the ones now in "
                          f"memory (an earlier phase was trained again): training this phase again")
            return _train_and_save(trainer, data, path, fresh=True)
        if step > trainer.max_steps:
            raise CheckpointMismatchError(
                f"{path} holds a run of {step} steps, more than the {trainer.max_steps} asked for, so its "
                f"weights are not the run asked for. Ask for {step} steps to use it, train into another "
                f"out_dir, or delete {path.parent} to start again")
        if step == trainer.max_steps:
            trainer._copy_models(ckpt, strict=True)
            _mark_lineage(trainer, (ckpt.get("lineage") or {}).get("id"))
            _say(trainer, f"loaded {path}: trained earlier for {step} steps (delete it to train again)")
            return {**ckpt["last_logs"], "step": step, "trained": False, "checkpoint": str(path)}
        _say(trainer, f"continuing {path} from step {step} to {trainer.max_steps} (models, optimisers and "
                      f"schedules as stored; delete {path.parent} to train from scratch)")
        trainer.load(path)
        return {**_train_and_save(trainer, data, path), "continued_from": step}
    last = trainer.ckpt_path
    if trainer.resume and not trainer._loaded and trainer.step == 0 and last.exists():
        ckpt = load_checkpoint(last)  # an interrupted run: fit resumes it if it is this run
        trainer.check_checkpoint(ckpt, last, full=True)
        if _stale_start(trainer, ckpt):
            _say(trainer, f"{last} was started from other weights than the ones now in memory: starting afresh")
            return _train_and_save(trainer, data, path, fresh=True)
        if int(ckpt["step"]) > trainer.max_steps:
            raise CheckpointMismatchError(
                f"{last} holds a run of {int(ckpt['step'])} steps, more than the {trainer.max_steps} asked for. "
                f"Ask for {int(ckpt['step'])} steps, train into another out_dir, or delete {last.parent}")
    return _train_and_save(trainer, data, path)
