"""ID-MRF (GMCNN) against an independent per-sample float64 implementation, and its invariants."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from inpaintlib.losses import IDMRF_DEFAULT_LAYERS, IDMRFLoss, id_mrf, idmrf_similarity
from inpaintlib.nn import VGG_ENV_VARS


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- references

def reference_w(gen: np.ndarray, target: np.ndarray, eps: float = 1e-5, h: float = 0.5) -> list[np.ndarray]:
    """The formula one sample at a time, in float64 numpy: a list of N_g×N_t matrices w."""
    out = []
    for g, t in zip(gen.astype(np.float64), target.astype(np.float64)):
        c = g.shape[0]
        G = g.reshape(c, -1).T                      # N_g × C, row = one position
        T = t.reshape(c, -1).T
        mu = T.mean(axis=0)                          # target's per-channel mean
        G, T = G - mu, T - mu
        G = G / np.linalg.norm(G, axis=1, keepdims=True)
        T = T / np.linalg.norm(T, axis=1, keepdims=True)
        d = (1.0 - G @ T.T) / 2.0
        d_rel = d / (d.min(axis=1, keepdims=True) + eps)
        w = np.exp((1.0 - d_rel) / h)
        out.append(w / w.sum(axis=1, keepdims=True))
    return out


def reference_loss(gen, target, eps=1e-5, h=0.5) -> np.ndarray:
    """Per-sample −log(mean_j max_i w_ij), float64."""
    return np.array([-np.log(w.max(axis=0).mean()) for w in reference_w(gen, target, eps, h)])


def reference_torch(gen: torch.Tensor, target: torch.Tensor, eps=1e-5, h=0.5) -> torch.Tensor:
    """The same formula with torch ops and a loop over samples (for autograd gradients)."""
    losses = []
    for g, t in zip(gen, target):
        c = g.shape[0]
        G, T = g.reshape(c, -1).T, t.reshape(c, -1).T
        mu = T.mean(dim=0)
        G, T = G - mu, T - mu
        G = G / G.norm(dim=1, keepdim=True)
        T = T / T.norm(dim=1, keepdim=True)
        d = (1.0 - G @ T.T) / 2.0
        d_rel = d / (d.min(dim=1, keepdim=True).values + eps)
        w = torch.exp((1.0 - d_rel) / h)
        w = w / w.sum(dim=1, keepdim=True)
        losses.append(-torch.log(w.max(dim=0).values.mean()))
    return torch.stack(losses)


def feats(*shape, seed=0, relu=False, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    return (x.relu() if relu else x).to(dtype)


SIZES = [(2, 8, 3, 3), (3, 32, 7, 5), (2, 16, 1, 9), (1, 3, 10, 10), (2, 64, 12, 12)]


# ----------------------------------------------------------------------------- values

@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("relu", [False, True])
def test_matches_independent_per_sample_float64_formula(shape, relu):
    gen, tgt = feats(*shape, seed=1, relu=relu), feats(*shape, seed=2, relu=relu)
    ref = reference_loss(gen.numpy(), tgt.numpy())
    # float64 input is computed in float64: the formula to rounding
    np.testing.assert_allclose(id_mrf(gen.double(), tgt.double(), reduction="none").numpy(), ref,
                               rtol=1e-10, atol=1e-12)
    got = id_mrf(gen, tgt, reduction="none")
    assert got.dtype == torch.float32 and got.shape == (shape[0],)
    # float32 is exactly as accurate as the plain formula in float32 ...
    torch.testing.assert_close(got, reference_torch(gen, tgt), rtol=1e-6, atol=1e-6)
    if shape[1] >= 8:
        # ... which is within 1e-5 of float64 unless features are few-channel ReLU maps
        # (C=3: many near-parallel vectors, the relative distance divides by ~ε)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(id_mrf(gen, tgt).item(), ref.mean(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eps,h", [(1e-5, 0.5), (1e-3, 0.1), (1e-2, 2.0)])
def test_eps_and_bandwidth_follow_the_formula(eps, h):
    gen, tgt = feats(2, 16, 6, 5, seed=3), feats(2, 16, 6, 5, seed=4)
    np.testing.assert_allclose(id_mrf(gen.double(), tgt.double(), eps=eps, h=h, reduction="none").numpy(),
                               reference_loss(gen.numpy(), tgt.numpy(), eps, h), rtol=1e-10, atol=1e-12)


def test_similarity_matrix_is_the_normalised_w():
    gen, tgt = feats(2, 16, 4, 5, seed=5), feats(2, 16, 4, 5, seed=6)
    w = idmrf_similarity(gen, tgt)
    assert w.shape == (2, 20, 20) and w.dtype == torch.float32
    for got, ref in zip(w, reference_w(gen.numpy(), tgt.numpy())):
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(w.sum(dim=2), torch.ones(2, 20))
    # the loss is −log(mean_j max_i w_ij): the similarity and the fast path agree
    torch.testing.assert_close(-torch.log(w.amax(dim=1).mean(dim=1)), id_mrf(gen, tgt, reduction="none"))


def test_identical_features_give_the_minimum():
    tgt = feats(2, 32, 6, 6, seed=7, relu=True, dtype=torch.float64)
    same = id_mrf(tgt.clone(), tgt)
    assert 0.0 <= same.item() < 1e-9                 # CX ≤ 1, so the loss is ≥ 0; equality at gen = target
    noise = feats(2, 32, 6, 6, seed=8, dtype=torch.float64)
    # flat near a perfect match (each generated patch still has one far-nearest target) ...
    assert id_mrf(tgt + 1e-3 * noise, tgt).item() < 1e-9
    # ... then growing with the perturbation
    values = [id_mrf(tgt + scale * noise, tgt).item() for scale in (0.3, 1.0, 3.0)]
    assert same.item() < values[0] < values[1] < values[2]


def test_generated_positions_can_be_rearranged_freely():
    """An MRF term has no spatial correspondence: permuting the generated positions
    (any rearrangement of the same patches) does not change the loss."""
    gen, tgt = feats(2, 16, 5, 6, seed=9), feats(2, 16, 5, 6, seed=10)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    shuffled = gen.reshape(2, 16, 30)[:, :, perm].reshape(2, 16, 5, 6)
    torch.testing.assert_close(id_mrf(shuffled, tgt), id_mrf(gen, tgt), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- gradients

def test_gradient_matches_autograd_of_the_reference():
    gen = feats(3, 16, 5, 4, seed=11, dtype=torch.float64).requires_grad_(True)
    tgt = feats(3, 16, 5, 4, seed=12, dtype=torch.float64).requires_grad_(True)
    w_out = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    g1 = torch.autograd.grad((id_mrf(gen, tgt, reduction="none") * w_out).sum(), (gen, tgt))
    g2 = torch.autograd.grad((reference_torch(gen, tgt) * w_out).sum(), (gen, tgt))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_gradcheck_float64():
    gen = feats(2, 6, 3, 4, seed=13, dtype=torch.float64).requires_grad_(True)
    tgt = feats(2, 6, 3, 4, seed=14, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: id_mrf(a, b, reduction="none"), (gen, tgt))
    assert torch.autograd.gradcheck(lambda a, b: id_mrf(a, b, chunk_size=5), (gen, tgt))


def test_gradient_flows_to_gen_and_not_to_a_detached_target():
    gen = feats(2, 8, 4, 4, seed=15).requires_grad_(True)
    tgt = feats(2, 8, 4, 4, seed=16).requires_grad_(True)
    id_mrf(gen, tgt.detach()).backward()
    assert gen.grad is not None and torch.isfinite(gen.grad).all() and gen.grad.abs().sum() > 0
    assert tgt.grad is None


def test_float32_gradient_is_as_accurate_as_the_plain_formula_near_perfect_matches():
    """Stroke masks: most generated features equal the target's (known pixels), where
    the relative distance divides by ~ε. The fast path's float32 gradient stays as
    close to the float64 truth as plain float32 autograd of the formula."""
    tgt = feats(2, 32, 8, 8, seed=17, dtype=torch.float64, relu=True)
    gen = tgt.clone()
    gen[:, :, 2:5, 2:6] = feats(2, 32, 3, 4, seed=18, dtype=torch.float64, relu=True)

    def grad(fn, g, t):
        g = g.clone().requires_grad_(True)
        return torch.autograd.grad(fn(g, t).mean(), g)[0].double()

    truth = grad(reference_torch, gen, tgt)
    fast = grad(id_mrf, gen.float(), tgt.float())
    plain = grad(reference_torch, gen.float(), tgt.float())
    err_fast = ((fast - truth).norm() / truth.norm()).item()
    err_plain = ((plain - truth).norm() / truth.norm()).item()
    assert err_fast < 1e-4 and err_fast < 10 * max(err_plain, 1e-7)


def test_tied_generated_rows_share_the_gradient_as_a_valid_subgradient():
    """Duplicated generated features tie exactly in max_i; the gradient goes to one of
    them (like torch.max), so the tied rows' gradients sum to autograd's (amax splits)."""
    gen = feats(2, 12, 4, 5, seed=19, dtype=torch.float64)
    gen[:, :, 1, :] = gen[:, :, 0, :]
    gen.requires_grad_(True)
    tgt = feats(2, 12, 4, 5, seed=20, dtype=torch.float64)
    ours = torch.autograd.grad(id_mrf(gen, tgt), gen)[0]
    split = torch.autograd.grad(-torch.log(idmrf_similarity(gen, tgt).amax(1).mean(1)).mean(), gen)[0]
    torch.testing.assert_close(ours[:, :, 0] + ours[:, :, 1], split[:, :, 0] + split[:, :, 1])
    torch.testing.assert_close(ours[:, :, 2:], split[:, :, 2:])


# ----------------------------------------------------------------------------- batch and chunks

def test_batch_loss_is_the_mean_of_independent_per_sample_losses():
    gen, tgt = feats(4, 16, 5, 5, seed=21), feats(4, 16, 5, 5, seed=22)
    per = torch.stack([id_mrf(gen[i:i + 1], tgt[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(id_mrf(gen, tgt, reduction="none"), per, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(id_mrf(gen, tgt), per.mean(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(id_mrf(gen, tgt, reduction="sum"), per.sum(), rtol=1e-6, atol=1e-6)
    # changing the batch mates changes nothing for sample 0, value or gradient
    gen2, tgt2 = gen.clone(), tgt.clone()
    gen2[1:], tgt2[1:] = 5 * feats(3, 16, 5, 5, seed=23), feats(3, 16, 5, 5, seed=24).relu()
    a, b = gen.clone().requires_grad_(True), gen2.clone().requires_grad_(True)
    la, lb = id_mrf(a, tgt, reduction="none"), id_mrf(b, tgt2, reduction="none")
    torch.testing.assert_close(la[0], lb[0], rtol=1e-6, atol=1e-6)
    la[0].backward()
    lb[0].backward()
    torch.testing.assert_close(a.grad[0], b.grad[0], rtol=1e-5, atol=1e-8)
    assert a.grad[1:].abs().max() == 0


@pytest.mark.parametrize("chunk", [1, 3, 7, 16, 29, 35, 1000])
def test_chunked_equals_unchunked(chunk):
    gen = feats(2, 24, 5, 7, seed=25).requires_grad_(True)         # N = 35 positions
    tgt = feats(2, 24, 5, 7, seed=26).requires_grad_(True)
    full = id_mrf(gen, tgt, reduction="none")
    g_full = torch.autograd.grad(full.sum(), (gen, tgt))
    part = id_mrf(gen, tgt, chunk_size=chunk, reduction="none")
    g_part = torch.autograd.grad(part.sum(), (gen, tgt))
    torch.testing.assert_close(part, full, rtol=0, atol=1e-6)
    for a, b in zip(g_part, g_full):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_backward_can_run_twice_with_retain_graph():
    gen = feats(1, 8, 4, 4, seed=27).requires_grad_(True)
    loss = id_mrf(gen, feats(1, 8, 4, 4, seed=28))
    first = torch.autograd.grad(loss, gen, retain_graph=True)[0]
    torch.testing.assert_close(torch.autograd.grad(loss, gen)[0], first)


def test_float32_result_under_bf16_autocast():
    gen = feats(2, 16, 6, 6, seed=29).to(torch.bfloat16).requires_grad_(True)
    tgt = feats(2, 16, 6, 6, seed=30).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = id_mrf(gen, tgt)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, id_mrf(gen.float(), tgt.float()))
    loss.backward()
    assert gen.grad.dtype == torch.bfloat16 and torch.isfinite(gen.grad.float()).all()


def test_bad_inputs_are_clear_errors():
    x = feats(2, 8, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        id_mrf(x, feats(2, 8, 4, 5))
    with pytest.raises(ValueError, match="same shape"):
        id_mrf(x, feats(2, 16, 4, 4))
    with pytest.raises(ValueError, match="B×C×H×W"):
        id_mrf(x[0], x[0])
    with pytest.raises(ValueError, match="floating-point"):
        id_mrf(x.long(), x.long())
    with pytest.raises(TypeError):
        id_mrf(x.numpy(), x)
    with pytest.raises(ValueError, match="h"):
        id_mrf(x, x, h=0.0)
    with pytest.raises(ValueError, match="eps"):
        id_mrf(x, x, eps=-1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        id_mrf(x, x, chunk_size=0)
    with pytest.raises(ValueError, match="reduction"):
        id_mrf(x, x, reduction="max")
    with pytest.raises(ValueError, match="same shape"):
        idmrf_similarity(x, feats(1, 8, 4, 4))


# ----------------------------------------------------------------------------- the image-level loss

def images(b=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g)


def test_vgg19_loss_uses_the_true_relu3_2_and_relu4_2_and_counts_relu4_2_twice():
    loss_fn = IDMRFLoss(weights="random")
    assert IDMRF_DEFAULT_LAYERS["vgg19"] == (("relu3_2", "relu4_2"), ("relu4_2",))
    net = loss_fn.backbone
    # torchvision's vgg19().features indices: relu3_1 = 11, relu3_2 = 13, relu4_1 = 20, relu4_2 = 22
    assert net._index == {"relu3_2": 13, "relu4_2": 22}
    assert isinstance(net.features[13], nn.ReLU) and isinstance(net.features[12], nn.Conv2d)
    assert net.features[12].in_channels == 256 and net.features[21].out_channels == 512
    assert "RANDOM" in loss_fn.description
    gen, tgt = images(seed=1), images(seed=2)
    with torch.no_grad():
        f_g, f_t = net(gen), net(tgt)
    expected = id_mrf(f_g["relu3_2"], f_t["relu3_2"]) + 2 * id_mrf(f_g["relu4_2"], f_t["relu4_2"])
    torch.testing.assert_close(loss_fn(gen, tgt), expected)
    weighted = IDMRFLoss(weights="random", texture_weight=0.5, content_weight=3.0)
    weighted.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(
        weighted(gen, tgt),
        0.5 * id_mrf(f_g["relu3_2"], f_t["relu3_2"]) + 3.5 * id_mrf(f_g["relu4_2"], f_t["relu4_2"]))


def test_loss_gradient_reaches_the_generated_image_only():
    loss_fn = IDMRFLoss(weights="random", chunk_size=7)
    gen, tgt = images(seed=3).requires_grad_(True), images(seed=4).requires_grad_(True)
    loss = loss_fn(gen, tgt)
    loss.backward()
    assert loss.dtype == torch.float32 and loss.item() > 0
    assert gen.grad is not None and gen.grad.abs().sum() > 0
    assert tgt.grad is None
    assert all(p.grad is None for p in loss_fn.parameters())
    assert loss_fn(tgt.detach(), tgt.detach()).item() < 1e-5


class DictBackbone(nn.Module):
    """A tiny fixed feature extractor returning named maps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.b = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.layers = ("low", "high")
        self.requires_grad_(False)

    def forward(self, x):
        low = torch.relu(self.a(x))
        return OrderedDict(low=low, high=torch.relu(self.b(low)))


