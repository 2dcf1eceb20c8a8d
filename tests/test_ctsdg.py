"""CTSDG: the paper's facts (layer table, parameter counts, Bi-GFF, CFA, losses) and the invariants."""
import pytest
import torch
import torch.nn.functional as F

from inpaintlib import registry
from inpaintlib.data import edges as full_edges
from inpaintlib.losses import CTSDG_LOSS_WEIGHTS, CTSDGLoss, bce, discriminator_loss
from inpaintlib.models import CTSDG, CTSDGDiscriminator
from inpaintlib.models.ctsdg import known_region_edges, structure_input
from inpaintlib.nn import CFA, BiGFF, MultiScaleAggregation, RegionAffinity
from inpaintlib.nn.ctsdg_blocks import attention_bytes

pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(b=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    hole = torch.zeros(b, 1, size, size)
    hole[:, :, size // 4: size // 2, size // 8: size // 2] = 1
    hole[1:, :, size // 2:, size // 2:] = 1
    return image, hole


# ------------------------------------------------------------------ parameter counts from the tables
def _expected_generator_params(width=1.0, layers=7):
    def ch(c):
        return max(4, round(c * width))

    kernels = [7, 5, 5] + [3] * (layers - 3)
    chans = [ch(c) for c in [64, 128, 256] + [512] * (layers - 3)]
    c64, planes = chans[0], ch(16)
    total = 0
    for cin in (3, 2):                                  # two streams
        prev = cin
        for i, (k, c) in enumerate(zip(kernels, chans)):   # bias-free PConv, BN from e2 on
            total += prev * c * k * k + (2 * c if i else 0)
            prev = c
        skips = [cin] + chans[:-1]
        outs = [c64] + chans[:-1]
        for j in range(layers):                          # decoder: PConv 3×3 + BN
            total += (chans[j] + skips[j]) * outs[j] * 9 + 2 * outs[j]
    head = c64 * planes * 9 + 2 * planes + planes * c64 * 9 + 2 * c64     # Bottleneck (own per head)
    total += head + (c64 * 3 + 3) + head + (c64 * 1 + 1)
    total += 2 * (2 * c64 * c64 * 9 + c64) + 2                             # Bi-GFF gates + α, β
    total += (2 * c64 * c64 * 9 + c64) * 2                                 # fusion1, fusion2
    total += 4 * (c64 * c64 * 9 + c64) + (c64 * c64 * 9 + c64) + (c64 * 4 + 4)   # MSFA
    total += 3 * c64 * 3 + 3                                               # output conv1×1
    return total


def test_full_generator_parameter_count():
    net = CTSDG()
    n = sum(p.numel() for p in net.parameters())
    assert n == _expected_generator_params() == 52_147_789
    assert sum(p.numel() for p in CTSDG(layers=5, width=0.125).parameters()) == _expected_generator_params(0.125, 5)
    # every PConv is bias-free; each head has its own Bottleneck
    assert all(m.bias is None for m in net.modules() if type(m).__name__ == "PartialConv2d")
    assert net.texture_head.trunk is not net.structure_head.trunk
    assert net.texture_head.trunk.conv1.weight.data_ptr() != net.structure_head.trunk.conv1.weight.data_ptr()
    assert "ctsdg" in registry.model_names()


def test_discriminator_parameter_count():
    def patchgan(cin):
        c = [cin, 64, 128, 256, 512, 1]
        return sum(c[i] * c[i + 1] * 16 for i in range(5))   # no bias
    edge = (3 * 16 * 9 + 16 + 32) + 2 * (16 * 16 * 9 + 16 + 32) + (16 + 1)
    assert sum(p.numel() for p in CTSDGDiscriminator().parameters()) == patchgan(3) + patchgan(2) + edge == 5_531_729


def test_init_follows_the_original():
    torch.manual_seed(0)
    net = CTSDG(layers=7, width=0.25)
    w = net.texture_decoder[3].conv.weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bn = net.texture_encoder[4].bn
    assert abs(float(bn.weight.detach().mean()) - 1.0) < 0.01 and float(bn.weight.detach().std()) < 0.04
    assert float(bn.bias.detach().abs().max()) == 0
    assert float(net.bigff.alpha.detach()) == 0.0 and float(net.bigff.beta.detach()) == 0.0
    assert float(net.fusion1.bias.detach().abs().max()) == 0.0


# ------------------------------------------------------------------ shapes of every stage at 256 px
def test_shapes_of_every_stage_at_256px():
    torch.manual_seed(0)
    net = CTSDG(layers=7, width=1 / 16).eval()
    shapes = {}

    def hook(name):
        def fn(_m, _inp, out):
            shapes[name] = tuple((out[0] if isinstance(out, tuple) else out).shape)
        return fn

    for stream in ("texture", "structure"):
        for i, m in enumerate(getattr(net, f"{stream}_encoder")):
            m.register_forward_hook(hook(f"{stream}_e{i + 1}"))
        for j, m in enumerate(getattr(net, f"{stream}_decoder")):
            m.register_forward_hook(hook(f"{stream}_d{j}"))
    for name in ("fusion1", "cfa", "fusion2", "out_conv", "bigff"):
        getattr(net, name).register_forward_hook(hook(name))
    image, hole = _batch(1, 256)
    with torch.no_grad():
        res = net.forward_all(image, hole, return_attention=True)
    c = [4, 8, 16, 32, 32, 32, 32]              # 64·w, 128·w, 256·w, 512·w … with w = 1/16
    for stream in ("texture", "structure"):
        for i in range(7):
            assert shapes[f"{stream}_e{i + 1}"] == (1, c[i], 256 >> (i + 1), 256 >> (i + 1))
        assert shapes[f"{stream}_e7"][-2:] == (2, 2)                    # the 2×2 bottleneck
        for j in range(7):
            want_c = c[0] if j == 0 else c[j - 1]                       # 512,512,512,256,128,64,64 (×w)
            assert shapes[f"{stream}_d{j}"] == (1, want_c, 256 >> j, 256 >> j)
    assert shapes["bigff"] == (1, 8, 256, 256)
    assert shapes["fusion1"] == (1, 4, 128, 128) and shapes["cfa"] == (1, 4, 128, 128)
    assert shapes["fusion2"] == (1, 4, 128, 128) and shapes["out_conv"] == (1, 3, 256, 256)
    assert res.output.shape == (1, 3, 256, 256) and res.projected_image.shape == (1, 3, 256, 256)
    assert res.projected_edge.shape == (1, 1, 256, 256)
    assert res.gate_s2t.shape == res.gate_t2s.shape == (1, 4, 256, 256)
    assert res.attention.shape == (1, 4096, 4096)                       # 64×64 queries at 256 px
    assert res.branch_weights.shape == (1, 4, 128, 128)
    for t in (res.output, res.projected_image, res.projected_edge):
        assert float(t.min()) >= 0 and float(t.max()) <= 1
    assert attention_bytes(6, 128, 128) == 6 * 4096 * 4096 * 4 == 384 * 2 ** 20


# ------------------------------------------------------------------ Bi-GFF
def test_bigff_starts_as_identity_and_uses_the_updated_texture():
    torch.manual_seed(0)
    block = BiGFF(8)
    ft, fs = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        out, (g_st, g_ts) = block(ft, fs, return_gates=True)
    assert torch.equal(out, torch.cat([ft, fs], 1))
    assert float(g_st.min()) > 0 and float(g_st.max()) < 1
    with torch.no_grad():
        block.alpha.fill_(0.7)
        block.beta.fill_(-1.3)
    out = block(ft, fs)
    both = torch.cat([ft, fs], 1)
    gate_st = torch.sigmoid(F.conv2d(both, block.gate_s2t.weight, block.gate_s2t.bias, padding=1))
    gate_ts = torch.sigmoid(F.conv2d(both, block.gate_t2s.weight, block.gate_t2s.bias, padding=1))
    ft2 = ft + 0.7 * gate_st * fs
    fs2 = fs - 1.3 * gate_ts * ft2
    torch.testing.assert_close(out, torch.cat([ft2, fs2], 1))
    fs_with_old_ft = fs - 1.3 * gate_ts * ft
    assert not torch.allclose(out[:, 8:], fs_with_old_ft)


# ------------------------------------------------------------------ CFA
def _ral_reference(x, scale=10.0):
    """The original's computation, one sample at a time: its patches become filters."""
    b, c, H, W = x.shape
    fg = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=True)
    outs = []
    for i in range(b):
        f = fg[i:i + 1]
        p = F.pad(f, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1)          # 1×C×h×w×3×3
        p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, 3, 3)
        p = p / p.pow(2).sum((1, 2, 3), keepdim=True).sqrt().clamp_min(1e-4)
        att = F.softmax(F.conv2d(f, p, padding=1) * scale, dim=1).clamp_min(1e-8)
        bg = F.pad(x[i:i + 1], (1, 1, 1, 1)).unfold(2, 4, 2).unfold(3, 4, 2)
        bg = bg.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, 4, 4)
        outs.append(F.conv_transpose2d(att, bg, stride=2, padding=1) / 4.0)
    return torch.cat(outs)


