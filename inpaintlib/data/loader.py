"""Training batches computed ahead, in worker processes: :class:`Prefetched`.

Taught in the workshop guide (feeding a GPU) and used by every inpainting recipe when
the profile asks for data workers (``workshop``: 4, ``paper``: 8; ``quick``: none).

A recipe's data is a pure function ``data(step) -> batch`` (:class:`TrainingPairs`,
CTSDG's ``EdgePairs``): that is what makes resuming exact. :class:`Prefetched` keeps
that contract and adds speed: a :class:`torch.utils.data.DataLoader` whose "dataset"
is the step index, so ``num_workers`` processes decode, crop, augment (and, for CTSDG,
compute edges) for steps ``s, s+1, …`` while the training process runs step ``s``.
Batches arrive in step order, in pinned memory when a GPU is present, so the Trainer's
``non_blocking`` copy overlaps with compute. The workers persist between phases of a
run's loop (``persistent_workers``) and are closed by :meth:`Prefetched.close`.

The batches are exactly ``data(step)`` (a test checks it), so a run with workers, a run
without, and a run resumed at any step see the same numbers.

Under DDP the Trainer asks for its rank's share only (``data.shard(step, rank,
world_size)`` when the stream has it, otherwise a slice of the global batch), so each
process decodes only its own images.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["Prefetched", "prefetch", "step_batch"]


def step_batch(data: Callable, step: int, rank: int = 0, world_size: int = 1) -> Any:
    """Rank ``rank``'s share of ``data(step)``: ``data.shard(step, rank, world_size)`` when the
    stream can read a share alone, else the matching slice of the global batch."""
    shard = getattr(data, "shard", None)
    if shard is not None:
        return shard(step, rank, world_size)
    from ..train import shard_batch

    return shard_batch(data(step), rank, world_size)


def prefetch(data: Callable, num_workers: int = 0, **kwargs) -> Callable:
    """``Prefetched(data, num_workers, **kwargs)``, or ``data`` itself when ``num_workers`` is 0
    (e.g. ``prefetch(pairs, profile.num_workers)`` in a chapter's training cell)."""
    return Prefetched(data, num_workers, **kwargs) if num_workers else data


class _Steps(Dataset):
    """A map-style dataset whose item ``step`` is that step's batch (this rank's share)."""

    def __init__(self, data: Callable, rank: int, world_size: int):
        self.data, self.rank, self.world_size = data, rank, world_size

    def __getitem__(self, step: int):
        return step_batch(self.data, int(step), self.rank, self.world_size)


class _FromStep(Sampler):
    """``start, start + 1, …`` without end; ``start`` is set before each ``iter(loader)``."""

    def __init__(self):
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


class Prefetched:
    """``data(step)`` computed ``prefetch_factor × num_workers`` steps ahead in worker processes.

    Parameters
    ----------
    data:
        The stream, ``data(step) -> batch`` (must be picklable where processes are
        spawned rather than forked: macOS, Windows).
    num_workers:
        Worker processes; ``0`` computes each batch in the training process when it is
        asked for (no prefetching, no extra processes).
    pin_memory:
        Pin batches for fast, asynchronous host-to-GPU copies; default: when CUDA is available.
    prefetch_factor, persistent_workers, timeout:
        As for :class:`~torch.utils.data.DataLoader`.

    Calling the object (``pre(step)``) computes one batch directly, like ``data(step)``;
    :meth:`batches` is what the Trainer iterates.
    """

    def __init__(self, data: Callable, num_workers: int = 0, pin_memory: Optional[bool] = None,
                 prefetch_factor: int = 2, persistent_workers: bool = True, timeout: float = 0):
        if not callable(data):
            raise TypeError(f"data must be callable as data(step) -> batch, got {type(data).__name__}")
        if isinstance(num_workers, bool) or int(num_workers) != num_workers or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        if int(prefetch_factor) < 1:
            raise ValueError(f"prefetch_factor must be at least 1, got {prefetch_factor!r}")
        self.data = data
        self.num_workers = int(num_workers)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.prefetch_factor = int(prefetch_factor)
        self.persistent_workers = bool(persistent_workers)
        self.timeout = float(timeout)
        self._loader: Optional[DataLoader] = None
        self._sampler: Optional[_FromStep] = None
        self._shard = (0, 1)

    def __call__(self, step: int):
        return self.data(step)

    def shard(self, step: int, rank: int = 0, world_size: int = 1):
        """One rank's share of one step, computed in this process."""
        return step_batch(self.data, step, rank, world_size)

    def _make_loader(self, rank: int, world_size: int) -> DataLoader:
        self.close()
        self._sampler = _FromStep()
        self._shard = (rank, world_size)
        self._loader = DataLoader(
            _Steps(self.data, rank, world_size), batch_size=None, sampler=self._sampler,
            num_workers=self.num_workers, pin_memory=self.pin_memory, prefetch_factor=self.prefetch_factor,
            persistent_workers=self.persistent_workers, timeout=self.timeout)
        return self._loader

    def batches(self, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Any]:
        """The batches of steps ``start, start + 1, …`` (this rank's share), in order."""
        if self.num_workers == 0:
            for step in itertools.count(int(start)):
                yield self.shard(step, rank, world_size)
            return
        loader = self._loader if self._loader is not None and self._shard == (rank, world_size) \
            else self._make_loader(rank, world_size)
        self._sampler.start = int(start)
        yield from iter(loader)

    def close(self) -> None:
        """Stop the worker processes (they also stop when the object is garbage collected)."""
        loader, self._loader = self._loader, None
        it = getattr(loader, "_iterator", None) if loader is not None else None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_loader"] = state["_sampler"] = None
        return state

    def __del__(self):  # pragma: no cover - timing depends on the garbage collector
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        pin = ", pinned" if self.pin_memory else ""
        return f"Prefetched({self.data!r}, {self.num_workers} workers{pin})"
