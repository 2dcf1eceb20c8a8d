"""GMCNN's dilated convolutions on a CPU: PyTorch's backward pass against inpaintlib's.

Each GMCNN column has four dilated 3×3/5×5/7×7 convolutions (dilation 2, 4, 8, 16) at a
quarter of the image size, each after its own reflection padding. oneDNN's backward
kernels for dilated convolutions are slow next to the undilated ones, so
:class:`inpaintlib.models.gmcnn.ReflectConv2d` computes those gradients another way on a
CPU (``_DilatedConvCPU``: the weight gradient as an undilated convolution, the input
gradient split into ``d×d`` undilated phases where they are large enough). This script
times, interleaved and keeping the fastest round of each:

* every dilated trunk layer of the 256-px generator (128 channels at 64×64): forward +
  backward with ``F.conv2d`` against the same layer through ``_DilatedConvCPU``;
* the whole generator's training step (train mode, forward + backward, 256 px), with the
  fast path switched off and on.

    .venv/bin/python benchmarks/dilated_conv.py --out benchmarks/results/gmcnn-dilated-cpu.md
"""
from __future__ import annotations

import argparse
import contextlib
import math
import platform
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _provenance import commit, load_average  # noqa: E402
from _timing import fastest  # noqa: E402
from inpaintlib.models import GMCNN  # noqa: E402
from inpaintlib.models import gmcnn as G  # noqa: E402


@contextlib.contextmanager
def plain_autograd():
    """Within this block every ``ReflectConv2d`` takes ``F.conv2d`` and PyTorch's backward."""
    saved = G._DilatedConvCPU.__dict__["applies"]
    G._DilatedConvCPU.applies = staticmethod(lambda x, w, d: False)
    try:
        yield
    finally:
        G._DilatedConvCPU.applies = saved


def layer_rows(size: int, batch: int, rounds: int, channels: int = 128) -> list[dict]:
    h = size // 4                                  # the trunk runs at a quarter of the image
    rows = []
    for k in (7, 5, 3):
        for d in (2, 4, 8, 16):
            g = torch.Generator().manual_seed(k * d)
            x = G.ReflectionPad(d * (k - 1) // 2)(torch.randn(batch, channels, h, h, generator=g))
            x.requires_grad_()
            w = (torch.randn(channels, channels, k, k, generator=g) * 0.02).requires_grad_()
            b = torch.zeros(channels, requires_grad=True)
            gy = torch.randn(batch, channels, h, h, generator=g)

            def plain():
                torch.autograd.grad(F.conv2d(x, w, b, 1, 0, d), (x, w, b), gy)

            def fast():
                torch.autograd.grad(G._DilatedConvCPU.apply(x, w, b, d), (x, w, b), gy)

            t = fastest({"plain": plain, "fast": fast}, rounds)
            with torch.enable_grad():
                used = G._DilatedConvCPU.applies(x, w, d)      # would ReflectConv2d take it here?
            rows.append({"kernel": k, "dilation": d, "plain": t["plain"], "fast": t["fast"], "used": used})
    return rows


def model_step(size: int, batch: int, rounds: int, width: float) -> dict:
    torch.manual_seed(0)
    model = GMCNN(width=width).train()
    image = torch.rand(batch, 3, size, size)
    hole = torch.zeros(batch, 1, size, size)
    hole[..., size // 4: size // 2, size // 4: size // 2] = 1

    def step():
        model.zero_grad(set_to_none=True)
        model(image, hole, check=False).mean().backward()

    def plain():
        with plain_autograd():
            step()

    return fastest({"plain": plain, "fast": step}, rounds)


def report(rows: list[dict], whole: dict, args, load_start: float, load_end: float) -> str:
    cmd = "`.venv/bin/python benchmarks/dilated_conv.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        "# GMCNN's dilated convolutions on a CPU: PyTorch's backward against inpaintlib's", "",
        f"Command: {cmd} (commit {commit()}).", "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"python {platform.python_version()}, no GPU. Load average (1 min): {load_start:.1f} at the start, "
        f"{load_end:.1f} at the end. Fastest of {args.rounds} interleaved rounds.", "",
        f"Each dilated trunk layer of the {args.size}-px generator ({args.channels} channels at "
        f"{args.size // 4}×{args.size // 4}, batch {args.batch}, reflection-padded input), forward + backward "
        "(gradients for the input, the weights and the bias):", "",
        "| kernel | dilation | `F.conv2d` + autograd | `_DilatedConvCPU` | ratio | `ReflectConv2d` takes |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['kernel']}×{r['kernel']} | {r['dilation']} | {r['plain'] * 1e3:.1f} ms | "
                     f"{r['fast'] * 1e3:.1f} ms | {r['fast'] / r['plain']:.2f}× | "
                     f"{'`_DilatedConvCPU`' if r['used'] else '`F.conv2d` (map < 4·d)'} |")
    total_p, total_f = sum(r["plain"] for r in rows), sum(r["fast"] for r in rows)
    total_m = sum(r["fast"] if r["used"] else r["plain"] for r in rows)
    geo = math.exp(statistics.fmean(math.log(r["fast"] / r["plain"]) for r in rows))
    lines += [f"| all 12 | | {total_p * 1e3:.0f} ms | {total_f * 1e3:.0f} ms | {total_f / total_p:.2f}× "
              f"(geometric mean {geo:.2f}×) | {total_m * 1e3:.0f} ms, {total_m / total_p:.2f}× |", "",
              f"The whole generator's training step (train mode, forward + backward, {args.size} px, batch "
              f"{args.batch}, width {args.width}):", "",
              "| backward of the dilated layers | step | ratio |", "|---|---|---|",
              f"| PyTorch's (`F.conv2d`) | {whole['plain']:.3f} s | 1.00× |",
              f"| inpaintlib's (`_DilatedConvCPU`) | {whole['fast']:.3f} s | {whole['fast'] / whole['plain']:.2f}× |",
              ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256, help="image size (the trunk runs at size/4)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--channels", type=int, default=128, help="trunk channels of the layer timings")
    p.add_argument("--width", type=float, default=1.0, help="generator width of the whole-step timing")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="write the Markdown record here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = load_average()
    rows = layer_rows(args.size, args.batch, args.rounds, args.channels)
    whole = model_step(args.size, args.batch, args.rounds, args.width)
    text = report(rows, whole, args, load_start, load_average())
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
