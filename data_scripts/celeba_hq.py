"""Prepare CelebA-HQ at 256×256 with a deterministic train/test split for ``inpaintlib.data``.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the Lmser
(CLmser), partial-convolution and ID-MRF (GMCNN) chapters.

Layout produced under the data root::

    celeba_hq/images/<name>.jpg|png     30,000 faces, 256×256
    celeba_hq/train.txt                 one file name per line
    celeba_hq/test.txt

CelebA-HQ has no official 256-pixel download. Typical source: ``CelebAMask-HQ.zip`` (folder
``CelebA-HQ-img``: the 30,000 CelebA-HQ images at 1024 px) from
https://github.com/switchablenorms/CelebAMask-HQ, or any zip/tar/folder of CelebA-HQ images.
Images already ``--size`` pixels square are copied byte for byte; larger square images are resized
with Pillow (Lanczos) and saved as PNG. Pillow is needed only for that; ``--size 0`` keeps images
as they are, without Pillow.

The split: the CLmser paper (methods.md §1.4) split CelebA-HQ at random into train/test; its
README literally says "2,700/3,000", which for 30,000 images is most plausibly 27,000/3,000 (a
typo). Its list files were never published, so by default this script draws the 3,000 test images
(``--test-fraction 0.1``) with ``random.Random(seed)`` from the sorted names: the same on every
machine. ``--split-file`` supplies a split instead.
"""

from __future__ import annotations

import io
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

PAGE = "https://github.com/switchablenorms/CelebAMask-HQ"
OFFICIAL_TOTAL = 30_000
OFFICIAL_TEST = 3_000
DEFAULT_SUBFOLDER = "CelebA-HQ-img"

LAYOUT = """\
celeba_hq/images/<name>.jpg|png   256x256 faces (30,000 in the full set)
celeba_hq/train.txt               one file name per line (27,000 by default)
celeba_hq/test.txt                one file name per line (3,000 by default)"""

SOURCES = (
    C.Source("archive", "CelebAMask-HQ.zip", None,
             PAGE + " (CelebAMask-HQ.zip; its folder CelebA-HQ-img holds the 30,000 images), or "
                    "any zip, tar or folder of CelebA-HQ images",
             "--archive", "--url", help=" (a zip, a tar or a folder of CelebA-HQ images)",
             no_url_reason="CelebA-HQ has no official 256-pixel download (the CLmser authors' "
                           "copy is linked by a placeholder only)."),
)


def split_names(names, test_count=None, test_fraction=0.1, seed=0):
    """Split ``names`` into sorted ``(train, test)`` lists, deterministically.

    ``test_count`` images (default ``round(len(names) * test_fraction)``; 3,000 of 30,000) are
    drawn with ``random.Random(seed).sample`` from the sorted names; the rest are train.
    """
    names = sorted(set(names))
    if test_count is None:
        test_count = int(round(len(names) * test_fraction))
    if not 0 <= test_count <= len(names):
        raise C.DataScriptError(f"--test-count {test_count} is outside 0..{len(names)} (the number "
                                f"of images).")
    test = set(random.Random(seed).sample(names, test_count))
    return [n for n in names if n not in test], sorted(test)


def read_split_file(path: Path, names) -> tuple[list, list, int]:
    """Read a supplied split and match it to ``names`` by stem (the extension may have changed
    to .png). ``path`` is a file of ``<name> train|test`` lines, or a folder holding ``train.txt``
    and ``test.txt`` (one name per line). Returns ``(train, test, unlisted_count)``."""
    by_stem = {}
    for name in names:
        by_stem[os.path.splitext(name)[0]] = name
    entries = []  # (file, line number, name, split)
    path = Path(path)
    if path.is_dir():
        for split in ("train", "test"):
            listing = path / f"{split}.txt"
            if not listing.is_file():
                raise C.DataScriptError(f"--split-file folder {path} has no {split}.txt.")
            for number, line in enumerate(listing.read_text("utf-8").splitlines(), 1):
                if line.strip():
                    entries.append((listing, number, line.split()[0], split))
    elif path.is_file():
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("train", "test"):
                raise C.DataScriptError(
                    f"{path} line {number}: expected '<name> train|test', got {line.strip()!r}.")
            entries.append((path, number, parts[0], parts[1]))
    else:
        raise C.DataScriptError(f"--split-file {path}: no such file or folder.")
    split_of = {}
    for listing, number, name, split in entries:
        stem = os.path.splitext(os.path.basename(name))[0]
        if stem not in by_stem:
            raise C.DataScriptError(f"{listing} line {number}: {name} is not among the images.")
        if by_stem[stem] in split_of:
            raise C.DataScriptError(f"{listing} line {number}: {name} is listed twice.")
        split_of[by_stem[stem]] = split
    if not split_of:
        raise C.DataScriptError(f"The split file {path} lists no images.")
    train = sorted(n for n, s in split_of.items() if s == "train")
    test = sorted(n for n, s in split_of.items() if s == "test")
    return train, test, len(set(names) - set(split_of))


