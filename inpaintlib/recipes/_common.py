"""What every recipe phase does after building its Trainer (private)."""
from __future__ import annotations

from typing import Callable

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
    result = load_or_train(trainer, data)
    result["log"] = trainer.out_dir / "log.csv"
    trainer.close()
    return result


def paper_backbone(profile, backbone: str, paper_kind: str) -> str:
    """The backbone a recipe asks for: the ``paper`` profile turns ``"auto"`` into the
    paper's own network (``paper_kind``), so it never falls back to another one silently."""
    return paper_kind if getattr(profile, "name", profile) == "paper" and backbone == "auto" else backbone
