"""What the batched ID-MRF costs: ``id_mrf`` against the official code's per-sample formulation.

Times one forward + backward pass (gradient for the generated features; the target
features are a constant, as in training) of the ID-MRF loss at GMCNN's 256-px VGG19
feature sizes, batch 8 — ``relu3_2``: 256 channels at 64×64, ``relu4_2``: 512 channels at
32×32 — for four implementations of the same loss:

* **original** — the official PyTorch code's formulation, written here: a Python loop over
  the samples, each target position turned into a 1×1 convolution kernel and
  ``F.conv2d(gen_b, kernels)`` giving the ``N_t×H×W`` cosine map, then the separate
  min / divide / exp / sum / divide / max steps, with autograd through all of them.
  (Centring by the target's per-channel mean per sample, as ``id_mrf`` does, so the two
  compute the same number; the benchmark checks that they agree.)
* **readable** — ``idmrf_similarity`` (batched ``bmm``, autograd, the equations line by line)
  followed by ``−log mean_j max_i``.
* **id_mrf** — the library function: batched, in-place softmax, hand-written backward.
* **id_mrf chunked** — the same with ``chunk_size`` generated positions per chunk.

Runs are interleaved and the table shows the fastest of ``--rounds`` runs (on a shared
machine other processes only ever add time) and the ratio original / implementation.

Memory: on CPU, the peak resident-set-size increase (Linux ``VmHWM`` reset through
``/proc/self/clear_refs``, minus ``VmRSS`` just before) of a **fresh process** doing one
forward + backward — so it counts every byte the run touched, torch's allocations
included (``tracemalloc`` does not see them), plus a little allocator and thread-pool
overhead. On CUDA: ``torch.cuda.max_memory_allocated`` above the memory in use before the
call. For scale, one ``B×N×N`` float32 matrix is 537 MB for relu3_2 and 34 MB for relu4_2.

    .venv/bin/python benchmarks/idmrf.py --out benchmarks/results/idmrf-cpu.md

Taught with the "ID-MRF and the multi-column generator (GMCNN)" chapter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from inpaintlib.losses import id_mrf, idmrf_similarity

# (label, batch, channels, size)
SHAPES = {
    "relu3_2": ("relu3_2 (256 ch, 64×64)", 8, 256, 64),
    "relu4_2": ("relu4_2 (512 ch, 32×32)", 8, 512, 32),
}
DEFAULT_CHUNK = 512


def original_idmrf(gen: torch.Tensor, target: torch.Tensor, eps: float = 1e-5, h: float = 0.5) -> torch.Tensor:
    """The official PyTorch code's per-sample formulation of the CX loss (mean over the batch)."""
    b, c = target.shape[:2]
    mu = target.mean(dim=(2, 3), keepdim=True)
    g, t = gen - mu, target - mu
    g = g / torch.norm(g, p=2, dim=1, keepdim=True)
    t = t / torch.norm(t, p=2, dim=1, keepdim=True)
    maps = []
    for i in range(b):                                        # one sample at a time
        kernels = t[i].reshape(c, -1).t().reshape(-1, c, 1, 1)   # target positions as 1×1 kernels
        maps.append(F.conv2d(g[i:i + 1], kernels))            # 1 × N_t × H × W cosines
    cos = torch.cat(maps, dim=0)
    dist = -(cos - 1) / 2
    rel = dist / (torch.min(dist, dim=1, keepdim=True)[0] + eps)
    w = torch.exp((1.0 - rel) / h)
    w = w / torch.sum(w, dim=1, keepdim=True)
    cx = torch.max(w.view(b, w.shape[1], -1), dim=2)[0].mean(dim=1)
    return (-torch.log(cx)).mean()


