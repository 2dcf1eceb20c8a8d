"""Prepare CelebA (aligned & cropped, 178×218) for ``inpaintlib.data``.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the dual-stream
(CTSDG) chapter, whose official port splits CelebA with ``list_eval_partition.txt``.

Layout produced under the data root::

    celeba/img_align_celeba/000001.jpg ...
    celeba/list_eval_partition.txt        lines "000001.jpg 0" (0 train, 1 val, 2 test)

Sources: ``img_align_celeba.zip`` and ``list_eval_partition.txt`` from the official page. They are
hosted on Google Drive behind a confirmation page, so there is no default URL: download them by
hand and pass ``--archive`` / ``--partition`` (or put them in ``<root>/downloads``), or give a
mirror with ``--url`` / ``--partition-url``. Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
OFFICIAL = {"images": 202_599, "train": 162_770, "val": 19_867, "test": 19_962}
SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}
GDRIVE = ("CelebA is hosted on Google Drive behind a confirmation page, which this script cannot "
          "pass.")

LAYOUT = """\
celeba/img_align_celeba/000001.jpg ...   (202,599 aligned 178x218 faces)
celeba/list_eval_partition.txt           lines "000001.jpg 0": 0 train, 1 val, 2 test"""

SOURCES = (
    C.Source("archive", "img_align_celeba.zip", None,
             PAGE + " (Google Drive folder 'Img', 'Align&Cropped Images')", "--archive", "--url",
             no_url_reason=GDRIVE),
    C.Source("partition", "list_eval_partition.txt", None,
             PAGE + " (Google Drive folder 'Eval')", "--partition", "--partition-url",
             no_url_reason=GDRIVE),
)


def read_partition(path: Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` into ``{filename: 0|1|2}``; errors name file and line."""
    out: dict[str, int] = {}
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise C.DataScriptError(f"Cannot read the partition file {path}: {exc}.") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise C.DataScriptError(
                f"{path} line {number}: expected '<image name> <0|1|2>', got {line.strip()!r}.")
        if parts[0] in out:
            raise C.DataScriptError(f"{path} line {number}: {parts[0]} is listed twice.")
        out[parts[0]] = int(parts[1])
    if not out:
        raise C.DataScriptError(f"The partition file {path} is empty.")
    return out


def prepare(job: C.Job) -> dict:
    """Extract the images, copy the partition file, check that every listed image exists."""
    job.require(SOURCES)
    partition_path = job.obtain(SOURCES[1])
    partition = read_partition(partition_path)
    archive = job.obtain(SOURCES[0])
    images = C.unique_basenames((m for m in C.iter_members(archive) if m.is_image), archive)
    missing = sorted(set(partition) - set(images))
    if missing:
        raise C.DataScriptError(
            f"{len(missing):,} images listed in {partition_path} are not in {archive} (first: "
            f"{', '.join(missing[:5])}). Use the archive and partition file from the same "
            f"release.")
    job.log(f"extracting {len(images):,} images from {archive} ...")
    folder = job.out / "img_align_celeba"
    written = 0
    # Stream the archive again in its own order (tar members can only be read in order).
    for member in C.iter_members(archive):
        if member.is_image:
            written += C.write_member(member, folder / member.basename)
    C.write_bytes_atomic(job.out / "list_eval_partition.txt", Path(partition_path).read_bytes())
    counts = {"images": len(images)}
    for code, name in SPLIT_NAMES.items():
        counts[name] = sum(1 for v in partition.values() if v == code)
    extra = len(images) - len(partition)
    if extra:
        counts["not_in_partition"] = extra
    job.log(f"wrote {written:,} new images ({len(images) - written:,} were already complete); "
            f"split: {counts['train']:,} train / {counts['val']:,} val / {counts['test']:,} test")
    if counts["images"] != OFFICIAL["images"]:
        job.log(f"note: the official release has {OFFICIAL['images']:,} images "
                f"({OFFICIAL['train']:,} / {OFFICIAL['val']:,} / {OFFICIAL['test']:,}); this copy "
                f"has {counts['images']:,}.")
    return {"files": len(images), "counts": counts}


DATASET = C.Dataset(
    name="celeba", dirname="celeba", module="celeba",
    title="CelebA aligned & cropped faces with the official train/val/test partition",
    description=("Needs img_align_celeba.zip and list_eval_partition.txt from " + PAGE +
                 " (Google Drive; download by hand)."),
    layout=LAYOUT, produces=("img_align_celeba", "list_eval_partition.txt"), sources=SOURCES,
    prepare=prepare, options=lambda args: {})


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
