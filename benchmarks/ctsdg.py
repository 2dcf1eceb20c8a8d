"""What CTSDG costs: a full training iteration, inference, and CFA's attention memory.

* **train step** — one iteration of the recipe at 256 px, batch 6, the full network
  (``layers=7, width=1``): the generator step (forward, the discriminator on the output,
  every loss term with the perceptual backbone, backward, Adam) then the discriminator
  step (real and fake, backward, Adam) — :func:`inpaintlib.recipes.ctsdg.make_step_fn`
  run by the Trainer's ``optimize``. The step's Canny maps (``EdgePairs``, CPU) are timed
  separately: a data pipeline computes them ahead of the step.
* **inference** — ``model(image, hole)`` in eval mode at 256 px, batch 1, including the
  known-region Canny edges it computes itself (CPU, scikit-image).
* **CFA memory** — the attention of :class:`~inpaintlib.nn.CFA` on the 256-px generator's
  128×128×64 CFA input at batch 6 is ``B×L×L`` with ``L = 4,096``: 384 MiB per float32
  tensor. Peak memory of one forward + backward of CFA alone, without and with
  ``chunk`` (CPU: rise of the peak resident set of a fresh process, ``VmHWM`` reset via
  ``/proc/self/clear_refs`` minus ``VmRSS`` before; CUDA: ``max_memory_allocated`` above
  what was allocated before).

On CUDA the step and inference also run with bf16 autocast (the Trainer's ``amp="auto"``).
Times are the fastest of ``--rounds`` runs after one warm-up (on a shared machine other
processes only add time). The sources' figures are printed beside ours:

* MindSpore ModelZoo README (English, 03.06.2022, MindSpore 1.6.1): **573 ms/step** on
  1× RTX 3090 (batch 6, 256 px); no inference time.
* MindSpore ModelZoo README (Chinese, 19.12.2022, MindSpore 1.9.0): **590 ms/step** on
  1× V100 and **76 ms/image** inference at batch 1 on a V100 (29 ms on Ascend 910).

    .venv/bin/python benchmarks/ctsdg.py --out benchmarks/results/ctsdg-cpu.md

Taught with the "Dual streams" chapter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import torch

from inpaintlib.nn import CFA
from inpaintlib.nn.ctsdg_blocks import attention_bytes

SOURCES = [
    ("MindSpore README (en, 03.06.2022, MindSpore 1.6.1)", "1× RTX 3090", "573 ms/step", "—"),
    ("MindSpore README (zh, 19.12.2022, MindSpore 1.9.0)", "1× V100", "590 ms/step", "76 ms/image (batch 1)"),
]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _fastest(fn, rounds: int, dev: torch.device) -> float:
    fn()                                   # warm-up
    _sync(dev)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return best


def train_step_time(dev: torch.device, rounds: int, amp: str, size: int = 256, batch: int = 6,
                    layers: int = 7, width: float = 1.0) -> tuple[float, float, str]:
    """(seconds per G+D iteration, seconds for the step's two Canny maps, backbone description)."""
    from inpaintlib.data import TrainingPairs
    from inpaintlib.losses import CTSDGLoss
    from inpaintlib.models import CTSDG, CTSDGDiscriminator
    from inpaintlib.nn import perceptual_backbone
    from inpaintlib.recipes.ctsdg import EdgePairs, make_step_fn
    from inpaintlib.train import Trainer, move_to

    torch.manual_seed(0)
    g, d = CTSDG(layers=layers, width=width), CTSDGDiscriminator(width=width)
    backbone = perceptual_backbone("auto", verbose=False)
    loss = CTSDGLoss(backbone).to(dev)
    data = EdgePairs(TrainingPairs(batch, size, seed=0))
    edge_time = _fastest(lambda: data(1), rounds, torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer({"g": g, "d": d}, {"g": torch.optim.Adam(g.parameters(), 2e-4),
                                             "d": torch.optim.Adam(d.parameters(), 2e-5)},
                          make_step_fn(loss), out_dir=tmp, max_steps=1, device=dev, amp=amp, progress=False)
        batch_on_dev = move_to(data(0), dev)
        step_fn = make_step_fn(loss)

        def one():
            with trainer.autocast():
                step_fn(trainer, batch_on_dev)

        t = _fastest(one, rounds, dev)
        trainer.close()
    return t, edge_time, backbone.description


def inference_time(dev: torch.device, rounds: int, amp: bool, size: int = 256) -> float:
    from inpaintlib.data import TrainingPairs
    from inpaintlib.models import CTSDG

    torch.manual_seed(0)
    g = CTSDG().to(dev).eval()
    image, hole = TrainingPairs(1, size, seed=0)(0)
    image, hole = image.to(dev), hole.to(dev)

    def one():
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            g(image, hole)

    return _fastest(one, rounds, dev)


def _status() -> dict:
    text = open("/proc/self/status").read()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _cfa_inputs(dev, batch=6, channels=64, size=128):
    torch.manual_seed(0)
    cfa = CFA(channels).to(dev)
    x = torch.randn(batch, channels, size, size, device=dev, requires_grad=True)
    return cfa, x


def worker(chunk: int, grad: bool) -> None:
    """Fresh-process CPU memory probe: peak RSS increase of one CFA pass."""
    cfa, x = _cfa_inputs(torch.device("cpu"))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                       # reset VmHWM to the current RSS
    before = _status()
    t = time.perf_counter()
    if grad:
        cfa.ral(x, chunk=chunk or None).sum().backward()
    else:
        with torch.no_grad():
            cfa.ral(x, chunk=chunk or None)
    seconds = time.perf_counter() - t
    print(json.dumps({"peak": _status()["VmHWM"] - before["VmRSS"], "seconds": seconds}))


def cpu_cfa(chunk: int, grad: bool, threads: int) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(chunk),
                          "--grad", str(int(grad)), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cuda_cfa(chunk: int, grad: bool) -> dict:
    dev = torch.device("cuda")
    cfa, x = _cfa_inputs(dev)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    if grad:
        cfa.ral(x, chunk=chunk or None).sum().backward()
    else:
        with torch.no_grad():
            cfa.ral(x, chunk=chunk or None)
    torch.cuda.synchronize()
    return {"peak": torch.cuda.max_memory_allocated() - base, "seconds": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: both where present)")
    ap.add_argument("--out", default=None, help="write the Markdown report here")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--grad", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker is not None:
        worker(args.worker, bool(args.grad))
        return

    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = ["# CTSDG: training step, inference and CFA memory", ""]
    cpu_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines += [f"Machine: {platform.machine()}, {cpu_name}, {os.cpu_count()} cores, {args.threads} torch threads, "
              f"torch {torch.__version__}, python {platform.python_version()}"
              + (f", GPU {torch.cuda.get_device_name()}" if "cuda" in devices else ", no GPU") + ".",
              f"Command: `.venv/bin/python benchmarks/ctsdg.py --rounds {args.rounds} --threads {args.threads}"
              + (f" --out {args.out}`" if args.out else "`"),
              "", f"Load average when the run started: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores — "
              "other jobs share this machine, so CPU times are upper bounds.",
              "", "Full network (`layers=7, width=1`, 52,147,789 generator parameters), 256 px. Fastest of "
              f"{args.rounds} timed run(s) after a warm-up.", ""]
    lines += ["| device | precision | train step (G + D), batch 6 | Canny maps of the step (CPU) | "
              "inference, batch 1 |", "|---|---|---|---|---|"]
    backbone = ""
    for dev_name in devices:
        dev = torch.device(dev_name)
        for amp in ([False, True] if dev.type == "cuda" else [False]):
            step, edge_t, backbone = train_step_time(dev, args.rounds, "bf16" if amp else "off")
            inf = inference_time(dev, args.rounds, amp)
            lines.append(f"| {dev_name} | {'bf16 autocast' if amp else 'float32'} | {step * 1000:,.0f} ms | "
                         f"{edge_t * 1000:,.0f} ms | {inf * 1000:,.0f} ms |")
            print(lines[-1], flush=True)
    lines += ["", f"Perceptual backbone: {backbone}.", "",
              "Reported by the sources (their hardware and MindSpore, not this code):", "",
              "| source | hardware | train step | inference |", "|---|---|---|---|"]
    lines += [f"| {s} | {h} | {t} | {i} |" for s, h, t, i in SOURCES]

    att = attention_bytes(6, 128, 128)
    chunk_att = 6 * 4096 * args.chunk * 4
    lines += ["", "## CFA attention memory", "",
              f"CFA input at 256 px: 64 channels × 128 × 128, batch 6; ×½ query map 64 × 64, L = 4,096 patches. "
              f"One attention tensor B×L×L in float32: {att / 2**20:,.0f} MiB "
              f"(with `chunk={args.chunk}`: {chunk_att / 2**20:,.0f} MiB per chunk). "
              "Region affinity (the attention half of CFA) alone:", "",
              "| device | pass | chunk | peak memory | time |", "|---|---|---|---|---|"]
    for dev_name in devices:
        for grad in (False, True):
            for chunk in (0, args.chunk):
                r = cpu_cfa(chunk, grad, args.threads) if dev_name == "cpu" else cuda_cfa(chunk, grad)
                lines.append(f"| {dev_name} | {'forward + backward' if grad else 'forward (no grad)'} | "
                             f"{chunk or 'none'} | {r['peak'] / 2**20:,.0f} MiB | {r['seconds']:.2f} s |")
                print(lines[-1], flush=True)
    lines += ["", f"Load average when the run ended: {os.getloadavg()[0]:.1f} (1 min)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