def readable_idmrf(gen: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``idmrf_similarity`` + ``−log mean_j max_i``, all through autograd."""
    w = idmrf_similarity(gen, target)
    return (-torch.log(w.amax(dim=1).mean(dim=1))).mean()


def implementations(chunk: int):
    return {
        "original": original_idmrf,
        "readable": readable_idmrf,
        "id_mrf": id_mrf,
        "id_mrf chunked": lambda g, t: id_mrf(g, t, chunk_size=chunk),
    }


def inputs(layer: str, dev: torch.device):
    _, b, c, s = SHAPES[layer]
    gen = torch.Generator().manual_seed(0)
    g = torch.relu(torch.randn(b, c, s, s, generator=gen)).to(dev).requires_grad_(True)
    t = torch.relu(torch.randn(b, c, s, s, generator=gen)).to(dev)
    return g, t


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _status() -> dict:
    text = open("/proc/self/status").read()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def worker(impl: str, layer: str, chunk: int) -> None:
    """Fresh-process CPU memory probe: prints the peak RSS increase of one forward+backward."""
    fn = implementations(chunk)[impl]
    g, t = inputs(layer, torch.device("cpu"))
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                                      # reset VmHWM to the current RSS
        method = "VmHWM"
    except OSError:
        method = "ru_maxrss"
    before = _status()
    if method == "ru_maxrss":
        import resource

        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fn(g, t).backward()
    if method == "VmHWM":
        peak = _status()["VmHWM"] - before["VmRSS"]
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps({"peak": peak, "method": method}))


def cpu_peak(impl: str, layer: str, chunk: int) -> int:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", impl, layer,
                          "--chunk", str(chunk), "--threads", str(torch.get_num_threads())],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak"]


def cuda_peak(fn, g, t) -> int:
    g.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn(g, t).backward()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def measure(layer: str, dev: torch.device, rounds: int, chunk: int):
    g, t = inputs(layer, dev)
    fns = implementations(chunk)
    values, grads = {}, {}
    for name, fn in fns.items():                               # warm-up + correctness
        g.grad = None
        loss = fn(g, t)
        loss.backward()
        values[name], grads[name] = loss.item(), g.grad.clone()
    ref = grads["original"]
    agree = {n: (abs(values[n] - values["original"]), float((grads[n] - ref).norm() / ref.norm()))
             for n in fns}
    times = {n: [] for n in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            g.grad = None
            _sync(dev)
            t0 = time.perf_counter()
            fn(g, t).backward()
            _sync(dev)
            times[name].append(time.perf_counter() - t0)
    best = {n: min(v) for n, v in times.items()}
    if dev.type == "cpu":
        peaks = {n: cpu_peak(n, layer, chunk) for n in fns}
    else:
        peaks = {n: cuda_peak(fn, g, t) for n, fn in fns.items()}
    del g, t
    return best, times, peaks, agree


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per implementation (default 3)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                    help=f"chunk_size of the chunked run (default {DEFAULT_CHUNK})")
    ap.add_argument("--layers", default="relu3_2,relu4_2", help="comma-separated: relu3_2, relu4_2")
    ap.add_argument("--note", default=None, help="a sentence about the machine, written under the title")
    ap.add_argument("--worker", nargs=2, metavar=("IMPL", "LAYER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args.worker[0], args.worker[1], args.chunk)
        return
    devices = [torch.device(args.device)] if args.device else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    layers = [x.strip() for x in args.layers.split(",") if x.strip()]

    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--note" and sys.argv[i] != "--note"
            and not a.startswith("--note=")]
    command = " ".join([".venv/bin/python benchmarks/idmrf.py"] + argv)
    gpu = f", {torch.cuda.get_device_name()}" if any(d.type == "cuda" for d in devices) else ""
    lines = ["# ID-MRF: batched `id_mrf` against the original per-sample formulation", ""] + (
        [args.note, ""] if args.note else []) + [
        f"Command: `{command}`", "",
        f"Machine: {platform.processor() or platform.machine()}{gpu}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, python {platform.python_version()}. Batch 8, forward + backward "
        f"(gradient to the generated features), float32, fastest of {args.rounds} interleaved runs; "
        f"speed-up = original time / this time. Peak memory: CPU — rise of the peak resident set size "
        f"of a fresh process during one forward + backward (VmHWM − VmRSS before); CUDA — "
        f"`max_memory_allocated` above what was allocated before. |Δloss| and ‖Δgrad‖/‖grad‖ (Frobenius norms) "
        f"compare each implementation with the original (a max-entry comparison would flag the rare "
        f"near-ties of max_i, where any choice is a valid subgradient).", "",
        "| device | layer | implementation | time | speed-up | peak memory | \\|Δloss\\| | ‖Δgrad‖/‖grad‖ |",
        "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    summary = []
    for dev in devices:
        for layer in layers:
            best, times, peaks, agree = measure(layer, dev, args.rounds, args.chunk)
            for name in best:
                label = name + (f" ({args.chunk})" if name == "id_mrf chunked" else "")
                ratio = best["original"] / best[name]
                med = statistics.median(o / x for o, x in zip(times["original"], times[name]))
                lines.append(
                    f"| {dev.type} | {SHAPES[layer][0]} | {label} | {best[name]:.3f} s | "
                    f"**{ratio:.2f}×** ({med:.2f}×) | {peaks[name] / 2**20:,.0f} MiB | "
                    f"{agree[name][0]:.1e} | {agree[name][1]:.1e} |")
                print(lines[-1], flush=True)
            summary.append(f"{dev.type}, {layer}: id_mrf {best['original'] / best['id_mrf']:.2f}× faster than "
                           f"the original with {peaks['id_mrf'] / max(peaks['original'], 1):.2f}× its peak memory; "
                           f"chunked {best['original'] / best['id_mrf chunked']:.2f}× faster with "
                           f"{peaks['id_mrf chunked'] / max(peaks['original'], 1):.2f}× its memory.")
    lines += ["", "In brackets: the median of the per-round ratios.", ""] + summary
    print("\n".join(lines[-len(summary) - 3:]))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
