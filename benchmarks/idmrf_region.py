"""Where GMCNN's ID-MRF looks: the local patch around the hole (the original code) or the whole
completed image (what this book's recipe did before it followed the original).

The GMCNN chapter's ablation fine-tunes one pre-trained generator with and without ID-MRF,
three seeds per arm. This script runs that ablation with a third arm — ID-MRF on the whole
image (``finetune(..., mrf_region="image")``) — so the chapter can say what changed when the
recipe moved ID-MRF to the local patch:

* ``none``: critics only (hinge), no ID-MRF;
* ``image``: + ID-MRF between the whole completed image and the whole truth;
* ``patch``: + ID-MRF between the hole's bounding box, cropped and resized as the local critic
  sees it, and the truth's (the original's ``completed_local`` / ``gt_local``; the default).

Everything else is the chapter's: the ``quick`` schedule (64 px, width ×0.25, 150 pre-training
steps, GMCNN's rectangles), ID-MRF on VGG19 when its weights are present, otherwise on
EfficientNet-Lite0; scored like the chapter (the held-out sample-bank photos, rectangles with
seeds 1000 + i, PSNR of the composite). Besides PSNR it records how strongly each arm's ID-MRF
pulls on the hole: the share of the ID-MRF gradient (w.r.t. the completed image) that falls on
hole pixels, and its size there, for the pre-trained generator on one training batch.

    .venv/bin/python benchmarks/idmrf_region.py                         # the chapter's scale
    .venv/bin/python benchmarks/idmrf_region.py --finetune-steps 200     # longer fine-tuning
    .venv/bin/python benchmarks/idmrf_region.py --scale 0.05 --seeds 1 2 # a smoke run (tests)

Writes JSON and Markdown (``--json``, ``--out``). Trains on the 14 sample-bank training photos
only; the reserved evaluation images are never used.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _provenance  # noqa: E402  (benchmarks/, the script's folder)

ARMS = {
    "none": "critics only, no ID-MRF",
    "image": "+ ID-MRF on the whole image (before)",
    "patch": "+ ID-MRF on the local patch (now, as the original)",
}


def gradient_on_hole(g, mrf, sched, region: str) -> dict:
    """For one training batch and generator ``g``: the ID-MRF gradient w.r.t. the completed
    image, as the fine-tuning step computes the loss; its share on hole pixels and its mean
    magnitude per hole pixel."""
    import torch

    from inpaintlib.models.gmcnn import crop_boxes, hole_bounding_boxes
    from inpaintlib.recipes import gmcnn as recipe

    image, hole = recipe.training_pairs(sched, sched.batch_finetune, seed=99)(0)
    with torch.no_grad():
        pred = g(image, hole)
    comp = (pred * hole + image * (1 - hole)).requires_grad_(True)
    if region == "patch":
        boxes = hole_bounding_boxes(hole)
        size = sched.image_size // 2
        loss = mrf(crop_boxes(comp, boxes, size), crop_boxes(image, boxes, size))
    else:
        loss = mrf(comp, image)
    (grad,) = torch.autograd.grad(loss, comp)
    mag = grad.abs().sum(1, keepdim=True)
    on_hole = float((mag * hole).sum())
    return {"loss": float(loss.detach()), "share_on_hole": on_hole / max(float(mag.sum()), 1e-30),
            "mean_per_hole_pixel": on_hole / max(float(hole.sum()), 1.0)}


def run(seeds, finetune_steps, scale, work: Path, log=print) -> dict:
    import torch

    from inpaintlib import baselines, masks, metrics
    from inpaintlib.data import SampleBank
    from inpaintlib.models.gmcnn import GMCNN, GlobalDiscriminator, LocalDiscriminator
    from inpaintlib.profiles import get_profile
    from inpaintlib.recipes import gmcnn as recipe
    from inpaintlib.tensors import composite

    profile = get_profile("quick")
    base = recipe.schedule("quick")
    sched = recipe.schedule("quick", pretrain_steps=max(1, round(base.pretrain_steps * scale)),
                            finetune_steps=max(1, round((finetune_steps or base.finetune_steps) * scale)))
    mrf = recipe.idmrf_loss("auto")
    torch.manual_seed(0)
    g = GMCNN(**sched.model_config())
    t0 = time.perf_counter()
    recipe.pretrain(g, recipe.training_pairs(sched, sched.batch_pretrain), sched, work, progress=False)
    pretrain_s = time.perf_counter() - t0
    g.eval()
    grads = {r: gradient_on_hole(g, mrf, sched, r) for r in ("image", "patch")}

    n_eval = max(8, profile.eval_images)
    heldout = SampleBank("heldout", size=sched.image_size)
    target = torch.stack([heldout[i % len(heldout)] for i in range(n_eval)])
    holes = torch.stack([masks.generate("rectangle", sched.image_size, seed=1000 + i) for i in range(n_eval)])

    def score(fill):
        with torch.no_grad():
            out = composite(target, fill(target, holes), holes)
            s = metrics.evaluate(out, target, holes)
        return float(s["psnr"].mean()), float(s["l1_hole"].mean())

    psnr, hole_l1, seconds = {a: [] for a in ARMS}, {a: [] for a in ARMS}, {a: [] for a in ARMS}
    with torch.no_grad():
        pre_psnr, pre_l1 = score(g.eval())
    telea_psnr, telea_l1 = score(baselines.telea)
    for arm in ARMS:
        for seed in seeds:
            torch.manual_seed(seed)
            g_ft = copy.deepcopy(g)
            dg = GlobalDiscriminator(in_size=sched.image_size, width=sched.width)
            dl = LocalDiscriminator(in_size=sched.image_size // 2, width=sched.width)
            t0 = time.perf_counter()
            recipe.finetune(g_ft, dg, dl, recipe.training_pairs(sched, sched.batch_finetune, seed=seed), sched, work,
                            mrf=None if arm == "none" else mrf, mrf_region="patch" if arm == "none" else arm,
                            name=f"{arm}_seed{seed}", progress=False)
            seconds[arm].append(time.perf_counter() - t0)
            p, l1 = score(g_ft.eval())
            psnr[arm].append(p)
            hole_l1[arm].append(l1)
            log(f"{arm} seed {seed}: PSNR {p:.2f} dB, hole L1 {l1:.4f} ({seconds[arm][-1]:.0f} s)")
    diffs = {}
    if len(seeds) >= 2:
        for a, b in (("patch", "none"), ("image", "none"), ("patch", "image")):
            diffs[f"{a}-{b}"] = metrics.seed_difference(psnr[a], psnr[b])
    return {"schedule": {"image_size": sched.image_size, "width": sched.width, "pretrain_steps": sched.pretrain_steps,
                         "finetune_steps": sched.finetune_steps, "d_steps": sched.d_steps, "masks": sched.masks},
            "backbone": mrf.description, "seeds": list(seeds), "n_eval": n_eval, "pretrain_seconds": round(pretrain_s, 1),
            "pretrained": {"psnr": pre_psnr, "l1_hole": pre_l1}, "telea": {"psnr": telea_psnr, "l1_hole": telea_l1},
            "psnr": psnr, "l1_hole": hole_l1, "seconds": seconds, "differences": diffs, "gradient": grads}


def table(r: dict, header: str) -> str:
    import statistics

    def ms(v):
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

    lines = [header, "",
             "| fine-tuning arm | PSNR, mean ± sd over seeds | each seed | hole L1 (mean) |", "|---|---|---|---|"]
    for arm, label in ARMS.items():
        lines.append(f"| {label} | {ms(r['psnr'][arm])} | {', '.join(f'{x:.2f}' for x in r['psnr'][arm])} | "
                     f"{sum(r['l1_hole'][arm]) / len(r['l1_hole'][arm]):.4f} |")
    lines.append(f"| pre-trained only (before fine-tuning) | {r['pretrained']['psnr']:.2f} | — | "
                 f"{r['pretrained']['l1_hole']:.4f} |")
    lines.append(f"| Telea | {r['telea']['psnr']:.2f} | — | {r['telea']['l1_hole']:.4f} |")
    if r["differences"]:
        lines += ["", "| difference | PSNR, dB | standard error | verdict |", "|---|---|---|---|"]
        for k, d in r["differences"].items():
            a, b = k.split("-")
            lines.append(f"| {a} − {b} | {d['diff']:+.2f} | {d['se']:.2f} | {d['verdict']} |")
    gi, gp = r["gradient"]["image"], r["gradient"]["patch"]
    lines += ["", "ID-MRF's pull on the hole, for the pre-trained generator on one training batch "
              "(gradient of the ID-MRF term w.r.t. the completed image):", "",
              "| ID-MRF on | loss | share of the gradient on hole pixels | mean absolute gradient per hole pixel |",
              "|---|---|---|---|",
              f"| the whole image | {gi['loss']:.3f} | {gi['share_on_hole']:.1%} | {gi['mean_per_hole_pixel']:.3g} |",
              f"| the local patch | {gp['loss']:.3f} | {gp['share_on_hole']:.1%} | {gp['mean_per_hole_pixel']:.3g} |",
              "", f"The patch's gradient per hole pixel is {gp['mean_per_hole_pixel'] / max(gi['mean_per_hole_pixel'], 1e-30):.1f}× "
              "the whole image's."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--finetune-steps", type=int, default=None, help="default: the quick schedule's")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply both phases' steps (smoke runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "idmrf-region-cpu.json"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "idmrf-region-cpu.md"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.seeds, args.finetune_steps, args.scale, Path(tmp))
    commit, load = _provenance.commit(), _provenance.load_average()
    s = r["schedule"]
    header = (f"# GMCNN: ID-MRF on the local patch or on the whole image\n\n"
              f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), load average "
              f"{load:.1f} at the end; torch {torch.__version__}; commit {commit}; {time.strftime('%Y-%m-%d')}; "
              f"{time.perf_counter() - start:.0f} s in all. The GMCNN chapter's ablation (`quick` profile, CPU): "
              f"{s['image_size']} px, width ×{s['width']:g}, {s['masks']} holes, {s['pretrain_steps']} pre-training "
              f"steps (seed 0), then {s['finetune_steps']} fine-tuning steps × (1 + {s['d_steps']} critic steps) per "
              f"arm and seed (seeds {', '.join(map(str, r['seeds']))}); {r['backbone']}. Scored on {r['n_eval']} "
              "held-out sample-bank photos with GMCNN rectangles (composite PSNR, dB).")
    text = table(r, header) + "\n"
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(r, indent=1, ensure_ascii=False) + "\n")
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
