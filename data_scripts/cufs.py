"""Prepare the CUHK face-sketch datasets CUFS and CUFSF as photo/sketch pairs for ``inpaintlib``.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the sketch
synthesis (SC-Lmser) chapter, whose default data is a photo → pencil-sketch proxy made from the
sample bank.

Layout produced under the data root (``cufsf/`` has the same shape)::

    cufs/photos/<name>.<ext>
    cufs/sketches/<name>.<ext>
    cufs/train.txt        lines "photos/<name>.<ext> sketches/<name>.<ext>"
    cufs/test.txt

Splits as SC-Lmser (methods.md §2.4): CUFS (CUHK student + AR + XM2VTS) 268 train / 338 test,
CUFSF 250 train / 944 test.

Sources: the CUHK pages (http://mmlab.ie.cuhk.edu.hk/archive/facesketch.html for CUFS,
http://mmlab.ie.cuhk.edu.hk/archive/cufsf/ for CUFSF) give the sketches; some photos (AR, XM2VTS,
FERET for CUFSF) come from their own databases under their own terms. Everything is downloaded by
hand; pass each zip/tar with ``--archive`` (repeatable) or extracted folders with ``--source-dir``.

Pairing: a file is a *photo* or a *sketch* by the innermost of its file name, its folders and its
archive's name that says ``photo(s)`` or ``sketch(es)``; a photo and a sketch pair up when the
rest of their paths and their file names (case-insensitive, extension ignored) agree, e.g.
``CUHK/Training Photos/00.png`` with ``CUHK/Training Sketches/00.png``. Unpaired files are
counted and reported.

The split, in order of preference: ``--split-dir`` holding the original project's lists
(``CUFS_train_photo_paths.txt``, ``CUFS_train_sketch_paths.txt``, ``CUFS_test_*`` and likewise
``CUFSF_*``; their absolute paths are matched to the archive by their last folders); else the
archive's own ``Training``/``Testing`` folders; else a seeded draw of 268 (250) train pairs from
the sorted names, or the same proportion for a copy of another size (``--train-count`` to set it).
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

VARIANTS = {
    "cufs": {"title": "CUFS (CUHK student + AR + XM2VTS) face photo/sketch pairs",
             "page": "http://mmlab.ie.cuhk.edu.hk/archive/facesketch.html",
             "total": 606, "train": 268, "test": 338, "prefix": "CUFS"},
    "cufsf": {"title": "CUFSF (FERET photos with viewed sketches) face photo/sketch pairs",
              "page": "http://mmlab.ie.cuhk.edu.hk/archive/cufsf/",
              "total": 1194, "train": 250, "test": 944, "prefix": "CUFSF"},
}
_WORD = re.compile(r"photos?|sketch(?:es)?", re.IGNORECASE)
_MARKERS = {"train": "train", "training": "train", "test": "test", "testing": "test"}


def _layout(variant: str) -> str:
    v = VARIANTS[variant]
    return (f"{variant}/photos/<name>.<ext>\n"
            f"{variant}/sketches/<name>.<ext>\n"
            f"{variant}/train.txt   'photos/<name>.<ext> sketches/<name>.<ext>' "
            f"({v['train']} pairs)\n"
            f"{variant}/test.txt    same format ({v['test']} pairs)")


@dataclass(frozen=True)
class FileRef:
    """One image found in a source: which ``source``, its ``member`` name, ``kind`` (photo or
    sketch), pairing ``key`` (tuple of normalised parts, file stem last) and extension."""

    source: Path
    member: str
    kind: str
    key: tuple
    ext: str


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def classify(parts: list) -> tuple:
    """``(kind, key)`` for a path split into ``[archive stem, *folders, file stem]``.

    The innermost part naming exactly one of photo/sketch decides the kind; that word is removed
    from it, every part is lower-cased with runs of other characters turned into ``_``, and empty
    parts are dropped. ``(None, None)`` when no part decides.
    """
    for i in range(len(parts) - 1, -1, -1):
        words = {"sketch" if w.lower().startswith("sketch") else "photo"
                 for w in _WORD.findall(parts[i])}
        if len(words) == 1:
            kind = words.pop()
            cleaned = list(parts)
            cleaned[i] = _WORD.sub(" ", parts[i])
            # A stem that was only the word ("001/photo.jpg") drops out: the folder names it.
            key = tuple(p for p in (_norm(c) for c in cleaned) if p)
            return (kind, key) if key else (None, None)
    return None, None


def scan(sources: list) -> tuple[dict, list]:
    """Classify every image of ``sources``; return ``(pairs, unpaired)`` where ``pairs`` maps
    key → ``{"photo": FileRef, "sketch": FileRef}`` and ``unpaired`` lists the FileRefs (and
    unclassified member names) left over."""
    found: dict = {}
    unclassified = []
    for source in sources:
        stem = source.name if source.is_dir() else re.sub(r"(\.tar)?\.[^.]+$", "", source.name)
        for member in C.iter_members(source):
            if not member.is_image:
                continue
            folders, fname = member.name.split("/")[:-1], member.basename
            kind, key = classify([stem, *folders, fname.rsplit(".", 1)[0]])
            if kind is None:
                unclassified.append(f"{source.name}:{member.name}")
                continue
            ref = FileRef(source, member.name, kind, key, member.ext)
            slot = found.setdefault(key, {})
            if kind in slot:
                raise C.DataScriptError(
                    f"Two {kind}s pair under the same name: {slot[kind].source.name}:"
                    f"{slot[kind].member} and {source.name}:{member.name}. Remove one of them.")
            slot[kind] = ref
    pairs = {k: v for k, v in found.items() if len(v) == 2}
    unpaired = [ref for v in found.values() if len(v) == 1 for ref in v.values()]
    return pairs, unpaired + unclassified


def _index(refs) -> dict:
    index: dict = {}
    for ref in refs:
        parts = [p.lower() for p in ref.member.split("/")]
        for k in range(1, len(parts) + 1):
            index.setdefault("/".join(parts[-k:]), []).append(ref)
    return index


def _resolve(path: str, index: dict, where: str) -> FileRef:
    parts = [p.lower() for p in path.replace("\\", "/").strip().split("/") if p]
    for k in range(len(parts), 0, -1):
        hits = index.get("/".join(parts[-k:]))
        if hits:
            if len(hits) > 1:
                raise C.DataScriptError(f"{where}: {path} matches several files ("
                                        f"{', '.join(h.member for h in hits[:3])}).")
            return hits[0]
    raise C.DataScriptError(f"{where}: {path} is not in the given archives.")


def read_split_dir(folder: Path, prefix: str, refs) -> dict:
    """Read the original project's lists ``<PREFIX>_<train|test>_<photo|sketch>_paths.txt`` from
    ``folder``; line i of the photo list pairs with line i of the sketch list. Returns
    ``{"train": [(photo, sketch), ...], "test": [...]}`` of FileRefs."""
    index = _index(refs)
    out = {}
    for split in ("train", "test"):
        lists = {}
        for kind in ("photo", "sketch"):
            path = Path(folder) / f"{prefix}_{split}_{kind}_paths.txt"
            if not path.is_file():
                raise C.DataScriptError(f"--split-dir {folder} has no {path.name}.")
            lines = [(n, line) for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
                     if line.strip()]
            lists[kind] = [_resolve(line, index, f"{path} line {n}") for n, line in lines]
        if len(lists["photo"]) != len(lists["sketch"]):
            raise C.DataScriptError(
                f"{folder}: {prefix}_{split}_photo_paths.txt has {len(lists['photo'])} lines but "
                f"{prefix}_{split}_sketch_paths.txt has {len(lists['sketch'])}.")
        out[split] = list(zip(lists["photo"], lists["sketch"]))
    return out


def _names(keys) -> dict:
    """Output name per key: its parts joined by ``_`` after dropping the folders all keys share."""
    keys = list(keys)
    common = 0
    if keys:
        shortest = min(len(k) for k in keys) - 1
        while common < shortest and len({k[common] for k in keys}) == 1:
            common += 1
    return {k: "_".join(k[common:]) for k in keys}


def _find_sources(job: C.Job, variant: str) -> list:
    args = job.args
    sources = [Path(p).expanduser() for p in (args.archive or []) + (args.source_dir or [])]
    if not sources:
        folder = job.download_dir / variant
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.is_dir():
                    sources.append(entry)
                elif entry.is_file():
                    try:
                        C.archive_kind(entry)
                    except C.DataScriptError:
                        continue  # not an archive: ignore stray files
                    sources.append(entry)
    if not sources:
        v = VARIANTS[variant]
        raise C.DataScriptError(
            f"No {v['prefix']} files given. The face-sketch data are downloaded by hand from "
            f"{v['page']} (some photo sets come from their own databases under their own terms). "
            f"Pass each zip or tar with --archive PATH (repeatable) or extracted folders with "
            f"--source-dir PATH, or put them in {job.download_dir / variant}, then run the same "
            f"command again.")
    for source in sources:
        if not source.exists():
            raise C.DataScriptError(f"{source}: no such file or folder.")
    return sources


def make_prepare(variant: str):
    """The ``prepare`` function of the CUFS or CUFSF dataset."""
    v = VARIANTS[variant]

    def prepare(job: C.Job) -> dict:
        args = job.args
        sources = _find_sources(job, variant)
        for source in sources:
            job.record("archive" if source.is_file() else "folder", source)
        pairs, unpaired = scan(sources)
        if unpaired:
            shown = ", ".join(r if isinstance(r, str) else f"{r.source.name}:{r.member}"
                              for r in unpaired[:5])
            job.log(f"note: {len(unpaired):,} images have no partner and are left out "
                    f"(first: {shown})")
        counts = {}
        if args.split_dir:
            refs = [ref for pair in pairs.values() for ref in pair.values()]
            refs += [r for r in unpaired if not isinstance(r, str)]
            listed = read_split_dir(args.split_dir, v["prefix"], refs)
            split_pairs = {s: [(p.key, p, k) for p, k in listed[s]] for s in listed}
            seen = [p.key for items in split_pairs.values() for p in (i[1] for i in items)]
            if len(set(seen)) != len(seen):
                raise C.DataScriptError(f"The lists in {args.split_dir} name some photo twice.")
            how = f"the lists in {args.split_dir}"
        else:
            marked = {}
            for key in pairs:
                tags = {_MARKERS[p] for p in key[:-1] if p in _MARKERS}
                if len(tags) != 1:
                    marked = None
                    break
                marked[key] = tags.pop()
            if marked:
                train_keys = {k for k, s in marked.items() if s == "train"}
                how = "the archive's Training/Testing folders"
            else:
                n_train = (args.train_count if args.train_count is not None
                           else C.split_count(len(pairs), v["total"], v["train"]))
                if not 0 <= n_train <= len(pairs):
                    raise C.DataScriptError(f"--train-count {n_train} is outside 0..{len(pairs)}.")
                ordered = sorted(pairs, key=lambda k: "/".join(k))
                train_keys = set(random.Random(args.seed).sample(ordered, n_train))
                how = (f"a draw with seed {args.seed} from the sorted names ({v['train']}/"
                       f"{v['test']} for the full {v['total']} pairs, the same proportion "
                       f"otherwise)")
            split_pairs = {"train": [], "test": []}
            for key, pair in pairs.items():
                split = "train" if key in train_keys else "test"
                split_pairs[split].append((key, pair["photo"], pair["sketch"]))
        if not any(split_pairs.values()):
            raise C.DataScriptError(
                f"No photo/sketch pairs found in {', '.join(str(s) for s in sources)}: files must "
                f"sit in folders (or archives) whose names say photo(s) or sketch(es), with "
                f"matching file names.")

        names = _names(key for items in split_pairs.values() for key, _, _ in items)
        plan = {}  # (source, member) -> destination
        lines = {"train": [], "test": []}
        for split, items in split_pairs.items():
            for key, photo, sketch in items:
                pname = f"photos/{names[key]}{photo.ext}"
                sname = f"sketches/{names[key]}{sketch.ext}"
                plan[(photo.source, photo.member)] = pname
                plan[(sketch.source, sketch.member)] = sname
                lines[split].append(f"{pname} {sname}")
            counts[split] = len(items)
        job.log(f"extracting {len(plan):,} files ...")
        for source in sources:
            for member in C.iter_members(source):
                dest = plan.get((source, member.name))
                if dest is not None:
                    C.write_member(member, job.out / dest)
        for split in ("train", "test"):
            C.write_lines(job.out / f"{split}.txt", sorted(lines[split]))
        job.log(f"split: {counts['train']:,} train / {counts['test']:,} test pairs, from {how}")
        total = counts["train"] + counts["test"]
        if (counts["train"], counts["test"]) != (v["train"], v["test"]):
            job.log(f"note: SC-Lmser's {v['prefix']} split is {v['train']}/{v['test']} of "
                    f"{v['total']} pairs; this copy gives {counts['train']}/{counts['test']}.")
        counts = {"pairs": total, **counts}
        if unpaired:
            counts["unpaired"] = len(unpaired)
        return {"files": 2 * total, "counts": counts}

    return prepare


def add_arguments(parser) -> None:
    """CUFS/CUFSF options: the archives, the split."""
    parser.add_argument("--archive", type=Path, action="append", default=None, metavar="PATH",
                        help="a zip or tar of photos and/or sketches (repeatable)")
    parser.add_argument("--source-dir", type=Path, action="append", default=None, metavar="PATH",
                        help="an already extracted folder (repeatable)")
    parser.add_argument("--split-dir", type=Path, default=None,
                        help="folder with the original <PREFIX>_<train|test>_<photo|sketch>_"
                             "paths.txt lists (SC-Lmser's data/ folder)")
    parser.add_argument("--train-count", type=int, default=None,
                        help="number of training pairs for the seeded split")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")


def options(args) -> dict:
    """The options that change the prepared layout (recorded in the stamp)."""
    return {"split_dir": str(args.split_dir) if args.split_dir else None,
            "train_count": args.train_count, "seed": args.seed}


def make_dataset(variant: str) -> C.Dataset:
    """The :class:`~data_scripts._common.Dataset` for ``"cufs"`` or ``"cufsf"``."""
    v = VARIANTS[variant]
    return C.Dataset(
        name=variant, dirname=variant, module=variant, title=v["title"],
        description=(f"Download the archives by hand from {v['page']} and pass them with "
                     f"--archive (repeatable) or --source-dir. Split {v['train']}/{v['test']} "
                     f"as SC-Lmser; --split-dir uses its original lists."),
        layout=_layout(variant), produces=("photos", "sketches", "train.txt", "test.txt"),
        sources=(), prepare=make_prepare(variant), options=options,
        add_arguments=add_arguments)


DATASET = make_dataset("cufs")


def main(argv=None) -> int:
    """Command-line entry point for CUFS; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
