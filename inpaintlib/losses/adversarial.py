"""Adversarial losses: hinge (GMCNN's PyTorch code) and WGAN-GP (its TensorFlow code).

Taught in the "ID-MRF and the multi-column generator (GMCNN)" chapter (method notes
§4.2). The global and local critics each give one score per image; the losses take the
scores (any shape, e.g. ``B×1``) and average them::

    hinge:  L_D = mean relu(1 − D(real)) + mean relu(1 + D(fake)),   L_G = −mean D(fake)
    WGAN:   L_D = mean D(fake) − mean D(real),                       L_G = −mean D(fake)
    GP:     λ · mean_b (‖∇_x̂ D(x̂_b)‖₂ − 1)²,   x̂ = α real + (1 − α) fake,  α ~ U(0, 1) per sample

GMCNN sums the global and local terms and weights the generator's sum by 0.001
(:data:`~inpaintlib.losses.GMCNN_LOSS_WEIGHTS`); the TF critic adds the penalty with λ = 10.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

__all__ = ["hinge_d_loss", "hinge_g_loss", "wgan_d_loss", "wgan_g_loss", "gradient_penalty"]


def _scores(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of critic scores, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty")
    return x.float()


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic hinge loss ``mean relu(1 − D(real)) + mean relu(1 + D(fake))`` (float32).

    Zero once real scores are ≥ 1 and fake scores ≤ −1; the two means are taken
    separately, so the batches may differ in size."""
    return F.relu(1.0 - _scores(real_scores, "real_scores")).mean() \
        + F.relu(1.0 + _scores(fake_scores, "fake_scores")).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of the hinge GAN: ``−mean D(fake)`` (float32)."""
    return -_scores(fake_scores, "fake_scores").mean()


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss ``mean D(fake) − mean D(real)`` (float32; the TF code's
    ``mean(neg − pos)``). Add :func:`gradient_penalty` to it."""
    return _scores(fake_scores, "fake_scores").mean() - _scores(real_scores, "real_scores").mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of the WGAN: ``−mean D(fake)`` (float32)."""
    return -_scores(fake_scores, "fake_scores").mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, mask: Optional[torch.Tensor] = None, weight: float = 10.0,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """WGAN-GP penalty ``λ · mean_b (‖∇_x̂ D(x̂_b)‖ − 1)²`` on random interpolates (float32).

    ``x̂ = α·real + (1 − α)·fake`` with one ``α ~ U(0, 1)`` per sample; both inputs are
    detached, so only the critic gets gradients (the gradient of ``D`` is taken with
    ``create_graph=True`` so the penalty itself can be back-propagated).

    With ``mask`` (``B×1×H×W`` or ``B×C×H×W``, e.g. the hole, 1 = missing) the norm runs
    over the masked pixels only, as in GMCNN's TF code (``gradients_penalty``):
    ``‖∇‖ = sqrt(Σ_{c,y,x} mask · (∂D/∂x̂)²)`` — the critic is asked to be 1-Lipschitz
    with respect to the pixels the generator actually made. (For a binary mask this is the
    same as the PyTorch code's norm of ``mask ⊙ ∇``.)

    Args:
        critic: a callable mapping ``B×C×H×W`` images to scores (one or more per sample).
        real, fake: batches of the same shape.
        mask: optional non-negative weights of the norm, broadcastable to ``real``.
        weight: ``λ`` (10).
        generator: optional :class:`torch.Generator` for ``α`` (reproducible tests).
    """
    for name, t in (("real", real), ("fake", fake)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if real.shape != fake.shape or real.dim() < 2:
        raise ValueError(f"real and fake must have the same shape B×..., got {tuple(real.shape)} "
                         f"vs {tuple(fake.shape)}")
    b = real.shape[0]
    shape = (b,) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator, dtype=real.dtype,
                       device=generator.device if generator is not None else real.device)
    alpha = alpha.to(real.device)
    x = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x)
        if not isinstance(scores, torch.Tensor) or scores.dim() == 0 or scores.shape[0] != b:
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise ValueError(f"critic must return scores with batch size {b}, got {got}")
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    grad = grad.float()
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        try:
            masked = grad * mask.float().sqrt()            # Σ mask·g² = ‖√mask ⊙ g‖²
        except RuntimeError as err:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the images "
                             f"{tuple(real.shape)}") from err
        if masked.shape != grad.shape:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the images "
                             f"{tuple(real.shape)}")
        grad = masked
    norm = torch.linalg.vector_norm(grad.reshape(b, -1), dim=1)   # its gradient at 0 is 0, not NaN
    return float(weight) * (norm - 1.0).pow(2).mean()
