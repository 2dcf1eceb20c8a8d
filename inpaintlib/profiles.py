"""Run profiles: how big and how long a chapter's experiments are.

Taught in the intro chapter's set-up appendix.

========== ========================== ========== ====================================
profile    where                      image size budget
========== ========================== ========== ====================================
quick      CPU, CI, the HTML build    64 px      each notebook ≤ 3 min on 2 cores
workshop   one GPU                    256 px     ≤ 15 min of training per chapter
paper      one or more GPUs           256 px     the paper's schedule (hours to days)
========== ========================== ========== ====================================

Pick one with :func:`get_profile` (an argument wins, then ``INPAINTLIB_PROFILE``, then
``workshop`` if CUDA is available, else ``quick``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Optional, Union

import torch

__all__ = ["Profile", "PROFILES", "get_profile", "profile_names"]


@dataclass(frozen=True)
class Profile:
    """Sizes and schedules shared by every chapter.

    ``width`` is a channel multiplier a chapter applies to models that are too big
    for the profile (chapters print it when it is below 1). ``max_steps=None`` means
    "the recipe's own schedule" (the paper profile).
    """

    name: str
    image_size: int
    batch_size: int
    max_steps: Optional[int]
    eval_images: int
    width: float
    num_workers: int
    description: str

    def with_(self, **changes) -> "Profile":
        """A copy with some fields changed (e.g. ``profile.with_(max_steps=10)``)."""
        return replace(self, **changes)

    def __str__(self) -> str:
        steps = "recipe schedule" if self.max_steps is None else f"{self.max_steps} steps"
        return (
            f"profile '{self.name}': {self.image_size}px, batch {self.batch_size}, {steps}, "
            f"width ×{self.width:g}"
        )


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        image_size=64,
        batch_size=8,
        max_steps=150,
        eval_images=8,
        width=0.25,
        num_workers=0,
        description="CPU, CI and the HTML build: 64 px sample-bank crops, a few steps",
    ),
    "workshop": Profile(
        name="workshop",
        image_size=256,
        batch_size=16,
        max_steps=3000,
        eval_images=200,
        width=1.0,
        num_workers=4,
        description="one GPU: 256 px, real dataset if present, ≤ 15 min per chapter",
    ),
    "paper": Profile(
        name="paper",
        image_size=256,
        batch_size=16,
        max_steps=None,
        eval_images=2000,
        width=1.0,
        num_workers=8,
        description="one or more GPUs: the paper's schedule",
    ),
}


def profile_names() -> list[str]:
    """The profile names, smallest first."""
    return list(PROFILES)


def get_profile(name: Union[str, Profile, None] = None) -> Profile:
    """Return the profile named by ``name``, ``$INPAINTLIB_PROFILE``, or the machine default.

    The default is ``workshop`` when CUDA is available and ``quick`` otherwise.
    An unknown name raises :class:`ValueError` listing the valid ones.
    """
    if isinstance(name, Profile):
        return name
    source = "argument"
    if not name:
        name = os.environ.get("INPAINTLIB_PROFILE", "").strip() or None
        source = "INPAINTLIB_PROFILE"
    if not name:
        return PROFILES["workshop" if torch.cuda.is_available() else "quick"]
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r} (from {source}); choose one of {', '.join(PROFILES)}"
        )
    return PROFILES[key]
