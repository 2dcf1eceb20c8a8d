"""Training batches of ``(image, hole)`` pairs: the ``data(step)`` every recipe trains on.

Taught in the intro chapter's appendix; used by every method chapter's training cell.

:class:`TrainingPairs` is a pure function of ``(seed, step)``: the same step always
gives the same images and the same holes, which is what makes training resumable
exactly (:class:`inpaintlib.train.Trainer`) and runs repeatable.

* **Images** come from the offline sample bank (the default), or from any dataset
  returning ``3×S×S`` tensors (e.g. :class:`~inpaintlib.data.CelebA`,
  :class:`~inpaintlib.data.ImageFolder`), read in a fresh shuffled order each epoch.
* **Holes** are generated per sample (``"free_form"``, ``"rectangle"``,
  ``"dense_points"``, with a hole-ratio range) or drawn from a mask dataset such as
  :class:`~inpaintlib.masks.NvidiaMasks` or :class:`~inpaintlib.masks.MaskFolder`.

Datasets with random augmentation (``ImageFolder(crop="random")``, ``Places2``, mask
folders) are told the epoch (images) or the step (masks) through their ``set_epoch``
before each read, so every epoch draws fresh crops and every step fresh mask
augmentations, still a pure function of ``(seed, step)``.

:meth:`TrainingPairs.shard` reads only one rank's share of a step's global batch (the
same tensors as slicing the global batch), so under DDP each process decodes only its
own images; :class:`~inpaintlib.data.Prefetched` computes steps ahead in worker
processes.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ._rng import check_seed, generator
from .bank import sample_bank_batch

__all__ = ["TrainingPairs"]


class TrainingPairs:
    """``pairs(step) -> (image, hole)``: a deterministic stream of training batches.

    Parameters
    ----------
    batch_size, size:
        Batch size and square image size.
    images:
        ``"sample_bank"`` (the built-in photos, random crops) or a dataset whose items
        are ``3×size×size`` tensors (or tuples whose first element is one).
    masks:
        A mask kind for :func:`inpaintlib.masks.generate`, or a dataset of
        ``1×size×size`` hole masks (e.g. ``NvidiaMasks``).
    ratio:
        Hole-ratio range for generated masks (ignored for a mask dataset).
    mask_params:
        Extra keyword arguments for the mask generator (e.g. ``{"box_size": 32}``).
    seed:
        Everything random derives from ``(seed, step)``.
    """

    def __init__(
        self,
        batch_size: int,
        size: int,
        images: Union[str, Dataset] = "sample_bank",
        masks: Union[str, Dataset] = "free_form",
        ratio: Optional[Tuple[float, float]] = (0.05, 0.6),
        mask_params: Optional[Mapping[str, Any]] = None,
        seed: int = 0,
    ):
        from .. import masks as _masks

        if int(batch_size) < 1 or int(size) < 1:
            raise ValueError(f"batch_size and size must be positive, got {batch_size} and {size}")
        self.batch_size, self.size = int(batch_size), int(size)
        self.seed = check_seed(seed)
        if isinstance(images, str) and images != "sample_bank":
            raise ValueError(f"images must be 'sample_bank' or a dataset, got {images!r}")
        if not isinstance(images, str) and len(images) == 0:
            raise ValueError("the image dataset is empty")
        if isinstance(masks, str) and masks not in _masks.KINDS:
            raise ValueError(f"unknown mask kind {masks!r}; choose one of {', '.join(_masks.KINDS)} or pass a mask dataset")
        if not isinstance(masks, str) and len(masks) == 0:
            raise ValueError("the mask dataset is empty")
        self.images, self.masks = images, masks
        self.ratio = None if ratio is None else (float(ratio[0]), float(ratio[1]))
        self.mask_params = dict(mask_params or {})

    def _image_batch(self, step: int, index: range) -> torch.Tensor:
        if isinstance(self.images, str):
            batch = sample_bank_batch("train", batch_size=self.batch_size, step=step, size=self.size, seed=self.seed)
            return batch[index.start:index.stop]
        n = len(self.images)
        first = step * self.batch_size
        set_epoch = getattr(self.images, "set_epoch", None)
        items = []
        for k in index:  # one dataset read per sample (decoding is per file anyway)
            epoch, pos = divmod(first + k, n)
            order = torch.randperm(n, generator=generator(self.seed, epoch))
            if set_epoch is not None:
                set_epoch(epoch)  # fresh random crops every epoch
            item = self.images[int(order[pos])]
            items.append(item[0] if isinstance(item, (tuple, list)) else item)
        batch = torch.stack(items)
        if batch.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"image dataset items must be 3×{self.size}×{self.size}, got {tuple(batch.shape[1:])}")
        return batch

    def _hole_batch(self, step: int, index: range) -> torch.Tensor:
        from .. import masks as _masks

        set_epoch = None if isinstance(self.masks, str) else getattr(self.masks, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(step)  # a fresh augmentation of a mask file at every step
        holes = []
        for i in index:  # the generators draw one mask at a time
            rng = np.random.default_rng([self.seed, step, i])
            if isinstance(self.masks, str):
                holes.append(_masks.generate(self.masks, self.size, ratio=self.ratio, seed=rng, **self.mask_params))
            else:
                holes.append(self.masks[int(rng.integers(len(self.masks)))])
        batch = torch.stack(holes)
        if batch.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"mask items must be 1×{self.size}×{self.size}, got {tuple(batch.shape[1:])}")
        return batch

    def shard(self, step: int, rank: int = 0, world_size: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
        """Rank ``rank``'s contiguous share of step ``step``'s global batch, reading only its
        own samples: equal to ``inpaintlib.train.shard_batch(self(step), rank, world_size)``."""
        step = check_seed(step, "step")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of size {world_size}")
        if self.batch_size % world_size:
            raise ValueError(f"the global batch size {self.batch_size} is not divisible by the world size "
                             f"{world_size}; each rank must get an equal share")
        k = self.batch_size // world_size
        index = range(rank * k, (rank + 1) * k)
        return self._image_batch(step, index), self._hole_batch(step, index)

    def __call__(self, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.shard(step)

    def __repr__(self) -> str:
        images = "sample bank" if isinstance(self.images, str) else f"{type(self.images).__name__}({len(self.images)})"
        masks = self.masks if isinstance(self.masks, str) else f"{type(self.masks).__name__}({len(self.masks)})"
        return (f"TrainingPairs(batch {self.batch_size}, {self.size}px, images: {images}, "
                f"masks: {masks} {self.ratio or ''}, seed {self.seed})")
