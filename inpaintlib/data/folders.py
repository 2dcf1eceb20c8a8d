"""A folder of your own photos as a data set.

Taught in the intro chapter ("What is inpainting?", bringing your own images) and
used by the workshop guide.

:class:`ImageFolder` finds every image file under a folder (optionally recursively),
sorts them by relative path so the order is the same on every machine, and returns
``3×H×W`` float tensors in ``[0, 1]``, optionally resized and cropped to a square.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from . import _rng
from .transforms import center_crop, load_image, random_crop, resize

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "list_images"]

#: File endings :class:`ImageFolder` treats as images (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _normalise_extensions(extensions: Sequence[str]) -> tuple:
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(("." + e.lstrip(".")).lower() for e in extensions)
    if not exts:
        raise ValueError("extensions is empty")
    return exts


def list_images(
    root: Union[str, os.PathLike],
    recursive: bool = True,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> List[Path]:
    """Image files under ``root``, sorted by their path relative to ``root``.

    Files and folders whose names start with ``.`` (hidden files, macOS ``._*``
    resource forks) are ignored. A missing ``root`` raises :class:`FileNotFoundError`.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    exts = _normalise_extensions(extensions)
    found: List[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, root)
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(exts):
                found.append(f if rel == "." else Path(rel, f).as_posix())
        if not recursive:
            break
    return [root / r for r in sorted(found)]


def _readable_header(path: Path) -> Optional[str]:
    """``None`` if Pillow recognises the file's header, else the reason it does not."""
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018  (the header is parsed on open)
    except Exception as e:  # noqa: BLE001 - any failure means "unreadable"
        return f"{type(e).__name__}: {e}"
    return None


class ImageFolder(Dataset):
    """Every image under ``root`` as a ``3×H×W`` float tensor in ``[0, 1]``.

    Args:
        root: the folder.
        size: if given, resize the **shorter side** to ``size`` (bilinear,
            anti-aliased) and then crop as ``crop`` says.
        crop: ``"center"`` (default) or ``"random"`` for a ``size×size`` square;
            ``None`` keeps the resized image's aspect ratio. Ignored without ``size``.
        recursive: also look in sub-folders.
        on_error: ``"raise"`` (default) — an unreadable file raises
            :class:`ValueError` naming it when it is read; ``"skip"`` — files whose
            header Pillow cannot parse are dropped when the data set is built, and a
            file that fails later (e.g. truncated) is replaced by the next readable
            file in order; each skipped file gives one ``warnings.warn`` naming it.
        extensions: file endings to include (case-insensitive).
        seed: seeds random crops: item ``index`` of epoch ``e`` uses a generator
            seeded by ``(seed, e, index)`` (see :meth:`set_epoch`).

    An empty folder (no file with one of ``extensions``) raises :class:`ValueError`
    naming the folder. ``paths`` lists the files in item order.
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        size: Optional[int] = None,
        crop: Optional[str] = "center",
        recursive: bool = True,
        on_error: str = "raise",
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        seed: int = 0,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if crop not in ("center", "random", None):
            raise ValueError(f"crop must be 'center', 'random' or None, got {crop!r}")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0
        ):
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        self.root = Path(root)
        self.size = None if size is None else int(size)
        self.crop = crop
        self.on_error = on_error
        self.extensions = _normalise_extensions(extensions)
        self.seed = _rng.check_seed(seed)
        self.epoch = 0
        paths = list_images(self.root, recursive=recursive, extensions=self.extensions)
        if not paths:
            where = "under" if recursive else "directly in"
            raise ValueError(
                f"no images found {where} {self.root} (looked for {', '.join(self.extensions)})"
            )
        if on_error == "skip":
            kept = []
            for p in paths:
                reason = _readable_header(p)
                if reason is None:
                    kept.append(p)
                else:
                    warnings.warn(f"skipping unreadable image {p}: {reason}", stacklevel=2)
            if not kept:
                raise ValueError(f"no readable images in {self.root}: all {len(paths)} files failed")
            paths = kept
        self.paths: List[Path] = paths
        self._bad: set = set()

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Use the random crops of ``epoch`` from now on."""
        self.epoch = _rng.check_seed(epoch, "epoch")

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self.paths)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for an ImageFolder of {n} images")
        if self.on_error == "raise":
            return self._transform(load_image(self.paths[index]), index)
        for k in range(n):
            i = (index + k) % n
            if i in self._bad:
                continue
            try:
                img = load_image(self.paths[i])
            except (OSError, ValueError) as e:
                self._bad.add(i)
                warnings.warn(f"skipping unreadable image {self.paths[i]}: {e}", stacklevel=2)
                continue
            return self._transform(img, index)
        raise ValueError(f"no readable images left in {self.root}")

    def _transform(self, img: torch.Tensor, index: int) -> torch.Tensor:
        if self.size is None:
            return img
        img = resize(img, self.size)
        if self.crop == "center":
            img = center_crop(img, self.size)
        elif self.crop == "random":
            img = random_crop(img, self.size, _rng.generator(self.seed, self.epoch, index))
        return img.contiguous()

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}, {len(self)} images, size={self.size}, crop={self.crop!r})"
