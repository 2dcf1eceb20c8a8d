"""Recipe: partial convolution (Liu et al., ECCV 2018). Taught in the "Partial convolution" chapter.

Two stages, as in the paper and its re-implementations (``reference/methods.md`` §3.4):

1. train the whole U-Net with Adam at lr 2e-4;
2. fine-tune at lr 5e-5 with the encoder's BatchNorm frozen (running statistics fixed),
   because with holes the encoder's batch statistics are biased by the zeros.

The loss is :class:`inpaintlib.losses.PConvLoss` (valid + 6·hole + 0.05·perceptual +
120·style + 0.1·TV), batch 6. Per profile:

========== ====== ====== ===== ================ ================ ==============================
profile    size   levels width stage 1 steps    stage 2 steps    note
========== ====== ====== ===== ================ ================ ==============================
quick      64 px  5      0.25  200              50               CPU minutes; printed as shrunk
workshop   256 px 7      1     6,000            2,000            one GPU, about 15 minutes
paper      256 px 7      1     500,000          500,000          the released re-implementation's
                                                                 schedule (naoto0804: 500k + 500k)
========== ====== ====== ===== ================ ================ ==============================

Every stage is *load-or-train*: ``<out_dir>/stage1/final.pt`` is loaded when present.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..data import checkpoint_root
from ..profiles import Profile, get_profile
from ..registry import build_model, register_recipe, save_model
from ..train import Trainer
from ._common import (data_config, paper_backbone, plan_for, report_shares, run_phase, unchecked, unchecked_model,
                      with_batch_check, with_workers)

__all__ = ["PConvSchedule", "SCHEDULES", "schedule", "make_step_fn", "train_stage", "train_pconv"]


@dataclass(frozen=True)
class PConvSchedule:
    """Sizes, steps and learning rates of the two training stages for one profile."""

    image_size: int
    layers: int
    width: float
    batch_size: int
    stage1_steps: int
    stage2_steps: int
    lr1: float = 2e-4
    lr2: float = 5e-5
    hole_ratio: tuple = (0.05, 0.6)

    def model_config(self) -> dict:
        return {"layers": self.layers, "width": self.width}


SCHEDULES = {
    "quick": PConvSchedule(image_size=64, layers=5, width=0.25, batch_size=6, stage1_steps=200, stage2_steps=50),
    "workshop": PConvSchedule(image_size=256, layers=7, width=1.0, batch_size=6, stage1_steps=6000, stage2_steps=2000),
    "paper": PConvSchedule(image_size=256, layers=7, width=1.0, batch_size=6, stage1_steps=500_000, stage2_steps=500_000),
}


def schedule(profile: Union[str, Profile, None] = None, **overrides) -> PConvSchedule:
    """The PConv schedule for a profile (default: the machine's), with optional overrides."""
    s = SCHEDULES[get_profile(profile).name]
    return replace(s, **overrides) if overrides else s


def make_step_fn(loss_fn: Callable) -> Callable:
    """The training step: predict, compute every loss term, one Adam step on the total."""

    loss = unchecked(loss_fn)   # the batch was checked where it entered (the data pipeline)

    def step_fn(trainer: Trainer, batch):
        image, hole = batch
        pred = unchecked_model(trainer, "g")(image, hole)
        total, terms = loss(pred, image, hole)
        trainer.optimize("g", total)
        return {"loss": total, **terms}

    return with_batch_check(step_fn)


def train_stage(model: nn.Module, loss_fn: Callable, data: Callable, *, stage: int, steps: int, lr: float,
                out_dir: Union[str, Path], device=None, progress: bool = True, log_every: int = 10,
                sample_every: Optional[int] = None, config: Optional[dict] = None) -> dict:
    """Run (or load) one stage. Stage 2 freezes the encoder's BatchNorm first. ``config``
    adds entries to the checkpoint's config (the recipe records non-default data there)."""
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    if hasattr(model, "freeze_encoder_bn"):
        model.freeze_encoder_bn(stage == 2)
    params = [p for p in model.parameters() if p.requires_grad]
    trainer = Trainer({"g": model}, {"g": torch.optim.Adam(params, lr=lr)}, make_step_fn(loss_fn),
                      out_dir=Path(out_dir) / f"stage{stage}", max_steps=steps, device=device,
                      progress=progress, log_every=log_every, config={"stage": stage, "lr": lr, **(config or {})})
    return run_phase(trainer, data, loss_fn)  # the frozen backbone follows the model


@register_recipe("pconv")
def train_pconv(profile: Union[str, Profile, None] = None, out_dir: Union[str, Path, None] = None,
                max_steps: Optional[int] = None, model: str = "pconv", backbone: str = "auto",
                device=None, data: Optional[Callable] = None, progress: bool = True,
                seed: int = 0, overrides: Optional[dict] = None, images=None, masks=None,
                allow_sample_bank: bool = False, mask_augment: Optional[bool] = None, invert_masks: bool = False,
                num_workers: Optional[int] = None) -> nn.Module:
    """Train a partial-convolution U-Net (or, with ``model="plain_unet"``, its plain-conv twin)
    with the two-stage recipe and return it in eval mode.

    ``max_steps`` overrides stage 1's length (stage 2 gets a quarter of it); ``overrides``
    replaces fields of the profile's :class:`PConvSchedule` (e.g. ``{"image_size": 128}``).
    The ``paper`` profile insists on the paper's VGG16 (``backbone="auto"`` becomes
    ``"vgg16"``, whose error says which file to put where). Stage 2 draws fresh batches
    (seed + 1) instead of replaying stage 1's first ones. The final
    generator is also written as a portable model file ``<out_dir>/<model>.pt`` that
    ``inpaintlib inpaint IMAGE MASK --method <out_dir>/<model>.pt`` can use.

    Data (:func:`inpaintlib.data.plan_data`, printed): ``images`` (``"places2"``, another
    prepared dataset, a folder or ``"sample_bank"``) and ``masks`` (``"nvidia"``, a folder of
    PNG masks, or a generator kind); by default the profile's choice — the sample bank in
    ``quick``, Places2 with the NVIDIA masks in ``workshop``/``paper`` when prepared.
    ``num_workers`` overrides the profile's data workers. ``data`` replaces all of it with
    your own ``data(step) -> (image, hole)`` stream.
    """
    from ..losses import PConvLoss
    from ..nn import perceptual_backbone

    prof = get_profile(profile)
    sched = schedule(prof, **(overrides or {}))
    if max_steps is not None:
        sched = replace(sched, stage1_steps=int(max_steps), stage2_steps=max(1, int(max_steps) // 4))
    out_dir = Path(out_dir or checkpoint_root() / f"{model}-{prof.name}")
    # the data first: a missing dataset is reported before any network or weights are built
    plan = plan_for("pconv", prof, sched.image_size, data, seed, "free_form", progress, images=images, masks=masks,
                    allow_sample_bank=allow_sample_bank, mask_augment=mask_augment, invert_masks=invert_masks)
    torch.manual_seed(seed)
    net = build_model(model, **sched.model_config())
    loss_fn = PConvLoss(perceptual_backbone(paper_backbone(prof, backbone, "vgg16")))
    if progress:
        print(f"loss: {loss_fn.calibration}")
    for stage, steps, lr in ((1, sched.stage1_steps, sched.lr1), (2, sched.stage2_steps, sched.lr2)):
        stream = data or plan.pairs(sched.batch_size, sched.image_size, ratio=sched.hole_ratio, seed=seed + stage - 1)
        res = train_stage(net, loss_fn, with_workers(stream, prof, num_workers), stage=stage, steps=steps, lr=lr,
                          out_dir=out_dir, device=device, progress=progress, config=data_config(plan))
        if progress:
            report_shares(res["log"], loss_fn.weights, f"stage {stage}")
    net = net.cpu().eval()
    save_model(net, out_dir / f"{model}.pt", model, config=sched.model_config(),
               meta={"profile": prof.name, "schedule": asdict(sched), **data_config(plan)})
    return net
