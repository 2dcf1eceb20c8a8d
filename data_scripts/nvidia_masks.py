"""Prepare the NVIDIA Irregular Mask Dataset (Liu et al., partial convolutions) for ``inpaintlib``.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the
partial-convolution and dual-stream (CTSDG) chapters.

Layout produced under the data root::

    nvidia_masks/train/*.png    from irregular_mask.zip, folder disocclusion_img_mask (55,116)
    nvidia_masks/test/*.png     from test_mask.zip, folder testing_mask_dataset (12,000)

Polarity: in these PNGs **white = hole** (missing pixels), black = known, which is also
inpaintlib's convention for mask files. The test set holds 12,000 masks in 6 hole-to-image area
buckets, (0.01,0.1] … (0.5,0.6], of 2,000 masks each (the release page describes 1,000 with and
1,000 without a border constraint per bucket; which files are which is not verified here, so
compute the hole ratio from the pixels rather than trusting file numbers). The training masks are raw: the paper binarises them at
0.6 and augments them (random dilation by 5–47 px per the first author's project page
http://masc.cs.gmu.edu/wiki/partialconv, translation, rotation, cropping); that is the
mask reader's job, not this script's.

Sources (https://nv-adlr.github.io/publication/partialconv-inpainting): the release page's Dropbox
links for ``irregular_mask.zip`` and ``test_mask.zip``. The training link has been reported
broken; users then fetch a copy by hand and pass ``--train-archive``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

PAGE = "https://nv-adlr.github.io/publication/partialconv-inpainting"
FOLDER = {"train": "disocclusion_img_mask", "test": "testing_mask_dataset"}
OFFICIAL = {"train": 55_116, "test": 12_000}

LAYOUT = """\
nvidia_masks/train/*.png   55,116 raw training masks (white = hole)
nvidia_masks/test/*.png    12,000 test masks, 6 hole-ratio buckets x 2,000 (white = hole)"""

SOURCES = (
    C.Source("train", "irregular_mask.zip",
             "https://www.dropbox.com/s/qp8cxqttta4zi70/irregular_mask.zip?dl=1",
             PAGE + " (training set link)", "--train-archive", "--train-url"),
    C.Source("test", "test_mask.zip",
             "https://www.dropbox.com/s/01dfayns9s0kevy/test_mask.zip?dl=1",
             PAGE + " (testing set link)", "--test-archive", "--test-url"),
)
SOURCE = {s.key: s for s in SOURCES}


def prepare(job: C.Job) -> dict:
    """Copy the masks of each requested split into a flat ``<split>/`` folder."""
    splits = [s.strip() for s in job.args.splits.split(",") if s.strip()]
    if not splits or any(s not in FOLDER for s in splits):
        raise C.DataScriptError(f"--splits {job.args.splits!r}: choose among train, test.")
    counts = {}
    for split in splits:
        archive = job.obtain(SOURCE[split])
        images = [m for m in C.iter_members(archive) if m.is_image]
        inside = [m for m in images if FOLDER[split] in m.name.split("/")[:-1]]
        if inside:
            chosen = inside
        else:
            job.log(f"note: {archive} has no folder {FOLDER[split]!r}; taking all its "
                    f"{len(images):,} images")
            chosen = images
        by_name = C.unique_basenames(chosen, archive)
        if not by_name:
            raise C.DataScriptError(f"No mask images found in {archive}.")
        wanted = {m.name for m in by_name.values()}
        job.log(f"{split}: extracting {len(wanted):,} masks from {archive}")
        for member in C.iter_members(archive):
            if member.name in wanted:
                C.write_member(member, job.out / split / member.basename)
        counts[split] = len(wanted)
        if len(wanted) != OFFICIAL[split]:
            job.log(f"note: the official {split} set has {OFFICIAL[split]:,} masks; this archive "
                    f"gave {len(wanted):,}.")
    return {"files": sum(counts.values()), "counts": counts}


def add_arguments(parser) -> None:
    """NVIDIA masks options: which splits."""
    parser.add_argument("--splits", default="train,test",
                        help="comma-separated splits to prepare (default train,test)")


DATASET = C.Dataset(
    name="nvidia_masks", dirname="nvidia_masks", module="nvidia_masks",
    title="NVIDIA Irregular Mask Dataset (partial convolutions): white = hole",
    description=("Downloads irregular_mask.zip and test_mask.zip from the Dropbox links on "
                 + PAGE + " (or pass the archives you have)."),
    layout=LAYOUT, produces=("train", "test"), sources=SOURCES, prepare=prepare,
    options=lambda args: {"splits": args.splits}, add_arguments=add_arguments)


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
