"""Image quality of every learned method and the three classical baselines, per hole-ratio bucket.

Every method with a registered training recipe (or those named with ``--methods``) is
loaded — or trained, if its checkpoint is missing — through its recipe for the profile
(checkpoints under ``$INPAINTLIB_CHECKPOINTS`` or ``checkpoints/``), then scored with
Telea, Navier–Stokes and biharmonic on the same held-out sample-bank photos (or the
images of ``--images``) and the same seeded free-form masks, ``--per-bucket`` masks in
each of the buckets 0–20 %, 20–40 % and 40–60 %: PSNR, SSIM, L1 and hole L1 of the
composite. FID is added when ``inpaintlib.metrics.fid`` exists and its Inception weights
are present; LPIPS is not computed (its weights are a download; the book runs offline).

Prints a Markdown table and the book's goal check (does every learned method beat the
best baseline on PSNR in the 20–40 % and 40–60 % buckets?), and appends one record per
method — method, profile, training budget (steps and image size from the recipe's
schedule, training seconds from its logs), device, commit, date — to the results file
(a JSON list; earlier records are kept):

    .venv/bin/python benchmarks/quality.py --profile quick
    .venv/bin/python benchmarks/quality.py --profile workshop --methods pconv,gmcnn

``--reference`` scores the reference models shipped with the book instead (at their own
size, with standard errors, beside the baselines and the mean-colour fill) and checks
their targets:

    .venv/bin/python benchmarks/quality.py --reference

Taught with the "Comparing the methods" chapter.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from inpaintlib import compare
from inpaintlib.profiles import get_profile
from inpaintlib.tensors import device as pick_device

DEFAULT_OUT = compare.results_dir() / "quality.json"


def command_line(argv) -> str:
    return " ".join([".venv/bin/python benchmarks/quality.py"] + list(argv))


def run(profile=None, methods=None, images=None, per_bucket=None, device=None, baselines=compare.BASELINE_NAMES,
        out=DEFAULT_OUT, note=None, command=None, progress=False) -> list:
    """Load-or-train the methods, score them and the baselines, append the records to
    ``out`` (unless ``out`` is None) and return the new records."""
    prof = get_profile(profile)
    dev = pick_device(device) if device else pick_device()
    names = compare.inpainting_methods(methods)
    models = {}
    for name in names:
        start = time.perf_counter()
        models[name] = compare.trained_model(name, prof, progress=progress)
        print(f"{name}: ready in {time.perf_counter() - start:.1f} s "
              f"(budget {compare.training_budget(name, prof)['steps']} steps, "
              f"trained for {compare.training_seconds(name, prof):.0f} s)", flush=True)
    data = compare.evaluation_set(prof, images=images, per_bucket=per_bucket)
    records = compare.compare(models, data, prof, baselines=baselines, device=dev)
    info = compare.run_info(dev, note=note, command=command)
    records = [{"benchmark": "quality", **rec, **info, "device": rec["device"]} for rec in records]
    if out is not None:
        compare.append_records(out, records)
    return records


def run_reference(args, argv):
    """``--reference``: the shipped reference models on their cards' evaluation set."""
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    records = compare.reference_records(methods=methods)
    info = compare.run_info("cpu", note=args.note, command=command_line(argv))
    records = [{"benchmark": "quality", "profile": "reference", **rec, **info} for rec in records]
    r0 = records[0]
    print(f"{r0['eval']['pairs']} pairs at {r0['eval']['size']} px ({r0['eval']['images']}, "
          f"{r0['eval']['masks_per_bucket']} {r0['eval']['mask_kind']} masks per bucket) | commit {r0['commit']}\n")
    print("| method | kind | " + " | ".join(r0["eval"]["buckets"]) + " | all |")
    print("|---|---|" + "---|" * (len(r0["eval"]["buckets"]) + 1))
    for rec in records:
        cells = [f"{row['psnr']:.2f} ± {row['psnr_se']:.2f}" for row in rec["buckets"]]
        print(f"| {rec['method']} | {rec['kind']} | " + " | ".join(cells) + " |")
    print("\nReference targets (PSNR, dB):")
    for g in compare.reference_goals(records):
        print(f"  {g['method']:>20} {g['test']}: {g['value']:.2f} vs {g['against']:.2f} -> "
              f"{'met' if g['met'] else 'NOT met'} (margin {g['margin']:+.2f} dB)")
    out = None if args.out == "-" else args.out
    if out:
        compare.append_records(out, records)
        print(f"\nappended {len(records)} records to {out}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="quick, workshop or paper (default: the machine's)")
    ap.add_argument("--methods", default=None,
                    help="comma-separated recipe names (default: every registered inpainting method)")
    ap.add_argument("--images", default=None, help="a folder of test images instead of the held-out sample bank")
    ap.add_argument("--per-bucket", type=int, default=None,
                    help="masks per hole-ratio bucket (default: max(4, profile.eval_images // 2))")
    ap.add_argument("--baselines", default=",".join(compare.BASELINE_NAMES),
                    help="comma-separated classical baselines (default: all three)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="results file to append to ('-' = do not write)")
    ap.add_argument("--note", default=None, help="a sentence about the machine or the run, stored with each record")
    ap.add_argument("--reference", action="store_true",
                    help="score the reference models shipped with the book (inpaintlib.reference) at their own "
                         "size beside the baselines and the mean-colour fill, with standard errors, and check "
                         "the reference targets, instead of the profile's models")
    args = ap.parse_args(argv)
    if args.reference:
        return run_reference(args, argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    bases = [b.strip() for b in args.baselines.split(",") if b.strip()]
    out = None if args.out == "-" else args.out
    records = run(args.profile, methods, args.images, args.per_bucket, args.device, bases, out, args.note,
                  command_line(argv))
    r0 = records[0]
    print(f"\nprofile {r0['profile']} | device {r0['device']} | {r0['eval']['pairs']} pairs at {r0['eval']['size']} px "
          f"({r0['eval']['images']}, {r0['eval']['masks_per_bucket']} {r0['eval']['mask_kind']} masks per bucket) "
          f"| commit {r0['commit']}\n")
    print(compare.records_table(records))
    for rec in records:
        if rec["kind"] == "learned":
            b = rec["budget"]
            print(f"{rec['method']}: {b['steps']} training steps at {b['image_size']} px, "
                  f"{rec['training_seconds'] or float('nan'):.0f} s of training, "
                  f"{rec['inference_ms_per_image']:.1f} ms per image")
    print(f"FID: {r0['fid'] if r0['fid'] is not None else r0['fid_note']}")
    print(r0["lpips_note"])
    if any(r["kind"] == "learned" for r in records) and any(r["kind"] == "baseline" for r in records):
        print("\nGoal: every learned method beats the best baseline on PSNR in 20–40 % and 40–60 %")
        rows = compare.beats_best_baseline(records)
        for row in rows:
            print(f"  {row['method']:>8} {row['bucket']:>7}: {row['psnr']:.2f} dB vs {row['best_baseline']} "
                  f"{row['baseline_value']:.2f} dB -> {'beats' if row['beats'] else 'does NOT beat'}")
        print(f"  {'met' if all(r['beats'] for r in rows) else 'not met'} in the {r0['profile']} profile")
    if out:
        print(f"\nappended {len(records)} records to {out}")


if __name__ == "__main__":
    main()
