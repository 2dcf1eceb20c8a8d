"""inpaintlib: the library behind the Inpainting Book.

Conventions (see :mod:`inpaintlib.tensors`): images are ``B×3×H×W`` floats in
``[0, 1]``; masks are called ``hole``, ``B×1×H×W``, with **1 = missing pixel**.
"""
from .tensors import composite, device, mask_image, to_numpy, to_pil, to_tensor, validate
from .profiles import Profile, get_profile
from . import baselines, data, masks, metrics, viz
from .train import Trainer, load_or_train

__version__ = "0.1.0"

__all__ = [
    "composite",
    "device",
    "mask_image",
    "to_numpy",
    "to_pil",
    "to_tensor",
    "validate",
    "Profile",
    "get_profile",
    "baselines",
    "data",
    "masks",
    "metrics",
    "viz",
    "Trainer",
    "load_or_train",
    "__version__",
]
