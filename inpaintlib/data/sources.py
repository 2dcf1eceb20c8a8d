"""Which images and masks a recipe trains and evaluates on: :func:`plan_data`.

Taught in the workshop guide ("Training on real data") and used by every inpainting
recipe (PConv, GMCNN, CTSDG, CLmser) and by ``inpaintlib train`` / ``inpaintlib eval``.

Images are named by a **prepared dataset** (``"celeba"``, ``"celeba_hq"``, ``"places2"``:
the folders ``data_scripts/`` writes under :func:`~inpaintlib.data.data_root`), by **any
folder** of photos, or ``"sample_bank"`` (the 14 offline training photos). Masks are a
**generator kind** (``"free_form"``, ``"rectangle"``, ``"dense_points"``), ``"nvidia"``
(the NVIDIA irregular masks, prepared by ``data_scripts/nvidia_masks.py``) or **any folder**
of PNG masks (white = hole).

What each profile picks when nothing is given:

========== ==================================================================================
quick      the sample bank with the recipe's own generated holes (CPU, CI, the HTML build)
workshop   the paper's data (table below) when it is prepared; otherwise it says which
           ``data_scripts`` command prepares it and trains on the sample bank instead
paper      the paper's data; it refuses to fall back to the sample bank unless asked
           (``allow_sample_bank=True``, ``--allow-sample-bank`` on the command line)
========== ==================================================================================

The paper's data (:data:`PAPER_DATA`), with the crop each reader applies:

======= ======================================= ==============================================
method  images                                  holes
======= ======================================= ==============================================
ctsdg   CelebA: centre 178×178 crop → 256 px    NVIDIA irregular masks (train: augmented)
pconv   Places2: random-resized crop → 256 px   NVIDIA irregular masks (train: augmented)
gmcnn   Places2, else CelebA-HQ (resized)       the recipe's rectangles
clmser  CelebA-HQ (resized to 256 px)           dense point-shaped holes
======= ======================================= ==============================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset

__all__ = ["PAPER_DATA", "DATASETS", "PaperData", "DataPlan", "DataNotPrepared", "plan_data",
           "open_images", "open_masks", "eval_masks"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class PaperData:
    """The data a paper trained and tested on: dataset names in order of preference, the
    hole source, and where the choice is documented."""

    images: Tuple[str, ...]
    masks: str
    source: str
    #: how the paper evaluates: its test masks (``"nvidia"``: the NVIDIA test set) and buckets
    eval_masks: str = "free_form"
    buckets: str = "ctsdg"

    def evaluation(self) -> dict:
        """The paper's evaluation protocol as :func:`inpaintlib.protocols.evaluate_protocol`
        keywords: ``images`` (its first dataset, test split), ``masks``, ``buckets``."""
        from ..masks import CTSDG_BUCKETS, PCONV_BUCKETS

        return {"images": self.images[0], "masks": self.eval_masks, "split": "test",
                "buckets": {"ctsdg": CTSDG_BUCKETS, "pconv": PCONV_BUCKETS}[self.buckets]}


PAPER_DATA = {
    "ctsdg": PaperData(("celeba",), "nvidia",
                       "Guo et al. 2021 §4.1: CelebA (centre 178×178 crop → 256 px, as the authors' loader and "
                       "its MindSpore port) with the NVIDIA irregular masks; tested on the CelebA test split with "
                       "the NVIDIA test masks in 0-20/20-40/40-60 % buckets", eval_masks="nvidia", buckets="ctsdg"),
    "pconv": PaperData(("places2",), "nvidia",
                       "Liu et al. 2018 §4: Places2 (random crops at 256 px) with the NVIDIA irregular masks, "
                       "augmented by dilation, rotation and cropping; tested with the NVIDIA test masks in six "
                       "buckets from 1 to 60 %", eval_masks="nvidia", buckets="pconv"),
    "gmcnn": PaperData(("places2", "celeba_hq"), "rectangle",
                       "Wang et al. 2018 §4: Places2 and CelebA-HQ (among others) with random rectangles",
                       eval_masks="rectangle"),
    "clmser": PaperData(("celeba_hq",), "dense_points",
                        "Huang et al. (CLmser) and its released code: CelebA-HQ at 256 px with point-shaped holes",
                        eval_masks="dense_points"),
}

#: prepared dataset name -> (the data_scripts command that prepares it, a short description)
DATASETS = {
    "celeba": ("python data_scripts/prepare.py celeba --archive img_align_celeba.zip --partition "
               "list_eval_partition.txt", "CelebA"),
    "celeba_hq": ("python data_scripts/prepare.py celeba_hq --archive CelebAMask-HQ.zip", "CelebA-HQ"),
    "places2": ("python data_scripts/prepare.py places2", "Places2"),
    "nvidia": ("python data_scripts/prepare.py nvidia_masks", "the NVIDIA irregular masks"),
}

MASK_KINDS = ("free_form", "rectangle", "dense_points")


class DataNotPrepared(FileNotFoundError):
    """The data a run asked for is not on disk; the message says which command prepares it."""


def _is_folder_spec(spec) -> bool:
    return isinstance(spec, (os.PathLike, Path)) or (isinstance(spec, str) and (os.sep in spec or "/" in spec
                                                                                 or Path(spec).is_dir()))


def open_images(spec: Union[str, PathLike, Dataset], size: int, split: str = "train",
                seed: int = 0) -> Tuple[Union[str, Dataset], str]:
    """``(images, label)`` for a dataset name, a folder, ``"sample_bank"`` or a ready dataset.

    ``split`` is ``"train"`` (random crops where the reader has them) or ``"test"``
    (deterministic: CelebA partition 2, CelebA-HQ ``test.txt``, Places2 ``test.txt``, a
    folder centre-cropped). A dataset name whose files are missing raises
    :class:`DataNotPrepared` naming the command that prepares it.
    """
    from .bank import SampleBank
    from .datasets import CelebA, CelebAHQ, Places2
    from .folders import ImageFolder

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(spec, Dataset):
        return spec, f"{type(spec).__name__} ({len(spec)} images)"
    if spec == "sample_bank":
        if split == "train":
            return "sample_bank", "the sample bank's 14 training photos (random crops)"
        bank = SampleBank("heldout", size=size)
        return bank, f"the sample bank's {len(bank)} held-out photos (centre crops at {size} px)"
    if isinstance(spec, str) and spec in DATASETS and spec != "nvidia":
        try:
            if spec == "celeba":
                ds = CelebA(split=split, size=size)
                return ds, (f"CelebA {split} split ({len(ds):,} faces; centre 178×178 crop, resized to {size} px) "
                            f"from {ds.root}")
            if spec == "celeba_hq":
                ds = CelebAHQ(split=split, size=size)
                return ds, f"CelebA-HQ {split} split ({len(ds):,} faces, resized to {size} px) from {ds.root}"
            ds = Places2(size=size, train=split == "train", seed=seed)
            crop = "random-resized crops" if split == "train" else "resized"
            return ds, f"Places2 {split} list ({len(ds):,} images, {crop} to {size} px) from {ds.root}"
        except (FileNotFoundError, ValueError) as err:
            reason = str(err).split("; run `python data_scripts/")[0]   # the command follows once
            raise DataNotPrepared(f"{DATASETS[spec][1]} is not prepared ({reason}); prepare it with "
                                  f"`{DATASETS[spec][0]}`") from err
    if _is_folder_spec(spec):
        crop = "random" if split == "train" else "center"
        ds = ImageFolder(spec, size=size, crop=crop, seed=seed)
        return ds, (f"{len(ds):,} images from {Path(spec)} (shorter side resized to {size} px, "
                    f"{'random' if crop == 'random' else 'centre'} {size}×{size} crops)")
    raise ValueError(f"unknown images {spec!r}: use sample_bank, a prepared dataset "
                     f"({', '.join(k for k in DATASETS if k != 'nvidia')}) or a folder of images")


def open_masks(spec: Union[str, PathLike, Dataset], size: int, split: str = "train", seed: int = 0,
               augment: Optional[bool] = None, invert: bool = False) -> Tuple[Union[str, Dataset], str]:
    """``(masks, label)`` for a generator kind, ``"nvidia"``, a folder of PNG masks or a dataset.

    Mask files are augmented (dilation, rotation, crop: :class:`~inpaintlib.masks.MaskFolder`)
    for ``split="train"`` unless ``augment=False``, never for ``"test"``.
    """
    from ..masks import MaskFolder, NvidiaMasks

    if isinstance(spec, Dataset):
        return spec, f"{type(spec).__name__} ({len(spec)} masks)"
    if isinstance(spec, str) and spec in MASK_KINDS:
        return spec, f"generated '{spec}' holes"
    augment = (split == "train") if augment is None else bool(augment)
    if spec == "nvidia":
        try:
            ds = NvidiaMasks(size=size, split=split, seed=seed, augment=augment, invert=invert)
        except (FileNotFoundError, ValueError) as err:
            raise DataNotPrepared(f"the NVIDIA irregular masks are not prepared ({err}); prepare them with "
                                  f"`{DATASETS['nvidia'][0]}`") from err
        return ds, f"NVIDIA irregular masks, {split} split: {ds.describe()}"
    if _is_folder_spec(spec):
        ds = MaskFolder(spec, size, augment=augment, seed=seed, invert=invert)
        return ds, ds.describe()
    raise ValueError(f"unknown masks {spec!r}: use a generator kind ({', '.join(MASK_KINDS)}), nvidia, "
                     f"or a folder of PNG masks (white = hole)")


@dataclass
class DataPlan:
    """What a run trains (or evaluates) on, and why: print it to see.

    ``images`` is ``"sample_bank"`` or a dataset of ``3×S×S`` tensors; ``masks`` a generator
    kind or a dataset of ``1×S×S`` holes — exactly what :class:`~inpaintlib.data.TrainingPairs`
    takes. ``source`` is ``"paper"``, ``"given"``, ``"sample bank"`` (the quick profile's
    choice) or ``"sample bank (fallback)"``; ``notes`` say what was missing and how to get it.
    """

    method: str
    profile: str
    split: str
    images: Union[str, Dataset]
    masks: Union[str, Dataset]
    images_label: str
    masks_label: str
    source: str
    default_masks: str
    notes: List[str] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        """Sample bank with the recipe's own generated holes (the runs the book ships)."""
        return self.images == "sample_bank" and self.masks == self.default_masks

    def tag(self) -> Optional[str]:
        """A label for the run's checkpoint config (``None`` for the default data), so a run
        on other data is never continued from, or mistaken for, a sample-bank run."""
        if self.is_default:
            return None
        return f"images: {self.images_label}; masks: {self.masks_label}"

    def config(self) -> dict:
        """What a phase's checkpoint config records about its data: ``{}`` for the default
        data, else ``{"data": self.tag()}``."""
        tag = self.tag()
        return {"data": tag} if tag else {}

    def mask_kind(self) -> Optional[str]:
        """The generator kind, or ``None`` when holes come from files."""
        return self.masks if isinstance(self.masks, str) else None

    def pairs(self, batch_size: int, size: int, ratio=(0.05, 0.6), seed: int = 0, mask_params=None):
        """The training stream: :class:`~inpaintlib.data.TrainingPairs` over this plan."""
        from .pairs import TrainingPairs

        return TrainingPairs(batch_size, size, images=self.images, masks=self.masks,
                             ratio=ratio if isinstance(self.masks, str) else None,
                             mask_params=mask_params if isinstance(self.masks, str) else None, seed=seed)

    def lines(self) -> List[str]:
        return ([f"data ({self.method}, profile '{self.profile}', {self.split}; {self.source}):",
                 f"  images: {self.images_label}", f"  masks:  {self.masks_label}"]
                + [f"  note: {n}" for n in self.notes])

    def __str__(self) -> str:
        return "\n".join(self.lines())


