"""Inference speed of the exported generators on the CPU: ONNX Runtime and TorchScript beside eager PyTorch.

For each registered inpainting generator, built with its defaults (the full-size model,
random weights: speed does not depend on the values), at ``--size`` px (256) and batch 1:

* ``eager`` — ``model(image, hole)`` in eval mode under ``torch.inference_mode()``
  (input checks included, as a user calls it);
* ``torchscript`` — the file ``inpaintlib export --format torchscript`` writes, run with
  ``torch.jit.load``;
* ``onnxruntime`` — the file ``inpaintlib export --format onnx`` writes, run by ONNX
  Runtime's CPU provider.

Torch and ONNX Runtime get the same number of intra-op threads (``--threads``, default 1,
so that runs on a shared machine interfere less). Each time is the median of ``--runs``
runs after ``--warmup`` warm-up runs. The export time and the largest difference between
each exported file and the eager output are recorded too. CTSDG's exported graph takes
the edge map as a third input; its Canny edges (scikit-image) are computed outside all
three timings.

Records are appended to ``benchmarks/results/export-cpu.json`` (a JSON list; earlier
records are kept), one per generator, with the commit, date, machine and versions:

    .venv/bin/python benchmarks/export.py
    .venv/bin/python benchmarks/export.py --models pconv gmcnn --threads 2 --onnx-exporter legacy

Taught with the "Comparing the methods" chapter.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from inpaintlib import compare
from inpaintlib import export as ex
from inpaintlib.registry import build_model, model_names

DEFAULT_OUT = compare.results_dir() / "export-cpu.json"


def _median_ms(fn: Callable[[], object], warmup: int, runs: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def bench_model(name: str, size: int, threads: int, warmup: int, runs: int, onnx_exporter: str,
                workdir: Path) -> dict:
    import onnxruntime as ort

    torch.manual_seed(0)
    model = build_model(name).eval()
    inputs = ex.example_inputs(model, size, batch=1, seed=0)
    image, hole = inputs[:2]
    edge = inputs[2] if len(inputs) == 3 else None
    rec = {"method": name, "size": size, "batch": 1, "threads": threads,
           "parameters": sum(p.numel() for p in model.parameters()), "onnx_exporter": onnx_exporter,
           "onnxruntime": ort.__version__}

    def eager():
        with torch.inference_mode():
            return model(image, hole) if edge is None else model(image, hole, edge=edge)

    rec["eager_ms"] = _median_ms(eager, warmup, runs)
    want = eager()

    t0 = time.perf_counter()
    ts_path = ex.export_model(model, workdir / f"{name}.torchscript", "torchscript", size=size)
    rec["torchscript_export_s"] = time.perf_counter() - t0
    ts = torch.jit.load(str(ts_path))

    def torchscript():
        with torch.inference_mode():
            return ts(*inputs)

    rec["torchscript_ms"] = _median_ms(torchscript, warmup, runs)
    rec["torchscript_max_abs_diff"] = float((torchscript() - want).abs().max())

    t0 = time.perf_counter()
    onnx_path = ex.export_model(model, workdir / f"{name}.onnx", "onnx", size=size, onnx_exporter=onnx_exporter)
    rec["onnx_export_s"] = time.perf_counter() - t0
    sess = ex.onnx_session(onnx_path, threads=threads)
    names = [i.name for i in sess.get_inputs()]
    feed = {n: t.numpy() for n, t in zip(names, inputs)}

    def onnxruntime():
        return sess.run(["pred"], feed)[0]

    rec["onnxruntime_ms"] = _median_ms(onnxruntime, warmup, runs)
    rec["onnxruntime_max_abs_diff"] = float((torch.from_numpy(onnxruntime()) - want).abs().max())
    rec["onnx_file_mb"] = onnx_path.stat().st_size / 2 ** 20
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="*", default=None, help="generators to time (default: all inpainting ones)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for torch and ONNX Runtime")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--onnx-exporter", default="dynamo", choices=ex.ONNX_EXPORTERS)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--note", default=None)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    known = [n for n in model_names() if compare.METHODS.get(n) is None or compare.METHODS[n].task == "inpainting"]
    names = args.models or known
    unknown = sorted(set(names) - set(model_names()))
    if unknown:
        print(f"error: unknown generators {unknown}; registered: {model_names()}", file=sys.stderr)
        return 2
    info = compare.run_info("cpu", note=args.note, command="benchmarks/export.py " + " ".join(argv or sys.argv[1:]))
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rec = {**info, **bench_model(name, args.size, args.threads, args.warmup, args.runs,
                                         args.onnx_exporter, Path(tmp))}
            records.append(rec)
            print(f"{name:>10}: eager {rec['eager_ms']:8.1f} ms | TorchScript {rec['torchscript_ms']:8.1f} ms | "
                  f"ONNX Runtime {rec['onnxruntime_ms']:8.1f} ms | max diff TS {rec['torchscript_max_abs_diff']:.1e}, "
                  f"ORT {rec['onnxruntime_max_abs_diff']:.1e} | export {rec['onnx_export_s']:.0f} s", flush=True)
    compare.append_records(args.out, records)
    print(f"appended {len(records)} records to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
