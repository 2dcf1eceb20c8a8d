"""CLmser and its ablations: the released architecture's facts (shapes, parameter counts), the
two dualities (one shared kernel for DCW, the paired-neuron average for DPN) and the invariants."""
import pytest
import torch
import torch.nn.functional as F

from inpaintlib.models import CLmser
from inpaintlib.models.lmser import VARIANTS
from inpaintlib.registry import build_model, load_model, model_names, save_model

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["CLmser", "CLmser_n", "CLmser_w", "CAE"]
CHANNELS = [3, 16, 32, 64, 128, 256, 256, 256]          # methods.md §1.1
STRIDES = [1, 2, 2, 2, 2, 2, 2]


def batch(size=64, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    hole = (torch.rand(b, 1, size, size, generator=g) < 0.3).float()
    return image, hole


def model(name="CLmser", seed=0, **kw):
    torch.manual_seed(seed)
    net = CLmser.variant(name, **kw)
    # non-trivial BatchNorm statistics and affine parameters, so that mixing up layers shows
    with torch.no_grad():
        for bn in list(net.enc_bn) + list(net.dec_bn):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.1, 0.1)
    return net


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def expected_parameters(dcw):
    """Σ 9·c_in·c_out for the seven kernels (twice without DCW) + 2·channels of every BN."""
    kernels = sum(9 * a * b for a, b in zip(CHANNELS[:-1], CHANNELS[1:]))
    enc_bn = 2 * sum(CHANNELS[1:])
    dec_bn = 2 * sum(CHANNELS[1:7])                       # up-blocks normalise the in-channels of k1 … k6
    return kernels * (1 if dcw else 2) + enc_bn + dec_bn


def manual_forward(net, image, hole, enc, dec, merge_f0=False):
    """The released network written out from methods.md §1.1, BN in eval mode, with the
    encoder kernels ``enc`` and the decoder kernels ``dec`` given separately."""
    def bn(x, m):
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    x = (image * 2 - 1) * (1 - hole)
    f = []
    for i in range(7):
        x = F.relu(bn(F.conv2d(x, enc[i], stride=STRIDES[i], padding=1), net.enc_bn[i]))
        f.append(x)
    w = net.dpn_weight
    d = f[6]
    for j, i in enumerate(range(5, -1, -1)):
        inp = (1 - w) * d + w * f[i + 1] if net.dpn else d
        d = F.relu(bn(F.conv_transpose2d(inp, dec[i + 1], stride=2, padding=1, output_padding=1), net.dec_bn[j]))
    if merge_f0:
        d = (1 - w) * d + w * f[0]
    return torch.tanh(F.conv_transpose2d(d, dec[0], stride=1, padding=1))


# -- architecture facts ---------------------------------------------------------------------
def test_parameter_counts_of_the_presets():
    assert expected_parameters(True) == 1_575_280 and expected_parameters(False) == 3_147_040
    counts = {name: n_params(CLmser.variant(name)) for name in NAMES}
    assert counts == {"CLmser": 1_575_280, "CLmser_n": 1_575_280, "CLmser_w": 3_147_040, "CAE": 3_147_040}
    assert VARIANTS == {"CLmser": (True, True), "CLmser_n": (True, False), "CLmser_w": (False, True),
                        "CAE": (False, False)}
    for name, (dcw, dpn) in VARIANTS.items():
        net = CLmser.variant(name)
        assert (net.dcw, net.dpn, net.variant_name) == (dcw, dpn, name)
    with pytest.raises(ValueError, match="known variants: CLmser, CLmser_n, CLmser_w, CAE"):
        CLmser.variant("clmser_x")


def test_kernels_have_no_bias_and_xavier_init():
    for name in ("CLmser", "CAE"):
        net = CLmser.variant(name)
        assert not any(n.endswith("bias") and "bn" not in n for n, _ in net.named_parameters())
        ks = net.kernels()
        expected_names = [f"enc{i}" for i in range(7)] + ([] if net.dcw else [f"dec{i}" for i in range(6, -1, -1)])
        assert list(ks) == expected_names
        for i in range(7):
            for k in (net.enc_kernels[i], net.decoder_kernel(i)):
                assert tuple(k.shape) == (CHANNELS[i + 1], CHANNELS[i], 3, 3)
                bound = (6 / (9 * CHANNELS[i] + 9 * CHANNELS[i + 1])) ** 0.5
                peak = float(k.detach().abs().max())
                assert 0.8 * bound < peak <= bound
        assert [bn.num_features for bn in net.enc_bn] == CHANNELS[1:]
        assert [bn.num_features for bn in net.dec_bn] == [256, 256, 128, 64, 32, 16]
        assert not {id(m) for m in net.enc_bn} & {id(m) for m in net.dec_bn}


