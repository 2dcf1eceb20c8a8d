"""What every recipe phase does after building its Trainer (private)."""
from __future__ import annotations

from typing import Callable, Optional

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
