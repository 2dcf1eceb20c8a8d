"""Training recipes, one per method: losses, optimisers, schedules per profile.

Importing this package registers every recipe with :mod:`inpaintlib.registry`, so
``inpaintlib train METHOD`` and the chapters find them by name.
"""
from . import pconv  # noqa: F401  (registers "pconv")

__all__ = ["pconv"]