class ListBackbone(DictBackbone):
    def forward(self, x):
        return list(super().forward(x).values())


@pytest.mark.parametrize("cls", [DictBackbone, ListBackbone])
def test_module_backbones_by_layer_name(cls):
    net = cls()
    loss_fn = IDMRFLoss(backbone=net, texture_layers=("low", "high"), content_layers=("high",))
    gen, tgt = images(seed=5), images(seed=6)
    with torch.no_grad():
        f_g, f_t = DictBackbone.forward(net, gen), DictBackbone.forward(net, tgt)
    torch.testing.assert_close(loss_fn(gen, tgt),
                               id_mrf(f_g["low"], f_t["low"]) + 2 * id_mrf(f_g["high"], f_t["high"]))
    with pytest.raises(ValueError, match="required"):
        IDMRFLoss(backbone=net)
    bad = IDMRFLoss(backbone=net, texture_layers=("nope",), content_layers=())
    with pytest.raises(ValueError, match="nope"):
        bad(gen, tgt)


def test_efficientnet_backbone_runs_offline_with_real_weights(no_network):
    loss_fn = IDMRFLoss(backbone="efficientnet_lite0")
    assert loss_fn.texture_layers == ("stride4", "stride8") and loss_fn.content_layers == ("stride8",)
    assert "ImageNet" in loss_fn.description
    gen, tgt = images(seed=7).requires_grad_(True), images(seed=8)
    loss = loss_fn(gen, tgt)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and gen.grad.abs().sum() > 0


def test_missing_vgg19_weights_is_an_error_not_a_random_network(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for var in VGG_ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FileNotFoundError, match="vgg19"):
        IDMRFLoss()


def test_image_loss_bad_inputs():
    loss_fn = IDMRFLoss(weights="random")
    with pytest.raises(ValueError, match="shape"):
        loss_fn(images(size=32), images(size=40))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss_fn(images(), images() * 3)
    with pytest.raises(ValueError, match="backbone"):
        IDMRFLoss(backbone="resnet50")
    with pytest.raises(ValueError, match="texture_weight"):
        IDMRFLoss(weights="random", texture_weight=-1)
