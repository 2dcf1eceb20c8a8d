"""GMCNN and its critics: the layer tables, parameter counts, receptive fields, invariants."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from inpaintlib.models.gmcnn import (
    GMCNN,
    Column,
    GlobalDiscriminator,
    LocalDiscriminator,
    ReflectConv2d,
    ReflectionPad,
    Upsample,
    _DilatedConvCPU,
    crop_boxes,
    gradient_receptive_field,
    hole_bounding_boxes,
    receptive_field,
)
from inpaintlib.registry import build_model, load_model, model_names, save_model


pytestmark = pytest.mark.usefixtures("one_thread")


def batch(size=32, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    hole = (torch.rand(b, 1, size, size, generator=g) < 0.2).float()
    hole[:, :, size // 4: size // 2, size // 8: size // 2] = 1.0
    return image, hole


def small(width=0.125, seed=0):
    torch.manual_seed(seed)
    return GMCNN(width=width)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------
# an independent count from the tables of methods.md §4.1
# ---------------------------------------------------------------------------------------
def conv_params(cin, cout, k):
    return cin * cout * k * k + cout


def expected_params(cnum=32, width=1.0):
    """Parameters of GMCNN summed over the layer tables (channels ``max(4, round(·))``)."""
    c = lambda m: max(4, round(m * cnum * width))  # noqa: E731
    trunk_channels = [c(1), c(2), c(2), c(4), c(4), c(4)] + [c(4)] * 6
    total = 0
    for k in (7, 5, 3):
        cin = 4
        for cout in trunk_channels:
            total += conv_params(cin, cout, k)
            cin = cout
    total += conv_params(c(4), c(2), 5) + conv_params(c(2), c(2), 5)                       # B2 tail
    total += (conv_params(c(4), c(2), 3) + conv_params(c(2), c(2), 3)                      # B3 tail
              + conv_params(c(2), c(1), 3) + conv_params(c(1), c(1), 3))
    concat = c(4) + c(2) + c(1)
    total += conv_params(concat, c(0.5), 3) + conv_params(c(0.5), 3, 3)                   # decoder
    return total


def test_parameter_count_full_width():
    torch.manual_seed(0)
    model = GMCNN()
    assert expected_params() == 12_561_891
    assert n_params(model) == 12_561_891
    # per part, as the module docstring states them
    b1, b2, b3 = model.columns
    assert [n_params(col.trunk) for col in model.columns] == [7_132_576, 3_639_712, 1_311_136]
    assert (n_params(b1.tail), n_params(b2.tail), n_params(b3.tail)) == (0, 307_328, 138_432)
    assert n_params(model.decoder) == 32_707
    # trunk weights: k²·(4·32 + 32·64 + 64·64 + 64·128 + 8·128·128), biases 1312
    assert n_params(b1.trunk) == 49 * (4 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 8 * 128 * 128) + 1312


@pytest.mark.parametrize("width", [0.125, 0.25, 0.5])
def test_parameter_count_scaled(width):
    assert n_params(small(width)) == expected_params(width=width)


def test_initialisation_normal_002_bias_zero():
    model = small(1.0)
    w = torch.cat([m.weight.detach().flatten() for m in model.modules() if isinstance(m, nn.Conv2d)])
    b = torch.cat([m.bias.detach().flatten() for m in model.modules() if isinstance(m, nn.Conv2d)])
    assert abs(float(w.std()) - 0.02) < 2e-4 and abs(float(w.mean())) < 2e-4
    assert bool((b == 0).all())


# ---------------------------------------------------------------------------------------
# the layer tables
# ---------------------------------------------------------------------------------------
def convs(module):
    return [m for m in module.modules() if isinstance(m, ReflectConv2d)]


def test_trunk_table_in_every_column():
    model = GMCNN()
    assert [col.name for col in model.columns] == ["B1", "B2", "B3"]
    for col, k in zip(model.columns, (7, 5, 3)):
        trunk = list(col.trunk)
        assert len(trunk) == 12 and all(isinstance(m, ReflectConv2d) for m in trunk)
        assert [m.dilation for m in trunk] == [1] * 6 + [2, 4, 8, 16] + [1, 1]
        assert [m.stride for m in trunk] == [1, 2, 1, 2] + [1] * 8
        assert [m.conv.out_channels for m in trunk] == [32, 64, 64] + [128] * 9
        assert {m.kernel_size for m in trunk} == {k}
        assert [m.pad.pad for m in trunk] == [m.dilation * (k - 1) // 2 for m in trunk]
    # tails
    b1, b2, b3 = (list(col.tail) for col in model.columns)
    assert [(m.scale, m.mode) for m in b1] == [(4, "bilinear")]
    assert [(type(m).__name__, getattr(m, "mode", None) or m.conv.out_channels) for m in b2] == [
        ("Upsample", "nearest"), ("ReflectConv2d", 64), ("ReflectConv2d", 64), ("Upsample", "bilinear")]
    assert [getattr(m, "mode", None) or (m.kernel_size, m.conv.out_channels) for m in b3] == [
        "nearest", (3, 64), (3, 64), "nearest", (3, 32), (3, 32)]
    assert [col.out_channels for col in model.columns] == [128, 64, 32]
    # decoder: 224 → 16 (ELU) → 3 (linear); ELU after every other conv; no normalisation
    d1, d2 = model.decoder
    assert (d1.conv.in_channels, d1.conv.out_channels, d2.conv.out_channels) == (224, 16, 3)
    assert isinstance(d2.act, nn.Identity)
    assert all(isinstance(m.act, nn.ELU) for m in convs(model) if m is not d2)
    assert not any(isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))
                   for m in model.modules())


def test_reflection_padding_keeps_size_and_halves_with_stride():
    model = small()
    x = torch.randn(1, 4, 64, 64)
    for col in model.columns:
        h = x
        for layer in col.trunk:  # at 64 px the trunk runs at 16×16 while the widest pad is 48
            y = layer(h)
            assert y.shape[-1] == h.shape[-1] // layer.stride
            h = y
        assert h.shape[-2:] == (16, 16)
        assert col(x).shape == (1, col.out_channels, 64, 64)


def test_reflection_pad_matches_torch_and_numpy():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 9, generator=g)
    for pad in (0, 1, 3, 5):     # pad < size: exactly nn.ReflectionPad2d
        assert torch.equal(ReflectionPad(pad)(x), nn.ReflectionPad2d(pad)(x))
    for pad in (6, 13, 48):      # pad ≥ size: NumPy's repeated reflection
        ref = np.pad(x.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
        assert np.array_equal(ReflectionPad(pad)(x).numpy(), ref)
    one = torch.randn(1, 1, 1, 4, generator=g)   # a side of 1 cannot be mirrored: replicated
    out = ReflectionPad(2)(one)
    assert out.shape == (1, 1, 5, 8) and torch.equal(out[0, 0, 0], out[0, 0, 4])


def _plain_conv_grads(layer, x, seed=0):
    """Gradients of the layer's convolution written with ``F.conv2d`` (PyTorch's autograd),
    for the output gradient ``randn`` drawn with ``seed``."""
    x = x.detach().clone().requires_grad_(x.requires_grad)
    y = F.conv2d(layer.pad(x), layer.conv.weight, layer.conv.bias, layer.stride, 0, layer.dilation)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    params = [layer.conv.weight, layer.conv.bias] + ([x] if x.requires_grad else [])
    return y, torch.autograd.grad(y, params, g)


@pytest.mark.parametrize("k, d, size, batch, fast", [
    (3, 2, 32, 2, True),    # phases of 16: the input gradient goes through the phase split
    (5, 4, 32, 1, True),    # phases of 8 with a 5×5 kernel: phase split
    (7, 2, 32, 2, True),    # phases of 16 with a 7×7 kernel: phase split
    (7, 4, 32, 1, True),    # phases of 8 with a 7×7 kernel: PyTorch's own input gradient
    (3, 4, 16, 1, True),    # the smallest map the fast path takes (4·d), phases of 4
    (3, 8, 16, 1, False),   # a smaller map (pad larger than the map): F.conv2d
])
def test_dilated_conv_gradients_equal_autograd(k, d, size, batch, fast):
    torch.manual_seed(k * d)
    layer = ReflectConv2d(3, 4, k, dilation=d, elu=False).double()
    x = torch.randn(batch, 3, size, size + 8, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    assert (y.grad_fn.name() == "_DilatedConvCPUBackward") == fast
    ref_y, ref = _plain_conv_grads(layer, x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    got = torch.autograd.grad(y, [layer.conv.weight, layer.conv.bias, x], g)
    assert torch.equal(y, ref_y)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_dilated_conv_gradcheck_and_input_without_grad():
    torch.manual_seed(0)
    layer = ReflectConv2d(2, 3, 3, dilation=2, elu=False).double()
    x = torch.randn(1, 2, 16, 20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _DilatedConvCPU.apply(layer.pad(x), w, b, 2),
                                    (x, layer.conv.weight, layer.conv.bias))
    # the network's first layer: no input gradient asked for, the weights' still right
    x = torch.randn(2, 2, 16, 16, dtype=torch.float64)
    y = layer(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    got = torch.autograd.grad(y, [layer.conv.weight, layer.conv.bias], g)
    ref = _plain_conv_grads(layer, x)[1]
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_dilated_conv_fast_path_only_where_it_applies():
    layer = ReflectConv2d(2, 3, 3, dilation=2)
    x = torch.randn(1, 2, 16, 16)
    assert layer(x).grad_fn.next_functions[0][0].name() == "_DilatedConvCPUBackward"
    with torch.no_grad():
        assert torch.equal(layer(x), F.elu(layer.conv(layer.pad(x))))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16 and "_DilatedConvCPU" not in y.grad_fn.next_functions[0][0].name()
    assert "_DilatedConvCPU" not in ReflectConv2d(2, 3, 3)(x).grad_fn.next_functions[0][0].name()
    layer.requires_grad_(False)           # frozen weights (a critic's step): F.conv2d
    y = layer(x.requires_grad_())
    assert "_DilatedConvCPU" not in y.grad_fn.next_functions[0][0].name()


# ---------------------------------------------------------------------------------------
# forward contract
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,width", [(32, 0.125), (64, 0.25)])
def test_output_shape_and_range(size, width):
    model = small(width)
    image, hole = batch(size)
    with torch.no_grad():
        out, cols = model(image, hole, return_columns=True)
    assert out.shape == image.shape and bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    c = lambda m: max(4, round(m * 32 * width))  # noqa: E731
    assert [tuple(f.shape) for f in cols] == [(2, c(4), size, size), (2, c(2), size, size), (2, c(1), size, size)]
    named = model.column_outputs(image, hole)
    assert list(named) == ["B1", "B2", "B3"]
    assert all(torch.equal(named[n], f) for n, f in zip(named, cols))
    assert torch.equal(model(image, hole), out)


def test_clamp_keeps_output_in_range():
    model = small()
    with torch.no_grad():
        model.decoder[1].conv.bias.fill_(5.0)     # raw output ≈ 5 → clamped to 1
    out = model(*batch())
    assert bool((out == 1.0).all())


def test_no_hole_leakage():
    model = small()
    image, hole = batch(32)
    out = model(image, hole)
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(7))
    changed = torch.where(hole.bool(), noise, image)
    assert not torch.equal(changed, image)
    assert torch.equal(model(changed, hole), out)
    # and the known pixels do matter
    changed_known = torch.where(hole.bool(), image, noise)
    assert not torch.equal(model(changed_known, hole), out)


def test_network_input_is_masked_image_and_mask():
    model = small()
    image, hole = batch(32)
    x = model.network_input(image, hole)
    assert x.shape == (2, 4, 32, 32)
    assert torch.equal(x[:, 3:], hole)
    assert bool((x[:, :3][hole.expand(-1, 3, -1, -1).bool()] == 0).all())
    known = ~hole.expand(-1, 3, -1, -1).bool()
    assert torch.allclose(x[:, :3][known], (image * 2 - 1)[known])


def test_bad_input_errors():
    model = small()
    image, hole = batch(32)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(image[..., :30], hole[..., :30])
    with pytest.raises(ValueError, match="binary"):
        model(image, hole * 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(image * 2, hole)
    with pytest.raises(ValueError, match="width"):
        GMCNN(width=0)
    with pytest.raises(ValueError, match="cnum"):
        GMCNN(cnum=0)


# ---------------------------------------------------------------------------------------
# receptive fields
# ---------------------------------------------------------------------------------------
def test_receptive_fields_by_hand():
    model = GMCNN(width=0.125)
    # trunk: r = 1 + (k−1)·Σ dilation·jump, jumps 1,1,2,2,4,4 then 4·(2,4,8,16), then 4,4
    trunk_sum = 1 + 1 + 2 + 2 + 4 + 4 + 4 * (2 + 4 + 8 + 16) + 4 + 4
    assert trunk_sum == 142
    b1 = 1 + 6 * trunk_sum + 4          # bilinear ×4 blends two quarter-res pixels, 4 px apart
    b3 = 1 + 2 * trunk_sum + 4 * 3      # the tail's window covers 4 quarter-res pixels (see below)
    # B3 tail by hand: a full-res pixel i ← conv3 ← conv3: [i−2, i+2] → nearest ÷2: 3 half-res
    # pixels → conv3 ← conv3 widen by 4: 7 half-res pixels → nearest ÷2: 4 quarter-res pixels
    assert model.receptive_fields() == {"B1": 857, "B2": 589, "B3": 297}
    assert (b1, b3) == (857, 297)
    assert model.receptive_fields() == GMCNN(width=1.0).receptive_fields()
    assert model.output_receptive_field() == 857 + 4
    # the textbook recursion for B2 (587) is one coarse step short: a 5-wide half-res window
    # after nearest ×2 spans 3 quarter-res pixels, two such windows side by side 6 when odd
    assert receptive_field(list(model.columns[1].trunk)) == 1 + 4 * trunk_sum


def test_receptive_field_simple_chains():
    assert receptive_field([ReflectConv2d(1, 1, 3)]) == 3
    assert receptive_field([ReflectConv2d(1, 1, 3, dilation=4)]) == 9
    assert receptive_field([ReflectConv2d(1, 1, 3, stride=2), ReflectConv2d(1, 1, 3)]) == 7
    assert receptive_field([Upsample(2, "nearest")]) == 1
    assert receptive_field([Upsample(2, "bilinear")]) == 2
    with pytest.raises(TypeError):
        receptive_field([nn.ReLU()])


@pytest.mark.parametrize("column,size", [("B3", 320), ("B2", 600)])
def test_measured_receptive_field_equals_theory(column, size):
    """On an input larger than the field, |∂ centre / ∂ input| is nonzero exactly on it."""
    model = small()
    grad = gradient_receptive_field(model, size, column)
    assert grad.shape == (size, size)
    rows = torch.nonzero((grad > 0).any(1)).flatten()
    cols = torch.nonzero((grad > 0).any(0)).flatten()
    rf = model.receptive_fields()[column]
    assert int(rows[-1] - rows[0] + 1) == rf and int(cols[-1] - cols[0] + 1) == rf


def test_gradient_receptive_field_small_image():
    model = small()
    for column in (None, 0, "B3"):     # every column sees all of a 32-px image
        grad = gradient_receptive_field(model, 32, column)
        assert grad.shape == (32, 32) and bool((grad > 0).all())
    with pytest.raises(ValueError, match="column"):
        gradient_receptive_field(model, 32, "B4")
    with pytest.raises(ValueError, match="divisible by 4"):
        gradient_receptive_field(model, 30)


# ---------------------------------------------------------------------------------------
# critics
# ---------------------------------------------------------------------------------------
def expected_critic_params(in_size, d_cnum=64, width=1.0):
    ch = [3] + [max(4, round(m * d_cnum * width)) for m in (1, 2, 4, 4)]
    return sum(conv_params(ch[i], ch[i + 1], 5) for i in range(4)) + (in_size // 16) ** 2 * ch[-1] + 1


def test_critic_parameter_counts():
    torch.manual_seed(0)
    g, l = GlobalDiscriminator(), LocalDiscriminator()
    assert n_params(g) == expected_critic_params(256) == 2_733_441
    assert n_params(l) == expected_critic_params(128) == 2_684_289
    assert g.fc.in_features == 16 * 16 * 256 and l.fc.in_features == 8 * 8 * 256
    assert [c.out_channels for c in g.convs] == [64, 128, 256, 256]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) and c.padding == (2, 2) for c in g.convs)


@pytest.mark.parametrize("cls,size,width", [(GlobalDiscriminator, 256, 0.0625), (LocalDiscriminator, 128, 0.125),
                                            (LocalDiscriminator, 32, 0.25)])
def test_critic_output_shape(cls, size, width):
    torch.manual_seed(0)
    d = cls(in_size=size, width=width)
    assert n_params(d) == expected_critic_params(size, width=width)
    assert d.fc.in_features == (size // 16) ** 2 * max(4, round(256 * width))
    x = torch.rand(3, 3, size, size)
    out = d(x)
    assert out.shape == (3, 1) and bool(torch.isfinite(out).all())


def test_critic_bad_input():
    d = LocalDiscriminator(in_size=32, width=0.125)
    with pytest.raises(ValueError, match="32×32"):
        d(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        d(torch.rand(1, 3, 32, 32) + 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        LocalDiscriminator(in_size=40)


def test_spectral_norm_present_and_normalises():
    torch.manual_seed(0)
    d = LocalDiscriminator(in_size=32, width=0.25)
    layers = list(d.convs) + [d.fc]
    assert all(parametrize.is_parametrized(m, "weight") and hasattr(m, "parametrizations") for m in layers)
    raw = [float(torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2))
           for m in layers]
    assert min(raw) < 0.5          # N(0, 0.02) weights alone have norms far from 1
    d.train()
    x = torch.rand(2, 3, 32, 32)
    for _ in range(5):             # one power iteration per training forward
        d(x)
    sigma = [float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)) for m in layers]
    # power iteration underestimates σ, so W/σ̂ has norm ≥ 1, approaching 1
    assert all(1 - 1e-4 <= s <= 1.05 for s in sigma), sigma
    assert abs(sigma[-1] - 1) < 1e-5   # the 1-row linear layer: exact after one iteration
    plain = LocalDiscriminator(in_size=32, width=0.25, spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in list(plain.convs) + [plain.fc])
    assert n_params(plain) == n_params(d)


# ---------------------------------------------------------------------------------------
# the local critic's input
# ---------------------------------------------------------------------------------------
def test_hole_bounding_boxes_against_loop():
    g = torch.Generator().manual_seed(3)
    hole = (torch.rand(6, 1, 20, 24, generator=g) < 0.02).float()
    hole[0] = 0
    hole[0, :, 4:9, 2:20] = 1        # a rectangle
    hole[1] = 0
    hole[1, :, 19, 23] = 1           # one corner pixel
    hole[2] = 1                      # everything
    ref = []
    for h in hole[:, 0]:
        ys, xs = torch.nonzero(h, as_tuple=True)
        ref.append([ys.min(), xs.min(), ys.max() - ys.min() + 1, xs.max() - xs.min() + 1])
    boxes = hole_bounding_boxes(hole)
    assert boxes.dtype == torch.long and torch.equal(boxes, torch.tensor(ref))
    assert boxes[0].tolist() == [4, 2, 5, 18] and boxes[1].tolist() == [19, 23, 1, 1]


def test_hole_bounding_boxes_empty():
    hole = torch.zeros(3, 1, 8, 8)
    hole[1, :, 2:4, 3:5] = 1
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        hole_bounding_boxes(hole)
    assert hole_bounding_boxes(hole, empty="full").tolist() == [[0, 0, 8, 8], [2, 3, 2, 2], [0, 0, 8, 8]]


@pytest.mark.parametrize("size", [16, (12, 20), 40, 5])
def test_crop_boxes_against_loop(size):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 40, 48, generator=g)
    boxes = torch.tensor([[0, 0, 40, 48], [3, 5, 16, 16], [10, 7, 9, 30], [39, 47, 1, 1], [5, 0, 33, 20]])
    hw = (size, size) if isinstance(size, int) else size
    ref = torch.cat([F.interpolate(images[i:i + 1, :, t:t + h, l:l + w], size=hw, mode="bilinear",
                                   align_corners=False)
                     for i, (t, l, h, w) in enumerate(boxes.tolist())])
    out = crop_boxes(images, boxes, size)
    assert out.shape == (5, 3, *hw)
    assert torch.allclose(out, ref, atol=1e-6, rtol=0)


def test_crop_boxes_exact_crop_and_gradient():
    image, hole = batch(32, b=3)
    hole = torch.zeros_like(hole)
    for i, (t, l) in enumerate([(0, 0), (8, 16), (16, 5)]):
        hole[i, :, t:t + 16, l:l + 16] = 1
    boxes = hole_bounding_boxes(hole)
    image.requires_grad_(True)
    crops = crop_boxes(image, boxes, 16)
    for i, (t, l, h, w) in enumerate(boxes.tolist()):
        assert torch.equal(crops[i], image[i, :, t:t + h, l:l + w])
    crops.sum().backward()          # each cropped pixel receives gradient 1, the rest 0
    assert torch.equal(image.grad, hole.expand_as(image))


def test_crop_boxes_bad_boxes():
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="leaves the 16×16 image"):
        crop_boxes(images, torch.tensor([[0, 0, 8, 8], [10, 10, 8, 8]]), 8)
    with pytest.raises(ValueError, match="empty"):
        crop_boxes(images, torch.tensor([[0, 0, 0, 8], [0, 0, 8, 8]]), 8)
    with pytest.raises(ValueError, match="2×4"):
        crop_boxes(images, torch.zeros(3, 4, dtype=torch.long), 8)
    with pytest.raises(ValueError, match="whole pixel"):
        crop_boxes(images, torch.tensor([[0.5, 0, 8, 8], [0, 0, 8, 8]]), 8)


# ---------------------------------------------------------------------------------------
# registry and training
# ---------------------------------------------------------------------------------------
def test_registry_round_trip(tmp_path):
    assert "gmcnn" in model_names()
    torch.manual_seed(0)
    model = build_model("gmcnn", width=0.125)
    assert isinstance(model, GMCNN) and model.width == 0.125
    path = save_model(model, tmp_path / "g.pt", "gmcnn", config={"width": 0.125})
    loaded = load_model(path)
    image, hole = batch(32)
    with torch.no_grad():
        assert torch.equal(loaded(image, hole), model.eval()(image, hole))


def test_models_package_exports():
    import inpaintlib.models as models

    assert models.GMCNN is GMCNN
    assert models.GlobalDiscriminator is GlobalDiscriminator
    assert models.LocalDiscriminator is LocalDiscriminator
    assert isinstance(Column("B2", width=0.125), nn.Module)


def test_adam_steps_lower_l1():
    """A few Adam steps on one batch of smooth images lower the L1 error.

    (A larger step, e.g. lr 1e-3 here, can drive the raw output past ±1, where the clamp
    passes no gradient and training stalls.)
    """
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    image = torch.stack([torch.stack([0.2 + 0.6 * xx, 0.8 - 0.5 * yy, 0.3 + 0.3 * xx * yy]),
                         torch.stack([0.9 - 0.7 * yy, 0.1 + 0.2 * xx, 0.6 + 0.2 * yy])])
    _, hole = batch(32)
    model = small(0.25)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, betas=(0.5, 0.9))

    def l1():
        return (model(image, hole) - image).abs().mean()

    with torch.no_grad():
        before = float(l1())
    for _ in range(15):
        opt.zero_grad()
        l1().backward()
        opt.step()
    with torch.no_grad():
        after = float(l1())
    assert after < 0.8 * before, (before, after)
