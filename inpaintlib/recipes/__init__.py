"""Training recipes, one per method: losses, optimisers, schedules per profile.

Importing this package registers every recipe with :mod:`inpaintlib.registry`, so
``inpaintlib train METHOD`` and the chapters find them by name.
"""
from . import gmcnn, pconv  # noqa: F401  (register "gmcnn", "pconv")

__all__ = ["gmcnn", "pconv"]
