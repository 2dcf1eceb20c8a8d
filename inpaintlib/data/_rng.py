"""Seeded random generators shared by the data sets (private).

A data set's random crop for item ``index`` in epoch ``epoch`` comes from a fresh
``torch.Generator`` seeded from ``(seed, epoch, index)``, so it does not depend on
the order items are read in, on worker processes, or on the global RNG.
"""
from __future__ import annotations

import numpy as np
import torch


def check_seed(seed: int, what: str = "seed") -> int:
    """Return ``seed`` as an ``int``; a negative or non-integer seed raises ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{what} must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be a non-negative int, got {seed}")
    return int(seed)


def generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by mixing the non-negative ints ``keys``.

    NumPy's ``SeedSequence`` does the mixing, so nearby keys give unrelated streams.
    """
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0]
    g = torch.Generator()
    g.manual_seed(int(state))
    return g
