"""Training recipes, one per method: losses, optimisers, schedules per profile.

Importing this package registers every recipe with :mod:`inpaintlib.registry`, so
``inpaintlib train METHOD`` and the chapters find them by name.
"""
from . import clmser, gmcnn, pconv  # noqa: F401  (register "clmser", "gmcnn", "pconv")
from . import sc_lmser  # noqa: F401  (register "sc_lmser")
from . import ctsdg  # noqa: F401  (register "ctsdg")

__all__ = ["clmser", "gmcnn", "pconv", "sc_lmser", "ctsdg"]
