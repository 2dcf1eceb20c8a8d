"""Recipe: SC-Lmser (Sheng, Tu and Xu, PRICAI 2021). Taught in the "Sketch synthesis with
SC-Lmser" chapter.

One training step does what the original's three ``sess.run`` calls do (``reference/methods.md``
§2.3), each part with the current weights of the parts before it:

1. **discriminators** — ``Dy`` on ``L_Dy1 + L_Dy2`` and ``Dx`` on ``L_Dx``;
2. **F** on ``L_F``;
3. **G** on ``L_G1 + L_G2`` (``L_G2``, the supervised alternating consistency, passes
   through ``F`` but only G's optimiser steps).

The generator steps run with the networks they do not update frozen (``Dx`` for F's step;
``Dy`` and ``F`` for G's): their gradients pass *through* those networks without computing
weight gradients that nothing would use.

``consistency=False`` drops ``L_G2`` and ``L_Dy2``: two independent conditional GANs, the
ablation. The original steps two Adam instances on ``L_Dy1`` and ``L_Dy2`` (and two on
``L_G1`` and ``L_G2``) from gradients taken at the same weights; here one Adam steps on the
sum — the same gradient direction, one set of moment estimates.

Adam with β = (0.9, 0.999); G and F at lr 1e-4, the discriminators at 2e-4, constant; batch
1. Per profile:

========== ====== ===== ===== ======== ============= =====================================
profile    size   width batch steps    lr (G, F / D) data
========== ====== ===== ===== ======== ============= =====================================
quick      64 px  0.125 1     160      4e-4 / 8e-4   pencil-sketch proxy (CUFS if prepared)
workshop   256 px 1     1     4,000    1e-4 / 2e-4   CUFS if prepared, else the proxy
paper      256 px 1     1     26,800   1e-4 / 2e-4   CUFS: 100 epochs × 268 pairs
========== ====== ===== ===== ======== ============= =====================================

The quick profile keeps the ratio of the learning rates but quadruples them, so that a
160 CPU steps show learning (the chapter prints this), and trains on one CPU thread. The original keeps, every epoch, the checkpoint with the best FID **on the test
set**; this recipe keeps the last one (selection on test data would flatter the numbers).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..data import checkpoint_root, data_root
from ..data.sketches import CUFS, CUFSF, SketchPairs
from ..models.sc_lmser import (
    SC_LMSER_LOSS_WEIGHTS,
    PatchDiscriminator,
    SCLmser,
    discriminator_loss,
    save_sc_lmser,
    to_signed,
    translation_loss,
)
from ..profiles import Profile, get_profile
from ..registry import register_recipe
from ..train import Trainer
from ._common import frozen, plain, run_phase

__all__ = ["SCLmserSchedule", "SCHEDULES", "schedule", "make_step_fn", "default_data", "run_dir",
           "train_sc_lmser"]


@dataclass(frozen=True)
class SCLmserSchedule:
    """Size, width, batch, steps and learning rates of SC-Lmser for one profile."""

    image_size: int
    width: float
    batch_size: int
    steps: int
    lr_g: float = 1e-4
    lr_d: float = 2e-4
    betas: tuple = (0.9, 0.999)
    #: torch threads while training on a CPU (None: leave as set). One thread is faster for the
    #: quick profile's tiny networks at batch 1, whose many small operations gain nothing from a
    #: second thread but pay for its synchronisation (heavily so on a busy machine).
    cpu_threads: Optional[int] = None

    def model_config(self) -> dict:
        return {"width": self.width}


SCHEDULES = {
    "quick": SCLmserSchedule(image_size=64, width=0.125, batch_size=1, steps=160, lr_g=4e-4, lr_d=8e-4,
                             cpu_threads=1),
    "workshop": SCLmserSchedule(image_size=256, width=1.0, batch_size=1, steps=4000),
    "paper": SCLmserSchedule(image_size=256, width=1.0, batch_size=1, steps=100 * 268),
}


def schedule(profile: Union[str, Profile, None] = None, **overrides) -> SCLmserSchedule:
    """The SC-Lmser schedule for a profile (default: the machine's), with optional overrides."""
    s = SCHEDULES[get_profile(profile).name]
    return replace(s, **overrides) if overrides else s


def make_step_fn(consistency: bool = True, weights: Optional[dict] = None) -> Callable:
    """The training step on a batch ``(photo B×3×H×W, sketch B×1×H×W)`` in ``[0, 1]``."""
    w = dict(SC_LMSER_LOSS_WEIGHTS, **(weights or {}))

    def step_fn(trainer: Trainer, batch):
        x, y = (to_signed(t) for t in batch)  # photo, sketch in [-1, 1]
        G, F, Dy, Dx = (trainer.models[k] for k in ("g", "f", "dy", "dx"))
        logs = {}
        # G and F are not updated before their own steps, so G(x) and F(y) computed now are the
        # ones those steps would compute again: reuse them (detached for the discriminators).
        gx, fy = G(x), F(y)

        # 1. discriminators, on the generators' current outputs
        real_y = Dy(x, y)
        l_dy = discriminator_loss(Dy, x, y, gx, real_scores=real_y)                     # L_Dy1
        if consistency:
            with torch.no_grad():
                gfgx = G(F(gx))
            l_dy = l_dy + discriminator_loss(Dy, x, y, gfgx, real_scores=real_y)        # + L_Dy2
        trainer.optimize("dy", l_dy)
        l_dx = discriminator_loss(Dx, y, x, fy)                                          # L_Dx
        trainer.optimize("dx", l_dx)

        # The generator steps pass gradients through the networks they do not update without
        # computing those networks' weight gradients (frozen: the plain modules, no DDP hooks).
        # 2. F: sketch -> photo, through Dx
        dx_plain, dy_plain, f_plain = plain(trainer, "dx"), plain(trainer, "dy"), plain(trainer, "f")
        with frozen(dx_plain):
            lf = translation_loss(dx_plain, y, x, fy, w)                                 # L_F
            trainer.optimize("f", lf["loss"])

        # 3. G: photo -> sketch, through Dy, and the alternating consistency through the updated F
        with frozen(dy_plain, f_plain):
            lg1 = translation_loss(dy_plain, x, y, gx, w)                                # L_G1
            l_g = lg1["loss"]
            if consistency:
                lg2 = translation_loss(dy_plain, x, y, G(f_plain(gx)), w)                # L_G2
                l_g = l_g + lg2["loss"]
                logs.update(g2_l1=lg2["l1"], g2_adv=lg2["adv"])
            trainer.optimize("g", l_g)   # only G's optimiser steps; F passes the gradient on
        logs.update(loss=l_g, g_l1=lg1["l1"], g_adv=lg1["adv"], f_l1=lf["l1"], f_adv=lf["adv"],
                    d_y=l_dy, d_x=l_dx)
        return logs

    return step_fn


def default_data(sched: SCLmserSchedule, seed: int = 0, dataset: str = "auto", verbose: bool = True):
    """The training pairs: ``"auto"`` is CUFS when ``data_root()/cufs/train.txt`` exists, else
    the pencil-sketch proxy (:class:`~inpaintlib.data.SketchPairs`); ``"cufs"``, ``"cufsf"``
    or ``"proxy"`` choose. Returns ``(data(step), description)``; prints the choice."""
    if dataset not in ("auto", "proxy", "cufs", "cufsf"):
        raise ValueError(f"dataset must be 'auto', 'proxy', 'cufs' or 'cufsf', got {dataset!r}")
    if dataset == "auto":
        dataset = "cufs" if (data_root() / "cufs" / "train.txt").is_file() else "proxy"
    if dataset == "proxy":
        data = SketchPairs(sched.batch_size, sched.image_size, split="train", seed=seed)
        text = repr(data)
    else:
        reader = (CUFS if dataset == "cufs" else CUFSF)(split="train", size=sched.image_size, seed=seed)
        data = reader.pairs_at(sched.batch_size, seed=seed)
        text = repr(reader)
    if verbose:
        print(f"training data: {text}")
    return data, dataset


def run_dir(profile: Union[str, Profile, None] = None, consistency: bool = True, seed: int = 0) -> Path:
    """``checkpoint_root()/sc_lmser-<profile>`` (``sc_lmser-noconsistency-<profile>`` for the
    ablation), with ``-seed<S>`` before the profile for a seed other than 0 (each seed is its own
    run: one seed's checkpoint is never loaded for another)."""
    name = "sc_lmser" if consistency else "sc_lmser-noconsistency"
    seeded = "" if int(seed) == 0 else f"-seed{int(seed)}"
    return checkpoint_root() / f"{name}{seeded}-{get_profile(profile).name}"


@register_recipe("sc_lmser")
def train_sc_lmser(profile: Union[str, Profile, None] = None, out_dir: Union[str, Path, None] = None,
                   consistency: bool = True, max_steps: Optional[int] = None, data: Optional[Callable] = None,
                   device=None, progress: bool = True, seed: int = 0, dataset: str = "auto",
                   overrides: Optional[dict] = None) -> nn.Module:
    """Train (or load) SC-Lmser and return the :class:`~inpaintlib.models.SCLmser` (G and F) in
    eval mode. ``consistency=False`` trains the ablation without ``L_G2``/``L_Dy2``;
    ``overrides`` replaces fields of the profile's :class:`SCLmserSchedule`.

    Load-or-train: ``<out_dir>/final.pt`` is loaded when present (default ``out_dir``:
    :func:`run_dir`, one folder per consistency setting and seed). Writes the model file
    ``<out_dir>/sc_lmser.pt`` (:func:`~inpaintlib.models.sc_lmser.load_sc_lmser` reads it).
    """
    prof = get_profile(profile)
    sched = schedule(prof, **(overrides or {}))
    if max_steps is not None:
        sched = replace(sched, steps=int(max_steps))
    out_dir = Path(out_dir or run_dir(prof, consistency, seed))
    which = "given"
    if data is None:
        data, which = default_data(sched, seed, dataset, verbose=progress)
    torch.manual_seed(seed)
    model = SCLmser(**sched.model_config())
    dy = PatchDiscriminator(4, width=sched.width)
    dx = PatchDiscriminator(4, width=sched.width)
    opts = {"dy": torch.optim.Adam(dy.parameters(), lr=sched.lr_d, betas=sched.betas),
            "dx": torch.optim.Adam(dx.parameters(), lr=sched.lr_d, betas=sched.betas),
            "f": torch.optim.Adam(model.F.parameters(), lr=sched.lr_g, betas=sched.betas),
            "g": torch.optim.Adam(model.G.parameters(), lr=sched.lr_g, betas=sched.betas)}
    trainer = Trainer({"g": model.G, "f": model.F, "dy": dy, "dx": dx}, opts, make_step_fn(consistency),
                      out_dir=out_dir, max_steps=sched.steps, device=device, progress=progress, seed=seed,
                      log_every=max(1, min(10, sched.steps // 10)),
                      config={"consistency": consistency, "data": which, **asdict(sched)})
    threads = torch.get_num_threads()
    if sched.cpu_threads and trainer.device.type == "cpu":
        torch.set_num_threads(sched.cpu_threads)
    try:
        result = run_phase(trainer, data)
    finally:
        torch.set_num_threads(threads)
    model = model.cpu().eval()
    save_sc_lmser(model, out_dir / "sc_lmser.pt",
                  meta={"profile": prof.name, "consistency": consistency, "data": which, "schedule": asdict(sched)})
    model.log = result["log"]
    model.trained = result["trained"]
    return model