@pytest.mark.parametrize("size", [64, 256])
def test_shapes(size):
    net = CLmser().eval()
    image, hole = batch(size, b=1)
    with torch.no_grad():
        feats = net.encode(net.network_input(image, hole))
        out = net(image, hole)
    assert [tuple(f.shape[1:]) for f in feats] == [(c, size // 2 ** sum(s == 2 for s in STRIDES[:i + 1]),
                                                    size // 2 ** sum(s == 2 for s in STRIDES[:i + 1]))
                                                   for i, c in enumerate(CHANNELS[1:])]
    if size == 256:
        assert [f.shape[-1] for f in feats] == [256, 128, 64, 32, 16, 8, 4]
    assert out.shape == image.shape and float(out.min()) >= 0 and float(out.max()) <= 1


def test_rectangular_images_and_bad_sizes():
    net = CLmser().eval()
    image, hole = torch.rand(1, 3, 64, 128), torch.zeros(1, 1, 64, 128)
    with torch.no_grad():
        assert net(image, hole).shape == (1, 3, 64, 128)
    for h, w in [(96, 64), (65, 64), (32, 32), (64, 100)]:
        with pytest.raises(ValueError, match="multiples of 64"):
            net(torch.rand(1, 3, h, w), torch.zeros(1, 1, h, w))
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.rand(1, 4, 64, 64), torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="binary"):
        net(torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), 0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net(torch.rand(1, 3, 64, 64) * 2 - 1, torch.zeros(1, 1, 64, 64))


# -- DCW: one parameter, two paths ------------------------------------------------------------
def test_dcw_decoder_uses_the_encoder_parameter_itself():
    net = CLmser(dcw=True)
    params = list(net.parameters())
    assert len({id(p) for p in params}) == len(params)              # listed once
    for i in range(7):
        assert net.decoder_kernel(i) is net.enc_kernels[i]
        assert sum(p is net.enc_kernels[i] for p in params) == 1
    assert net.dec_kernels is None
    assert not any(k.startswith("dec_kernels") for k in net.state_dict())
    cae = CLmser(dcw=False)
    for i in range(7):
        assert cae.decoder_kernel(i) is not cae.enc_kernels[i]
        assert not torch.equal(cae.decoder_kernel(i), cae.enc_kernels[i])   # independently initialised


def test_shared_kernel_gradient_is_the_sum_of_encoder_and_decoder_contributions():
    net = model("CLmser").eval()
    image, hole = batch()
    target = image * 2 - 1
    enc = [k.detach().clone().requires_grad_() for k in net.enc_kernels]
    dec = [k.detach().clone().requires_grad_() for k in net.enc_kernels]   # same values, separate leaves
    F.mse_loss(manual_forward(net, image, hole, enc, dec), target).backward()
    F.mse_loss(net.predict_raw(image, hole), target).backward()
    for i in range(7):
        g_enc, g_dec, g = enc[i].grad, dec[i].grad, net.enc_kernels[i].grad
        assert float(g_enc.norm()) > 0 and float(g_dec.norm()) > 0, f"k{i}: both paths must contribute"
        assert torch.allclose(g, g_enc + g_dec, rtol=1e-4, atol=1e-7), f"k{i}"
        assert not torch.allclose(g, g_dec, rtol=1e-3, atol=0) and not torch.allclose(g, g_enc, rtol=1e-3, atol=0)
    norms = net.gradient_norms()
    assert list(norms) == [f"enc{i}" for i in range(7)]
    assert norms["enc3"] == pytest.approx(float((enc[3].grad + dec[3].grad).norm()), rel=1e-4)


def test_without_dcw_the_encoder_kernel_gets_only_its_own_gradient():
    net = model("CLmser_w").eval()
    image, hole = batch()
    enc = [k.detach().clone().requires_grad_() for k in net.enc_kernels]
    dec = [net.decoder_kernel(i).detach().clone().requires_grad_() for i in range(7)]
    F.mse_loss(manual_forward(net, image, hole, enc, dec), image * 2 - 1).backward()
    F.mse_loss(net.predict_raw(image, hole), image * 2 - 1).backward()
    for i in range(7):
        assert torch.allclose(net.enc_kernels[i].grad, enc[i].grad, rtol=1e-4, atol=1e-7)
        assert torch.allclose(net.dec_kernels[i].grad, dec[i].grad, rtol=1e-4, atol=1e-7)
    assert set(net.gradient_norms()) == {f"enc{i}" for i in range(7)} | {f"dec{i}" for i in range(7)}


