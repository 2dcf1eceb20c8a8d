"""Dispatcher: ``python data_scripts/prepare.py DATASET [options]`` or ``prepare.py --list``.

Taught in the intro chapter ("What is inpainting?", section on data). ``--list`` prints every
dataset, the command that prepares it and the layout it produces under the data root; any other
first argument names the dataset script to run with the remaining arguments
(``prepare.py celeba --archive img_align_celeba.zip`` runs ``celeba.py --archive ...``).
Standard library only.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402

DATASETS = ("celeba", "celeba_hq", "places2", "nvidia_masks", "cufs", "cufsf")
ALIASES = {"celebahq": "celeba_hq", "celeba-hq": "celeba_hq", "places": "places2",
           "places365": "places2", "masks": "nvidia_masks", "nvidia-masks": "nvidia_masks",
           "irregular_masks": "nvidia_masks"}
USAGE = "usage: python data_scripts/prepare.py (--list | DATASET [options])"


def load(name: str):
    """The ``DATASET`` spec of dataset ``name`` (aliases and dashes accepted)."""
    key = ALIASES.get(name.lower(), name.lower().replace("-", "_"))
    if key not in DATASETS:
        raise KeyError(name)
    return importlib.import_module(f"data_scripts.{key}").DATASET


def listing() -> str:
    """The text printed by ``--list``: each dataset, its command and its layout."""
    root = C.default_root()
    out = [f"Datasets (data root: {root}; set ${C.DATA_ENV} or pass --root):", ""]
    for name in DATASETS:
        spec = load(name)
        out.append(f"{name}: {spec.title}")
        out.append(f"  command: python data_scripts/prepare.py {name} [--root DIR] ...  "
                   f"(same as python data_scripts/{name}.py)")
        out.append(textwrap.indent(spec.layout, "    "))
        out.append("")
    out.append("Run 'python data_scripts/prepare.py DATASET --help' for a dataset's options; "
               "data_scripts/README.md gives sources and terms.")
    return "\n".join(out)


def main(argv=None) -> int:
    """Entry point; returns the exit code (2 for an unknown dataset or missing argument)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        print(__doc__.split("\n\n", 1)[1].strip() if argv else "")
        print("datasets: " + ", ".join(DATASETS))
        return 0 if argv else 2
    if argv[0] == "--list":
        print(listing())
        return 0
    try:
        spec = load(argv[0])
    except KeyError:
        print(f"{USAGE}\nerror: unknown dataset {argv[0]!r}; choose one of "
              f"{', '.join(DATASETS)} (or --list).", file=sys.stderr)
        return 2
    return C.run(spec, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
