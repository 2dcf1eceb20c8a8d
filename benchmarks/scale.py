"""Data-parallel training throughput: PConv (quick size) under ``torchrun`` with 1, 2, … processes.

Launches ``python -m torch.distributed.run --nproc_per_node N`` (the ``torchrun`` command)
on this script's worker mode for each process count. Every worker trains the PConv U-Net
of the quick profile (5 levels, width ×0.25, 64 px crops, the full PConv loss) with
:class:`inpaintlib.train.Trainer`, which joins the process group (gloo on CPU, NCCL on
CUDA), wraps the generator in ``DistributedDataParallel`` and gives each rank its share of
the global batch. The global batch (default 8) is the same for every N (strong scaling),
so N processes each see ``8/N`` images per step.

Throughput = global batch × timed steps / their training seconds, from rank 0's
``log.csv`` (``time`` column, one row per step), after ``--warmup`` warm-up steps. Each
process gets ``--threads`` torch threads (default 1, one core per process — the usual DDP
layout; several OpenMP threads per process on an oversubscribed machine can be many times
slower, which would make the comparison meaningless). Records are appended to the results file (a JSON list; earlier records are kept):

    .venv/bin/python benchmarks/scale.py                     # 1 and 2 processes
    .venv/bin/python benchmarks/scale.py --nproc 1,2,4,8     # on a machine with 8 GPUs

Taught with the "Comparing the methods" chapter.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scale.json"


def worker(out_dir: str, steps: int, warmup: int, global_batch: int, size: int, threads: int) -> None:
    """One torchrun process: train PConv (quick model) for warmup + steps steps."""
    import torch

    torch.set_num_threads(threads)
    from inpaintlib.data import TrainingPairs
    from inpaintlib.losses import PConvLoss
    from inpaintlib.nn import perceptual_backbone
    from inpaintlib.recipes.pconv import make_step_fn, schedule
    from inpaintlib.registry import build_model
    from inpaintlib.train import Trainer, seed_everything

    sched = schedule("quick")
    seed_everything(0)
    net = build_model("pconv", **sched.model_config())
    loss_fn = PConvLoss(perceptual_backbone("auto", verbose=False))
    data = TrainingPairs(global_batch, size, ratio=sched.hole_ratio, seed=0)
    trainer = Trainer({"g": net}, {"g": torch.optim.Adam(net.parameters(), lr=sched.lr1)}, make_step_fn(loss_fn),
                      out_dir=out_dir, max_steps=warmup + steps, log_every=1, progress=False, amp="off", seed=0,
                      resume=False)
    loss_fn.to(trainer.device)
    trainer.fit(data)
    if trainer.is_main:
        info = {"world_size": trainer.world_size, "device": str(trainer.device),
                "backend": torch.distributed.get_backend() if trainer.distributed else "none",
                "threads": torch.get_num_threads()}
        Path(out_dir, "worker.json").write_text(json.dumps(info))
    trainer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_seconds(out_dir: Path, warmup: int, steps: int) -> float:
    """Training seconds of steps ``warmup+1 … warmup+steps`` from a Trainer's ``log.csv``
    written with ``log_every=1`` (its ``time`` column is cumulative)."""
    from inpaintlib.train import read_log

    log = read_log(out_dir)
    t = dict(zip(log["step"], log["time"]))
    total = warmup + steps
    if total not in t or (warmup and warmup not in t):
        raise RuntimeError(f"log {Path(out_dir) / 'log.csv'} lacks the rows of steps {warmup} and {total}")
    seconds = t[total] - (t[warmup] if warmup else 0.0)
    if not seconds > 0:
        raise RuntimeError(f"log {Path(out_dir) / 'log.csv'} gives {seconds} s for {steps} steps")
    return seconds


def launch(nproc: int, out_dir: Path, steps: int, warmup: int, global_batch: int, size: int,
           threads: int, timeout: float = 1800) -> dict:
    """Run ``torchrun --nproc_per_node nproc`` on the worker; return the throughput figures."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(Path(__file__).resolve()),
           "--worker", str(out_dir), "--steps", str(steps), "--warmup", str(warmup),
           "--global-batch", str(global_batch), "--size", str(size), "--threads", str(threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"torchrun with {nproc} processes failed:\n{(r.stdout + r.stderr)[-3000:]}")
    seconds = timed_seconds(out_dir, warmup, steps)
    info = json.loads(Path(out_dir, "worker.json").read_text())
    return {"nproc": nproc, "backend": info["backend"], "device": info["device"],
            "threads_per_process": info["threads"], "global_batch": global_batch,
            "per_process_batch": global_batch // nproc, "timed_steps": steps, "warmup_steps": warmup,
            "seconds": seconds, "images_per_s": global_batch * steps / seconds,
            "command": " ".join(["torchrun"] + cmd[3:])}


def run(nprocs=(1, 2), steps=20, warmup=3, global_batch=8, size=64, out=DEFAULT_OUT, note=None, command=None,
        threads_per_process=1):
    """Measure every process count; append the records to ``out`` (unless None)."""
    import torch

    from inpaintlib import compare

    cuda = torch.cuda.is_available()
    records = []
    for n in nprocs:
        if global_batch % n:
            raise ValueError(f"the global batch {global_batch} is not divisible by {n} processes")
        threads = threads_per_process
        with tempfile.TemporaryDirectory() as d:
            res = launch(n, Path(d) / "run", steps, warmup, global_batch, size, threads)
        info = compare.run_info("cuda" if cuda else "cpu", note=note, command=command)
        rec = {"benchmark": "scale", "method": "pconv", "profile": "quick", "size": size, **info, **res}
        rec["device"] = "cuda" if cuda else "cpu"
        records.append(rec)
        print(f"| {n} process{'es' if n > 1 else ''} | {rec['backend']} | {rec['threads_per_process']} thread(s) each | "
              f"batch {global_batch} ({rec['per_process_batch']} per process) | {rec['seconds']:.1f} s for {steps} steps | "
              f"{rec['images_per_s']:.1f} images/s |", flush=True)
    base = records[0]["images_per_s"] if records else None
    for r in records:
        r["speedup_vs_first"] = r["images_per_s"] / base
    if len(records) > 1:
        print(", ".join(f"{r['nproc']} → {r['speedup_vs_first']:.2f}×" for r in records) + f" the throughput of {records[0]['nproc']}")
    if out is not None:
        compare.append_records(out, records)
    return records


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", default=None,
                    help="comma-separated process counts (default: 1,2 on CPU; 1,2,4,… up to the GPU count)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up steps before timing (default 3)")
    ap.add_argument("--global-batch", type=int, default=8, help="images per step over all processes (default 8)")
    ap.add_argument("--size", type=int, default=64, help="crop size in px (default 64, the quick profile)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads per process (default 1: one core per process)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="results file to append to ('-' = do not write)")
    ap.add_argument("--note", default=None, help="a sentence about the machine or the run, stored with each record")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.warmup, args.global_batch, args.size, args.threads)
        return
    if args.nproc:
        nprocs = [int(x) for x in args.nproc.split(",") if x.strip()]
    else:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        nprocs = [1, 2] if gpus < 2 else [n for n in (1, 2, 4, 8, 16) if n <= gpus]
    out = None if args.out == "-" else args.out
    run(nprocs, args.steps, args.warmup, args.global_batch, args.size, out, args.note,
        " ".join([".venv/bin/python benchmarks/scale.py"] + argv), args.threads)


if __name__ == "__main__":
    main()
