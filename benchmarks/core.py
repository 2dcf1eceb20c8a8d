"""Throughput of the foundation pieces every chapter leans on.

Prints a Markdown table (and writes it with --out): mask generation per kind and size,
sample-bank batches, metrics on a batch, classical baselines per image, and the Trainer's
overhead per step against a bare PyTorch loop on the same tiny model.

    .venv/bin/python benchmarks/core.py --out benchmarks/results/core-cpu.md
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

from inpaintlib import baselines, masks, metrics
from inpaintlib.data import sample_bank_batch
from inpaintlib.tensors import device as pick_device
from inpaintlib.train import Trainer


def timeit(fn, repeat=5, number=1):
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t) / number)
    return statistics.median(runs)


def tiny_net():
    return nn.Sequential(nn.Conv2d(4, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 3, 3, padding=1), nn.Sigmoid())


def trainer_overhead(dev, steps=60, size=64, batch=8):
    torch.manual_seed(0)
    data = torch.rand(batch, 3, size, size, device=dev)
    hole = (torch.rand(batch, 1, size, size, device=dev) > 0.5).float()

    def bare():
        net = tiny_net().to(dev)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        t = time.perf_counter()
        for _ in range(steps):
            pred = net(torch.cat([data * (1 - hole), hole], 1))
            loss = (pred - data).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / steps

    def with_trainer():
        net = tiny_net().to(dev)

        def step_fn(tr, b):
            x, h = b
            pred = tr.models["g"](torch.cat([x * (1 - h), h], 1))
            loss = (pred - x).abs().mean()
            tr.optimize("g", loss)
            return {"l1": loss}

        with tempfile.TemporaryDirectory() as d:
            tr = Trainer({"g": net}, {"g": torch.optim.Adam(net.parameters(), 1e-3)}, step_fn,
                         out_dir=d, max_steps=steps, device=dev, progress=False, log_every=10, amp="off")
            t = time.perf_counter()
            tr.fit(lambda step: (data, hole))
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return (time.perf_counter() - t) / steps

    bare(); with_trainer()  # warm-up
    b = statistics.median(bare() for _ in range(3))
    w = statistics.median(with_trainer() for _ in range(3))
    return b, w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = pick_device()
    lines = [f"# Core throughput", "",
             f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
             f"device {dev}, torch {torch.__version__}, python {platform.python_version()}", "",
             "| what | size | time |", "|---|---|---|"]

    def row(what, size, seconds, unit="ms"):
        lines.append(f"| {what} | {size} | {seconds * 1000:.2f} {unit} |")
        print(lines[-1], flush=True)

    for kind in masks.KINDS:
        for size in (64, 256):
            seeds = iter(range(10**6))
            row(f"masks.generate('{kind}', ratio=(0.2, 0.4)) per mask", f"{size} px",
                timeit(lambda: masks.generate(kind, size, ratio=(0.2, 0.4), seed=next(seeds)), repeat=5, number=20))
    for size, bs in ((64, 8), (256, 16)):
        steps = iter(range(10**6))
        row(f"sample_bank_batch(batch={bs}) per batch", f"{size} px",
            timeit(lambda: sample_bank_batch("train", batch_size=bs, step=next(steps), size=size)))
    x = torch.rand(32, 3, 256, 256)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    h = torch.stack([masks.generate("free_form", 256, ratio=(0.2, 0.4), seed=i) for i in range(32)])
    row("metrics.evaluate (psnr, ssim, l1, l1_hole) per batch of 32", "256 px", timeit(lambda: metrics.evaluate(y, x, h)))
    for name in ("telea", "ns", "biharmonic"):
        fill = baselines.get_baseline(name)
        row(f"baselines.{name} per image", "256 px", timeit(lambda: fill(x[:4], h[:4]), repeat=3) / 4)
    b, w = trainer_overhead(dev)
    row("bare PyTorch loop per step (tiny conv net, batch 8)", "64 px", b)
    row("Trainer.fit per step (same model, logs every 10 steps)", "64 px", w)
    lines += ["", f"Trainer overhead: {100 * (w / b - 1):+.1f} % per step on this tiny model "
              "(the worst case: a real model's step dwarfs the bookkeeping)."]
    print(lines[-1])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
