"""inpaintlib's generators against the original repositories' generators, side by side on CPU.

One generator *training step* each — train mode, forward + backward of a scalar made from
the outputs — at 256 px: PConv U-Net (batch 1), GMCNN (batch 1), CTSDG (batch 2, with its
two projection heads), timed in interleaved rounds (original, inpaintlib, original, …), the
fastest round of each kept; and the peak resident memory that one CTSDG step at batch 6
adds, each measured in a fresh process. Prints the ratios against the targets (time ≤ 0.7×
the original's, CTSDG memory ≤ 0.6×) and writes a Markdown record.

The originals are read from a folder you point to; nothing is fetched at run time::

    ORIGINALS/pytorch-inpainting-with-partial-conv/net.py          (naoto0804)
    ORIGINALS/inpainting_gmcnn/pytorch/model/net.py                (shepnerd)
    ORIGINALS/ctsdg/models/generator/generator.py                  (xiefan-guo)

    git clone https://github.com/naoto0804/pytorch-inpainting-with-partial-conv ORIGINALS/…
    .venv/bin/python benchmarks/originals.py --originals ORIGINALS --out benchmarks/results/originals-cpu.md

A repository that is missing is skipped with a message. Only the generators' modules are
imported; ``torchvision`` (which the originals import for their VGG losses only, and which
does not load beside the CPU torch here) and ``cv2`` (when absent) are replaced by empty
stand-ins while they load. The inputs are what each generator's training code feeds it:
naoto0804's masked image and 3-channel mask, shepnerd's 4-channel ``[masked image, mask]``,
xiefan-guo's masked image, ``[edge, gray]`` and mask; inpaintlib's models get
``(image, hole)`` (CTSDG also the edges) with ``check=False``, as its recipes call them.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fastest  # noqa: E402

REPOS = {"pconv": "pytorch-inpainting-with-partial-conv", "gmcnn": "inpainting_gmcnn", "ctsdg": "ctsdg"}
NAMES = {"pconv": "PConv U-Net", "gmcnn": "GMCNN generator", "ctsdg": "CTSDG generator"}
BATCH = {"pconv": 1, "gmcnn": 1, "ctsdg": 2}
TARGET_TIME = 0.7      # inpaintlib's step ≤ 0.7× the original's
TARGET_MEMORY = 0.6    # CTSDG batch-6 peak memory ≤ 0.6× the original's


# ------------------------------------------------------------------------------------------
# loading an original's generator from its folder

@contextlib.contextmanager
def _isolated_import(folder: Path):
    """Import from ``folder`` with stand-ins for torchvision (and cv2 if absent); afterwards
    the import path and ``sys.modules`` are as before (the loaded classes keep working)."""
    saved_path, saved_modules = list(sys.path), dict(sys.modules)
    stubs = {}
    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")
    tv.transforms = types.ModuleType("torchvision.transforms")
    stubs.update({"torchvision": tv, "torchvision.models": tv.models, "torchvision.transforms": tv.transforms})
    if importlib.util.find_spec("cv2") is None:
        stubs["cv2"] = types.ModuleType("cv2")
    sys.path.insert(0, str(folder))
    sys.modules.update(stubs)
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in list(sys.modules):
            if name not in saved_modules:
                del sys.modules[name]
        sys.modules.update(saved_modules)


def original_folder(root: Path, kind: str) -> Path:
    return Path(root) / REPOS[kind]


def load_original(root: Path, kind: str) -> torch.nn.Module:
    """The original generator of ``kind`` at its published size (256-px networks)."""
    folder = original_folder(root, kind)
    if kind == "pconv":
        with _isolated_import(folder):
            net = importlib.import_module("net")
            return net.PConvUNet(layer_size=7, input_channels=3)
    if kind == "gmcnn":
        with _isolated_import(folder / "pytorch"):
            net = importlib.import_module("model.net")
            return net.GMCNN(4, out_channels=3, cnum=32)
    with _isolated_import(folder):
        gen = importlib.import_module("models.generator.generator")
        return gen.Generator()


def ours(kind: str, width: float = 1.0, layers: int = 7) -> torch.nn.Module:
    from inpaintlib.models import CTSDG, GMCNN, PConvUNet

    if kind == "pconv":
        return PConvUNet(layers=layers, width=width)
    if kind == "gmcnn":
        return GMCNN(width=width)
    return CTSDG(layers=layers, width=width)


def inputs(batch: int, size: int, seed: int = 0) -> dict:
    """One batch: image in [0, 1], a hole (a centre square and some strokes), the edges."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=g)
    hole = torch.zeros(batch, 1, size, size)
    hole[..., size // 4: size // 2, size // 4: size // 2] = 1
    hole = torch.maximum(hole, (torch.rand(batch, 1, size, size, generator=g) < 0.05).float())
    edge = (torch.rand(batch, 1, size, size, generator=g) < 0.1).float()
    return {"image": image, "hole": hole, "edge": edge}


def step_fn(kind: str, which: str, model: torch.nn.Module, x: dict):
    """A function running one forward + backward of ``model`` on batch ``x``."""
    image, hole, edge = x["image"], x["hole"], x["edge"]
    valid = 1.0 - hole
    if which == "original":
        signed = image * 2 - 1
        if kind == "pconv":
            mask3 = valid.expand(-1, 3, -1, -1).contiguous()
            def run():
                out, _ = model(signed * mask3, mask3)
                return out.mean()
        elif kind == "gmcnn":
            gin = torch.cat([signed * valid, hole], dim=1)
            def run():
                return model(gin).mean()
        else:
            gray = (image * torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            struct = torch.cat([edge, gray], dim=1) * valid
            def run():
                out, pi, pe = model(signed * valid, struct, valid)
                return out.mean() + pi.mean() + pe.mean()
    else:
        if kind == "ctsdg":
            def run():
                out, aux = model(image, hole, edge=edge, return_aux=True, check=False)
                return out.mean() + aux["projected_image"].mean() + aux["projected_edge"].mean()
        else:
            def run():
                return model(image, hole, check=False).mean()

    def once():
        model.zero_grad(set_to_none=True)
        run().backward()
    return once


# ------------------------------------------------------------------------------------------
# measurements

def time_pair(kind: str, root: Path, size: int, rounds: int, width: float, layers: int) -> dict:
    torch.manual_seed(0)
    models = {"original": load_original(root, kind), "inpaintlib": ours(kind, width, layers)}
    for m in models.values():
        m.train()          # (naoto0804's train() returns None: no chaining)
    x = inputs(BATCH[kind], size)
    return fastest({k: step_fn(kind, k, m, x) for k, m in models.items()}, rounds)


def memory_child(kind: str, which: str, root: str, batch: int, size: int, width: float, layers: int) -> dict:
    """In this (fresh) process: the rise of peak RSS over one forward + backward."""
    torch.manual_seed(0)
    model = load_original(Path(root), kind) if which == "original" else ours(kind, width, layers)
    model.train()
    fn = step_fn(kind, which, model, inputs(batch, size))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # Linux: KiB
    fn()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rise_bytes": peak - base}


def measure_memory(kind: str, which: str, root: Path, batch: int, size: int, width: float, layers: int,
                   threads: int) -> int:
    cmd = [sys.executable, __file__, "--child", json.dumps(
        {"kind": kind, "which": which, "root": str(root), "batch": batch, "size": size, "width": width,
         "layers": layers, "threads": threads})]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"memory run of the {which} {kind} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["rise_bytes"]


def verdict(ratio: float, target: float) -> str:
    if ratio <= target:
        return f"met (≤ {target}×)"
    return f"**missed** (target ≤ {target}×; {ratio / target:.2f}× over)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--originals", default=os.environ.get("INPAINTLIB_ORIGINALS"),
                    help="folder holding the original repositories (or $INPAINTLIB_ORIGINALS)")
    ap.add_argument("--out", default=None, help="write the Markdown record here")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per generator (default 3)")
    ap.add_argument("--size", type=int, default=256, help="image side (default 256)")
    ap.add_argument("--memory-batch", type=int, default=6, help="CTSDG batch for the memory run (0: skip it)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--only", nargs="*", choices=list(REPOS), default=list(REPOS), help="which methods")
    ap.add_argument("--width", type=float, default=1.0, help=argparse.SUPPRESS)   # tests: small models of ours
    ap.add_argument("--layers", type=int, default=7, help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        spec = json.loads(args.child)
        if spec.get("threads"):
            torch.set_num_threads(spec["threads"])
        print(json.dumps(memory_child(spec["kind"], spec["which"], spec["root"], spec["batch"], spec["size"],
                                      spec["width"], spec["layers"])))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.originals or not Path(args.originals).is_dir():
        print(f"skipped: no folder of original repositories (--originals or $INPAINTLIB_ORIGINALS; got "
              f"{args.originals!r}). Clone {', '.join(REPOS.values())} into one folder and pass it.")
        return 0
    root = Path(args.originals)
    present = [k for k in args.only if original_folder(root, k).is_dir()]
    for k in args.only:
        if k not in present:
            print(f"skipped {NAMES[k]}: {original_folder(root, k)} is missing")
    if not present:
        print("skipped: none of the original repositories is in the folder")
        return 0

    load0 = os.getloadavg()[0]
    command = " ".join([".venv/bin/python benchmarks/originals.py"] + [a for a in (argv or sys.argv[1:])])
    lines = ["# inpaintlib against the original generators (CPU)", "",
             f"Command: `{command}` (the originals: the repositories' default branches, read from a local folder).", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
             f"torch {torch.__version__}, python {platform.python_version()}, no GPU. Load average when the run "
             f"started: {load0:.1f} (1 min) — other jobs share this machine, so every time is an upper bound, "
             "and a ratio from one interleaved run is only as good as the load was even.", "",
             f"Generator training step: train mode, forward + backward, {args.size} px, fastest of "
             f"{args.rounds} interleaved rounds after a warm-up.", "",
             "| generator | batch | original | inpaintlib | ratio | target |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    results = {}
    for kind in present:
        t = time_pair(kind, root, args.size, args.rounds, args.width, args.layers)
        ratio = t["inpaintlib"] / t["original"]
        results[kind] = {**t, "ratio": ratio}
        lines.append(f"| {NAMES[kind]} | {BATCH[kind]} | {t['original']:.2f} s | {t['inpaintlib']:.2f} s | "
                     f"**{ratio:.2f}×** | {verdict(ratio, TARGET_TIME)} |")
        print(lines[-1], flush=True)
    if "ctsdg" in present and args.memory_batch:
        mem = {w: measure_memory("ctsdg", w, root, args.memory_batch, args.size, args.width, args.layers,
                                 torch.get_num_threads()) for w in ("original", "inpaintlib")}
        ratio = mem["inpaintlib"] / mem["original"] if mem["original"] > 0 else float("nan")
        results["ctsdg_memory"] = {**mem, "ratio": ratio}
        gib = 1024 ** 3
        lines += ["", "Peak resident memory that one CTSDG generator step (forward + backward) adds, "
                  f"batch {args.memory_batch}, {args.size} px, each in a fresh process (`ru_maxrss`):", "",
                  "| generator | original | inpaintlib | ratio | target |", "|---|---|---|---|---|",
                  f"| CTSDG, batch {args.memory_batch} | {mem['original'] / gib:.2f} GiB | "
                  f"{mem['inpaintlib'] / gib:.2f} GiB | **{ratio:.2f}×** | {verdict(ratio, TARGET_MEMORY)} |"]
        print("\n".join(lines[-6:]), flush=True)
    lines += ["", f"Load average when the run ended: {os.getloadavg()[0]:.1f} (1 min)."]
    print(lines[-1])
    if args.out:
        from inpaintlib.io import write_text   # temporary file, then rename

        write_text(args.out, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
