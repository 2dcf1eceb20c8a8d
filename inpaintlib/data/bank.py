"""The sample bank: real photos that ship inside Python packages, for offline training.

Taught in the intro chapter ("What is inpainting?", the data section); every chapter
trains on it under the ``quick`` profile.

scikit-image, scikit-learn and matplotlib install a few natural photographs with
their wheels. They are enough to train small inpainting models for a few minutes
on a CPU — no download, no network. The bank holds **18 photos, split by image**:
a model never sees a held-out photo, not even a crop of it.

======================  ==============================================  ==================================
name                    source (loader)                                 licence note (from the package)
======================  ==============================================  ==================================
**train**
astronaut               ``skimage.data.astronaut`` (Eileen Collins)     NASA, public domain
coffee                  ``skimage.data.coffee`` (cup on wood)           CC0, Rachel Michetti
rocket                  ``skimage.data.rocket`` (Falcon 9 launch)       SpaceX, public domain
hubble_deep_field       ``skimage.data.hubble_deep_field``              NASA/ESA, public domain
retina                  ``skimage.data.retina`` (fundus photo)          CC0, Mikael Häggström
motorcycle              ``skimage.data.stereo_motorcycle`` (left view)  Middlebury 2014 stereo benchmark
                                                                        (Scharstein et al.), shipped with
                                                                        scikit-image (BSD-3 package)
immunohistochemistry    ``skimage.data.immunohistochemistry``           no known copyright restrictions
camera                  ``skimage.data.camera`` (grayscale)             CC0, Lav Varshney
coins                   ``skimage.data.coins`` (grayscale)              Brooklyn Museum, no known
                                                                        copyright restrictions
moon                    ``skimage.data.moon`` (grayscale)               no licence note; shipped with
                                                                        scikit-image (BSD-3 package)
brick                   ``skimage.data.brick`` (grayscale texture)      CC0 (CC0Textures)
grass                   ``skimage.data.grass`` (grayscale texture)      CC0 (DeviantArt, linolafett)
clock                   ``skimage.data.clock`` (grayscale, blurred)     public domain, Stéfan van der Walt
flower                  ``sklearn.datasets.load_sample_image``          CC BY 2.0, vultilion (Flickr)
                        (``flower.jpg``)
**held out**
grace_hopper            ``matplotlib.cbook.get_sample_data``            US Navy photo, public domain
                        (``grace_hopper.jpg``) — a face
chelsea                 ``skimage.data.chelsea`` — an animal (cat)      CC0, Stéfan van der Walt
china                   ``sklearn.datasets.load_sample_image``          CC BY 2.0, danielbuechele (Flickr)
                        (``china.jpg``) — a scene (temple)
gravel                  ``skimage.data.gravel`` — a texture             CC0 (CC0Textures)
======================  ==============================================  ==================================

The split is fixed in :data:`TRAIN_NAMES` and :data:`HELDOUT_NAMES`. Grayscale
photos are repeated to three channels. Decoded photos are cached in memory.

Two ways to read it:

* :class:`SampleBank` — a ``torch.utils.data.Dataset`` of ``3×S×S`` crops.
  Training crops are random (scale, position, flip) but a pure function of
  ``(seed, epoch, index)``; held-out crops are fixed.
* :func:`sample_bank_batch` / :meth:`SampleBank.batch_at` — a ``B×3×S×S`` batch
  for training step ``step``, the ``data(step)`` a training loop calls.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..profiles import Profile, get_profile
from . import _rng
from .transforms import center_crop, hflip, random_resized_crop_params, resize

__all__ = [
    "PHOTOS",
    "TRAIN_NAMES",
    "HELDOUT_NAMES",
    "SPLITS",
    "sample_bank_names",
    "load_sample_photo",
    "sample_bank_images",
    "SampleBank",
    "sample_bank",
    "sample_bank_batch",
    "clear_sample_bank_cache",
]


# --------------------------------------------------------------------------- loaders
def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        out = getattr(skimage.data, name)()
        return out[0] if isinstance(out, tuple) else out  # stereo pair → left view

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook
        from PIL import Image

        path = cbook.get_sample_data(filename, asfileobj=False)
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    return load


#: Every photo of the bank: ``name → (loader, source, licence note)``.
PHOTOS: Dict[str, Tuple[Callable[[], np.ndarray], str, str]] = {
    "astronaut": (_skimage("astronaut"), "skimage.data.astronaut", "NASA, public domain"),
    "coffee": (_skimage("coffee"), "skimage.data.coffee", "CC0, Rachel Michetti"),
    "rocket": (_skimage("rocket"), "skimage.data.rocket", "SpaceX, public domain"),
    "hubble_deep_field": (
        _skimage("hubble_deep_field"), "skimage.data.hubble_deep_field", "NASA/ESA, public domain"
    ),
    "retina": (_skimage("retina"), "skimage.data.retina", "CC0, Mikael Häggström"),
    "motorcycle": (
        _skimage("stereo_motorcycle"),
        "skimage.data.stereo_motorcycle (left view)",
        "Middlebury 2014 stereo benchmark, shipped with scikit-image",
    ),
    "immunohistochemistry": (
        _skimage("immunohistochemistry"),
        "skimage.data.immunohistochemistry",
        "no known copyright restrictions",
    ),
    "camera": (_skimage("camera"), "skimage.data.camera", "CC0, Lav Varshney"),
    "coins": (_skimage("coins"), "skimage.data.coins", "Brooklyn Museum, no known copyright restrictions"),
    "moon": (_skimage("moon"), "skimage.data.moon", "no licence note, shipped with scikit-image"),
    "brick": (_skimage("brick"), "skimage.data.brick", "CC0 (CC0Textures)"),
    "grass": (_skimage("grass"), "skimage.data.grass", "CC0 (DeviantArt, linolafett)"),
    "clock": (_skimage("clock"), "skimage.data.clock", "public domain, Stéfan van der Walt"),
    "flower": (_sklearn("flower.jpg"), "sklearn load_sample_image('flower.jpg')", "CC BY 2.0, vultilion"),
    "grace_hopper": (
        _matplotlib("grace_hopper.jpg"),
        "matplotlib cbook.get_sample_data('grace_hopper.jpg')",
        "US Navy, public domain",
    ),
    "chelsea": (_skimage("chelsea"), "skimage.data.chelsea", "CC0, Stéfan van der Walt"),
    "china": (_sklearn("china.jpg"), "sklearn load_sample_image('china.jpg')", "CC BY 2.0, danielbuechele"),
    "gravel": (_skimage("gravel"), "skimage.data.gravel", "CC0 (CC0Textures)"),
}

#: The held-out photos: a face, an animal, a scene and a texture. Never used for training.
HELDOUT_NAMES: Tuple[str, ...] = ("grace_hopper", "chelsea", "china", "gravel")
#: The training photos: every other photo of :data:`PHOTOS`, in table order.
TRAIN_NAMES: Tuple[str, ...] = tuple(n for n in PHOTOS if n not in HELDOUT_NAMES)
#: The valid ``split`` arguments.
SPLITS: Tuple[str, ...] = ("train", "heldout", "all")

#: Training crops are never smaller than this fraction of the output size (in the
#: working image's pixels), so a crop is upsampled at most 2× and always shows content.
_MIN_CROP_FRACTION = 0.5
#: Working images are shrunk once so their shorter side is at most this many output sizes.
_WORKING_SCALE = 4
#: Fixed (non-augmented) crops do not depend on the data set's seed; they use this one.
_FIXED_SEED = 20240601
#: Default virtual length of an augmented data set.
_DEFAULT_AUGMENTED_LENGTH = 512


def sample_bank_names(split: str = "train") -> Tuple[str, ...]:
    """The photo names of ``split``: ``"train"``, ``"heldout"`` or ``"all"`` (train first)."""
    if split == "train":
        return TRAIN_NAMES
    if split == "heldout":
        return HELDOUT_NAMES
    if split == "all":
        return TRAIN_NAMES + HELDOUT_NAMES
    raise ValueError(f"unknown sample-bank split {split!r}; choose one of {', '.join(SPLITS)}")


@functools.lru_cache(maxsize=None)
def _decoded(name: str) -> torch.Tensor:
    """The photo as a ``3×H×W`` uint8 tensor, decoded once per process."""
    if name not in PHOTOS:
        raise ValueError(f"unknown sample-bank photo {name!r}; choose one of {', '.join(PHOTOS)}")
    arr = np.asarray(PHOTOS[name][0]())
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ValueError(f"sample-bank photo {name!r} has dtype {arr.dtype}, expected uint8")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = arr[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def load_sample_photo(name: str) -> torch.Tensor:
    """One photo of the bank as a fresh ``3×H×W`` float32 tensor in ``[0, 1]``."""
    return _decoded(name).to(torch.float32).div_(255.0)




def sample_bank_images(split: str = "train") -> List[Tuple[str, torch.Tensor]]:
    """``[(name, 3×H×W float tensor in [0, 1])]`` for every photo of ``split``.

    The photos come from files installed with scikit-image, scikit-learn and
    matplotlib; nothing is downloaded. Each call returns fresh tensors (the cache
    keeps compact uint8 copies), so callers may modify them.
    """
    return [(n, load_sample_photo(n)) for n in sample_bank_names(split)]


@functools.lru_cache(maxsize=128)
def _working(name: str, max_short: int) -> torch.Tensor:
    """The photo shrunk (anti-aliased) so its shorter side is at most ``max_short``."""
    img = load_sample_photo(name)
    if min(img.shape[-2:]) > max_short:
        img = resize(img, max_short)
    return img


@functools.lru_cache(maxsize=256)
def _fixed_crop(name: str, size: int, round_: int, slot: int) -> torch.Tensor:
    """Round 0: the centre ``size`` crop after resizing the shorter side to ``size``.
    Round ``r ≥ 1``: the shorter side resized to ``size·(1 + k/2)``, ``k = (r−1) mod 6 + 1``,
    and a window at a position drawn from a generator seeded by ``(_FIXED_SEED, r, slot)``."""
    img = load_sample_photo(name)
    if round_ == 0:
        return center_crop(resize(img, size), size).contiguous()
    k = (round_ - 1) % 6 + 1
    big = resize(img, int(round(size * (1 + 0.5 * k))))
    H, W = big.shape[-2:]
    g = _rng.generator(_FIXED_SEED, round_, slot)
    top = int(torch.randint(0, H - size + 1, (1,), generator=g))
    left = int(torch.randint(0, W - size + 1, (1,), generator=g))
    return big[:, top : top + size, left : left + size].contiguous()


class SampleBank(Dataset):
    """``3×size×size`` crops of the sample-bank photos, as a ``torch`` Dataset.

    Args:
        split: ``"train"``, ``"heldout"`` or ``"all"`` (see :data:`TRAIN_NAMES`,
            :data:`HELDOUT_NAMES`).
        size: crop side in pixels; default: the profile's ``image_size``.
        profile: a profile name or :class:`~inpaintlib.profiles.Profile` (default:
            :func:`~inpaintlib.profiles.get_profile`'s choice).
        length: the virtual length. Default: 512 with augmentation, else the
            number of photos in the split.
        augment: random crops (default: on for ``"train"``, off otherwise).
        seed: seeds the augmentation (not the fixed crops).
        scale: with augmentation, the range of the crop's area as a fraction of
            the working image's area (the photo shrunk to a shorter side of at most
            ``4·size``). The lower end is raised where needed so a crop is at least
            ``size/2`` pixels wide: crops go from native-resolution details to the
            whole photo, never single blown-up pixels.
        ratio: with augmentation, the range of the crop's aspect ratio.

    Item ``index`` shows photo ``names[index % len(names)]``, so every epoch visits
    every photo equally often.

    * **augment on**: a random-resized crop (scale ``scale``, aspect ``ratio``) and
      a random horizontal flip, drawn from a generator seeded by
      ``(seed, epoch, index)`` — the same item gives the same crop until
      :meth:`set_epoch` changes the epoch.
    * **augment off**: fixed crops independent of ``seed`` and epoch. The first
      ``len(names)`` items are the centre crops of each photo after resizing its
      shorter side to ``size``; further items (``length`` > number of photos) are
      windows at fixed pseudo-random positions of the photo resized to
      1.5×–4× ``size``.
    """

    def __init__(
        self,
        split: str = "train",
        size: Optional[int] = None,
        profile: Union[str, Profile, None] = None,
        length: Optional[int] = None,
        augment: Optional[bool] = None,
        seed: int = 0,
        scale: Tuple[float, float] = (0.05, 1.0),
        ratio: Tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        self.split = split
        self.names: Tuple[str, ...] = sample_bank_names(split)
        if size is None:
            size = get_profile(profile).image_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.size = int(size)
        self.augment = (split == "train") if augment is None else bool(augment)
        if length is None:
            length = _DEFAULT_AUGMENTED_LENGTH if self.augment else len(self.names)
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
            raise ValueError(f"length must be a positive int, got {length!r}")
        self.length = int(length)
        self.seed = _rng.check_seed(seed)
        lo, hi = float(scale[0]), float(scale[1])
        if not (0 < lo <= hi <= 1):
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {tuple(scale)}")
        self.scale = (lo, hi)
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.epoch = 0

    # -- Dataset protocol ------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self._item(self._check_index(index), self.epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use the crops of ``epoch`` from now on (augmented data sets only change)."""
        self.epoch = _rng.check_seed(epoch, "epoch")

    def image_name(self, index: int) -> str:
        """The name of the photo item ``index`` is cut from."""
        return self.names[self._check_index(index) % len(self.names)]

    # -- batches -----------------------------------------------------------------
    def batch(self, indices: Iterable[int], epoch: Optional[int] = None) -> torch.Tensor:
        """Stack items ``indices`` (of ``epoch``, default the current one) into ``B×3×S×S``."""
        ep = self.epoch if epoch is None else _rng.check_seed(epoch, "epoch")
        items = [self._item(self._check_index(i), ep) for i in indices]
        if not items:
            raise ValueError("batch: indices is empty")
        return torch.stack(items)

    def batch_at(self, step: int, batch_size: int) -> torch.Tensor:
        """The ``B×3×S×S`` batch for training step ``step``: a pure function of
        ``(seed, step, batch_size)``.

        Step ``t`` takes the global positions ``t·B … t·B + B − 1`` of an endless
        stream; position ``p`` is item ``p mod len`` of epoch ``p // len`` — the same
        tensors a sequential pass over the data set with :meth:`set_epoch` would give.
        """
        step = _rng.check_seed(step, "step")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        start = step * int(batch_size)
        return torch.stack(
            [self._item(p % self.length, p // self.length) for p in range(start, start + int(batch_size))]
        )

    # -- internals ---------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a SampleBank of length {self.length}")
        return index

    def _item(self, index: int, epoch: int) -> torch.Tensor:
        n = len(self.names)
        name = self.names[index % n]
        if not self.augment:
            return _fixed_crop(name, self.size, index // n, index % n).clone()
        g = _rng.generator(self.seed, epoch, index)
        work = _working(name, _WORKING_SCALE * self.size)
        H, W = work.shape[-2:]
        min_side = _MIN_CROP_FRACTION * self.size
        lo = min(1.0, max(self.scale[0], min_side * min_side / (H * W)))
        hi = max(lo, self.scale[1])
        top, left, h, w = random_resized_crop_params(H, W, (lo, hi), self.ratio, g)
        out = resize(work[:, top : top + h, left : left + w], (self.size, self.size))
        if bool(torch.rand(1, generator=g) < 0.5):
            out = hflip(out)
        return out.contiguous()

    def __repr__(self) -> str:
        mode = f"augmented, seed {self.seed}, epoch {self.epoch}" if self.augment else "fixed crops"
        return (
            f"SampleBank(split={self.split!r}, {len(self.names)} photos, {self.size}px, "
            f"length {self.length}, {mode})"
        )


def clear_sample_bank_cache() -> None:
    """Forget every decoded photo and cached crop (the next read decodes them again)."""
    _decoded.cache_clear()
    _working.cache_clear()
    _fixed_crop.cache_clear()
    _bank.cache_clear()


def sample_bank(split: str = "train", **kwargs) -> SampleBank:
    """Shorthand for :class:`SampleBank` ``(split, **kwargs)``."""
    return SampleBank(split, **kwargs)


@functools.lru_cache(maxsize=16)
def _bank(split: str, size: int, seed: int, augment: Optional[bool]) -> SampleBank:
    return SampleBank(split, size=size, seed=seed, augment=augment)


def sample_bank_batch(
    split: str = "train",
    batch_size: Optional[int] = None,
    step: int = 0,
    size: Optional[int] = None,
    seed: int = 0,
    profile: Union[str, Profile, None] = None,
    augment: Optional[bool] = None,
) -> torch.Tensor:
    """The ``B×3×S×S`` batch of training step ``step`` (see :meth:`SampleBank.batch_at`).

    ``batch_size`` and ``size`` default to the profile's. Deterministic in
    ``(split, seed, step, batch_size, size)``; a training loop uses it as
    ``data = lambda step: sample_bank_batch(step=step)``.
    """
    prof = get_profile(profile)
    size = prof.image_size if size is None else size
    batch_size = prof.batch_size if batch_size is None else batch_size
    return _bank(split, int(size), _rng.check_seed(seed), augment).batch_at(step, batch_size)
