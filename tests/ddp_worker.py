"""A tiny GAN-style training run shared by the DDP test in ``test_train.py``, and the guard
that runs ``torchrun`` so that nothing it starts can outlive the test.

Imported by the test for the single-process reference run, and launched by it as::

    python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node=2 \\
        tests/ddp_worker.py OUT_DIR

``--standalone`` lets torchrun open its rendezvous store on a port it picks and keeps (no
port chosen by the test and released before torchrun binds it). Each rank also writes
``OUT_DIR/rank<r>.json`` with what it saw (local batch size, whether its models were
DDP-wrapped), so the test can check the sharding.

``ddp_worker.py OUT_DIR bn DEVICE`` instead trains :func:`build_bn_model` (BatchNorm on the
input itself, so its running statistics depend only on the data) with the default
``sync_bn`` on ``DEVICE`` (``cpu``: gloo; ``cuda``: NCCL, one GPU per rank), after checking
that ``sync_bn=True`` fails clearly where SyncBatchNorm cannot run. Each rank writes its
BatchNorm layer's type and running statistics.

:func:`run_guarded` starts a command in a session of its own and, if it outlives its
timeout, kills its process group *and* the process groups of all its descendants: torchrun
starts every worker in a new session, so killing torchrun's group alone leaves the workers
running. Each worker also asks the kernel to kill it when its parent (torchrun) dies.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.train import Trainer, seed_everything

GLOBAL_BATCH = 8
STEPS = 6


def build_models() -> dict[str, nn.Module]:
    """A generator and a critic, initialised the same way in every process."""
    seed_everything(0)
    g = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 3, 3, padding=1))
    d = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
    return {"g": g, "d": d}


def data(step: int):
    """The global batch for ``step``: an input and its target (a shifted copy)."""
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.rand(GLOBAL_BATCH, 3, 8, 8, generator=gen)
    return x, torch.roll(x, 1, dims=-1)


SEEN: dict = {}


def step_fn(trainer: Trainer, batch):
    """One critic step, then one generator step (reconstruction + adversarial)."""
    x, y = batch
    SEEN["local_batch"] = int(x.shape[0])
    g, d = trainer.models["g"], trainer.models["d"]
    fake = g(x)
    scores = d(torch.cat([fake.detach(), y]))  # one critic forward per backward (DDP)
    n = x.shape[0]
    loss_d = F.softplus(scores[:n]).mean() + F.softplus(-scores[n:]).mean()
    trainer.optimize("d", loss_d)
    loss_rec = (fake - y).pow(2).mean()
    loss_g = loss_rec + 0.1 * F.softplus(-d(fake)).mean()
    trainer.optimize("g", loss_g)
    return {"d": loss_d, "g": loss_g, "rec": loss_rec}


def make_trainer(out_dir, **kw) -> Trainer:
    """The Trainer used both by the single-process reference and by each DDP rank."""
    models = build_models()
    opts = {n: torch.optim.Adam(m.parameters(), lr=1e-2) for n, m in models.items()}
    sched = {"g": torch.optim.lr_scheduler.MultiStepLR(opts["g"], [3])}
    return Trainer(models, opts, step_fn, schedulers=sched, out_dir=out_dir, max_steps=STEPS,
                   device="cpu", log_every=1, progress=False, seed=0, **kw)


BN_MOMENTUM = 0.1


def build_bn_model() -> nn.Module:
    """BatchNorm on the input, then a convolution: the BatchNorm's running statistics are a
    function of the batches alone, so the test can compute them independently."""
    seed_everything(0)
    return nn.Sequential(nn.BatchNorm2d(3, momentum=BN_MOMENTUM), nn.Conv2d(3, 3, 3, padding=1))


def bn_step_fn(trainer: Trainer, batch):
    x, y = batch
    loss = (trainer.models["g"](x) - y).pow(2).mean()
    trainer.optimize("g", loss)
    return {"rec": loss}


def make_bn_trainer(out_dir, device: str = "cpu", **kw) -> Trainer:
    g = build_bn_model()
    return Trainer({"g": g}, {"g": torch.optim.Adam(g.parameters(), lr=1e-2)}, bn_step_fn, out_dir=out_dir,
                   max_steps=STEPS, device=device, log_every=1, progress=False, seed=0, **kw)


def main_bn(out_dir: str, device: str) -> None:
    forced = ""
    try:
        make_bn_trainer(out_dir, device, sync_bn=True).close()
    except ValueError as err:
        forced = str(err)
    trainer = make_bn_trainer(out_dir, device)  # sync_bn=None: automatic
    trainer.fit(data)
    bn = trainer.module("g")[0]
    info = {
        "rank": trainer.rank,
        "sync_bn_models": list(trainer.sync_bn_models),
        "forced_error": forced,
        "bn_type": type(bn).__name__,
        "running_mean": bn.running_mean.tolist(),
        "running_var": bn.running_var.tolist(),
        "batches_tracked": int(bn.num_batches_tracked),
    }
    Path(out_dir, f"bn_rank{trainer.rank}.json").write_text(json.dumps(info))
    trainer.close()


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), read from ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int, known: tuple = ()) -> None:
    """SIGKILL ``pid``'s process group and the process group of each of its descendants
    (``known`` adds pids seen earlier, before their parent died and they were re-parented)."""
    mine = os.getpgrp()
    pids = list(dict.fromkeys([*descendants(pid), *known]))
    groups = {pid}
    for p in pids:
        try:
            groups.add(os.getpgid(p))
        except ProcessLookupError:
            pass
    for g in groups:
        if g != mine:
            try:
                os.killpg(g, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run_guarded(cmd, env=None, timeout: float = 600, grace: float = 10) -> tuple[int, str, bool]:
    """Run ``cmd`` in a new session; return ``(returncode, stdout+stderr, timed_out)``.

    Past ``timeout`` seconds: SIGTERM to its process group (torchrun forwards it to its
    workers), ``grace`` seconds later SIGKILL to it and every descendant's process group, so
    no worker survives the guard. Output goes to a file, not a pipe, so a stuck grandchild
    holding the pipe open cannot hang the guard itself."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        seen: list[int] = []
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                seen = list(dict.fromkeys([*seen, *descendants(proc.pid)]))
                try:
                    proc.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                timed_out = True
                seen = list(dict.fromkeys([*seen, *descendants(proc.pid)]))
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            kill_tree(proc.pid, tuple(seen))  # whatever is left, including re-parented workers
            proc.wait()
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
    return proc.returncode, output, timed_out


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent (torchrun) dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def main(out_dir: str) -> None:
    die_with_parent()
    torch.set_num_threads(1)
    trainer = make_trainer(out_dir)
    trainer.fit(data)
    info = {
        "rank": trainer.rank,
        "world_size": trainer.world_size,
        "local_batch": SEEN["local_batch"],
        "wrapped": {n: type(m).__name__ for n, m in trainer.models.items()},
        "step": trainer.step,
    }
    Path(out_dir, f"rank{trainer.rank}.json").write_text(json.dumps(info))
    trainer.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "bn":
        die_with_parent()
        torch.set_num_threads(1)
        main_bn(sys.argv[1], sys.argv[3])
    else:
        main(sys.argv[1])
