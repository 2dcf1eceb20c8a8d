"""GMCNN's confidence-driven weight, L_rec / L_ae, and the hinge / WGAN-GP losses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.losses import (
    GMCNN_LOSS_WEIGHTS,
    ConfidenceWeight,
    confidence_weight,
    gaussian_kernel,
    gaussian_kernel_1d,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    known_region_loss,
    reconstruction_loss,
    wgan_d_loss,
    wgan_g_loss,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_loss_weights_are_the_pytorch_codes():
    assert GMCNN_LOSS_WEIGHTS == {"rec": 1.4, "ae": 1.2, "mrf": 0.05, "adv": 0.001}


# ----------------------------------------------------------------------------- the kernel

def original_helper_kernel(size, sigma):
    """The official ``gauss_kernel`` recipe, independently in numpy with math.erf."""
    interval = (2 * sigma + 1.0) / size
    x = np.linspace(-sigma - interval / 2, sigma + interval / 2, size + 1)
    cdf = np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])
    k1 = np.diff(cdf)
    raw = np.sqrt(np.outer(k1, k1))
    return raw / raw.sum()


@pytest.mark.parametrize("size,sigma", [(65, 1 / 40), (64, 1 / 40), (21, 3.0), (128, 1 / 60), (5, 1.0)])
def test_kernel_is_the_original_helpers_and_separable(size, sigma):
    k = gaussian_kernel(size, sigma)
    assert k.shape == (size, size) and k.dtype == torch.float64
    np.testing.assert_allclose(k.numpy(), original_helper_kernel(size, sigma), rtol=1e-12, atol=1e-15)
    g = gaussian_kernel_1d(size, sigma)
    torch.testing.assert_close(torch.outer(g, g), k)
    assert abs(k.sum().item() - 1.0) < 1e-12 and abs(g.sum().item() - 1.0) < 1e-12
    torch.testing.assert_close(k, k.flip(0))
    torch.testing.assert_close(k, k.T)


def test_sigma_one_fortieth_is_nearly_a_box_filter():
    k = gaussian_kernel(65, 1 / 40)
    ratio = (k.max() / k.min()).item()
    assert 1.0004 < ratio < 1.0006                   # method notes: max/min ≈ 1.0005
    bell = gaussian_kernel(21, 3.0)
    assert (bell.max() / bell.min()).item() > 50     # the helper's defaults: a real Gaussian


# ----------------------------------------------------------------------------- confidence weight

def hand_loop(hole: torch.Tensor, size=65, sigma=1 / 40, iterations=7, padding="reflect"):
    """The iteration rule with the full 2-D kernel, one explicit conv per step (float64)."""
    G = torch.from_numpy(original_helper_kernel(size, sigma)).view(1, 1, size, size)
    before, after = (size - 1) // 2, size // 2
    hole = hole.double()
    init = 1 - hole
    conf = None
    for _ in range(iterations):
        padded = F.pad(init, (before, after, before, after), mode="reflect" if padding == "reflect" else "constant")
        conf = F.conv2d(padded, G) * hole
        init = conf + (1 - hole)
    return conf, init


def random_holes(b=3, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    hole = torch.zeros(b, 1, size, size)
    for i in range(b):
        y, x = torch.randint(0, size // 2, (2,), generator=g).tolist()
        hole[i, :, y:y + size // 2 + i, x:x + size // 3] = 1
    hole[0, :, 2:5, 30:40] = 1
    return hole


@pytest.mark.parametrize("size,iters,padding", [(65, 7, "reflect"), (21, 3, "reflect"), (64, 7, "zeros"),
                                                (9, 2, "zeros")])
def test_confidence_weight_equals_the_hand_loop(size, iters, padding):
    hole = random_holes()
    conf, init = hand_loop(hole, size, 1 / 40, iters, padding)
    got = confidence_weight(hole, kernel_size=size, iterations=iters, padding=padding)
    assert got.shape == hole.shape and got.dtype == torch.float32 and not got.requires_grad
    torch.testing.assert_close(got.double(), init, rtol=0, atol=2e-6)
    # the original layers return conf (0 on known pixels): hole ⊙ M_w is exactly that
    torch.testing.assert_close((hole * got).double(), conf, rtol=0, atol=2e-6)
    got64 = confidence_weight(hole.double(), kernel_size=size, iterations=iters, padding=padding)
    torch.testing.assert_close(got64, init, rtol=1e-12, atol=1e-12)


def test_documented_values_for_a_128_px_hole_in_a_256_px_image():
    hole = torch.zeros(1, 1, 256, 256)
    hole[..., 64:192, 64:192] = 1
    w = confidence_weight(hole)[0, 0]
    assert (w[hole[0, 0] == 0] == 1).all()                         # known pixels: exactly 1
    inside = w[hole[0, 0] == 1]
    assert inside.min() > 0 and inside.max() < 1                    # hole: in (0, 1)
    assert abs(w[128, 128].item() - 0.5) < 0.02                     # ≈ 0.5 in the centre
    assert abs(w[64, 128].item() - 0.85) < 0.02                     # ≈ 0.85 at the middle of an edge
    row = w[128, 64:129]                                            # border → centre
    assert (row[1:] < row[:-1]).all()                               # strictly decreasing
    torch.testing.assert_close(w, w.flip(0).flip(1))                # symmetric like the hole


def test_iterations_spread_more_confidence():
    hole = random_holes(seed=1)
    one = confidence_weight(hole, iterations=1)
    seven = confidence_weight(hole, iterations=7)
    assert (seven >= one - 1e-7).all() and (seven - one).max() > 0.05
    assert not torch.equal(confidence_weight(hole, iterations=6), seven)


def test_batched_masks_are_independent():
    hole = random_holes(b=3, seed=2)
    whole = confidence_weight(hole)
    for i in range(3):
        torch.testing.assert_close(whole[i:i + 1], confidence_weight(hole[i:i + 1]), rtol=0, atol=1e-6)


def test_module_caches_the_kernel_and_matches_the_function():
    layer = ConfidenceWeight()
    assert layer.g.shape == (65,) and "g" not in layer.state_dict()
    assert abs(layer.kernel.sum().item() - 1) < 1e-6
    hole = random_holes(seed=3)
    torch.testing.assert_close(layer(hole), confidence_weight(hole))
    small = ConfidenceWeight(kernel_size=9, sigma=1.0, iterations=3, padding="zeros")
    torch.testing.assert_close(small(hole), confidence_weight(hole, 9, 1.0, 3, "zeros"))
    assert "kernel_size=9" in repr(small)


def test_confidence_weight_bad_inputs():
    hole = random_holes()
    with pytest.raises(ValueError, match="kernel_size"):
        confidence_weight(torch.zeros(1, 1, 20, 40), kernel_size=65)     # reflection pad 32 ≥ 20
    with pytest.raises(ValueError, match="binary"):
        confidence_weight(hole * 0.5 + 0.25)
    with pytest.raises(ValueError, match="iterations"):
        confidence_weight(hole, iterations=0)
    with pytest.raises(ValueError, match="padding"):
        confidence_weight(hole, padding="circular")
    with pytest.raises(ValueError, match="1 channel"):
        confidence_weight(hole.repeat(1, 3, 1, 1))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(5, 0.0)
    # zero padding has no size limit
    assert confidence_weight(torch.ones(1, 1, 8, 8), padding="zeros").shape == (1, 1, 8, 8)


# ----------------------------------------------------------------------------- L_rec, L_ae

def pixels(seed=0, b=2, c=3, size=40):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(b, c, size, size, generator=g)
    target = torch.rand(b, c, size, size, generator=g)
    hole = (torch.rand(b, 1, size, size, generator=g) < 0.3).float()
    weight = torch.rand(b, 1, size, size, generator=g)
    return pred, target, hole, weight


def test_reconstruction_loss_matches_the_formula():
    pred, target, hole, weight = pixels()
    p, t, m, w = (x.double().numpy() for x in (pred, target, hole, weight))
    completed = p * m + t * (1 - m)
    expected = np.abs(w * (completed - t)).mean() / m.mean()     # batch-wide means
    np.testing.assert_allclose(reconstruction_loss(pred, target, hole, weight).item(), expected, rtol=1e-6)
    # default weight: the confidence-driven one
    cw = confidence_weight(hole, kernel_size=21)
    np.testing.assert_allclose(reconstruction_loss(pred, target, hole, cw).item(),
                               np.abs(cw.double().numpy() * (completed - t)).mean() / m.mean(), rtol=1e-6)
    torch.testing.assert_close(reconstruction_loss(pred, target, hole),
                               reconstruction_loss(pred, target, hole, confidence_weight(hole)))


def test_reconstruction_loss_only_sees_hole_pixels():
    pred, target, hole, weight = pixels(seed=1)
    pred.requires_grad_(True)
    reconstruction_loss(pred, target, hole, weight).backward()
    assert (pred.grad * (1 - hole)).abs().max() == 0 and (pred.grad * hole).abs().sum() > 0
    other = pred.detach() * hole + torch.rand_like(pred) * (1 - hole)
    torch.testing.assert_close(reconstruction_loss(other, target, hole, weight),
                               reconstruction_loss(pred.detach(), target, hole, weight))
    # the weight's value on known pixels does not matter
    torch.testing.assert_close(reconstruction_loss(pred.detach(), target, hole, weight * hole + (1 - hole)),
                               reconstruction_loss(pred.detach(), target, hole, weight))
    assert reconstruction_loss(pred.detach(), target, torch.zeros_like(hole), weight).item() == 0.0


def test_known_region_loss_matches_the_formula():
    pred, target, hole, _ = pixels(seed=2)
    p, t, m = (x.double().numpy() for x in (pred, target, hole))
    expected = np.abs((1 - m) * (p - t)).mean() / (1 - m).mean()
    np.testing.assert_allclose(known_region_loss(pred, target, hole).item(), expected, rtol=1e-6)
    pred.requires_grad_(True)
    known_region_loss(pred, target, hole).backward()
    assert (pred.grad * hole).abs().max() == 0 and (pred.grad * (1 - hole)).abs().sum() > 0
    assert known_region_loss(pred.detach(), target, torch.ones_like(hole)).item() == 0.0


def test_pixel_losses_are_float32_and_reject_bad_shapes():
    pred, target, hole, weight = pixels(seed=3)
    assert reconstruction_loss(pred.bfloat16(), target, hole, weight).dtype == torch.float32
    with pytest.raises(ValueError, match="shapes differ"):
        known_region_loss(pred[:, :, :-1], target, hole)
    with pytest.raises(ValueError, match="matching hole"):
        known_region_loss(pred[:1], target[:1], hole)
    with pytest.raises(ValueError, match="weight"):
        reconstruction_loss(pred, target, hole, weight[:, :, :-1])
    with pytest.raises(ValueError, match="binary"):
        reconstruction_loss(pred, target, hole * 0.5, weight)


# ----------------------------------------------------------------------------- adversarial

def test_hinge_and_wgan_values_by_hand():
    real = torch.tensor([[2.0], [0.5], [-1.0], [1.0]])
    fake = torch.tensor([[-3.0], [0.0], [0.25]])
    # relu(1 − real) = [0, 0.5, 2, 0] → 0.625;  relu(1 + fake) = [0, 1, 1.25] → 0.75
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.625 + 0.75)
    assert hinge_g_loss(fake).item() == pytest.approx(-(-3.0 + 0.0 + 0.25) / 3)
    assert wgan_d_loss(real, fake).item() == pytest.approx((-2.75 / 3) - (2.5 / 4))
    assert wgan_g_loss(fake).item() == pytest.approx(2.75 / 3)
    assert hinge_d_loss(torch.ones(3), -torch.ones(3)).item() == 0.0     # margins met: no loss
    with pytest.raises(ValueError, match="empty"):
        hinge_g_loss(torch.zeros(0))


class LinearCritic(nn.Module):
    """D(x) = Σ w ⊙ x: ∇_x D = w for every input, so the penalty is known exactly."""

    def __init__(self, shape, seed=0):
        super().__init__()
        self.w = nn.Parameter(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.1)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(dim=1, keepdim=True)


def test_gradient_penalty_for_a_linear_critic():
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    critic = LinearCritic((3, 8, 8))
    norm = critic.w.detach().norm()
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(10.0 * (norm.item() - 1.0) ** 2, rel=1e-5)
    gp.backward()                                   # create_graph: the penalty trains the critic
    expected = 10.0 * 2 * (norm - 1.0) * critic.w.detach() / norm
    torch.testing.assert_close(critic.w.grad, expected, rtol=1e-4, atol=1e-7)
    # hole-restricted norm (TF code): only masked pixels count
    mask = torch.zeros(4, 1, 8, 8)
    mask[:, :, 2:6, 1:5] = 1
    masked_norm = (critic.w.detach() * mask[0]).norm().item()
    assert gradient_penalty(critic, real, fake, mask=mask, weight=1.0).item() == \
        pytest.approx((masked_norm - 1.0) ** 2, rel=1e-5)
    assert gradient_penalty(critic, real, fake, mask=torch.zeros_like(mask)).item() == pytest.approx(10.0)


def test_gradient_penalty_interpolates_with_one_alpha_per_sample():
    """A quadratic critic D(x) = ½‖x‖² has ∇D = x̂, so the penalty reveals the interpolates."""
    real, fake = torch.rand(5, 2, 4, 4), torch.rand(5, 2, 4, 4)
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).flatten(1).sum(1), real, fake,
                          generator=torch.Generator().manual_seed(3))
    alpha = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    x_hat = alpha * real + (1 - alpha) * fake
    expected = 10.0 * ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    assert (alpha > 0).all() and (alpha < 1).all() and alpha.unique().numel() == 5


def test_gradient_penalty_bad_inputs():
    real = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum((1, 2, 3)), real, torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="batch size"):
        gradient_penalty(lambda x: x.sum(), real, real)
    with pytest.raises(ValueError, match="broadcast"):
        gradient_penalty(lambda x: x.sum((1, 2, 3)), real, real, mask=torch.ones(2, 1, 5, 5))
