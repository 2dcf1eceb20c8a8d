"""Prepare a deterministic subset of Places2 (Places365-Standard, 256×256) for ``inpaintlib.data``.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the Lmser
(CLmser), partial-convolution, ID-MRF and dual-stream chapters.

Layout produced under the data root::

    places2/data_256/<letter>/<category>/<8 digits>.jpg     selected training images
    places2/val_256/Places365_val_<8 digits>.jpg            selected validation images
    places2/test_256/Places365_test_<8 digits>.jpg          selected test images
    places2/train.txt | val.txt | test.txt                  "<relative path> [<label>]" per line
    places2/categories_places365.txt                        label names (when in the file list)

Sources (official site http://places2.csail.mit.edu/download.html, files under
http://data.csail.mit.edu/places/places365/): ``filelist_places365-standard.tar`` (the image
lists), ``train_256_places365standard.tar``, ``val_256.tar``, ``test_256.tar``.

CLmser trained on 1/10 of Places365-Standard train (about 180,000 of 1,803,460 images) and tested
on 10,000 random test images; its lists were never published. The defaults rebuild such a subset
deterministically: ``--train-fraction 0.1 --test-count 10000 --seed 0`` (``--train-count 180000``
gives exactly 180,000). Only the listed files are extracted, streaming each tar once.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

BASE_URL = "http://data.csail.mit.edu/places/places365/"
PAGE = "http://places2.csail.mit.edu/download.html"
SPLITS = ("train", "val", "test")
OUT_DIR = {"train": "data_256", "val": "val_256", "test": "test_256"}
LIST_FILE = {"train": "places365_train_standard.txt", "val": "places365_val.txt",
             "test": "places365_test.txt"}
OFFICIAL = {"train": 1_803_460, "val": 36_500, "test": 328_500}

LAYOUT = """\
places2/data_256/<letter>/<category>/<8 digits>.jpg   selected training images
places2/val_256/Places365_val_<8 digits>.jpg          selected validation images (--splits)
places2/test_256/Places365_test_<8 digits>.jpg        selected test images
places2/train.txt, val.txt, test.txt                  '<relative path> [<label>]' per line
places2/categories_places365.txt                      label names"""


def _source(key: str, filename: str, flag: str) -> C.Source:
    return C.Source(key, filename, BASE_URL + filename, PAGE + f" (file {filename})", flag,
                    flag.replace("-archive", "") + "-url" if "archive" in flag else flag + "-url")


SOURCES = (
    _source("filelist", "filelist_places365-standard.tar", "--filelist"),
    _source("train", "train_256_places365standard.tar", "--train-archive"),
    _source("val", "val_256.tar", "--val-archive"),
    _source("test", "test_256.tar", "--test-archive"),
)
SOURCE = {s.key: s for s in SOURCES}


def parse_list(text: str, where: str) -> list[tuple[str, str | None]]:
    """Parse a Places365 list (``/a/abbey/00000001.jpg 0`` or ``Places365_test_00000001.jpg``)
    into ``[(relative path, label or None)]``; errors name ``where`` and the line."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise C.DataScriptError(f"{where} line {number}: expected '<path> [<label>]', got "
                                    f"{line.strip()!r}.")
        entries.append((parts[0].lstrip("/"), parts[1] if len(parts) == 2 else None))
    return entries


def select(entries: list, count: int | None, seed: int, split: str) -> list:
    """Pick ``count`` entries (all when None) with ``random.Random(f"{seed}:{split}")``, keeping
    the list order. Deterministic on every machine and Python version."""
    if count is None or count == len(entries):
        return list(entries)
    if not 0 <= count <= len(entries):
        raise C.DataScriptError(f"Asked for {count:,} {split} images but the {split} list has "
                                f"{len(entries):,}.")
    chosen = sorted(random.Random(f"{seed}:{split}").sample(range(len(entries)), count))
    return [entries[i] for i in chosen]


def _strip_top(name: str, split: str) -> str:
    """Drop the archive's top folder (``data_256/``, ``val_256/``, ``test_256/``) if present."""
    top, sep, rest = name.partition("/")
    return rest if sep and top in (OUT_DIR[split], "data_256", "val_256", "test_256") else name


def _suffixes(name: str):
    parts = name.split("/")
    for i in range(len(parts)):
        yield "/".join(parts[i:])