def test_ral_batched_equals_the_per_sample_original():
    torch.manual_seed(0)
    x = torch.randn(3, 6, 16, 12)
    out, att = RegionAffinity()(x, return_attention=True)
    torch.testing.assert_close(out, _ral_reference(x), atol=1e-5, rtol=1e-5)
    assert att.shape == (3, 48, 48)
    sums = att.sum(dim=1)                             # over keys, for each query
    assert float((sums - 1).abs().max()) <= 48 * 1e-8 + 1e-5 and bool(att.min() >= torch.tensor(1e-8))


def test_ral_chunked_equals_unchunked_values_and_gradients():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 16, 16, requires_grad=True)
    ral = RegionAffinity()
    full = ral(x)
    (gx_full,) = torch.autograd.grad((full * torch.cos(full)).sum(), x)
    for chunk in (1, 7, 64, 1000):
        part = ral(x, chunk=chunk)
        torch.testing.assert_close(part, full, atol=1e-6, rtol=1e-6)
        (gx,) = torch.autograd.grad((part * torch.cos(part)).sum(), x)
        torch.testing.assert_close(gx, gx_full, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        _, att = ral(x, return_attention=True, chunk=10)
        _, att_full = ral(x, return_attention=True)
    torch.testing.assert_close(att, att_full, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="chunk"):
        ral(x, chunk=0)


def test_attention_at_one_location_is_a_column_of_the_full_attention():
    torch.manual_seed(2)
    x = torch.randn(2, 4, 12, 16)
    ral = RegionAffinity()
    _, att = ral(x, return_attention=True)
    one = ral.attention_at(x, 3, 5)                  # ×½ map is 6×8
    assert one.shape == (2, 6, 8)
    torch.testing.assert_close(one.reshape(2, -1), att[:, :, 3 * 8 + 5])
    with pytest.raises(ValueError, match="query map"):
        ral.attention_at(x, 6, 0)
    with pytest.raises(ValueError, match="divisible"):
        ral(torch.randn(1, 4, 7, 8))


def test_msfa_weights_are_a_softmax_over_the_four_dilations():
    torch.manual_seed(3)
    msfa = MultiScaleAggregation(6)
    assert [b.dilation for b in msfa.branches] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert [b.padding for b in msfa.branches] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    x = torch.randn(2, 6, 20, 20)
    with torch.no_grad():
        out, w = msfa(x, return_weights=True)
    assert w.shape == (2, 4, 20, 20) and float(w.min()) > 0
    torch.testing.assert_close(w.sum(1), torch.ones(2, 20, 20))
    with torch.no_grad():
        expected = sum(w[:, k:k + 1] * F.relu(b(x)) for k, b in enumerate(msfa.branches))
        torch.testing.assert_close(out, expected)
        cfa = CFA(6)
        out, aux = cfa(x, return_aux=True)
        assert out.shape == x.shape and aux["attention"].shape == (2, 100, 100)
        torch.testing.assert_close(out, cfa(x))


# ------------------------------------------------------------------ edges and leakage
def test_edges_are_binary_and_ignore_hole_pixels():
    image, hole = _batch(2, 64)
    e = known_region_edges(image, hole)
    assert e.shape == (2, 1, 64, 64) and set(e.unique().tolist()) <= {0.0, 1.0} and float(e.sum()) > 0
    assert float((e * hole).sum()) == 0                               # nothing inside the hole
    noisy = torch.where(hole.bool(), torch.rand_like(image), image)
    assert torch.equal(known_region_edges(noisy, hole), e)           # hole pixels do not matter
    no_hole = torch.zeros_like(hole)
    assert torch.equal(known_region_edges(image, no_hole), full_edges(image))   # = Canny of the image
    full = full_edges(image)
    assert set(full.unique().tolist()) <= {0.0, 1.0}
    x = structure_input(image, hole)
    assert x.shape == (2, 2, 64, 64) and float((x * hole).abs().sum()) == 0


def test_no_hole_leakage_in_train_and_eval_mode():
    torch.manual_seed(0)
    net = CTSDG(layers=5, width=0.125)
    image, hole = _batch(2, 64)
    other = torch.where(hole.bool(), torch.rand_like(image), image)
    for mode in (True, False):
        net.train(mode)
        with torch.no_grad():
            a, aux_a = net(image, hole, return_aux=True)
            b, aux_b = net(other, hole, return_aux=True)
        assert torch.equal(a, b)
        for k in aux_a:
            assert torch.equal(aux_a[k], aux_b[k]), k


def test_input_errors_are_clear():
    net = CTSDG(layers=5, width=0.125)
    image, hole = _batch(1, 64)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*5"):
        net(image[..., :48, :48], hole[..., :48, :48])
    with pytest.raises(ValueError, match="binary|0 or 1|0/1"):
        net(image, hole * 0.5)
    with pytest.raises(ValueError, match="edge must be a B×1×H×W"):
        net(image, hole, edge=torch.zeros(1, 2, 64, 64))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        net(image, hole, edge=torch.full((1, 1, 64, 64), 2.0))


def test_passed_edges_are_masked_and_used():
    torch.manual_seed(0)
    net = CTSDG(layers=5, width=0.125).eval()
    image, hole = _batch(1, 64)
    edge = torch.ones(1, 1, 64, 64)
    with torch.no_grad():
        res = net.forward_all(image, hole, edge=edge)
        default = net(image, hole)
    assert torch.equal(res.edge_input, 1 - hole)
    assert not torch.equal(res.output, default)


# ------------------------------------------------------------------ fine-tuning freezes every BN
def test_freeze_bn_keeps_every_generator_batchnorm_in_eval_mode():
    torch.manual_seed(0)
    net = CTSDG(layers=5, width=0.125)
    bns = net.batchnorms()
    assert len(bns) == 2 * (4 + 5) + 2 * 2        # encoders (not e1), decoders, both heads' Bottlenecks
    net.freeze_bn().train()
    assert net.bn_frozen and all(not bn.training for bn in bns)
    before = [bn.running_mean.clone() for bn in bns]
    image, hole = _batch(2, 64)
    out = net(image, hole)
    out.mean().backward()
    assert all(torch.equal(bn.running_mean, b) for bn, b in zip(bns, before))
    assert all(bn.weight.grad is not None for bn in net.texture_decoder[0].modules() if isinstance(bn, torch.nn.BatchNorm2d))
    net.freeze_bn(False).train()
    assert all(bn.training for bn in bns)


# ------------------------------------------------------------------ discriminator
def test_discriminator_branches_and_edge_detector():
    torch.manual_seed(0)
    d = CTSDGDiscriminator(width=0.125).eval()    # eval: spectral norm's power iteration stays put
    image, _ = _batch(2, 64)
    gray = image.mean(1, keepdim=True)
    edge = full_edges(image)
    with torch.no_grad():
        fake_scores, fake_edge = d(image, gray)
        real_scores, real_edge = d(image, gray, edge=edge)
    assert fake_scores.shape == (2, 2, 6, 6) and fake_edge.shape == (2, 1, 64, 64)   # 64/8 − 2
    assert float(fake_scores.min()) > 0 and float(fake_scores.max()) < 1
    assert torch.equal(fake_scores[:, :1], real_scores[:, :1])        # texture branch ignores edges
    assert not torch.equal(fake_scores[:, 1:], real_scores[:, 1:])    # structure branch reads them
    convs = list(d.texture_branch.convs)
    assert [c.stride for c in convs] == [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert all(c.bias is None and c.kernel_size == (4, 4) and hasattr(c, "parametrizations") for c in convs)
    with pytest.raises(ValueError, match="gray must be"):
        d(image, gray[..., :32])


# ------------------------------------------------------------------ losses
def test_loss_weights_and_terms_follow_the_original():
    assert CTSDG_LOSS_WEIGHTS == {"hole": 60.0, "valid": 10.0, "perceptual": 0.1, "style": 250.0,
                                  "adversarial": 0.1, "intermediate": 1.0}
    torch.manual_seed(0)
    image, hole = _batch(2, 32)
    pred, proj = torch.rand_like(image), torch.rand_like(image)
    pedge = torch.rand(2, 1, 32, 32) * 0.98 + 0.01
    edge = (torch.rand(2, 1, 32, 32) > 0.8).float()
    scores, fedge = torch.rand(2, 2, 2, 2) * 0.9 + 0.05, torch.rand(2, 1, 32, 32) * 0.9 + 0.05
    loss = CTSDGLoss(None, weights={"perceptual": 0, "style": 0})
    total, terms = loss(pred, image, hole, proj, pedge, edge, scores, fedge)
    out, gt = 2 * pred - 1, 2 * image - 1                                  # the original's [-1, 1]
    torch.testing.assert_close(terms["hole"], (hole * (out - gt)).abs().mean())
    torch.testing.assert_close(terms["valid"], ((1 - hole) * (out - gt)).abs().mean())

    def manual_bce(p, t):
        return -(t * p.log() + (1 - t) * (1 - p).log()).mean()

    torch.testing.assert_close(terms["adversarial"], manual_bce(scores, torch.ones_like(scores)) + manual_bce(fedge, edge))
    torch.testing.assert_close(terms["intermediate"], manual_bce(pedge, edge) + (2 * proj - 1 - gt).abs().mean())
    torch.testing.assert_close(total, 60 * terms["hole"] + 10 * terms["valid"] + 0.1 * terms["adversarial"]
                               + terms["intermediate"])
    real, fake = torch.rand(2, 2, 3, 3) * 0.9 + 0.05, torch.rand(2, 2, 3, 3) * 0.9 + 0.05
    redge = torch.rand(2, 1, 32, 32) * 0.9 + 0.05
    torch.testing.assert_close(discriminator_loss(real, fake, redge, fedge, edge),
                               manual_bce(real, torch.ones_like(real)) + manual_bce(fake, torch.zeros_like(fake))
                               + manual_bce(redge, edge) + manual_bce(fedge, edge))
    _, no_adv = loss(pred, image, hole, proj, pedge, edge)
    assert "adversarial" not in no_adv
    with pytest.raises(ValueError, match="backbone"):
        CTSDGLoss(None)
    with pytest.raises(ValueError, match="unknown loss term"):
        CTSDGLoss(None, weights={"tv": 1.0})


def test_perceptual_and_style_terms_use_output_and_composite():
    from inpaintlib.losses import gram_matrix

    torch.manual_seed(0)
    backbone = torch.nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)

    def feats(x):
        return [backbone(x), F.avg_pool2d(backbone(x), 2)]

    class Backbone(torch.nn.Module):
        def forward(self, x):
            return feats(x)

    image, hole = _batch(2, 16)
    pred = torch.rand_like(image)
    comp = hole * pred + (1 - hole) * image
    loss = CTSDGLoss(Backbone(), weights={"hole": 0, "valid": 0, "adversarial": 0, "intermediate": 0},
                     calibrate=False)
    total, terms = loss(pred, image, hole, pred, torch.rand(2, 1, 16, 16), torch.zeros(2, 1, 16, 16))
    fo, fc, fg = feats(pred), feats(comp), feats(image)
    perc = sum((a - b).abs().mean() + (c - b).abs().mean() for a, c, b in zip(fo, fc, fg))
    style = sum((gram_matrix(a) - gram_matrix(b)).abs().mean() + (gram_matrix(c) - gram_matrix(b)).abs().mean()
                for a, c, b in zip(fo, fc, fg))
    torch.testing.assert_close(terms["perceptual"], perc)
    torch.testing.assert_close(terms["style"], style)
    torch.testing.assert_close(total, 0.1 * perc + 250 * style)


def test_bce_works_under_autocast():
    p = torch.full((2, 3), 0.25)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = bce(p.to(torch.bfloat16), 1.0)
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, -torch.log(torch.tensor(0.25)), atol=1e-6, rtol=1e-6)


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    net = CTSDG(layers=5, width=0.125).eval()
    registry.save_model(net, tmp_path / "c.pt", "ctsdg", config={"layers": 5, "width": 0.125})
    loaded = registry.load_model(tmp_path / "c.pt")
    image, hole = _batch(1, 32)
    with torch.no_grad():
        assert torch.equal(loaded(image, hole), net(image, hole))
