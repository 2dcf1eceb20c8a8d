"""Assets of the book's in-browser playground: the reference models as ONNX, run by ONNX Runtime Web.

Taught with the playground page (``book/playground.md``); every method chapter embeds a compact
version (that method beside Telea, loaded when the reader asks for it).
The page runs each method's reference model (:mod:`inpaintlib.reference`) in the reader's
browser with ONNX Runtime Web (WebAssembly, one thread), beside Telea's fast-marching fill
written in JavaScript (``book/_static/playground.js``). The book is read from disk, where
browsers refuse ``fetch`` of local files, so everything the page needs arrives through
``<script>`` tags: each model's ONNX bytes and ONNX Runtime's WebAssembly binary are
embedded as base64 in ``.js`` files. :func:`build` writes them::

    .venv/bin/python -m inpaintlib.playground book/_widgets_js/playground \\
        --node-modules book/_js/node_modules

(``make book`` and ``make test`` run this). For each method it exports the reference model
with :func:`inpaintlib.export.export_model` at the size it was trained at, stores the
weights in half precision (the reference files already hold half-precision weights, so
nothing is lost; the graph computes in float32 through ``Cast`` nodes) and runs the file
with ONNX Runtime against the PyTorch model on the same seeded input. The largest absolute
difference is recorded in the manifest; a model that is missing, fails to export or
differs by more than :data:`TOLERANCE` is listed as unavailable with the reason, and the
page shows that reason in its place.

Files written to the output folder:

``manifest.js``
    ``window.PLAYGROUND_MANIFEST``: methods (status, reason, size, inputs, largest
    difference, bytes), the sample-bank photos (held-out, as PNG data URLs) and where
    ONNX Runtime came from.
``model-<method>.js``
    ``window.PLAYGROUND_MODELS[method] = "<base64 of the ONNX file>"``.
``ort.wasm.min.js``, ``ort-wasm.js``
    ONNX Runtime Web's WebAssembly-only build (from npm) and ``window.PLAYGROUND_ORT``
    holding its Emscripten loader and WebAssembly binary as base64.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["METHODS", "LABELS", "WORK_SIZE", "TOLERANCE", "ORT_FILES", "half_precision_weights",
           "export_method", "sample_photos", "build", "main"]

#: The methods the playground runs (SC-Lmser's reference model draws sketches, not fills).
METHODS = ("pconv", "gmcnn", "ctsdg", "clmser")
LABELS = {"pconv": "PConv U-Net", "gmcnn": "GMCNN", "ctsdg": "CTSDG", "clmser": "CLmser"}
#: Side of the page's working image; each model runs at its own size (resized in the page).
WORK_SIZE = 128
#: Largest |ONNX − PyTorch| (on [0, 1] outputs) for a model to be offered.
TOLERANCE = 1e-3
#: Files of the ``onnxruntime-web`` package the page needs (under ``dist/``).
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def _write(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file in the same folder, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write {path}: {err}") from err


def half_precision_weights(proto):
    """Store every float32 initializer of ``proto`` (an ONNX ``ModelProto``) as float16,
    followed by a ``Cast`` back to float32: the file halves, the graph still computes in
    float32. Modifies and returns ``proto``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or init.dims == [] or np.prod(init.dims) < 16:
            keep.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__to_fp32"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return proto


def export_method(method: str, workdir: Path, root: Optional[Path] = None, seed: int = 3) -> tuple[dict, Optional[bytes]]:
    """Export the reference model of ``method`` for the page: ``(record, onnx_bytes)``.

    ``record`` holds ``status`` (``"ok"`` or ``"unavailable"``), ``reason``, ``size``,
    ``inputs``, ``sigma`` (CTSDG's edge map), ``max_abs_diff`` (half-precision ONNX file
    against the PyTorch model on :func:`inpaintlib.export.example_inputs` with ``seed``)
    and ``bytes``. ``onnx_bytes`` is ``None`` when the model is unavailable.
    """
    record = {"name": method, "label": LABELS.get(method, method), "status": "unavailable", "reason": ""}
    try:
        import onnx

        from . import export as ex
        from .reference import load_reference
    except ImportError as err:
        record["reason"] = f"the build had no {err.name} package (pip install 'inpaintlib[export]')"
        return record, None
    try:
        model = load_reference(method, root)
    except (FileNotFoundError, ValueError) as err:
        record["reason"] = str(err)
        return record, None
    size = int(model.reference_size)
    record.update(size=size, inputs=list(ex.input_names(model)), sigma=float(getattr(model, "sigma", 2.0)),
                  parameters=int(sum(p.numel() for p in model.parameters())))
    info = getattr(model, "reference_card", {}) or {}
    if info.get("wall_seconds"):
        record["cpu_minutes"] = round(float(info["wall_seconds"]) / 60)
    path = Path(workdir) / f"{method}.onnx"
    try:
        ex.export_model(model, path, "onnx", size=size, meta={"model": method, "source": "reference"},
                        onnx_exporter="legacy")
        proto = half_precision_weights(onnx.load_model(str(path)))
        onnx.save_model(proto, str(path))
        inputs = ex.example_inputs(model, size, seed=seed)
        got = ex.run_exported(path, *inputs, threads=1)
        want = ex.eager_output(model, inputs)
        diff = float((got - want).abs().max())
    except Exception as err:   # any failure is shown on the page, with its reason
        record["reason"] = f"export or check failed: {type(err).__name__}: {err}"
        return record, None
    record["max_abs_diff"] = diff
    if not diff <= TOLERANCE:
        record["reason"] = f"ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE:g})"
        return record, None
    data = path.read_bytes()
    record.update(status="ok", bytes=len(data))
    return record, data


