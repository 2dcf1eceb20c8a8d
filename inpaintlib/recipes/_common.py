"""What every recipe phase does after building its Trainer (private)."""
from __future__ import annotations

from typing import Callable

from torch import nn

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
