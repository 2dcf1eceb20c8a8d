"""A tiny GAN-style training run shared by the DDP test in ``test_train.py``.

Imported by the test for the single-process reference run, and launched by it as::

    python -m torch.distributed.run --nnodes=1 --nproc_per_node=2 \\
        --master_addr=127.0.0.1 --master_port=<free port> tests/ddp_worker.py OUT_DIR

Each rank also writes ``OUT_DIR/rank<r>.json`` with what it saw (local batch size,
whether its models were DDP-wrapped), so the test can check the sharding.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.train import Trainer, seed_everything

GLOBAL_BATCH = 8
STEPS = 6


def build_models() -> dict[str, nn.Module]:
    """A generator and a critic, initialised the same way in every process."""
    seed_everything(0)
    g = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 3, 3, padding=1))
    d = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
    return {"g": g, "d": d}


def data(step: int):
    """The global batch for ``step``: an input and its target (a shifted copy)."""
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.rand(GLOBAL_BATCH, 3, 8, 8, generator=gen)
    return x, torch.roll(x, 1, dims=-1)


SEEN: dict = {}


def step_fn(trainer: Trainer, batch):
    """One critic step, then one generator step (reconstruction + adversarial)."""
    x, y = batch
    SEEN["local_batch"] = int(x.shape[0])
    g, d = trainer.models["g"], trainer.models["d"]
    fake = g(x)
    scores = d(torch.cat([fake.detach(), y]))  # one critic forward per backward (DDP)
    n = x.shape[0]
    loss_d = F.softplus(scores[:n]).mean() + F.softplus(-scores[n:]).mean()
    trainer.optimize("d", loss_d)
    loss_rec = (fake - y).pow(2).mean()
    loss_g = loss_rec + 0.1 * F.softplus(-d(fake)).mean()
    trainer.optimize("g", loss_g)
    return {"d": loss_d, "g": loss_g, "rec": loss_rec}


def make_trainer(out_dir, **kw) -> Trainer:
    """The Trainer used both by the single-process reference and by each DDP rank."""
    models = build_models()
    opts = {n: torch.optim.Adam(m.parameters(), lr=1e-2) for n, m in models.items()}
    sched = {"g": torch.optim.lr_scheduler.MultiStepLR(opts["g"], [3])}
    return Trainer(models, opts, step_fn, schedulers=sched, out_dir=out_dir, max_steps=STEPS,
                   device="cpu", log_every=1, progress=False, seed=0, **kw)


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    trainer = make_trainer(out_dir)
    trainer.fit(data)
    info = {
        "rank": trainer.rank,
        "world_size": trainer.world_size,
        "local_batch": SEEN["local_batch"],
        "wrapped": {n: type(m).__name__ for n, m in trainer.models.items()},
        "step": trainer.step,
    }
    Path(out_dir, f"rank{trainer.rank}.json").write_text(json.dumps(info))
    trainer.close()


if __name__ == "__main__":
    main(sys.argv[1])
