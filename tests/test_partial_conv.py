"""PartialConv2d against the paper's equation, computed independently window by window."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from inpaintlib.nn.partial_conv import PartialConv2d


pytestmark = pytest.mark.usefixtures("one_thread")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def reference(x, valid, weight, bias, stride, padding, dilation, multi_channel):
    """The paper's equation, one window at a time via ``F.unfold``, in float64.

    y = Wᵀ(X⊙M)·sum(1)/sum(M) + b where sum(M) > 0, else 0;  m′ = [sum(M) > 0].
    Returns (y, m′) with m′ of shape B×1×H′×W′.
    """
    x, valid, weight = x.double(), valid.double(), weight.double()
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    full = valid if multi_channel else valid.expand(b, cin, h, w)
    args = dict(kernel_size=(kh, kw), dilation=dilation, padding=padding, stride=stride)
    cols_x = F.unfold(x * full, **args)            # B × (C_in·kh·kw) × L
    cols_m = F.unfold(valid, **args)               # B × (C_in·kh·kw or kh·kw) × L
    window = cols_m.shape[1]                       # sum(1)
    count = cols_m.sum(1, keepdim=True)            # sum(M), B × 1 × L
    dot = torch.einsum("ok,bkl->bol", weight.reshape(cout, -1), cols_x)
    y = dot * window / count.clamp(min=1)
    if bias is not None:
        y = y + bias.double().view(1, -1, 1)
    known = count > 0
    y = torch.where(known, y, torch.zeros_like(y))
    (ph, pw), (sh, sw), (dh, dw) = (_pair(v) for v in (padding, stride, dilation))
    hout = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wout = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return y.view(b, cout, hout, wout), known.double().view(b, 1, hout, wout)


def random_case(seed, b=2, cin=3, h=9, w=11, p_known=0.6, multi_channel=False, block=False):
    """Random input and mask; ``block=True`` also cuts a 6×7 hole so some windows see nothing."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cin, h, w, generator=g)
    valid = (torch.rand(b, cin if multi_channel else 1, h, w, generator=g) < p_known).float()
    if block:
        valid[..., 1:7, 2:9] = 0
    return x, valid


def make_layer(cin, cout, k, seed=0, **kw):
    torch.manual_seed(seed)
    layer = PartialConv2d(cin, cout, k, **kw)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.copy_(torch.randn(cout))   # a clearly nonzero bias: holes must not get it
    return layer


GRID = list(itertools.product([True, False], [False, True], [1, 2], [1, 2], [0, 1, 2]))


@pytest.mark.parametrize("bias,multi,stride,dilation,padding", GRID)
def test_matches_unfold_reference(bias, multi, stride, dilation, padding):
    cin, cout, k = 3, 4, 3
    layer = make_layer(cin, cout, k, stride=stride, padding=padding, dilation=dilation,
                       bias=bias, multi_channel=multi)
    x, valid = random_case(seed=stride * 10 + dilation + padding, cin=cin, multi_channel=multi, p_known=0.3,
                           block=True)
    y, valid_out = layer(x, valid)
    ref_y, ref_m = reference(x, valid, layer.weight.detach(), layer.bias, stride, padding, dilation, multi)
    assert y.shape == ref_y.shape and y.dtype == torch.float32
    assert valid_out.shape == ref_m.shape and valid_out.shape[1] == 1
    assert torch.equal(valid_out.double(), ref_m)
    torch.testing.assert_close(y.double(), ref_y, rtol=1e-5, atol=1e-5)
    holes = ref_m.expand_as(ref_y) == 0
    assert holes.any() and not holes.all()
    assert bool((y[holes] == 0).all())   # exactly 0, not b


def test_rectangular_kernel_and_multichannel_window_size():
    layer = make_layer(5, 2, (3, 5), padding=(1, 2), multi_channel=True)
    assert layer.window_size == 5 * 3 * 5
    x, valid = random_case(1, cin=5, h=8, w=10, multi_channel=True, p_known=0.4)
    y, m = layer(x, valid)
    ref_y, ref_m = reference(x, valid, layer.weight.detach(), layer.bias, 1, (1, 2), 1, True)
    assert torch.equal(m.double(), ref_m)
    torch.testing.assert_close(y.double(), ref_y, rtol=1e-5, atol=1e-5)
    assert make_layer(5, 2, (3, 5)).window_size == 15


def test_holes_exactly_zero_and_mask_update_rule():
    layer = make_layer(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 12, 12)
    valid = torch.ones(1, 1, 12, 12)
    valid[..., 2:10, 3:9] = 0                      # an 8×6 hole
    y, m = layer(x, valid)
    # m′ = 1 iff the 3×3 window touches a known pixel: the hole shrinks by one pixel per side.
    expected = torch.ones(1, 1, 12, 12)
    expected[..., 3:9, 4:8] = 0
    assert torch.equal(m, expected)
    assert torch.equal(y * (1 - expected), torch.zeros_like(y))
    assert bool((y[..., 3:9, 4:8] == 0).all())
    assert bool((y[..., 0, 0] != 0).all())
    # The same rule, independently: max-pooling the mask over each window.
    for stride, dilation in [(1, 1), (2, 1), (1, 2), (2, 2)]:
        lay = make_layer(2, 3, 3, stride=stride, padding=1, dilation=dilation)
        _, m2 = lay(x, valid)
        pooled = F.max_pool2d(valid, 3, stride=stride, padding=1, dilation=dilation)
        assert torch.equal(m2, pooled)
        assert torch.equal(lay.update_mask(valid), m2)


