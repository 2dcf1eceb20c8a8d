"""What every recipe phase does after building its Trainer (private)."""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
from torch import nn

from ..losses.calibration import report_shares  # noqa: F401  (the recipes print loss shares with it)
from ..train import Trainer, load_or_train


def run_phase(trainer: Trainer, data: Callable, *aux) -> dict:
    """Load-or-train one phase and return its result plus ``"log"`` (the CSV path).

    ``aux`` are loss helpers (frozen backbones, confidence kernels) that follow the
    models to the trainer's device; they are not part of the checkpoint.
    """
    for module in aux:
        if isinstance(module, nn.Module):
            module.to(trainer.device)
    try:
        result = load_or_train(trainer, data)
    finally:
        close = getattr(data, "close", None)  # a Prefetched stream: stop its worker processes
        if callable(close):
            close()
    result["log"] = trainer.out_dir / "log.csv"
    trainer.close()
    return result


def check_pairs(batch) -> None:
    """The boundary check of an inpainting batch ``(image, hole, …)``:
    :func:`~inpaintlib.tensors.validate` of its image and hole, and every further entry
    (CTSDG's edge maps) a finite ``B×1×H×W`` map in ``[0, 1]``. The recipes' step functions
    carry it as ``step_fn.check_batch``; the :class:`~inpaintlib.train.Trainer` calls it on
    each batch on the host, before the batch moves to the device, so the step itself can
    skip every check that reads values."""
    from ..tensors import validate

    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(f"an inpainting batch is (image, hole, ...), got {type(batch).__name__}")
    image, hole = validate(batch[0], batch[1])
    for i, t in enumerate(batch[2:], start=2):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 1 or t.shape[0] != image.shape[0] \
                or t.shape[-2:] != image.shape[-2:]:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"batch entry {i} must be a B×1×H×W map matching the image {tuple(image.shape)}, "
                             f"got {shape}")
        if not t.is_floating_point() or not bool(torch.isfinite(t).all()) or \
                (t.numel() and (float(t.min()) < 0 or float(t.max()) > 1)):
            raise ValueError(f"batch entry {i} must be a finite floating-point map with values in [0, 1]")


def with_batch_check(step_fn: Callable) -> Callable:
    """``step_fn`` with ``check_batch = check_pairs`` attached (the Trainer's default)."""
    step_fn.check_batch = check_pairs
    return step_fn


def _takes_check(fn) -> bool:
    """Whether ``fn`` (a function, or a module's ``forward``) has a ``check`` keyword."""
    target = fn.forward if isinstance(fn, nn.Module) else fn
    try:
        return "check" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def unchecked(fn: Callable) -> Callable:
    """``fn`` with ``check=False`` when it takes that keyword (the book's models, critics and
    losses), else ``fn`` itself (a reader's own loss function, a test double).

    Inside a training step the batch has been checked where it entered (the data
    pipeline), so the step's own calls skip the checks that read tensor values: on a GPU
    each of them makes the host wait for the device (:mod:`inpaintlib.tensors`)."""
    return functools.partial(fn, check=False) if _takes_check(fn) else fn


def plain(trainer, name: str) -> nn.Module:
    """The trainer's plain module ``name`` (not DDP-wrapped or compiled)."""
    module = getattr(trainer, "module", None)
    return module(name) if callable(module) else trainer.models[name]


def unchecked_model(trainer, name: str, wrapped: bool = True) -> Callable:
    """:func:`unchecked` for the trainer's model ``name``: the model as the trainer runs it
    (``wrapped``: DDP, compiled) or the plain module, with ``check=False`` when the plain
    module's ``forward`` takes it."""
    module = plain(trainer, name)
    m = trainer.models[name] if wrapped else module
    return functools.partial(m, check=False) if _takes_check(module) else m


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside the block the ``modules``' parameters do not require grad, then get their
    flags back: a generator step passes gradients *through* a critic (or through the
    other generator) without computing that network's own weight gradients, which its
    optimiser would only zero. Pass the plain modules (``trainer.module(name)``), not
    their DDP wrappers: a DDP module whose parameters get no gradient would wait for
    them in its next step."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


#: keyword arguments every inpainting recipe takes to choose its data (see :func:`plan_for`)
DATA_ARGS = ("images", "masks", "allow_sample_bank", "mask_augment", "invert_masks")


def plan_for(method: str, profile, size: int, data, seed: int, default_masks: str, progress: bool,
             images=None, masks=None, allow_sample_bank: bool = False, mask_augment: Optional[bool] = None,
             invert_masks: bool = False):
    """The recipe's :class:`~inpaintlib.data.DataPlan` (printed when ``progress``), or ``None``
    when the caller passed its own ``data`` stream."""
    from ..data.sources import plan_data

    if data is not None:
        if images is not None or masks is not None:
            raise ValueError("pass either data (a batch stream) or images/masks, not both")
        return None
    plan = plan_data(method, profile, size, images=images, masks=masks, seed=seed,
                     allow_sample_bank=allow_sample_bank, mask_augment=mask_augment, invert_masks=invert_masks,
                     default_masks=default_masks)
    if progress:
        print(plan)
    return plan


def with_workers(data: Callable, profile, num_workers: Optional[int] = None) -> Callable:
    """``data`` computed ahead in the profile's number of worker processes
    (:class:`~inpaintlib.data.Prefetched`), or as it is with none (the quick profile)."""
    from ..data.loader import prefetch

    return prefetch(data, getattr(profile, "num_workers", 0) if num_workers is None else int(num_workers))


def data_config(plan) -> dict:
    """What a phase's checkpoint config records about its data: nothing for the book's
    default data (sample bank, the recipe's holes), else the plan's description."""
    return plan.config() if plan is not None else {}


def paper_backbone(profile, backbone: str, paper_kind: str) -> str:
    """The backbone a recipe asks for: the ``paper`` profile turns ``"auto"`` into the
    paper's own network (``paper_kind``), so it never falls back to another one silently."""
    return paper_kind if getattr(profile, "name", profile) == "paper" and backbone == "auto" else backbone