def sample_photos(size: int = WORK_SIZE) -> list[dict]:
    """The sample bank's held-out photos as ``{name, src}``: the centre square, ``size``
    px, as a PNG data URL (photos the reference models never trained on)."""
    from PIL import Image

    from .data.bank import load_sample_photo, sample_bank_names
    from .data.transforms import center_crop, resize

    out = []
    for name in sample_bank_names("heldout"):
        img = center_crop(resize(load_sample_photo(name), size), size).clamp(0, 1)
        arr = (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out.append({"name": name, "src": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()})
    return out


def _ort_record(node_modules: Optional[Path], out: Path) -> dict:
    if node_modules is None:
        return {"status": "unavailable", "reason": "no node_modules folder was given to the build"}
    dist = Path(node_modules) / "onnxruntime-web" / "dist"
    missing = [f for f in ORT_FILES if not (dist / f).is_file()]
    if missing:
        return {"status": "unavailable",
                "reason": f"onnxruntime-web is not installed ({dist / missing[0]} is missing; `make js` installs it)"}
    version = json.loads((dist.parent / "package.json").read_text()).get("version", "?")
    shutil.copyfile(dist / "ort.wasm.min.js", out / "ort.wasm.min.js")
    glue = base64.b64encode((dist / "ort-wasm-simd-threaded.mjs").read_bytes()).decode()
    wasm = base64.b64encode((dist / "ort-wasm-simd-threaded.wasm").read_bytes()).decode()
    _write(out / "ort-wasm.js", f'window.PLAYGROUND_ORT = {{"version": "{version}", "glue": "{glue}", "wasm": "{wasm}"}};\n')
    return {"status": "ok", "version": version, "wasm_bytes": (dist / "ort-wasm-simd-threaded.wasm").stat().st_size}


def build(out: Path, node_modules: Optional[Path] = None, methods: Sequence[str] = METHODS,
          root: Optional[Path] = None, log=print) -> dict:
    """Write the playground's assets to ``out`` (see the module docstring); returns the
    manifest. ``root``: folder of the reference models (default: the package's)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("model-*.js"):
        old.unlink()
    start = time.perf_counter()
    manifest = {"work_size": WORK_SIZE, "tolerance": TOLERANCE, "ort": _ort_record(node_modules, out),
                "methods": [], "samples": sample_photos()}
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            t0 = time.perf_counter()
            record, data = export_method(method, Path(tmp), root)
            if data is not None:
                record["file"] = f"model-{method}.js"
                _write(out / record["file"], "window.PLAYGROUND_MODELS = window.PLAYGROUND_MODELS || {};\n"
                       f'window.PLAYGROUND_MODELS["{method}"] = "{base64.b64encode(data).decode()}";\n')
                log(f"playground: {method}: {record['bytes'] / 1e6:.2f} MB ONNX (half-precision weights), "
                    f"largest |ONNX - PyTorch| = {record['max_abs_diff']:.1e}  ({time.perf_counter() - t0:.1f} s)")
            else:
                log(f"playground: {method}: unavailable: {record['reason']}")
            manifest["methods"].append(record)
    if manifest["ort"]["status"] != "ok":
        log(f"playground: ONNX Runtime Web unavailable: {manifest['ort']['reason']}")
    _write(out / "manifest.js", "window.PLAYGROUND_MANIFEST = " + json.dumps(manifest) + ";\n")
    log(f"playground: assets in {out} ({time.perf_counter() - start:.1f} s)")
    return manifest


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaintlib.playground", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (the book serves book/_widgets_js/playground)")
    parser.add_argument("--node-modules", type=Path, default=None, help="npm folder holding onnxruntime-web")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    build(args.out, args.node_modules, args.methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