def test_all_holes_give_all_zeros():
    layer = make_layer(3, 4, 3, padding=1, multi_channel=True)
    y, m = layer(torch.randn(2, 3, 6, 6), torch.zeros(2, 3, 6, 6))
    assert torch.equal(y, torch.zeros(2, 4, 6, 6)) and torch.equal(m, torch.zeros(2, 1, 6, 6))


def test_multichannel_counts_over_channels():
    # One known entry in one channel of a window is enough: m′ = 1 and ratio = C·k²/1.
    layer = make_layer(4, 1, 3, bias=False, multi_channel=True)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.full((1, 4, 3, 3), 2.0)
    valid = torch.zeros(1, 4, 3, 3)
    valid[0, 2, 1, 1] = 1
    y, m = layer(x, valid)
    assert m.item() == 1.0
    assert y.item() == 2.0 * 36 / 1


def test_all_ones_mask_is_plain_convolution():
    x = torch.randn(2, 3, 10, 10)
    for bias in (True, False):
        layer = make_layer(3, 5, 3, bias=bias)             # padding 0: every window is full
        y, m = layer(x, torch.ones(2, 1, 10, 10))
        plain = F.conv2d(x, layer.weight)
        if bias:
            plain = plain + layer.bias.view(1, -1, 1, 1)
        assert torch.equal(y, plain)                       # ratio exactly 1
        assert torch.equal(m, torch.ones_like(m))
        torch.testing.assert_close(y, F.conv2d(x, layer.weight, layer.bias))
    # With zero padding the border windows are renormalised (partial-convolution padding);
    # the interior is still the plain convolution.
    layer = make_layer(3, 5, 3, padding=1)
    y, _ = layer(x, torch.ones(2, 1, 10, 10))
    plain = F.conv2d(x, layer.weight, padding=1) + layer.bias.view(1, -1, 1, 1)
    assert torch.equal(y[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1])
    corner = F.conv2d(x, layer.weight, padding=1)[..., 0, 0] * 9 / 4 + layer.bias
    torch.testing.assert_close(y[..., 0, 0], corner)


def test_unknown_pixels_do_not_matter():
    layer = make_layer(3, 4, 3, padding=1, multi_channel=True)
    x, valid = random_case(3, multi_channel=True, p_known=0.5)
    noise = torch.randn_like(x) * 100
    y1, _ = layer(x, valid)
    y2, _ = layer(torch.where(valid.bool(), x, noise), valid)
    assert torch.equal(y1, y2)


def test_gradients_reach_weights_not_mask():
    layer = make_layer(3, 4, 3, padding=1, stride=2)
    x, valid = random_case(4, p_known=0.4)
    x.requires_grad_(True)
    valid.requires_grad_(True)
    y, m = layer(x, valid)
    assert not m.requires_grad
    g = torch.randn_like(y)
    (y * g).sum().backward()
    assert valid.grad is None                              # no gradient w.r.t. the mask
    # Gradients equal those of the independent formula.
    w = layer.weight.detach().double().requires_grad_(True)
    b = layer.bias.detach().double().requires_grad_(True)
    xr = x.detach().double().requires_grad_(True)
    ref_y, ref_m = reference(xr, valid.detach(), w, b, 2, 1, 1, False)
    (ref_y * g.double()).sum().backward()
    torch.testing.assert_close(layer.weight.grad.double(), w.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.bias.grad.double(), b.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad.double(), xr.grad, rtol=1e-5, atol=1e-5)
    assert bool((x.grad * (1 - valid.detach()) == 0).all())  # unknown pixels get no gradient
    # d/db of sum(y) counts the outputs that have any known input (holes do not get b).
    layer.zero_grad()
    y, m = layer(x.detach(), valid.detach())
    y.sum().backward()
    assert torch.equal(layer.bias.grad, m.sum().expand(4))


@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_float64(bias):
    # The hand-written backward of the renormalisation against finite differences.
    layer = make_layer(2, 3, 3, padding=1, stride=2, bias=bias, multi_channel=True).double()
    x, valid = random_case(6, b=2, cin=2, h=6, w=7, multi_channel=True, p_known=0.4, block=True)
    valid = valid.double()

    def run(x, weight, *b):
        params = {"weight": weight, **({"bias": b[0]} if b else {})}
        return torch.func.functional_call(layer, params, (x, valid))[0]

    leaf = lambda t: t.detach().double().clone().requires_grad_(True)
    inputs = (leaf(x), leaf(layer.weight)) + ((leaf(layer.bias),) if bias else ())
    assert run(*inputs).dtype == torch.float64
    assert torch.autograd.gradcheck(run, inputs)


