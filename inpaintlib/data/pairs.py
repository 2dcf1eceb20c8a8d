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
  :class:`~inpaintlib.masks.NvidiaMasks`.
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

    def _image_batch(self, step: int) -> torch.Tensor:
        if isinstance(self.images, str):
            return sample_bank_batch("train", batch_size=self.batch_size, step=step, size=self.size, seed=self.seed)
        n = len(self.images)
        first = step * self.batch_size
        items = []
        for k in range(first, first + self.batch_size):  # one dataset read per sample
            epoch, pos = divmod(k, n)
            order = torch.randperm(n, generator=generator(self.seed, epoch))
            item = self.images[int(order[pos])]
            items.append(item[0] if isinstance(item, (tuple, list)) else item)
        batch = torch.stack(items)
        if batch.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"image dataset items must be 3×{self.size}×{self.size}, got {tuple(batch.shape[1:])}")
        return batch

    def _hole_batch(self, step: int) -> torch.Tensor:
        from .. import masks as _masks

        holes = []
        for i in range(self.batch_size):  # the generators draw one mask at a time
            rng = np.random.default_rng([self.seed, step, i])
            if isinstance(self.masks, str):
                holes.append(_masks.generate(self.masks, self.size, ratio=self.ratio, seed=rng, **self.mask_params))
            else:
                holes.append(self.masks[int(rng.integers(len(self.masks)))])
        batch = torch.stack(holes)
        if batch.shape[1:] != (1, self.size, self.size):
            raise ValueError(f"mask items must be 1×{self.size}×{self.size}, got {tuple(batch.shape[1:])}")
        return batch

    def __call__(self, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        step = check_seed(step, "step")
        return self._image_batch(step), self._hole_batch(step)

    def __repr__(self) -> str:
        images = "sample bank" if isinstance(self.images, str) else f"{type(self.images).__name__}({len(self.images)})"
        masks = self.masks if isinstance(self.masks, str) else f"{type(self.masks).__name__}({len(self.masks)})"
        return (f"TrainingPairs(batch {self.batch_size}, {self.size}px, images: {images}, "
                f"masks: {masks} {self.ratio or ''}, seed {self.seed})")