def _convert(data: bytes, name: str, size: int, folder: str) -> str:
    """Write one image into ``folder``: bytes as they are when already ``size`` square, else a
    Lanczos-resized RGB PNG. Returns the output file name. Runs in worker processes."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.size == (size, size):
                C.write_bytes_atomic(Path(folder) / name, data)
                return name
            if img.width != img.height:
                raise C.DataScriptError(
                    f"{name} is {img.width}x{img.height}, not square: this does not look like "
                    f"CelebA-HQ. Pass --size 0 to keep images as they are.")
            out_name = os.path.splitext(name)[0] + ".png"
            small = img.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            small.save(buffer, format="PNG")
            C.write_bytes_atomic(Path(folder) / out_name, buffer.getvalue())
            return out_name
    except OSError as exc:
        raise C.DataScriptError(f"{name} is not a readable image ({exc}).") from None


def prepare(job: C.Job) -> dict:
    """Copy or resize the images, then write the split lists."""
    args = job.args
    if args.size:
        try:
            import PIL.Image  # noqa: F401
        except ImportError:
            raise C.DataScriptError(
                "Pillow is needed to check and resize CelebA-HQ to --size pixels "
                "(pip install pillow), or pass --size 0 to keep the images as they are.") from None
    source = job.obtain(SOURCES[0])
    members = [m for m in C.iter_members(source) if m.is_image]
    subfolder = args.subfolder
    if subfolder is None and any(DEFAULT_SUBFOLDER in m.name.split("/")[:-1] for m in members):
        subfolder = DEFAULT_SUBFOLDER
    if subfolder:
        members = [m for m in members if subfolder in m.name.split("/")[:-1]]
        job.log(f"using the images under folder {subfolder!r} of {source}")
    by_name = C.unique_basenames(members, source)
    if not by_name:
        raise C.DataScriptError(f"No images found in {source}" +
                                (f" under a folder named {subfolder!r}." if subfolder else "."))
    folder = job.out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    job.log(f"preparing {len(by_name):,} images from {source} "
            f"({'resizing to ' + str(args.size) + ' px' if args.size else 'kept as they are'})")

    outputs: dict[str, str] = {}  # input name -> output name
    workers = max(1, args.workers)
    pool = ProcessPoolExecutor(workers) if workers > 1 and args.size else None
    pending = []
    try:
        for member in C.iter_members(source):
            chosen = by_name.get(member.basename)
            if chosen is None or chosen.name != member.name:
                continue
            name = member.basename
            png = os.path.splitext(name)[0] + ".png"
            done = [n for n in (name, png) if (folder / n).is_file()]
            if done:
                outputs[name] = done[0]
                continue
            if not args.size:
                C.write_member(member, folder / name)
                outputs[name] = name
                continue
            with member.open() as fh:
                data = fh.read()
            if pool is None:
                outputs[name] = _convert(data, name, args.size, str(folder))
            else:
                pending.append((name, pool.submit(_convert, data, name, args.size, str(folder))))
                if len(pending) >= 4 * workers:
                    done_name, future = pending.pop(0)
                    outputs[done_name] = future.result()
        for done_name, future in pending:
            outputs[done_name] = future.result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    names = sorted(outputs.values())
    if len(set(names)) != len(names):
        raise C.DataScriptError(f"Two images of {source} map to the same output name (e.g. a.jpg "
                                f"and a.png both resized to a.png); rename them first.")
    unlisted = 0
    if args.split_file:
        train, test, unlisted = read_split_file(args.split_file, names)
        how = f"from {args.split_file}"
    else:
        train, test = split_names(names, args.test_count, args.test_fraction, args.seed)
        how = (f"drawn with seed {args.seed} from the sorted names (CLmser's own list was never "
               f"published; its README says '2,700/3,000', most plausibly 27,000/3,000)")
    C.write_lines(job.out / "train.txt", train)
    C.write_lines(job.out / "test.txt", test)
    job.log(f"split: {len(train):,} train / {len(test):,} test, {how}")
    if unlisted:
        job.log(f"note: {unlisted:,} images are in neither list of the split file")
    if len(names) != OFFICIAL_TOTAL:
        job.log(f"note: the full CelebA-HQ has {OFFICIAL_TOTAL:,} images; this copy has "
                f"{len(names):,}.")
    counts = {"images": len(names), "train": len(train), "test": len(test)}
    if unlisted:
        counts["unlisted"] = unlisted
    return {"files": len(names), "counts": counts}


def add_arguments(parser) -> None:
    """CelebA-HQ options: output size, split and worker processes."""
    parser.add_argument("--size", type=int, default=256,
                        help="output side in pixels (default 256); 0 keeps images unchanged")
    parser.add_argument("--subfolder", default=None,
                        help=f"only take images inside a folder of this name (default: "
                             f"{DEFAULT_SUBFOLDER} when the archive has one, else all images)")
    parser.add_argument("--split-file", type=Path, default=None,
                        help="use this split: a file of '<name> train|test' lines, or a folder "
                             "with train.txt and test.txt")
    parser.add_argument("--test-fraction", type=float, default=OFFICIAL_TEST / OFFICIAL_TOTAL,
                        help="test share when no --split-file (default 0.1: 3,000 of 30,000)")
    parser.add_argument("--test-count", type=int, default=None,
                        help="exact number of test images (overrides --test-fraction)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes used for resizing (default: all cores)")


def options(args) -> dict:
    """The options that change the prepared layout (recorded in the stamp)."""
    return {"size": args.size, "subfolder": args.subfolder,
            "split_file": str(args.split_file) if args.split_file else None,
            "test_fraction": args.test_fraction, "test_count": args.test_count,
            "seed": args.seed}


DATASET = C.Dataset(
    name="celeba_hq", dirname="celeba_hq", module="celeba_hq",
    title="CelebA-HQ at 256x256 with a deterministic 27,000/3,000 train/test split",
    description=("No official 256 px download exists: pass --archive with CelebAMask-HQ.zip "
                 "(from " + PAGE + ") or any zip/tar/folder of CelebA-HQ images. CLmser's README "
                 "says '2,700/3,000' (a typo for 27,000/3,000): the default split draws 10% of the "
                 "test images with a fixed seed."),
    layout=LAYOUT, produces=("images", "train.txt", "test.txt"), sources=SOURCES,
    prepare=prepare, options=options, add_arguments=add_arguments)


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