def plan_data(method: str, profile=None, size: int = 256, images=None, masks=None, split: str = "train",
              seed: int = 0, allow_sample_bank: bool = False, mask_augment: Optional[bool] = None,
              invert_masks: bool = False, default_masks: Optional[str] = None) -> DataPlan:
    """Decide what ``method`` trains (``split="train"``) or is evaluated on (``"test"``).

    ``images`` / ``masks`` given by the caller always win (a dataset name, a folder, a
    generator kind, ``"nvidia"``, ``"sample_bank"`` or a ready dataset). Otherwise the
    profile decides (see the module's table). ``paper`` with the paper's data missing raises
    :class:`DataNotPrepared` unless ``allow_sample_bank``; ``workshop`` falls back and says
    so in ``notes``. ``default_masks`` is the recipe's own generator kind (the schedule's).
    """
    from ..profiles import get_profile

    if method not in PAPER_DATA:
        raise ValueError(f"no data plan for {method!r}; choose one of {', '.join(PAPER_DATA)}")
    prof = get_profile(profile)
    paper = PAPER_DATA[method]
    default_masks = default_masks or ("free_form" if paper.masks == "nvidia" else paper.masks)
    notes: List[str] = []
    missing: List[str] = []
    source = "given"

    if images is not None:
        img, img_label = open_images(images, size, split, seed)
    elif prof.name == "quick":
        img, img_label = open_images("sample_bank", size, split, seed)
        source = "sample bank"
    else:
        img = img_label = None
        for name in paper.images:
            try:
                img, img_label = open_images(name, size, split, seed)
                source = "paper"
                break
            except DataNotPrepared as err:
                missing.append(str(err))
        if img is None:
            img, img_label = open_images("sample_bank", size, split, seed)
            source = "sample bank (fallback)"

    if masks is not None:
        msk, msk_label = open_masks(masks, size, split, seed, mask_augment, invert_masks)
    elif prof.name == "quick":
        msk, msk_label = open_masks(default_masks, size, split, seed)
    else:
        try:
            msk, msk_label = open_masks(paper.masks, size, split, seed, mask_augment, invert_masks)
        except DataNotPrepared as err:
            missing.append(str(err))
            msk, msk_label = open_masks(default_masks, size, split, seed)
            msk_label += " (instead of the paper's NVIDIA masks)"

    if missing:
        if prof.name == "paper" and not allow_sample_bank:
            raise DataNotPrepared(
                f"the paper profile trains {method} on the paper's data ({paper.source}), but: "
                + "; ".join(missing)
                + ". Prepare it, pass your own images/masks (--images, --masks), or allow the fallback to the "
                  "sample bank explicitly (allow_sample_bank=True, --allow-sample-bank)")
        notes.extend(missing)
        notes.append(f"the paper used: {paper.source}; until it is prepared this run uses what is listed above")
    elif source == "paper":
        notes.append(f"the paper's data: {paper.source}")
    elif source == "sample bank" and images is None:
        notes.append(f"the {prof.name} profile uses the sample bank; pass images=/masks= (--images/--masks) to "
                     f"train on a dataset or your own folder")
    return DataPlan(method=method, profile=prof.name, split=split, images=img, masks=msk, images_label=img_label,
                    masks_label=msk_label, source=source, default_masks=default_masks, notes=notes)


