"""Photo/sketch pairs: a pencil-sketch proxy made from the sample bank, and the CUFS / CUFSF readers.

Taught in the "Sketch synthesis with SC-Lmser" chapter.

* :func:`pencil_sketch` — a deterministic photo → pencil-sketch filter (grey levels, then a
  *colour dodge* of the grey image by its blurred negative). It is **not** a hand-drawn sketch:
  it keeps edges and shading and drops colour, which is enough to train and study a
  photo ↔ sketch model offline.
* :class:`SketchPairs` — ``data(step) -> (photo, sketch)`` batches from the sample bank
  (train / held-out split by image as :class:`~inpaintlib.data.SampleBank`), each pair
  cropped at the same offset. **A proxy for CUFS**, and it says so (``proxy``, its repr).
* :class:`CUFS` and :class:`CUFSF` — the CUHK face-sketch data sets as prepared by
  ``data_scripts/cufs.py`` / ``data_scripts/cufsf.py`` under :func:`~inpaintlib.data.data_root`::

      cufs/photos/<name>.<ext>
      cufs/sketches/<name>.<ext>
      cufs/train.txt        lines "photos/<name>.<ext> sketches/<name>.<ext>"
      cufs/test.txt

  with SC-Lmser's preprocessing: fit to 200×250 (w×h, bilinear, aspect kept), paste centred
  on a 286×286 white canvas, then a 256×256 crop — at a random offset, the same for photo and
  sketch, in training; the centre at test. SC-Lmser's splits: CUFS 268 train / 338 test,
  CUFSF 250 / 944 (a copy with other sizes is accepted with a warning).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as nnf
from PIL import Image
from torch.utils.data import Dataset

from . import _rng
from .bank import SampleBank, sample_bank_batch
from .datasets import read_list_file
from .paths import data_root
from .transforms import resize

__all__ = ["pencil_sketch", "SketchPairs", "CUFS", "CUFSF", "CANVAS", "FACE_SIZE", "CROP", "FACE_BOX"]

PathLike = Union[str, "os.PathLike[str]"]

#: SC-Lmser's geometry: faces fit into 200×250 (w×h), pasted on a 286×286 canvas, cropped to 256.
FACE_SIZE = (200, 250)
CANVAS = 286
CROP = 256
#: Where the face lies in a centre-cropped 256 image: rows 3:253, columns 28:228 (the region the
#: original evaluates on).
FACE_BOX = (3, 253, 28, 228)

_LUMA = (0.299, 0.587, 0.114)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``B×1×H×W`` with reflection padding (radius 3σ)."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad_h = min(radius, x.shape[-2] - 1)
    pad_w = min(radius, x.shape[-1] - 1)
    x = nnf.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect") if (pad_h and pad_w) else x
    kh = k[radius - pad_h: radius + pad_h + 1] if pad_h else k[radius:radius + 1]
    kw = k[radius - pad_w: radius + pad_w + 1] if pad_w else k[radius:radius + 1]
    x = nnf.conv2d(x, (kh / kh.sum()).view(1, 1, -1, 1))
    return nnf.conv2d(x, (kw / kw.sum()).view(1, 1, 1, -1))


def pencil_sketch(photo: torch.Tensor, sigma: Optional[float] = None, darkness: float = 2.0) -> torch.Tensor:
    """A pencil-sketch proxy of a photo (chapter "Sketch synthesis with SC-Lmser").

    ``photo``: ``B×3×H×W`` or ``3×H×W`` in ``[0, 1]``. With the grey image ``g`` (ITU-R 601
    luma) and a Gaussian blur of its negative ``b = blur_σ(1 − g)``, the *colour dodge*
    ``g / (1 − b)`` is white where the image is flat and dark along edges and fine detail;
    raising it to ``darkness`` deepens the strokes. ``σ`` defaults to 1.5 % of the shorter
    side (at least 1 px). Returns ``B×1×H×W`` (or ``1×H×W``) in ``[0, 1]``; deterministic and
    vectorised over the batch.
    """
    if not isinstance(photo, torch.Tensor):
        raise TypeError(f"photo must be a torch.Tensor, got {type(photo).__name__}")
    single = photo.dim() == 3
    x = photo.unsqueeze(0) if single else photo
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"photo must have shape B×3×H×W or 3×H×W, got {tuple(photo.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"photo must be a float tensor in [0, 1], got {x.dtype}")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("photo values must be finite and lie in [0, 1]")
    if sigma is None:
        sigma = max(1.0, 0.015 * min(x.shape[-2:]))
    if not sigma > 0 or not darkness > 0:
        raise ValueError(f"sigma and darkness must be positive, got {sigma} and {darkness}")
    luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    gray = (x * luma).sum(dim=1, keepdim=True)
    blurred = _gaussian_blur(1 - gray, float(sigma))
    dodge = (gray / (1 - blurred).clamp_min(1e-3)).clamp(0, 1) ** darkness
    return dodge[0] if single else dodge


def _crop_at(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """``B×C×H×W`` → ``B×C×size×size``, sample ``b`` cut at ``(top[b], left[b])`` (one gather)."""
    ar = torch.arange(size, device=x.device)
    rows = (top.view(-1, 1) + ar).view(-1, size, 1)
    cols = (left.view(-1, 1) + ar).view(-1, 1, size)
    b = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
    return x.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2).contiguous()


class SketchPairs:
    """``pairs(step) -> (photo B×3×S×S, sketch B×1×S×S)``, both in ``[0, 1]``: **a proxy for
    CUFS** made from the sample bank (chapter "Sketch synthesis with SC-Lmser").

    The photos are sample-bank crops of ``round(S·286/256)`` pixels (``split="train"``: random
    crops of the 14 training photos; ``"heldout"``: the fixed crops of the 4 held-out photos,
    never seen in training; ``length`` > 4 adds fixed windows of them at 1.5–4× zoom, as
    :class:`~inpaintlib.data.SampleBank` does). Each gets its :func:`pencil_sketch`, and photo and sketch are cut
    to ``S`` at the same offset — random per sample in training (SC-Lmser's jitter), the
    centre for held-out pairs. Deterministic in ``(seed, step)``, like
    :class:`~inpaintlib.data.TrainingPairs`.

    The sketches are a filter's output, not an artist's: numbers measured on them are not
    comparable with results on CUFS / CUFSF.
    """

    proxy = True
    note = ("proxy for CUFS: pencil-sketch filter of sample-bank photos (not hand-drawn sketches; "
            "numbers are not comparable with CUFS/CUFSF results)")

    def __init__(self, batch_size: int, size: int, split: str = "train", seed: int = 0,
                 sigma: Optional[float] = None, length: Optional[int] = None):
        if int(batch_size) < 1 or int(size) < 1:
            raise ValueError(f"batch_size and size must be positive, got {batch_size} and {size}")
        if split not in ("train", "heldout"):
            raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
        self.batch_size, self.size, self.split = int(batch_size), int(size), split
        self.seed = _rng.check_seed(seed)
        self.canvas = int(round(self.size * CANVAS / CROP))
        self.sigma = sigma
        self._heldout = SampleBank("heldout", size=self.canvas, length=length) if split == "heldout" else None

    def photos(self, step: int) -> torch.Tensor:
        """The uncropped ``B×3×canvas×canvas`` photos of ``step``."""
        step = _rng.check_seed(step, "step")
        if self._heldout is None:
            return sample_bank_batch("train", batch_size=self.batch_size, step=step, size=self.canvas, seed=self.seed)
        n = len(self._heldout)
        return self._heldout.batch([(step * self.batch_size + i) % n for i in range(self.batch_size)])

    def __call__(self, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        photo = self.photos(step)
        sketch = pencil_sketch(photo, sigma=self.sigma)
        margin = self.canvas - self.size
        if self._heldout is None:
            g = _rng.generator(self.seed, step, 1)
            top = torch.randint(0, margin + 1, (self.batch_size,), generator=g)
            left = torch.randint(0, margin + 1, (self.batch_size,), generator=g)
        else:
            top = left = torch.full((self.batch_size,), margin // 2, dtype=torch.long)
        return _crop_at(photo, top, left, self.size), _crop_at(sketch, top, left, self.size)

    def __repr__(self) -> str:
        return (f"SketchPairs(batch {self.batch_size}, {self.size}px, {self.split}, seed {self.seed}) — "
                f"{self.note}")


# --------------------------------------------------------------------------- CUFS / CUFSF

def _hint(script: str) -> str:
    return f"run `python data_scripts/{script}` to prepare it (the archives are downloaded by hand)"


def _fit_on_canvas(img: Image.Image) -> torch.Tensor:
    """Fit into 200×250 (aspect kept, bilinear), paste centred on a white 286×286 canvas;
    ``C×286×286`` float in ``[0, 1]``."""
    w, h = img.size
    scale = min(FACE_SIZE[0] / w, FACE_SIZE[1] / h)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new(img.mode, (CANVAS, CANVAS), 255 if img.mode == "L" else (255, 255, 255))
    canvas.paste(img, ((CANVAS - nw) // 2, (CANVAS - nh) // 2))
    arr = np.asarray(canvas, dtype=np.float32) / 255.0
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


class _FaceSketches(Dataset):
    """Shared reader of the CUFS / CUFSF layout (see the module docstring)."""

    name = ""
    script = ""
    SPLIT_SIZES: dict = {}

    def __init__(self, root: Optional[PathLike] = None, split: str = "train", size: int = CROP,
                 train: Optional[bool] = None, seed: int = 0, check_files: bool = True):
        if split not in ("train", "test"):
            raise ValueError(f"{self.name} split must be 'train' or 'test', got {split!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 < size <= CROP:
            raise ValueError(f"size must be an int in 1..{CROP}, got {size!r}")
        self.root = Path(root) if root is not None else data_root() / self.name.lower()
        self.split, self.size = split, int(size)
        self.train = (split == "train") if train is None else bool(train)
        self.seed, self.epoch = _rng.check_seed(seed), 0
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name} folder not found: {self.root}; {_hint(self.script)}")
        self.list_file = self.root / f"{split}.txt"
        entries = []
        for number, tokens in read_list_file(self.list_file, _hint(self.script)):
            if len(tokens) != 2:
                raise ValueError(f"{self.list_file} line {number}: expected 'photos/<file> sketches/<file>', "
                                 f"got {' '.join(tokens)!r}")
            entries.append((self.root / tokens[0], self.root / tokens[1], number))
        if not entries:
            raise ValueError(f"{self.list_file} lists no photo/sketch pairs")
        if check_files:
            for photo, sketch, number in entries:
                for path in (photo, sketch):
                    if not path.is_file():
                        raise FileNotFoundError(f"{path} (line {number} of {self.list_file}) does not exist; "
                                                f"{_hint(self.script)}")
        self.pairs = [(p, s) for p, s, _ in entries]
        self.lines = [n for _, _, n in entries]
        expected = self.SPLIT_SIZES[split]
        self.note = ""
        if len(self.pairs) != expected:
            sizes = self.SPLIT_SIZES
            self.note = (f"{self.list_file} has {len(self.pairs)} pairs; SC-Lmser's {self.name} split is "
                         f"{sizes['train']} train / {sizes['test']} test, so the {split} set differs and "
                         f"results are not directly comparable")
            warnings.warn(self.note, stacklevel=2)

    proxy = False

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Use the random crops of ``epoch`` from now on (training crops only change)."""
        self.epoch = _rng.check_seed(epoch, "epoch")

    def _open(self, path: Path, mode: str, number: int) -> torch.Tensor:
        if not path.is_file():
            raise FileNotFoundError(f"{path} (line {number} of {self.list_file}) does not exist")
        try:
            with Image.open(path) as im:
                return _fit_on_canvas(im.convert(mode))
        except (OSError, ValueError, SyntaxError) as err:
            raise ValueError(f"cannot read image {path} (line {number} of {self.list_file}): {err}") from err

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.name} {self.split} ({len(self)} pairs)")
        return self._item(index, self.epoch)

    def _item(self, index: int, epoch: int) -> Tuple[torch.Tensor, torch.Tensor]:
        photo_path, sketch_path = self.pairs[index]
        photo = self._open(photo_path, "RGB", self.lines[index])
        sketch = self._open(sketch_path, "L", self.lines[index])
        margin = CANVAS - CROP
        if self.train:
            g = _rng.generator(self.seed, epoch, index)
            top, left = (int(v) for v in torch.randint(0, margin + 1, (2,), generator=g))
        else:
            top = left = margin // 2
        photo = photo[:, top:top + CROP, left:left + CROP]
        sketch = sketch[:, top:top + CROP, left:left + CROP]
        if self.size != CROP:
            photo, sketch = resize(photo, (self.size, self.size)), resize(sketch, (self.size, self.size))
        return photo.contiguous(), sketch.contiguous()

    def batch(self, indices) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stack the pairs ``indices`` into ``(B×3×S×S, B×1×S×S)``."""
        items = [self[i] for i in indices]
        if not items:
            raise ValueError("batch: indices is empty")
        return torch.stack([p for p, _ in items]), torch.stack([s for _, s in items])

    def pairs_at(self, batch_size: int, seed: int = 0):
        """A ``data(step)`` callable over this data set: step ``t`` takes positions
        ``t·B … t·B+B−1`` of a stream that visits every pair once per epoch in a fresh order."""
        n = len(self)

        def data(step: int):
            items = []
            for p in range(step * batch_size, (step + 1) * batch_size):  # one file read per pair
                epoch, pos = divmod(p, n)
                order = torch.randperm(n, generator=_rng.generator(seed, epoch))
                items.append(self._item(int(order[pos]), epoch))
            return torch.stack([p for p, _ in items]), torch.stack([s for _, s in items])

        return data

    def __repr__(self) -> str:
        crop = "random 256 crops" if self.train else "centre 256 crops"
        resized = f", resized to {self.size}px" if self.size != CROP else ""
        return f"{self.name}({self.split}, {len(self)} pairs, {crop}{resized}, from {self.list_file})"


class CUFS(_FaceSketches):
    """CUFS (CUHK student + AR + XM2VTS face photos with artists' sketches), chapter "Sketch
    synthesis with SC-Lmser". Items are ``(photo 3×S×S, sketch 1×S×S)`` in ``[0, 1]``, with
    SC-Lmser's preprocessing (module docstring); ``size`` < 256 resizes the 256 crop.
    ``root`` defaults to ``data_root()/"cufs"``. SC-Lmser's split: 268 train / 338 test."""

    name = "CUFS"
    script = "cufs.py"
    SPLIT_SIZES = {"train": 268, "test": 338}


class CUFSF(_FaceSketches):
    """CUFSF (FERET photos with viewed sketches), chapter "Sketch synthesis with SC-Lmser";
    as :class:`CUFS`, ``root`` defaulting to ``data_root()/"cufsf"``. SC-Lmser's split:
    250 train / 944 test."""

    name = "CUFSF"
    script = "cufsf.py"
    SPLIT_SIZES = {"train": 250, "test": 944}