def prepare(job: C.Job) -> dict:
    """Read the lists, choose the subset, extract only the chosen files, write the list files."""
    args = job.args
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise C.DataScriptError(f"--splits {args.splits!r}: choose among train, val, test.")
    filelist = job.obtain(SOURCE["filelist"])
    lists, categories = {}, None
    for member in C.iter_members(filelist):
        for split, fname in LIST_FILE.items():
            if member.basename == fname:
                with member.open() as fh:
                    lists[split] = parse_list(fh.read().decode("utf-8"), f"{filelist}:{fname}")
        if member.basename == "categories_places365.txt":
            with member.open() as fh:
                categories = fh.read()
    if categories is not None:
        C.write_bytes_atomic(job.out / "categories_places365.txt", categories)

    counts, files = {}, 0
    for split in splits:
        archive = job.obtain(SOURCE[split])
        entries = lists.get(split)
        if entries is None:
            job.log(f"{filelist} has no {LIST_FILE[split]}; listing the images of {archive} "
                    f"instead (one extra pass over the archive)")
            keys = {_strip_top(m.name, split) for m in C.iter_members(archive) if m.is_image}
            entries = [(key, None) for key in sorted(keys)]
        if not entries:
            raise C.DataScriptError(f"The {split} list is empty.")
        want = {"train": args.train_count if args.train_count is not None
                else int(round(len(entries) * args.train_fraction)),
                "val": args.val_count, "test": args.test_count}[split]
        chosen = select(entries, want, args.seed, split)
        wanted = {path for path, _ in chosen}
        job.log(f"{split}: extracting {len(chosen):,} of {len(entries):,} images from {archive}")
        found = set()
        for member in C.iter_members(archive):
            if not member.is_image:
                continue
            key = next((s for s in _suffixes(member.name) if s in wanted), None)
            if key is None or key in found:
                continue
            C.write_member(member, job.out / OUT_DIR[split] / key)
            found.add(key)
        missing = sorted(wanted - found)
        if missing:
            raise C.DataScriptError(
                f"{len(missing):,} listed {split} images are not in {archive} (first: "
                f"{', '.join(missing[:3])}). Use the archive and file list of the same release.")
        lines = [f"{OUT_DIR[split]}/{path}" + (f" {label}" if label is not None else "")
                 for path, label in chosen]
        C.write_lines(job.out / f"{split}.txt", lines)
        counts[split] = len(chosen)
        files += len(chosen)
        if len(entries) != OFFICIAL[split]:
            job.log(f"note: the official {split} list has {OFFICIAL[split]:,} images; this one "
                    f"has {len(entries):,}.")
    return {"files": files, "counts": counts}


def add_arguments(parser) -> None:
    """Places2 options: which splits, how big a subset, the seed."""
    parser.add_argument("--splits", default="train,test",
                        help="comma-separated splits to prepare (default train,test; add val)")
    parser.add_argument("--train-fraction", type=float, default=0.1,
                        help="share of the train list kept (default 0.1, CLmser's 1/10)")
    parser.add_argument("--train-count", type=int, default=None,
                        help="exact number of training images (overrides --train-fraction)")
    parser.add_argument("--val-count", type=int, default=None,
                        help="number of validation images (default: all 36,500)")
    parser.add_argument("--test-count", type=int, default=10_000,
                        help="number of random test images (default 10,000, as CLmser)")
    parser.add_argument("--seed", type=int, default=0, help="subset seed (default 0)")


def options(args) -> dict:
    """The options that change the prepared layout (recorded in the stamp)."""
    return {"splits": args.splits, "train_fraction": args.train_fraction,
            "train_count": args.train_count, "val_count": args.val_count,
            "test_count": args.test_count, "seed": args.seed}


DATASET = C.Dataset(
    name="places2", dirname="places2", module="places2",
    title="Places2 (Places365-Standard 256x256): a deterministic subset with list files",
    description=("Downloads from " + BASE_URL + " (or pass the archives you have). Default "
                 "subset as CLmser: 1/10 of train, 10,000 random test images, seed 0."),
    layout=LAYOUT,
    produces=("data_256", "val_256", "test_256", "train.txt", "val.txt", "test.txt",
              "categories_places365.txt"),
    sources=SOURCES, prepare=prepare, options=options, add_arguments=add_arguments)


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
