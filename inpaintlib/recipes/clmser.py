"""Recipe: CLmser and its ablations (Huang, Tu and Xu, Neural Processing Letters 2020).
Taught in the "Lmser and its two dualities" chapter.

One phase, as in the released code (``reference/methods.md`` §1.2–1.3):

* **loss**: MSE between the network's Tanh output and the ground truth, both in ``[-1, 1]``,
  over *all* pixels (known and missing; the composite is only for evaluation);
* **optimiser**: Adam, lr 1e-3, no weight decay, ``amsgrad=True``; batch 16;
* **masks**: dense point-shaped holes (:func:`inpaintlib.masks.generate` kind
  ``"dense_points"``; the original reads mask files and ships no generator);
* **schedule**: MultiStepLR with γ = 0.1 at 40 % and 80 % of the steps — the paper config's
  epochs 20 and 40 of 50. The released trainer builds this scheduler but **never calls its**
  ``step()``, so the original runs at 1e-3 throughout; this recipe steps it (after every
  optimiser step, through :class:`~inpaintlib.train.Trainer`).

Per profile:

========== ====== ===== ======= ==================== =============================================
profile    size   batch steps   LR drops at step     note
========== ====== ===== ======= ==================== =============================================
quick      64 px  8     100     80                   CPU: a few seconds of training per variant
workshop   256 px 16    1,500   600, 1,200           one GPU; sample-bank crops are cut on the CPU
paper      256 px 16    84,375  33,750, 67,500       50 epochs of the 27,000-image CelebA-HQ
                                                     training split: 27,000 / 16 = 1,687.5
                                                     batches per epoch × 50 = 84,375 steps;
                                                     epochs 20 and 40 end at steps 33,750 and
                                                     67,500
========== ====== ===== ======= ==================== =============================================

The quick profile halves the batch (8 instead of 16) and trains 100 steps, so that a CPU runs
the chapter's eight trainings in a minute or two; the network itself is the full-size one
(1.6 M / 3.1 M parameters), at 64 px. On a GPU the workshop run is bound by the sample-bank
crops, which are cut on the CPU (about 0.15 s of one core per 16×256 px batch with dense-point
masks, measured on the book's 2-core build machine): about four minutes per variant. The
paper's 27,000-image split reads the README's "2,700/3,000" as 27,000/3,000 (CelebA-HQ has
30,000 images).

The log (``log.csv``: ``loss``, ``lr``) gets about 50 rows per run (one per epoch in ``paper``);
long runs also write a resumable ``last.pt`` every tenth of the run (at least 1,000 steps apart).
Training is *load-or-train* under ``checkpoint_root()/clmser-<variant>-<profile>`` (``-seed<S>``
before the profile for a seed other than 0, ``-n<N>`` after it for a custom training set of N
images): ``final.pt`` is loaded when present.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Dict, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data import TrainingPairs, checkpoint_root
from ..profiles import Profile, get_profile
from ..registry import register_recipe, save_model
from ..train import Trainer
from ._common import data_config, plan_for, run_phase, unchecked_model, with_batch_check, with_workers

__all__ = ["CLmserSchedule", "SCHEDULES", "schedule", "clmser_loss", "make_step_fn", "make_scheduler",
           "training_pairs", "run_dir", "loss_gradient_norms", "train_clmser"]


@dataclass(frozen=True)
class CLmserSchedule:
    """Image size, batch, length and learning-rate schedule of CLmser training for one profile."""

    image_size: int
    batch_size: int
    steps: int
    lr: float = 1e-3
    milestones: tuple = (0.4, 0.8)   # fractions of ``steps``: the paper config's epochs 20 and 40 of 50
    gamma: float = 0.1
    amsgrad: bool = True
    masks: str = "dense_points"
    hole_ratio: tuple = (0.05, 0.6)

    def milestone_steps(self) -> list:
        """The optimiser steps after which the learning rate is multiplied by ``gamma``."""
        return [max(1, round(f * self.steps)) for f in self.milestones]


SCHEDULES = {
    # a 100-step run keeps its learning rate until the last fifth: a drop at step 40 of 100
    # would leave most of the run at 1e-4
    "quick": CLmserSchedule(image_size=64, batch_size=8, steps=100, milestones=(0.8,)),
    "workshop": CLmserSchedule(image_size=256, batch_size=16, steps=1_500),
    "paper": CLmserSchedule(image_size=256, batch_size=16, steps=84_375),
}


def schedule(profile: Union[str, Profile, None] = None, **overrides) -> CLmserSchedule:
    """The CLmser schedule for a profile (default: the machine's), with optional overrides."""
    s = SCHEDULES[get_profile(profile).name]
    return replace(s, **overrides) if overrides else s


def clmser_loss(pred: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The released loss: MSE over every pixel in ``[-1, 1]`` between the prediction (given in
    ``[0, 1]``, as the model returns it) and the ground truth."""
    return F.mse_loss(pred * 2.0 - 1.0, image * 2.0 - 1.0)


def make_step_fn() -> Callable:
    """The training step: predict every pixel, MSE against the whole image, one Adam step."""

    def step_fn(trainer: Trainer, batch):
        image, hole = batch
        pred = unchecked_model(trainer, "g")(image, hole)   # the data pipeline checked the batch
        loss = clmser_loss(pred, image)
        trainer.optimize("g", loss)
        return {"loss": loss}

    return with_batch_check(step_fn)


def make_scheduler(optimizer: torch.optim.Optimizer, sched: CLmserSchedule):
    """MultiStepLR at ``sched.milestone_steps()`` with ``sched.gamma`` (stepped once per
    optimiser step by the Trainer — unlike the released trainer, which never steps it)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=sched.milestone_steps(), gamma=sched.gamma)


def training_pairs(sched: CLmserSchedule, images=None, seed: int = 0) -> TrainingPairs:
    """The training stream: sample-bank crops (or the dataset ``images`` of ``3×S×S``
    tensors) with dense point-shaped holes of ``sched.hole_ratio``."""
    return TrainingPairs(sched.batch_size, sched.image_size, images="sample_bank" if images is None else images,
                         masks=sched.masks, ratio=sched.hole_ratio, seed=seed)


def run_dir(variant: str = "CLmser", profile: Union[str, Profile, None] = None, n_images: Optional[int] = None,
            seed: int = 0) -> Path:
    """Where :func:`train_clmser` keeps a run: ``checkpoint_root()/clmser-<variant>-<profile>``,
    with ``-n<N>`` appended for a custom training set of ``N`` images and ``-seed<S>`` before the
    profile for a seed other than 0 (each seed is its own run: one seed's checkpoint is never
    loaded for another)."""
    suffix = "" if n_images is None else f"-n{int(n_images)}"
    seeded = "" if int(seed) == 0 else f"-seed{int(seed)}"
    return checkpoint_root() / f"clmser-{variant}{seeded}-{get_profile(profile).name}{suffix}"


def loss_gradient_norms(model: nn.Module, image: torch.Tensor, hole: torch.Tensor) -> Dict[str, float]:
    """Per-kernel gradient norms of the training loss on one batch, by layer name
    (:meth:`~inpaintlib.models.CLmser.gradient_norms`). Runs on a copy in training mode (batch
    statistics, as during training), so ``model`` and its BN statistics are untouched."""
    probe = copy.deepcopy(model).train()
    probe.zero_grad(set_to_none=True)
    dev = next(probe.parameters()).device
    clmser_loss(probe(image.to(dev), hole.to(dev)), image.to(dev)).backward()
    return probe.gradient_norms()


@register_recipe("clmser")
def train_clmser(profile: Union[str, Profile, None] = None, out_dir: Union[str, Path, None] = None,
                 variant: str = "CLmser", max_steps: Optional[int] = None, device=None,
                 data: Optional[Callable] = None, images=None, progress: bool = True,
                 seed: int = 0, overrides: Optional[dict] = None, masks=None, allow_sample_bank: bool = False,
                 mask_augment: Optional[bool] = None, invert_masks: bool = False,
                 num_workers: Optional[int] = None) -> nn.Module:
    """Train one CLmser variant (``"CLmser"``, ``"CLmser_n"``, ``"CLmser_w"`` or ``"CAE"``) and
    return it in eval mode.

    ``images``: what to train on instead of the profile's choice — a dataset of ``3×S×S``
    tensors (e.g. a handful of photos, for the chapter's small-data experiment; the default
    run directory, :func:`run_dir`, then gets a ``-n<len(images)>`` suffix), a prepared dataset's name
    (``"celeba_hq"``, the paper's) or a folder. ``masks``: a generator kind (it becomes the
    schedule's ``masks``), ``"nvidia"`` or a folder of PNG masks. By default the profile
    decides (:func:`inpaintlib.data.plan_data`, printed): the sample bank in ``quick``,
    CelebA-HQ with dense points in ``workshop``/``paper`` when prepared. ``data``: any
    ``data(step) -> (image, hole)`` stream instead (not together with ``images``/``masks``).
    ``max_steps`` overrides the schedule's length (the LR milestones stay where the schedule
    puts them, as fractions); ``overrides`` replaces fields of the profile's :class:`CLmserSchedule`.
    Writes the portable model file ``<out_dir>/clmser.pt``.
    """
    from ..models.lmser import CLmser

    if data is not None and images is not None:
        raise ValueError("pass either data (a batch stream) or images (a dataset), not both")
    prof = get_profile(profile)
    sched = schedule(prof, **(overrides or {}))
    if max_steps is not None:
        sched = replace(sched, steps=int(max_steps))
    plan = plan_for("clmser", prof, sched.image_size, data, seed, sched.masks, progress, images=images, masks=masks,
                    allow_sample_bank=allow_sample_bank, mask_augment=mask_augment, invert_masks=invert_masks)
    if plan is not None and plan.mask_kind() not in (None, sched.masks):
        sched = replace(sched, masks=plan.mask_kind())
    n_images = len(images) if images is not None and hasattr(images, "__len__") and not isinstance(images, str) else None
    out_dir = Path(out_dir or run_dir(variant, prof, n_images, seed=seed))
    torch.manual_seed(seed)
    net = CLmser.variant(variant)
    if data is None:
        data = with_workers(plan.pairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=seed),
                            prof, num_workers)
    opt = torch.optim.Adam(net.parameters(), lr=sched.lr, weight_decay=0.0, amsgrad=sched.amsgrad)
    trainer = Trainer({"g": net}, {"g": opt}, make_step_fn(), schedulers={"g": make_scheduler(opt, sched)},
                      out_dir=out_dir, max_steps=sched.steps, device=device, progress=progress, seed=seed,
                      log_every=max(1, sched.steps // 50), ckpt_every=max(1000, sched.steps // 10),
                      config={"variant": variant, **net.config(), **asdict(sched), **data_config(plan)})
    run_phase(trainer, data)
    net = net.cpu().eval()
    save_model(net, out_dir / "clmser.pt", "clmser", config=net.config(),
               meta={"profile": prof.name, "variant": variant, "schedule": asdict(sched), **data_config(plan)})
    return net
