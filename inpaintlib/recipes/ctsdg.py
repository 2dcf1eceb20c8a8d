"""Recipe: CTSDG (Guo, Yang, Huang, ICCV 2021). Taught in the "Dual streams" chapter.

Two phases, as the official code and its MindSpore port (``reference/methods.md`` §5.3):

1. **train**: generator Adam lr 2e-4, discriminator lr 0.1× the generator's; every
   iteration one generator step, then one discriminator step on the same batch;
2. **fine-tune**: generator lr 5e-5 with **every** BatchNorm of the generator in eval
   mode (running statistics frozen, affine parameters still trained — the original's
   ``freeze_ec_bn``, which despite its name freezes all of them), discriminator lr 0.1×.

Loss: :class:`inpaintlib.losses.CTSDGLoss` (60·hole + 10·valid + 0.1·perceptual +
250·style + 0.1·adversarial + 1·intermediate) and
:func:`inpaintlib.losses.discriminator_loss`; batch 6; PyTorch's default Adam betas.
Per profile:

========== ====== ====== ===== ============ ============== ===========================================
profile    size   levels width train steps  fine-tune      note
========== ====== ====== ===== ============ ============== ===========================================
quick      64 px  5      0.125 80           20             CPU, under a minute; printed as shrunk
workshop   256 px 7      1     1,200        300            one GPU, sized for ≤ 15 minutes (see below)
paper      256 px 7      1     350,000      150,000        the MindSpore ``default_config.yaml``
                                                           (the official code's default: 300,000)
========== ====== ====== ===== ============ ============== ===========================================

**Edges once per step.** :class:`EdgePairs` wraps the data stream and computes, on the
CPU before the batch moves to the device, the two Canny maps a step needs: the
known-region edges the generator reads (:func:`~inpaintlib.models.ctsdg.known_region_edges`)
and the ground truth's full edges, the target of the intermediate and adversarial terms
and the real input of the structure discriminator.

The workshop length is an estimate, not a measurement (no GPU was available when it was
set): the MindSpore port reports 573–590 ms per iteration on one RTX 3090 / V100, and each
iteration here also computes the two Canny maps of six 256-px images on the CPU (0.53 s on
the loaded 2-core development machine, ``benchmarks/results/ctsdg-cpu.md``; less on a
GPU host's CPU), so 1,500 iterations should take 10–15 minutes on a recent GPU.
``benchmarks/ctsdg.py`` measures both parts.

Every phase is *load-or-train*: ``<out_dir>/<phase>/final.pt`` is loaded when present.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..data import checkpoint_root
from ..data.edges import edges as canny_edges
from ..data.edges import grayscale
from ..profiles import Profile, get_profile
from ..registry import register_recipe, save_model
from ..train import Trainer
from ._common import (data_config, frozen, paper_backbone, plain, plan_for, report_shares, run_phase, unchecked,
                      unchecked_model, with_batch_check, with_workers)

__all__ = ["CTSDGSchedule", "SCHEDULES", "schedule", "EdgePairs", "make_step_fn", "train_phase", "run_dir",
           "train_ctsdg"]

PHASES = ("train", "finetune")


@dataclass(frozen=True)
class CTSDGSchedule:
    """Sizes, steps and learning rates of the two CTSDG phases for one profile."""

    image_size: int
    layers: int
    width: float
    batch_size: int
    train_steps: int
    finetune_steps: int
    lr_train: float = 2e-4
    lr_finetune: float = 5e-5
    d_lr_ratio: float = 0.1
    hole_ratio: tuple = (0.05, 0.6)
    sigma: float = 2.0
    #: train Bi-GFF's mixing scalars α and β (the method). ``False`` is the ablation without
    #: fusion: α and β stay at their initial 0 for the whole run, so the block passes both
    #: streams through unchanged (and its gates, multiplied by 0, get no gradient either).
    bigff: bool = True

    def model_config(self) -> dict:
        return {"layers": self.layers, "width": self.width, "sigma": self.sigma}


SCHEDULES = {
    "quick": CTSDGSchedule(image_size=64, layers=5, width=0.125, batch_size=6, train_steps=80, finetune_steps=20),
    "workshop": CTSDGSchedule(image_size=256, layers=7, width=1.0, batch_size=6, train_steps=1200,
                              finetune_steps=300),
    "paper": CTSDGSchedule(image_size=256, layers=7, width=1.0, batch_size=6, train_steps=350_000,
                           finetune_steps=150_000),
}


def schedule(profile: Union[str, Profile, None] = None, **overrides) -> CTSDGSchedule:
    """The CTSDG schedule for a profile (default: the machine's), with optional overrides."""
    s = SCHEDULES[get_profile(profile).name]
    return replace(s, **overrides) if overrides else s


class EdgePairs:
    """``data(step) -> (image, hole, edge_input, edge_target)``: a ``(image, hole)`` stream
    with the step's Canny maps, each computed once (σ = ``sigma``).

    ``edge_input``: :func:`~inpaintlib.models.ctsdg.known_region_edges` (what the
    generator reads; independent of the hole's pixels); ``edge_target``: the full Canny
    edges of the ground truth (:func:`inpaintlib.data.edges`).

    **Per rank, off the training thread.** :meth:`shard` computes the edges of one rank's
    share only (under DDP each process runs Canny on its own images, not on the global
    batch), and reads only that share from the stream when it has ``shard`` itself
    (:class:`~inpaintlib.data.TrainingPairs`). Wrapped in
    :class:`~inpaintlib.data.Prefetched` (the recipe does so when the profile has data
    workers), the edges are computed in the worker processes, ahead of the step.
    """

    def __init__(self, pairs: Callable, sigma: float = 2.0):
        if not callable(pairs):
            raise TypeError(f"pairs must be callable as pairs(step) -> (image, hole), got {type(pairs).__name__}")
        self.pairs, self.sigma = pairs, float(sigma)

    def _with_edges(self, batch):
        from ..models.ctsdg import known_region_edges

        if len(batch) == 4:          # already has its edges
            return batch
        image, hole = batch
        return image, hole, known_region_edges(image, hole, self.sigma), canny_edges(image, self.sigma)

    def __call__(self, step: int):
        return self._with_edges(self.pairs(step))

    def shard(self, step: int, rank: int = 0, world_size: int = 1):
        """Rank ``rank``'s share of step ``step`` with its edges, computed on that share alone:
        equal to ``shard_batch(self(step), rank, world_size)`` (Canny works image by image)."""
        from ..data.loader import step_batch

        return self._with_edges(step_batch(self.pairs, step, rank, world_size))


def make_step_fn(loss_fn: Callable) -> Callable:
    """One iteration: a generator step (the discriminator frozen), then a discriminator step.

    The batch was checked where it entered (the data pipeline), so no call in the step
    reads a tensor's value on the host (``check=False``)."""
    from ..losses import discriminator_loss

    loss = unchecked(loss_fn)

    def step_fn(trainer: Trainer, batch):
        image, hole, edge_in, edge_gt = batch
        g, d = unchecked_model(trainer, "g"), unchecked_model(trainer, "d")
        gray = grayscale(image, "709", check=False)
        # generator step: the discriminator only passes gradients through (no DDP hooks, no grads of its own)
        with frozen(plain(trainer, "d")):
            pred, aux = g(image, hole, edge=edge_in, return_aux=True)
            fake_scores, fake_edge = unchecked_model(trainer, "d", wrapped=False)(pred, gray)
            total, terms = loss(pred, image, hole, aux["projected_image"], aux["projected_edge"], edge_gt,
                                fake_scores, fake_edge)
            trainer.optimize("g", total, parts=terms)
        real_scores, real_edge = d(image, gray, edge=edge_gt)
        fake_scores, fake_edge = d(pred.detach(), gray)
        d_loss = discriminator_loss(real_scores, fake_scores, real_edge, fake_edge, edge_gt)
        trainer.optimize("d", d_loss)
        return {"loss": total, **terms, "d": d_loss}

    return with_batch_check(step_fn)


def train_phase(g: nn.Module, d: nn.Module, loss_fn: Callable, data: Callable, *, phase: str, steps: int,
                lr: float, d_lr: float, out_dir: Union[str, Path], device=None, progress: bool = True,
                log_every: int = 10, config: Optional[dict] = None) -> dict:
    """Run (or load) one phase into ``<out_dir>/<phase>``. ``"finetune"`` freezes every
    generator BatchNorm first; ``"train"`` unfreezes them. ``data`` is wrapped in
    :class:`EdgePairs` unless it already is one (or a :class:`~inpaintlib.data.Prefetched`
    over one, whose workers then compute the edges). ``config`` adds entries to the
    checkpoint's config."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    g.freeze_bn(phase == "finetune")
    opts = {"g": torch.optim.Adam(g.parameters(), lr=lr), "d": torch.optim.Adam(d.parameters(), lr=d_lr)}
    if not isinstance(data, EdgePairs) and not isinstance(getattr(data, "data", None), EdgePairs):
        data = EdgePairs(data, getattr(g, "sigma", 2.0))
    trainer = Trainer({"g": g, "d": d}, opts, make_step_fn(loss_fn), out_dir=Path(out_dir) / phase,
                      max_steps=steps, device=device, progress=progress, log_every=log_every,
                      config={"phase": phase, "lr": lr, "d_lr": d_lr, **(config or {})})
    return run_phase(trainer, data, loss_fn)  # the frozen backbone follows the models


def run_dir(profile: Union[str, Profile, None] = None, seed: int = 0, bigff: bool = True) -> Path:
    """Where :func:`train_ctsdg` keeps a run: ``checkpoint_root()/ctsdg-<profile>``
    (``ctsdg-nobigff-<profile>`` for the ablation without Bi-GFF), with ``-seed<S>`` before the
    profile for a seed other than 0 (each seed is its own run: one seed's checkpoint is never
    loaded for another)."""
    name = "ctsdg" if bigff else "ctsdg-nobigff"
    seeded = "" if int(seed) == 0 else f"-seed{int(seed)}"
    return checkpoint_root() / f"{name}{seeded}-{get_profile(profile).name}"


@register_recipe("ctsdg")
def train_ctsdg(profile: Union[str, Profile, None] = None, out_dir: Union[str, Path, None] = None,
                max_steps: Optional[int] = None, backbone: str = "auto", device=None,
                data: Optional[Callable] = None, progress: bool = True, seed: int = 0,
                return_discriminator: bool = False, overrides: Optional[dict] = None, images=None, masks=None,
                allow_sample_bank: bool = False, mask_augment: Optional[bool] = None, invert_masks: bool = False,
                num_workers: Optional[int] = None):
    """Train CTSDG with the two-phase recipe and return the generator in eval mode
    (``(generator, discriminator)`` with ``return_discriminator=True``).

    ``max_steps`` overrides the training phase's length (fine-tuning gets a quarter of
    it); ``overrides`` replaces fields of the profile's :class:`CTSDGSchedule` —
    ``overrides={"bigff": False}`` trains the ablation without Bi-GFF fusion (α = β = 0
    throughout). The default ``out_dir`` is :func:`run_dir` (one folder per seed and Bi-GFF
    setting).
    ``backbone`` is passed to :func:`inpaintlib.nn.perceptual_backbone` (``"auto"``:
    VGG16 when its weights are found, else EfficientNet-Lite0, printed; the ``paper``
    profile insists on VGG16). Fine-tuning draws fresh batches (seed + 1). The final
    generator is also written as a portable model file ``<out_dir>/ctsdg.pt``.

    Data (:func:`inpaintlib.data.plan_data`, printed): ``images`` (``"celeba"``, another
    prepared dataset, a folder or ``"sample_bank"``) and ``masks`` (``"nvidia"``, a folder of
    PNG masks, or a generator kind); by default the profile's choice — the sample bank in
    ``quick``, CelebA (178 px centre crop → 256) with the NVIDIA masks in ``workshop`` and
    ``paper`` when prepared. The edges are computed in the profile's data workers
    (``num_workers`` overrides their number). ``data`` replaces all of it.
    """
    from ..losses import CTSDGLoss
    from ..models.ctsdg import CTSDG, CTSDGDiscriminator
    from ..nn import perceptual_backbone

    prof = get_profile(profile)
    sched = schedule(prof, **(overrides or {}))
    if max_steps is not None:
        sched = replace(sched, train_steps=int(max_steps), finetune_steps=max(1, int(max_steps) // 4))
    out_dir = Path(out_dir or run_dir(prof, seed, sched.bigff))
    # the data first: a missing dataset is reported before any network or weights are built
    plan = plan_for("ctsdg", prof, sched.image_size, data, seed, "free_form", progress, images=images, masks=masks,
                    allow_sample_bank=allow_sample_bank, mask_augment=mask_augment, invert_masks=invert_masks)
    torch.manual_seed(seed)
    g = CTSDG(**sched.model_config())
    fusion = [g.bigff.alpha, g.bigff.beta]
    if not sched.bigff:                  # the ablation: no fusion, α = β = 0 for the whole run
        for p in fusion:
            p.requires_grad_(False)
    d = CTSDGDiscriminator(width=sched.width)
    loss_fn = CTSDGLoss(perceptual_backbone(paper_backbone(prof, backbone, "vgg16")))
    if progress:
        print(f"loss: {loss_fn.calibration}")
    for k, (phase, steps, lr) in enumerate((("train", sched.train_steps, sched.lr_train),
                                            ("finetune", sched.finetune_steps, sched.lr_finetune))):
        pairs = data or plan.pairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=seed + k)
        stream = with_workers(EdgePairs(pairs, sched.sigma), prof, num_workers)
        res = train_phase(g, d, loss_fn, stream, phase=phase, steps=steps, lr=lr, d_lr=lr * sched.d_lr_ratio,
                          out_dir=out_dir, device=device, progress=progress,
                          config={**data_config(plan), **({} if sched.bigff else {"bigff": False})})
        if progress:
            report_shares(res["log"], loss_fn.weights, phase)
    for p in fusion:                     # an ordinary module again (α and β are still 0 in the ablation)
        p.requires_grad_(True)
    g = g.cpu().eval()
    save_model(g, out_dir / "ctsdg.pt", "ctsdg", config=sched.model_config(),
               meta={"profile": prof.name, "schedule": asdict(sched), **data_config(plan)})
    return (g, d.cpu().eval()) if return_discriminator else g
