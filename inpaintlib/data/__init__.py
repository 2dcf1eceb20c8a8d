"""Data for the book: the offline sample bank, your own folders, real data sets, edges.

Taught in the intro chapter ("What is inpainting?", the data section).

* :mod:`~inpaintlib.data.bank` — photos shipped inside scikit-image,
  scikit-learn and matplotlib, split by image into train and held out
  (:class:`SampleBank`, :func:`sample_bank_batch`): the default data, no download.
* :mod:`~inpaintlib.data.folders` — :class:`ImageFolder` for a folder of photos.
* :mod:`~inpaintlib.data.datasets` — :class:`CelebA`, :class:`CelebAHQ`,
  :class:`Places2` readers for the files ``data_scripts/`` prepares under
  :func:`data_root`.
* :mod:`~inpaintlib.data.transforms` — torch-only resize / crops / flip and
  :func:`load_image`.
* :mod:`~inpaintlib.data.loader` — :class:`Prefetched`: training batches computed ahead in
  worker processes (the profiles' ``num_workers``).
* :mod:`~inpaintlib.data.sources` — :func:`plan_data`: which images and masks a recipe
  trains and evaluates on (the paper's data when prepared, your folders, or the sample bank).
* :mod:`~inpaintlib.data.edges` — :func:`grayscale` and Canny :func:`edges` (CTSDG).
* :mod:`~inpaintlib.data.sketches` — :func:`pencil_sketch`, the :class:`SketchPairs` proxy
  and the :class:`CUFS` / :class:`CUFSF` readers ("Sketch synthesis with SC-Lmser").

Every data set returns ``3×S×S`` float tensors in ``[0, 1]``; a ``DataLoader`` stacks
them into the library's ``B×3×H×W`` image convention.
"""
from . import transforms
from .datasets import CelebA, CelebAHQ, Places2, read_list_file
from .edges import edges, grayscale
from .folders import IMAGE_EXTENSIONS, ImageFolder, list_images
from .paths import checkpoint_root, data_root, repo_root
from .pairs import TrainingPairs
from .loader import Prefetched, prefetch
from .sources import PAPER_DATA, DataNotPrepared, DataPlan, plan_data
from .sketches import CUFS, CUFSF, SketchPairs, pencil_sketch
from .bank import (
    HELDOUT_NAMES,
    PHOTOS,
    TRAIN_NAMES,
    SampleBank,
    clear_sample_bank_cache,
    load_sample_photo,
    sample_bank,
    sample_bank_batch,
    sample_bank_images,
    sample_bank_names,
)
from .transforms import (
    center_crop,
    hflip,
    load_image,
    random_crop,
    random_resized_crop,
    resize,
)

__all__ = [
    "checkpoint_root",
    "TrainingPairs",
    "Prefetched",
    "prefetch",
    "plan_data",
    "DataPlan",
    "DataNotPrepared",
    "PAPER_DATA",
    "transforms",
    "data_root",
    "repo_root",
    "PHOTOS",
    "TRAIN_NAMES",
    "HELDOUT_NAMES",
    "sample_bank_names",
    "sample_bank_images",
    "load_sample_photo",
    "clear_sample_bank_cache",
    "SampleBank",
    "sample_bank",
    "sample_bank_batch",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "list_images",
    "CelebA",
    "CelebAHQ",
    "Places2",
    "read_list_file",
    "edges",
    "grayscale",
    "load_image",
    "resize",
    "center_crop",
    "random_crop",
    "random_resized_crop",
    "hflip",
    "pencil_sketch",
    "SketchPairs",
    "CUFS",
    "CUFSF",
]
