"""Speed and memory of every registered generator: parameters, one training step, inference.

For each registered generator (``inpaintlib.registry.model_names()``, built with its
defaults: the paper's full-size model) at ``--size`` px (default 256), on the CPU and, when
present, on CUDA, in several variants:

* ``eager`` — float32, default memory format;
* ``channels_last`` — model and inputs in ``torch.channels_last``;
* ``amp`` — bf16 autocast (CUDA with bf16 support; on a CPU only with ``--cpu-amp``:
  without bf16 units it is slower than float32);
* ``compile`` — ``torch.compile(model)`` with default options (CUDA; on a CPU only with
  ``--cpu-compile``: compiling takes minutes on a small machine). Compile time (the first
  call) is recorded separately and is not part of the step time.

Variants that do not run are recorded as skipped, with the reason.

What is timed:

* **train step** (batch ``--train-batch``, default 8): ``zero_grad``, the generator's
  forward pass, the method's main loss, ``backward`` and one Adam step — generator only,
  no critics. Main losses: PConv and its plain twin — the full PConv loss (valid, 6·hole,
  perceptual, style, TV) on the perceptual backbone ``perceptual_backbone("auto")``;
  GMCNN — the pre-training loss 1.4·confidence-weighted L_rec + 1.2·L_ae (no ID-MRF, no
  critics); CLmser — its MSE over every pixel; a method without an entry in
  ``MAIN_LOSSES`` (CTSDG, whose loss needs its auxiliary outputs and critic scores) —
  ``L1 + 6·hole L1``, recorded as such.
* **inference** at batch 1 and 8: the forward pass in eval mode under
  ``torch.inference_mode()``.

Each time is the median of ``--runs`` runs after ``--warmup`` warm-up runs (CUDA
synchronised). Peak memory: CUDA — ``torch.cuda.max_memory_allocated`` during the timed
runs minus the memory allocated before them; CPU — the rise of the process's peak resident
set size (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``, minus ``VmRSS`` before,
measured after ``gc.collect()`` and glibc's ``malloc_trim`` so memory freed by earlier runs
is not reused unseen) during the **first** step of the variant (later steps reuse memory
the allocator kept).

Records are appended to the results file (a JSON list; earlier records are kept):

    .venv/bin/python benchmarks/speed.py --quick
    .venv/bin/python benchmarks/speed.py --models pconv --device cuda

Taught with the "Comparing the methods" chapter.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from inpaintlib import compare
from inpaintlib.registry import build_model, model_names

DEFAULT_OUT = compare.results_dir() / "speed.json"
VARIANTS = ("eager", "channels_last", "amp", "compile")
#: Generators that are not inpainting models (``forward(image, hole)``): not timed here.
NOT_INPAINTING = {n for n, info in compare.METHODS.items() if info.task != "inpainting"}


# ------------------------------------------------------------------ main losses


def _pconv_loss(size: int):
    from inpaintlib.losses import PConvLoss
    from inpaintlib.nn import perceptual_backbone

    loss = PConvLoss(perceptual_backbone("auto"))
    return "PConv loss (valid + 6·hole + perceptual + style + TV)", loss, lambda p, x, h: loss(p, x, h)[0]


def _gmcnn_loss(size: int):
    from inpaintlib.losses import GMCNN_LOSS_WEIGHTS as W, known_region_loss, reconstruction_loss
    from inpaintlib.recipes.gmcnn import schedule

    conf = schedule("workshop", image_size=size).confidence()

    def fn(p, x, h):
        return W["rec"] * reconstruction_loss(p, x, h, conf(h)) + W["ae"] * known_region_loss(p, x, h)

    return "GMCNN pre-training loss (1.4·L_rec confidence-weighted + 1.2·L_ae)", conf, fn


def _clmser_loss(size: int):
    from inpaintlib.recipes.clmser import clmser_loss

    return "CLmser loss (MSE over every pixel, in [-1, 1])", None, lambda p, x, h: clmser_loss(p, x)


def generic_loss(size: int):
    """``L1 + 6·hole L1`` for a method without a main loss here."""

    def fn(p, x, h):
        err = (p - x).abs()
        return err.mean() + 6 * (err * h).mean()

    return "generic L1 + 6·hole L1 (not the method's own loss)", None, fn


#: name → factory(size) → (description, module to move to the device or None, loss(pred, image, hole)).
MAIN_LOSSES: dict[str, Callable] = {"pconv": _pconv_loss, "plain_unet": _pconv_loss, "gmcnn": _gmcnn_loss,
                                    "clmser": _clmser_loss}


# ------------------------------------------------------------------------ helpers


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _status() -> dict:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _release_free_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc ``malloc_trim``), so
    that memory kept from an earlier measurement does not hide this one's peak."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory of a block: CUDA ``max_memory_allocated`` above the allocation before;
    CPU: rise of ``VmHWM`` (reset first) above ``VmRSS`` before. ``.bytes``, ``.method``."""

    def __init__(self, dev: torch.device):
        self.dev, self.bytes, self.method = dev, None, None

    def __enter__(self):
        if self.dev.type == "cuda":
            _sync(self.dev)
            self._base = torch.cuda.memory_allocated(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            self.method = "cuda max_memory_allocated − allocated before"
        else:
            _release_free_memory()
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self._base = _status()["VmRSS"]
                self.method = "CPU peak RSS rise (VmHWM − VmRSS before, after gc and malloc_trim)"
            except OSError:
                self._base = None
                self.method = "unavailable (no /proc/self/clear_refs)"
        return self

    def __exit__(self, *exc):
        if self.dev.type == "cuda":
            _sync(self.dev)
            self.bytes = torch.cuda.max_memory_allocated(self.dev) - self._base
        elif self._base is not None:
            self.bytes = _status()["VmHWM"] - self._base
        return False


def _median_time(fn: Callable, dev: torch.device, warmup: int, runs: int) -> tuple[float, list]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def skip_reason(variant: str, dev: torch.device, cpu_amp: bool = False, cpu_compile: bool = False) -> Optional[str]:
    """Why ``variant`` is not run on ``dev`` (``None`` when it is run)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if dev.type == "cpu":
        if variant == "amp" and not cpu_amp:
            return (f"bf16 autocast on this CPU (capability {torch.backends.cpu.get_cpu_capability()}, "
                    "no bf16 units) is emulated and slower than float32; use --cpu-amp to time it anyway")
        if variant == "compile" and not cpu_compile:
            return ("torch.compile on a CPU compiles C++ kernels for minutes on a small shared machine; "
                    "use --cpu-compile to time it anyway")
    if dev.type == "cuda" and variant == "amp" and not torch.cuda.is_bf16_supported():
        return "this GPU has no bf16 support"
    return None


def inputs(batch: int, size: int, dev: torch.device, channels_last: bool = False):
    """A fixed batch of images and free-form-like holes (about 30 % missing)."""
    g = torch.Generator().manual_seed(batch * 1000 + size)
    x = torch.rand(batch, 3, size, size, generator=g)
    h = torch.zeros(batch, 1, size, size)
    h[..., size // 4: size // 4 + size // 2, size // 5: size // 5 + size * 3 // 5] = 1.0
    x, h = x.to(dev), h.to(dev)
    if channels_last:
        x, h = x.contiguous(memory_format=torch.channels_last), h.contiguous(memory_format=torch.channels_last)
    return x, h


def measure(build: Callable[[], nn.Module], loss_fn: Callable, dev: torch.device, variant: str, size: int,
            train_batch: int = 8, infer_batches=(1, 8), warmup: int = 2, runs: int = 5) -> dict:
    """Time one variant of one generator on ``dev``: a training step (forward + loss +
    backward + Adam step) at ``train_batch`` and inference at each of ``infer_batches``.
    Returns the figures (seconds, bytes); raises whatever the variant raises."""
    cl = variant == "channels_last"
    amp = variant == "amp"
    model = build().to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    fwd = model
    compile_s = None
    if variant == "compile":
        fwd = torch.compile(model)

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    out = {"params": sum(p.numel() for p in model.parameters())}
    # --- training step -----------------------------------------------------------------
    x, h = inputs(train_batch, size, dev, cl)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            pred = fwd(x, h)
            loss = loss_fn(pred.float(), x, h)
        loss.backward()
        opt.step()

    if variant == "compile":
        t = time.perf_counter()
        train_step()
        _sync(dev)
        compile_s = time.perf_counter() - t
    if dev.type == "cpu":
        with PeakMemory(dev) as mem:
            train_step()
        out["train_step_s"], out["train_runs_s"] = _median_time(train_step, dev, max(0, warmup - 1), runs)
    else:
        _median_time(train_step, dev, warmup, 0)
        with PeakMemory(dev) as mem:
            out["train_step_s"], out["train_runs_s"] = _median_time(train_step, dev, 0, runs)
    out["train_batch"] = train_batch
    out["train_peak_bytes"] = mem.bytes
    out["memory_method"] = mem.method
    del opt
    # --- inference -------------------------------------------------------------------------
    model.eval()
    for b in infer_batches:
        xi, hi = inputs(b, size, dev, cl)

        def infer():
            with torch.inference_mode(), autocast():
                fwd(xi, hi)

        if dev.type == "cpu":
            with PeakMemory(dev) as mem:
                infer()
            s, r = _median_time(infer, dev, max(0, warmup - 1), runs)
        else:
            _median_time(infer, dev, warmup, 0)
            with PeakMemory(dev) as mem:
                s, r = _median_time(infer, dev, 0, runs)
        out[f"infer_b{b}_s"], out[f"infer_b{b}_runs_s"], out[f"infer_b{b}_peak_bytes"] = s, r, mem.bytes
    if compile_s is not None:
        out["compile_first_call_s"] = compile_s
    return out


def run(models=None, devices=None, variants=VARIANTS, size=256, train_batch=8, warmup=2, runs=5,
        cpu_amp=False, cpu_compile=False, out=DEFAULT_OUT, note=None, command=None,
        build: Optional[Callable[[str], nn.Module]] = None, losses: Optional[dict] = None) -> list:
    """Measure every (model, device, variant); append the records to ``out`` (unless
    None) and return them. ``build`` and ``losses`` replace the registry's constructors and
    :data:`MAIN_LOSSES` (tests use a tiny model)."""
    names = list(models) if models else [n for n in model_names() if n not in NOT_INPAINTING]
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    build = build or (lambda name: build_model(name))
    losses = MAIN_LOSSES if losses is None else losses
    records = []
    for dname in devices:
        dev = torch.device(dname)
        info = compare.run_info(dev, note=note, command=command)
        for name in names:
            if name in NOT_INPAINTING:
                print(f"{name}: skipped (not an inpainting generator)")
                continue
            desc, aux, loss_fn = losses.get(name, generic_loss)(size)
            if isinstance(aux, nn.Module):
                aux.to(dev)
            for variant in variants:
                rec = {"benchmark": "speed", "model": name, "variant": variant, "size": size,
                       "loss": desc, "warmup": warmup, "runs": runs,
                       "timed": "train step: zero_grad + generator forward + main loss + backward + Adam step "
                                "(generator only); inference: forward in eval mode under inference_mode",
                       **info}
                reason = skip_reason(variant, dev, cpu_amp, cpu_compile)
                if reason is None:
                    try:
                        rec.update(status="ok", **measure(lambda: build(name), loss_fn, dev, variant, size,
                                                          train_batch, (1, 8), warmup, runs))
                    except Exception as err:  # a variant this model or machine does not support
                        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:400]
                if reason is not None:
                    rec.update(status="skipped", reason=reason)
                    print(f"| {dev.type} | {name} | {variant} | skipped: {reason} |", flush=True)
                else:
                    mem = rec["train_peak_bytes"]
                    print(f"| {dev.type} | {name} ({rec['params']:,} params) | {variant} | "
                          f"train step b{train_batch} {rec['train_step_s'] * 1e3:.0f} ms | "
                          f"infer b1 {rec['infer_b1_s'] * 1e3:.1f} ms | infer b8 {rec['infer_b8_s'] * 1e3:.1f} ms | "
                          f"peak {'n/a' if mem is None else f'{mem / 2**20:,.0f} MiB'} |", flush=True)
                records.append(rec)
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    ok = {(r["model"], r["device"]): r for r in records if r.get("status") == "ok" and r["variant"] == "eager"}
    for r in records:
        base = ok.get((r["model"], r["device"]))
        if r.get("status") == "ok" and base is not None and r is not base:
            r["train_speedup_vs_eager"] = base["train_step_s"] / r["train_step_s"]
            r["infer_b8_speedup_vs_eager"] = base["infer_b8_s"] / r["infer_b8_s"]
            print(f"{r['device']} {r['model']} {r['variant']}: train step {r['train_speedup_vs_eager']:.2f}×, "
                  f"inference b8 {r['infer_b8_speedup_vs_eager']:.2f}× eager")
    if out is not None:
        compare.append_records(out, records)
    return records


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated generator names (default: every registered one)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda when available)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--size", type=int, default=256, help="image size in px (default 256)")
    ap.add_argument("--train-batch", type=int, default=8, help="batch of the timed training step (default 8)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up runs (default 2)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs, the median is kept (default 5)")
    ap.add_argument("--quick", action="store_true", help="1 warm-up and 2 timed runs (for a busy or slow machine)")
    ap.add_argument("--cpu-amp", action="store_true", help="also time bf16 autocast on the CPU")
    ap.add_argument("--cpu-compile", action="store_true", help="also time torch.compile on the CPU")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="results file to append to ('-' = do not write)")
    ap.add_argument("--note", default=None, help="a sentence about the machine or the run, stored with each record")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.warmup, args.runs = 1, 2
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        skip_reason(v, torch.device("cpu"))  # validates the name
    devices = [args.device] if args.device else None
    out = None if args.out == "-" else args.out
    records = run(models, devices, variants, args.size, args.train_batch, args.warmup, args.runs, args.cpu_amp,
                  args.cpu_compile, out, args.note, " ".join([".venv/bin/python benchmarks/speed.py"] + argv))
    if out:
        print(f"appended {len(records)} records to {out}")


if __name__ == "__main__":
    main()