def test_state_dict_is_conv2d_compatible():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    layer = PartialConv2d(3, 4, 3, padding=1)
    assert set(layer.state_dict()) == {"weight", "bias"}   # the ones kernel is not saved
    layer.load_state_dict(conv.state_dict())
    x = torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(layer(x, torch.ones(1, 1, 5, 5))[0][..., 1:-1, 1:-1], conv(x)[..., 1:-1, 1:-1])
    assert "multi_channel=False" in repr(layer)


def test_autocast_keeps_the_mask_path_exact():
    layer = make_layer(3, 4, 3, padding=1, multi_channel=True)
    x, valid = random_case(5, multi_channel=True, p_known=0.3)
    y32, m32 = layer(x, valid)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y16, m16 = layer(x, valid)
        count = layer.window_count(valid)
    assert y16.dtype == torch.bfloat16
    assert m16.dtype == torch.float32 and count.dtype == torch.float32
    assert torch.equal(m16, m32)
    assert bool((y16[m32.expand_as(y16) == 0] == 0).all())
    torch.testing.assert_close(y16.float(), y32, rtol=0.05, atol=0.1)


@pytest.mark.parametrize("multi", [False, True])
def test_bad_inputs_raise_clear_errors(multi):
    layer = PartialConv2d(3, 4, 3, padding=1, multi_channel=multi)
    c = 3 if multi else 1
    x = torch.randn(2, 3, 6, 6)
    ok = torch.ones(2, c, 6, 6)
    with pytest.raises(ValueError, match="binary"):
        layer(x, ok * 0.5)
    with pytest.raises(ValueError, match=rf"B×{c}×H×W in {'multi' if multi else 'single'}-channel mode"):
        layer(x, torch.ones(2, 2, 6, 6))
    with pytest.raises(ValueError, match=rf"B×{c}×H×W"):
        layer(x, torch.ones(c, 6, 6))
    with pytest.raises(ValueError, match="spatial size must match"):
        layer(x, torch.ones(2, c, 6, 7))
    with pytest.raises(ValueError, match="spatial size must match"):
        layer(x, torch.ones(1, c, 6, 6))
    with pytest.raises(ValueError, match="floating-point"):
        layer(x, ok.bool())
    with pytest.raises(ValueError, match=r"x must have shape B×3×H×W"):
        layer(torch.randn(2, 5, 6, 6), ok)
    with pytest.raises(TypeError, match="valid must be a torch.Tensor"):
        layer(x, 1.0)
    # check=False skips only the (costly) binary check, never the shape checks.
    layer(x, ok * 0.5, check=False)
    with pytest.raises(ValueError, match="spatial size"):
        layer(x, torch.ones(2, c, 5, 6), check=False)


def test_constructor_errors():
    with pytest.raises(ValueError, match="eps"):
        PartialConv2d(3, 4, 3, eps=0.0)
    with pytest.raises(ValueError, match="padding"):
        PartialConv2d(3, 4, 3, padding="same")


@settings(max_examples=40, deadline=None)
@given(
    cin=st.integers(1, 4), cout=st.integers(1, 3), k=st.integers(1, 4),
    stride=st.integers(1, 3), dilation=st.integers(1, 2), padding=st.integers(0, 2),
    h=st.integers(4, 9), w=st.integers(4, 9), p=st.floats(0.0, 1.0),
    multi=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_property_matches_reference(cin, cout, k, stride, dilation, padding, h, w, p, multi, bias, seed):
    if dilation * (k - 1) + 1 > min(h, w) + 2 * padding:
        return  # no output window fits
    layer = make_layer(cin, cout, k, seed=seed, stride=stride, padding=padding,
                       dilation=dilation, bias=bias, multi_channel=multi)
    x, valid = random_case(seed, b=2, cin=cin, h=h, w=w, p_known=p, multi_channel=multi)
    y, m = layer(x, valid)
    ref_y, ref_m = reference(x, valid, layer.weight.detach(), layer.bias, stride, padding, dilation, multi)
    assert torch.equal(m.double(), ref_m)
    assert bool((y[ref_m.expand_as(ref_y) == 0] == 0).all())
    torch.testing.assert_close(y.double(), ref_y, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("multi_channel", [False, True])
def test_inference_path_equals_the_training_path_exactly(multi_channel):
    """Without gradients the layer skips its autograd function; the values are identical."""
    torch.manual_seed(0)
    layer = PartialConv2d(4, 6, 3, padding=1, bias=True, multi_channel=multi_channel)
    x = torch.randn(2, 4, 9, 9)
    valid = (torch.rand(2, 4 if multi_channel else 1, 9, 9) > 0.4).float()
    y_grad, m_grad = layer(x.clone().requires_grad_(), valid)
    with torch.no_grad():
        y_inf, m_inf = layer(x, valid)
    assert torch.equal(y_grad.detach(), y_inf) and torch.equal(m_grad, m_inf)
