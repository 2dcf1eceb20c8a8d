"""Where real data sets live on disk.

Taught in the intro chapter's set-up appendix (getting the real data sets).

The scripts in ``data_scripts/`` download and prepare CelebA, CelebA-HQ, Places2 and
the mask sets under one folder, :func:`data_root`: ``$INPAINTLIB_DATA`` when it is
set, else ``data/`` at the top of the repository (next to ``inpaintlib/``).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["checkpoint_root", "data_root", "repo_root"]


def repo_root() -> Path:
    """The repository root: the folder that contains the ``inpaintlib`` package."""
    return Path(__file__).resolve().parent.parent.parent


def data_root() -> Path:
    """The folder holding real data sets: ``$INPAINTLIB_DATA`` if set, else ``<repo>/data``.

    The folder is not created and need not exist; readers report missing files
    themselves. ``~`` in the variable is expanded.
    """
    env = os.environ.get("INPAINTLIB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return repo_root() / "data"


def checkpoint_root() -> Path:
    """Where training cells keep their checkpoints: ``$INPAINTLIB_CHECKPOINTS`` if set,
    else ``<repo>/checkpoints``.

    A chapter's load-or-train cell looks here first, so a model trained once (on a
    GPU, say) is reused by every later run of the chapter; delete a folder to retrain.
    """
    env = os.environ.get("INPAINTLIB_CHECKPOINTS", "").strip()
    if env:
        return Path(env).expanduser()
    return repo_root() / "checkpoints"