# -- DPN: the paired-neuron average, never on f0 ----------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_the_written_out_network(name):
    net = model(name).eval()
    image, hole = batch(seed=1)
    dec = [net.decoder_kernel(i) for i in range(7)]
    with torch.no_grad():
        for w in (0.5, 0.2):
            net.dpn_weight = w
            expect = manual_forward(net, image, hole, list(net.enc_kernels), dec)
            assert torch.allclose(net.predict_raw(image, hole), expect, atol=1e-5)
            assert torch.allclose(net(image, hole), (expect + 1) / 2, atol=1e-5)
        if net.dpn:   # merging f0 as well would be a different network: the model does not
            other = manual_forward(net, image, hole, list(net.enc_kernels), dec, merge_f0=True)
            assert (net.predict_raw(image, hole) - other).abs().max() > 1e-3


def test_dpn_average_seen_through_hooks():
    """Up-block 4's input, caught at its BatchNorm's input, is the transposed convolution of
    0.5·(up-block 5's output) + 0.5·f5; the output block's input is d0 alone."""
    net = model("CLmser").eval()
    image, hole = batch(seed=2)
    seen = {}
    net.dec_bn[0].register_forward_hook(lambda m, i, o: seen.__setitem__("d5", o))
    net.dec_bn[1].register_forward_hook(lambda m, i, o: seen.__setitem__("pre4", i[0]))
    net.dec_bn[5].register_forward_hook(lambda m, i, o: seen.__setitem__("d0", o))
    with torch.no_grad():
        feats = net.encode(net.network_input(image, hole))
        out = net.predict_raw(image, hole)
        d5 = F.relu(seen["d5"])
        merged = 0.5 * d5 + 0.5 * feats[5]
        pre4 = F.conv_transpose2d(merged, net.enc_kernels[5], stride=2, padding=1, output_padding=1)
        assert torch.allclose(seen["pre4"], pre4, atol=1e-5)
        d0 = F.relu(seen["d0"])
        assert torch.allclose(out, torch.tanh(F.conv_transpose2d(d0, net.enc_kernels[0], padding=1)), atol=1e-6)
        with_f0 = torch.tanh(F.conv_transpose2d(0.5 * d0 + 0.5 * feats[0], net.enc_kernels[0], padding=1))
        assert (out - with_f0).abs().max() > 1e-3


def test_dpn_weight_is_settable_and_checked():
    net = model("CLmser")
    twin = CLmser(dcw=True, dpn=False)
    twin.load_state_dict(net.state_dict())
    net.eval(), twin.eval()
    image, hole = batch()
    with torch.no_grad():
        net.dpn_weight = 0.0                               # w = 0: no encoder contribution at all
        assert torch.allclose(net(image, hole), twin(image, hole), atol=1e-6)
        net.dpn_weight = 1
        assert not torch.allclose(net(image, hole), twin(image, hole), atol=1e-3)
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="dpn_weight"):
            net.dpn_weight = bad
    with pytest.raises(TypeError, match="dcw"):
        CLmser(dcw=1)
    assert CLmser(dpn_weight=0.3).config() == {"dcw": True, "dpn": True, "dpn_weight": 0.3}


# -- invariants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_no_hole_leakage(name):
    net = model(name)
    image, hole = batch(seed=3)
    noisy = torch.where(hole.bool(), torch.rand_like(image), image)
    assert not torch.equal(noisy, image)
    for train in (False, True):
        net.train(train)
        with torch.no_grad():
            a, b = net(image, hole), net(noisy, hole)
        assert torch.equal(a, b), f"{name}: hole pixels changed the output (train={train})"


def test_registry_and_model_file(tmp_path):
    assert "clmser" in model_names()
    net = build_model("clmser", dcw=False, dpn=True, dpn_weight=0.4)
    assert (net.dcw, net.dpn, net.dpn_weight) == (False, True, 0.4)
    path = save_model(net, tmp_path / "m.pt", "clmser", config=net.config())
    loaded = load_model(path)
    image, hole = batch()
    with torch.no_grad():
        assert torch.equal(loaded(image, hole), net.eval()(image, hole))
    assert loaded.dpn_weight == 0.4 and n_params(loaded) == 3_147_040