def eval_masks(spec, n: int, size: int, buckets: Sequence[Sequence[float]], seed: int = 0,
               invert: bool = False, root: Optional[PathLike] = None):
    """A fixed evaluation mask set: ``n`` masks per hole-ratio bucket.

    A generator kind gives :func:`~inpaintlib.masks.fixed_mask_set` (cached in ``root``);
    ``"nvidia"`` or a folder of PNG masks (no augmentation) is scanned in file order and the
    first ``n`` masks falling in each bucket are kept — the NVIDIA test masks are already
    grouped by hole ratio, so this is the paper's protocol. Returns ``(FixedMaskSet, label)``;
    a bucket with fewer than ``n`` masks in the folder keeps what it has (the label says so).
    """
    import torch

    from ..masks import FixedMaskSet, bucket_indices, fixed_mask_set, hole_ratio

    if isinstance(spec, str) and spec in MASK_KINDS:
        ms = fixed_mask_set(spec, n, size, buckets=buckets, seed=seed, root=root)
        return ms, f"{n} generated '{spec}' masks per bucket (seed {seed})"
    folder, label = open_masks(spec, size, split="test", augment=False, invert=invert)
    chosen: List[List[torch.Tensor]] = [[] for _ in buckets]
    for i in range(len(folder)):
        m = folder[i]
        b = int(bucket_indices(hole_ratio(m[None]), buckets)[0])
        if b >= 0 and len(chosen[b]) < n:
            chosen[b].append(m)
        if all(len(c) >= n for c in chosen):
            break
    if not any(chosen):
        raise ValueError(f"no mask in {label} falls in any bucket {list(buckets)}")
    masks = torch.stack([m for c in chosen for m in c])
    ids = torch.tensor([b for b, c in enumerate(chosen) for _ in c])
    counts = [len(c) for c in chosen]
    short = "" if min(counts) >= n else f" (fewer than {n} in some buckets: {counts})"
    return (FixedMaskSet(masks, ids, buckets, kind=f"files:{getattr(folder, 'folder', spec)}", size=(size, size),
                         seed=seed),
            f"{label}; the first {n} per bucket in file order{short}")
