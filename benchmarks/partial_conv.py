"""What partial convolution costs: ``PartialConv2d`` against ``nn.Conv2d`` of the same shape.

Times one forward + backward pass (gradients for the weights, the bias and, except for
the first-layer shape, the input) of each layer on the shapes the PConv U-Net uses, and
prints a Markdown table with the ratio (target: a geometric mean of at most 1.1× on CPU). Runs are interleaved
(Conv2d, PartialConv2d, Conv2d, ...) and the table shows the fastest run of each (the
cost with the machine to itself: on a shared machine other processes only ever add
time) and the median of the per-round ratios. "mask path" is the no-grad update rule
alone (``update_mask``). The decoder shapes take the mask as the U-Nets pass it: a
:class:`~inpaintlib.nn.partial_conv.ConcatMask` of the upsampled features' mask and the
skip's mask (mode "concat"), not a materialised ``B×C×H×W`` tensor.

    .venv/bin/python benchmarks/partial_conv.py --out benchmarks/results/partial_conv-cpu.md

Taught with the "Partial convolution" chapter (what the mask bookkeeping costs).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
from torch import nn

from inpaintlib.nn.partial_conv import ConcatMask, PartialConv2d

# (label, C_in, C_out, kernel, stride, size, batch, mask mode, input needs grad); the mode is
# False (single-channel), True (multi-channel, a B×C×H×W mask) or the channel groups of a
# ConcatMask (upsampled features, skip)
SHAPES = [
    ("encoder 1 (7×7, stride 2)", 3, 64, 7, 2, 128, 8, True, False),
    ("64→64 3×3", 64, 64, 3, 1, 64, 8, False, True),
    ("64→64 3×3", 64, 64, 3, 1, 128, 8, False, True),
    ("decoder 192→64 3×3", 192, 64, 3, 1, 64, 8, (128, 64), True),
    ("512→512 3×3", 512, 512, 3, 1, 16, 8, False, True),
    ("decoder 1024→512 3×3", 1024, 512, 3, 1, 16, 8, (512, 512), True),
]


def _mode(multi) -> str:
    return "concat" if isinstance(multi, tuple) else ("multi" if multi else "single") + "-channel"


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def measure(shape, dev: torch.device, rounds: int, amp: bool = False):
    """Fastest seconds per forward+backward for Conv2d and PartialConv2d and for the mask
    path, and the median over rounds of the PartialConv2d / Conv2d ratio."""
    label, cin, cout, k, stride, size, b, multi, input_grad = shape
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2).to(dev)
    pconv = PartialConv2d(cin, cout, k, stride=stride, padding=k // 2, multi_channel=bool(multi)).to(dev)
    x = torch.randn(b, cin, size, size, device=dev, requires_grad=input_grad)
    groups = multi if isinstance(multi, tuple) else ()
    valid = (torch.rand(b, 1 if groups or not multi else cin, size, size, device=dev) > 0.3).float()
    valid[..., size // 4: size // 2, size // 4: size // 2] = 0          # a block hole too
    if groups:   # the skip's mask: the same hole, fewer scattered holes
        skip = (torch.rand(b, 1, size, size, device=dev) > 0.1).float()
        skip[..., size // 4: size // 2, size // 4: size // 2] = 0
        valid = ConcatMask.of((valid, groups[0]), (skip, groups[1]))
    grad = torch.randn(b, cout, (size - 1) // stride + 1, (size - 1) // stride + 1, device=dev)
    grad = grad.to(torch.bfloat16) if amp else grad          # the dtype autocast gives the output

    def run_conv():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            y = conv(x)
        y.backward(grad)

    def run_pconv():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            y, _ = pconv(x, valid)
        y.backward(grad)

    def run_mask():
        pconv.update_mask(valid, check=False)

    def once(fn):
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        return time.perf_counter() - t

    for fn in (run_conv, run_pconv, run_mask, run_conv, run_pconv):  # warm-up
        fn()
    times = {"conv": [], "pconv": [], "mask": []}
    for _ in range(rounds):
        times["conv"].append(once(run_conv))
        times["pconv"].append(once(run_pconv))
        times["mask"].append(once(run_mask))
    out = {k: min(v) for k, v in times.items()}
    out["median_ratio"] = statistics.median(p / c for p, c in zip(times["pconv"], times["conv"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="also write the Markdown table to this file")
    ap.add_argument("--rounds", type=int, default=15, help="timed runs per layer (default 15)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--amp", action="store_true",
                    help="also time under bf16 autocast (always done on CUDA; very slow on CPUs without bf16 units)")
    ap.add_argument("--note", default=None, help="a sentence about the machine, written under the title")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device(args.device)] if args.device else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))

    argv = [a for i, a in enumerate(sys.argv[1:]) if a != "--note" and sys.argv[i] != "--note"
            and not a.startswith("--note=")]
    command = " ".join([".venv/bin/python benchmarks/partial_conv.py"] + argv)
    lines = ["# PartialConv2d against nn.Conv2d", ""] + ([args.note, ""] if args.note else []) + [
             f"Command: `{command}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}, python {platform.python_version()}. Forward + backward, "
             f"bias on both, fastest of {args.rounds} interleaved runs (ratio: of the fastest runs; "
             f"in brackets the median of per-round ratios); the mask has ~30 % holes. Load average when "
             f"the run started: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores (other jobs "
             "share the machine: times are upper bounds).", "",
             "| device | layer | batch × size | mode | Conv2d | PartialConv2d | ratio | mask path |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    ratios = {}
    for dev in devices:
        settings = [(dev.type, False)]
        if args.amp or dev.type == "cuda":
            settings.append((f"{dev.type} bf16 autocast", True))
        for name, amp in settings:
            if amp and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
                continue
            for shape in SHAPES:
                label, cin, cout, k, stride, size, b, multi, _ = shape
                t = measure(shape, dev, args.rounds, amp=amp)
                ratio = t["pconv"] / t["conv"]
                ratios.setdefault(name, []).append(ratio)
                lines.append(
                    f"| {name} | {label}: {cin}→{cout}, {k}×{k}, stride {stride} | {b} × {size} px | "
                    f"{_mode(multi)} | {t['conv'] * 1e3:.2f} ms | "
                    f"{t['pconv'] * 1e3:.2f} ms | **{ratio:.2f}×** ({t['median_ratio']:.2f}×) | "
                    f"{t['mask'] * 1e3:.3f} ms |")
                print(lines[-1], flush=True)
    lines.append("")
    for name, rs in ratios.items():
        lines.append(f"{name}: ratio from {min(rs):.2f}× to {max(rs):.2f}× "
                     f"(geometric mean {statistics.geometric_mean(rs):.2f}×)"
                     + ("; target: geometric mean ≤ 1.1× on CPU." if name == "cpu" else "."))
        print(lines[-1])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
