"""Prepare CUFSF (CUHK Face Sketch FERET) photo/sketch pairs: 250 train / 944 test.

Taught in the intro chapter ("What is inpainting?", section on data) and used by the sketch
synthesis (SC-Lmser) chapter. Same machinery and layout as :mod:`data_scripts.cufs`, under
``<root>/cufsf/``; see that module for pairing and split rules. Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts import _common as C  # noqa: E402
from data_scripts.cufs import make_dataset  # noqa: E402

DATASET = make_dataset("cufsf")


def main(argv=None) -> int:
    """Command-line entry point for CUFSF; returns the exit code."""
    return C.run(DATASET, argv)


if __name__ == "__main__":
    sys.exit(main())
