"""Readers for the real inpainting data sets: CelebA, CelebA-HQ and Places2.

Taught in the workshop guide (training at 256 px on real data) and used by every
method chapter under the ``workshop`` and ``paper`` profiles.

The files themselves are fetched and laid out by the scripts in ``data_scripts/``
under :func:`~inpaintlib.data.paths.data_root`; these classes only read them. Each
reader is a ``torch`` Dataset of ``3×size×size`` float tensors in ``[0, 1]``.

=========  ========================================================  ==============================
reader     layout under ``root``                                     crop
=========  ========================================================  ==============================
CelebA     ``img_align_celeba/*.jpg``, ``list_eval_partition.txt``   centre 178×178, then resize
           (lines ``000001.jpg 0``; 0 train, 1 val, 2 test)          to ``size`` (CTSDG, MindSpore)
CelebA-HQ  ``images/<name>``, ``train.txt`` / ``test.txt``           resize to ``size×size``
           (one file name per line)
Places2    any tree; a list file of relative paths, each             train: random-resized crop;
           optionally followed by a label (``/a/abbey/0001.jpg 0``)  test: resize to ``size×size``
=========  ========================================================  ==============================

Every listed file is checked when the data set is built (one directory listing per
folder, so this is fast even for Places2): a missing file is reported with the list
file and line number that name it. A missing list file or folder is reported with
the script in ``data_scripts/`` that prepares it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from . import _rng
from .paths import data_root
from .transforms import center_crop as _center_crop
from .transforms import load_image, random_resized_crop, resize

__all__ = ["CelebA", "CelebAHQ", "Places2", "read_list_file"]

PathLike = Union[str, "os.PathLike[str]"]


_HOW = {
    # CelebA and CelebA-HQ have no direct download: the script reads files the user fetched by hand
    "celeba.py": "to prepare it from img_align_celeba.zip and list_eval_partition.txt downloaded by hand "
                 "(see `python data_scripts/celeba.py --help`)",
    "celeba_hq.py": "to prepare it from a folder or archive of CelebA-HQ images you have "
                    "(see `python data_scripts/celeba_hq.py --help`)",
}


def _hint(script: str) -> str:
    return f"run `python data_scripts/{script}` " + _HOW.get(script, "to download and prepare it")


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
    return int(size)


def read_list_file(path: PathLike, hint: str = "") -> List[Tuple[int, List[str]]]:
    """``[(line_number, tokens)]`` for every non-blank line of a text list file.

    Line numbers start at 1; lines starting with ``#`` are comments. A missing file
    raises :class:`FileNotFoundError` naming it (followed by ``hint``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file missing: {path}" + (f"; {hint}" if hint else ""))
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                out.append((number, stripped.split()))
    return out


class _ListedImages(Dataset):
    """Images named by the lines of a list file: ``entries[i] = (path, line_number)``."""

    script = ""

    def __init__(self, list_file: Path, entries: List[Tuple[Path, int]], check_files: bool) -> None:
        if not entries:
            raise ValueError(f"{list_file} lists no images for this split")
        self.list_file = Path(list_file)
        self.paths: List[Path] = [p for p, _ in entries]
        self.lines: List[int] = [n for _, n in entries]
        if check_files:
            self._check_files()

    def _check_files(self) -> None:
        listing: Dict[Path, Optional[Set[str]]] = {}
        missing = []
        for p, n in zip(self.paths, self.lines):
            parent = p.parent
            if parent not in listing:
                listing[parent] = set(os.listdir(parent)) if parent.is_dir() else None
            names = listing[parent]
            if names is None or p.name not in names:
                missing.append((p, n))
        if missing:
            p, n = missing[0]
            raise FileNotFoundError(
                f"{len(missing)} of {len(self.paths)} images listed in {self.list_file} are missing; "
                f"the first is {p} (line {n} of {self.list_file}). {_hint(self.script)}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    def _index(self, index: int) -> int:
        n = len(self.paths)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {n} images")
        return index

    def _load(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        if not path.exists():
            raise FileNotFoundError(
                f"image {path} (line {self.lines[index]} of {self.list_file}) does not exist"
            )
        return load_image(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, {self.size}px, from {self.list_file})"


class CelebA(_ListedImages):
    """CelebA (aligned & cropped, 178×218 faces) as ``3×size×size`` crops.

    Layout under ``root`` (default ``data_root()/"celeba"``)::

        img_align_celeba/000001.jpg ...
        list_eval_partition.txt        # "000001.jpg 0": 0 train, 1 val, 2 test

    Each image is centre-cropped to ``center_crop``×``center_crop`` (178: the face
    square, as in the CTSDG MindSpore loader) and resized to ``size`` (bilinear,
    anti-aliased). ``center_crop=None`` resizes the whole image to ``size×size``.
    ``split`` is ``"train"``, ``"val"`` or ``"test"``.
    """

    script = "celeba.py"
    PARTITIONS = {"train": 0, "val": 1, "test": 2}

    def __init__(
        self,
        root: Optional[PathLike] = None,
        split: str = "train",
        size: int = 256,
        center_crop: Optional[int] = 178,
        check_files: bool = True,
    ) -> None:
        if split not in self.PARTITIONS:
            raise ValueError(f"unknown CelebA split {split!r}; choose one of train, val, test")
        self.root = Path(root) if root is not None else data_root() / "celeba"
        self.split = split
        self.size = _check_size(size)
        if center_crop is not None:
            center_crop = _check_size(center_crop)
        self.center_crop = center_crop
        if not self.root.is_dir():
            raise FileNotFoundError(f"CelebA folder not found: {self.root}; {_hint(self.script)}")
        images = self.root / "img_align_celeba"
        if not images.is_dir():
            raise FileNotFoundError(f"CelebA image folder missing: {images}; {_hint(self.script)}")
        partition = self.root / "list_eval_partition.txt"
        want = self.PARTITIONS[split]
        entries = []
        for number, tokens in read_list_file(partition, _hint(self.script)):
            if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
                raise ValueError(
                    f"{partition} line {number}: expected '<file> <0|1|2>', got {' '.join(tokens)!r}"
                )
            if int(tokens[1]) == want:
                entries.append((images / tokens[0], number))
        super().__init__(partition, entries, check_files)

    def __getitem__(self, index: int) -> torch.Tensor:
        index = self._index(index)
        img = self._load(index)
        if self.center_crop is not None:
            H, W = img.shape[-2:]
            if min(H, W) < self.center_crop:
                raise ValueError(
                    f"image {self.paths[index]} is {H}×{W}, smaller than the "
                    f"{self.center_crop}×{self.center_crop} centre crop"
                )
            img = _center_crop(img, self.center_crop)
        return resize(img, (self.size, self.size)).contiguous()


class CelebAHQ(_ListedImages):
    """CelebA-HQ (1024² faces) resized to ``3×size×size``.

    Layout under ``root`` (default ``data_root()/"celeba_hq"``)::

        images/<name> ...
        train.txt  test.txt            # one file name per line (val.txt optional)

    ``split_file`` (a path) replaces ``<root>/<split>.txt``.
    """

    script = "celeba_hq.py"

    def __init__(
        self,
        root: Optional[PathLike] = None,
        split: str = "train",
        size: int = 256,
        split_file: Optional[PathLike] = None,
        check_files: bool = True,
    ) -> None:
        if split_file is None and split not in ("train", "val", "test"):
            raise ValueError(f"unknown CelebA-HQ split {split!r}; choose one of train, val, test")
        self.root = Path(root) if root is not None else data_root() / "celeba_hq"
        self.split = split
        self.size = _check_size(size)
        if not self.root.is_dir():
            raise FileNotFoundError(f"CelebA-HQ folder not found: {self.root}; {_hint(self.script)}")
        images = self.root / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"CelebA-HQ image folder missing: {images}; {_hint(self.script)}")
        list_file = Path(split_file) if split_file is not None else self.root / f"{split}.txt"
        entries = [(images / tokens[0], number) for number, tokens in read_list_file(list_file, _hint(self.script))]
        super().__init__(list_file, entries, check_files)

    def __getitem__(self, index: int) -> torch.Tensor:
        index = self._index(index)
        return resize(self._load(index), (self.size, self.size)).contiguous()


class Places2(_ListedImages):
    """Places2 / Places365 images from a list file, as ``3×size×size`` tensors.

    ``list_file`` lines are image paths relative to ``root`` (a leading ``/`` is
    allowed), optionally followed by an integer label (Places365 format
    ``/a/abbey/00000000.jpg 0``); labels are kept in ``labels`` (``None`` when
    absent). A relative ``list_file`` is looked up in ``root`` first, then in the
    working directory. ``root`` defaults to ``data_root()/"places2"`` and ``list_file``
    to ``train.txt`` / ``test.txt`` (the lists ``data_scripts/places2.py`` writes).

    ``train=True``: a random-resized crop (area fraction ``scale``, aspect 3/4–4/3)
    drawn from a generator seeded by ``(seed, epoch, index)`` (see :meth:`set_epoch`).
    ``train=False``: the whole image resized to ``size×size``.
    """

    script = "places2.py"

    def __init__(
        self,
        root: Optional[PathLike] = None,
        list_file: Optional[PathLike] = None,
        size: int = 256,
        train: bool = True,
        scale: Tuple[float, float] = (0.5, 1.0),
        seed: int = 0,
        check_files: bool = True,
    ) -> None:
        self.root = Path(root) if root is not None else data_root() / "places2"
        self.size = _check_size(size)
        self.train = bool(train)
        self.scale = (float(scale[0]), float(scale[1]))
        if not (0 < self.scale[0] <= self.scale[1] <= 1):
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}")
        self.seed = _rng.check_seed(seed)
        self.epoch = 0
        if not self.root.is_dir():
            raise FileNotFoundError(f"Places2 folder not found: {self.root}; {_hint(self.script)}")
        if list_file is None:
            list_file = "train.txt" if self.train else "test.txt"
        lf = Path(list_file)
        if not lf.is_absolute() and (self.root / lf).is_file():
            lf = self.root / lf
        entries, labels = [], []
        for number, tokens in read_list_file(lf, _hint(self.script)):
            if len(tokens) > 2 or (len(tokens) == 2 and not tokens[1].lstrip("-").isdigit()):
                raise ValueError(
                    f"{lf} line {number}: expected '<relative path> [label]', got {' '.join(tokens)!r}"
                )
            entries.append((self.root / tokens[0].lstrip("/"), number))
            labels.append(int(tokens[1]) if len(tokens) == 2 else None)
        self.labels: List[Optional[int]] = labels
        super().__init__(lf, entries, check_files)

    def set_epoch(self, epoch: int) -> None:
        """Use the random crops of ``epoch`` from now on (``train=True`` only changes)."""
        self.epoch = _rng.check_seed(epoch, "epoch")

    def __getitem__(self, index: int) -> torch.Tensor:
        index = self._index(index)
        img = self._load(index)
        if self.train:
            g = _rng.generator(self.seed, self.epoch, index)
            return random_resized_crop(img, self.size, scale=self.scale, generator=g).contiguous()
        return resize(img, (self.size, self.size)).contiguous()
