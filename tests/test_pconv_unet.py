"""The PConv U-Net and its plain-convolution twin: shapes, parameter counts, invariants."""
import pytest
import torch
import torch.nn.functional as F

from inpaintlib.models.pconv_unet import MIN_CHANNELS, PConvUNet, PlainUNet, encoder_plan
from inpaintlib.registry import build_model, load_model, model_names, save_model


pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = [PConvUNet, PlainUNet]


def batch(size=64, b=2, seed=0, hole_box=None):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    hole = torch.zeros(b, 1, size, size)
    if hole_box is None:
        hole = (torch.rand(b, 1, size, size, generator=g) < 0.3).float()
        hole[:, :, size // 4: size // 2, size // 4: size // 2] = 1.0
    else:
        t, l, h, w = hole_box
        hole[:, :, t:t + h, l:l + w] = 1.0
    return image, hole


def small(cls, **kw):
    torch.manual_seed(0)
    kw.setdefault("layers", 5)
    kw.setdefault("width", 0.125)
    return cls(**kw)


# -- the layer table, counted independently ---------------------------------------------
TABLE = [(7, 64), (5, 128), (5, 256), (3, 512), (3, 512), (3, 512), (3, 512), (3, 512)]


def expected_parameters(layers, extra_in=0):
    """Σ k·k·c_in·c_out + bias (layers without BN) + 2·c_out (BN weight and bias)."""
    enc = TABLE[:layers]
    chans = [3 + extra_in] + [c for _, c in enc]
    total = 0
    for i, (k, cout) in enumerate(enc):                  # encoder: stride 2
        total += k * k * chans[i] * cout
        total += cout if i == 0 else 2 * cout            # first level: bias, no BN
    for j in range(layers):                              # decoder level j: up(j+1) ⊕ skip j
        cin = chans[j + 1] + chans[j]
        cout = chans[j] if j > 0 else 3
        total += 9 * cin * cout
        total += 2 * cout if j > 0 else cout             # last layer: bias, no BN
    return total


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_full_width():
    assert expected_parameters(7) == 25_779_860
    assert expected_parameters(8) == 32_859_796
    with torch.device("meta"):                           # no memory for 26 M weights
        assert n_params(PConvUNet(layers=7)) == expected_parameters(7)
        assert n_params(PConvUNet(layers=8)) == expected_parameters(8)
        assert n_params(PlainUNet(layers=7)) == expected_parameters(7, extra_in=1) == 25_783_023
        model = PConvUNet()
    convs = [m.conv for m in list(model.encoder) + list(model.decoder)]
    dec_in = [model.decoder[j].conv.in_channels for j in reversed(range(7))]
    assert dec_in == [1024, 1024, 1024, 768, 384, 192, 67]       # methods.md §3.2
    assert [(c.kernel_size[0], c.out_channels) for c in convs[:7]] == TABLE[:7]
    assert all(c.stride == (2, 2) for c in convs[:7]) and all(c.stride == (1, 1) for c in convs[7:])
    assert [c.multi_channel for c in convs] == [False] * 7 + [True] * 7
    # Bias only where no BN follows: encoder level 1 and the output layer (decoder[0]).
    assert [c.bias is not None for c in convs] == [True] + [False] * 6 + [True] + [False] * 6
    assert isinstance(model.encoder[0].bn, torch.nn.Identity)
    assert isinstance(model.decoder[0].act, torch.nn.Identity)
    assert isinstance(model.decoder[1].act, torch.nn.LeakyReLU) and model.decoder[1].act.negative_slope == 0.2


def test_encoder_plan_width():
    assert encoder_plan(7) == TABLE[:7]
    assert encoder_plan(5, width=0.125) == [(7, 8), (5, 16), (5, 32), (3, 64), (3, 64)]
    assert encoder_plan(4, width=0.01) == [(7, MIN_CHANNELS)] * 1 + [(5, MIN_CHANNELS)] * 2 + [(3, 5)]
    assert encoder_plan(3, base_channels=32) == [(7, 32), (5, 64), (5, 128)]
    for bad in (dict(layers=0), dict(width=0.0), dict(base_channels=0)):
        with pytest.raises(ValueError):
            encoder_plan(**{"layers": 7, **bad})


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("layers,size,width", [(5, 64, 0.125), (7, 128, 0.0625), (8, 256, 0.03125)])
def test_output_shapes(cls, layers, size, width):
    model = small(cls, layers=layers, width=width)
    image, hole = batch(size)
    out = model(image, hole)
    assert out.shape == image.shape and out.dtype == torch.float32
    if cls is PConvUNet:
        out2, inter = model(image, hole, return_intermediates=True)
        plan = encoder_plan(layers, width=width)
        assert [f.shape for f, _ in inter["encoder"]] == [
            (2, c, size >> (i + 1), size >> (i + 1)) for i, (_, c) in enumerate(plan)]
        assert [v.shape for _, v in inter["encoder"]] == [
            (2, 1, size >> (i + 1), size >> (i + 1)) for i in range(layers)]
        assert len(inter["decoder"]) == layers and inter["decoder"][-1][0].shape == image.shape
        torch.testing.assert_close(out2, (inter["decoder"][-1][0] + 1) / 2)   # train mode: no clamp
        feats = model.encoder_features(image, hole)
        assert all(torch.equal(a[1], b[1]) for a, b in zip(feats, inter["encoder"]))


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_no_hole_leakage(cls, mode):
    model = small(cls)
    model.train(mode == "train")
    image, hole = batch(64, seed=1)
    other = torch.where(hole.bool(), torch.rand(image.shape, generator=torch.Generator().manual_seed(9)), image)
    assert not torch.equal(other, image)
    assert torch.equal(model(image, hole), model(other, hole))
    x = image.clone().requires_grad_(True)
    model(x, hole).square().sum().backward()
    assert bool((x.grad * hole == 0).all()) and bool((x.grad * (1 - hole) != 0).any())


@pytest.mark.parametrize("cls", MODELS)
def test_output_range_in_eval_mode(cls):
    model = small(cls)
    with torch.no_grad():                                  # make the raw prediction overshoot
        model.decoder[0].conv.weight.mul_(50.0)
    image, hole = batch(64, seed=2)
    model.train()
    raw = model(image, hole).detach()
    assert float(raw.min()) < 0.0 or float(raw.max()) > 1.0  # training mode is not clamped
    model.eval()
    with torch.no_grad():
        out = model(image, hole)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.min()) == 0.0 or float(out.max()) == 1.0       # the clamp did act
    if cls is PConvUNet:   # eval mode = (raw + 1) / 2, clamped
        with torch.no_grad():
            _, inter = model(image, hole, return_intermediates=True)
        assert torch.equal(out, ((inter["decoder"][-1][0] + 1) / 2).clamp(0, 1))


def test_valid_masks_shrink_level_by_level():
    model = small(PConvUNet, layers=7, width=0.0625)
    image, hole = batch(128, b=1, hole_box=(40, 30, 30, 50))      # a 30×50 hole
    masks = model.valid_masks(hole)
    assert [m.shape[-1] for m in masks] == [64, 32, 16, 8, 4, 2, 1]
    fractions = [float(m.mean()) for m in masks]
    assert fractions[0] > 1 - float(hole.mean())                  # the first level already fills in
    assert all(a <= b for a, b in zip(fractions, fractions[1:]))   # never decreases with depth
    assert fractions[-1] == 1.0 and fractions[0] < 1.0
    first_all_ones = next(i for i, f in enumerate(fractions) if f == 1.0)
    assert all(f == 1.0 for f in fractions[first_all_ones:])
    # Level by level the rule is "any known pixel in the window": a max-pool of the mask.
    valid = 1 - hole
    for (k, _), m in zip(encoder_plan(7), masks):
        valid = F.max_pool2d(valid, k, stride=2, padding=k // 2)
        assert torch.equal(m, valid)
    # The same masks as the full forward pass carries.
    with torch.no_grad():
        _, inter = model.eval()(image, hole, return_intermediates=True)
    assert all(torch.equal(m, v) for m, (_, v) in zip(masks, inter["encoder"]))
    # The decoder's masks end all ones: every output pixel is predicted.
    assert bool((inter["decoder"][-1][1] == 1).all())


@pytest.mark.parametrize("cls", MODELS)
def test_encoder_bn_freezing(cls):
    model = small(cls)
    image, hole = batch(64, seed=3)
    enc_bns = model.encoder_batchnorms()
    assert len(enc_bns) == model.layers - 1                        # level 1 has no BN
    dec_bn = model.decoder[1].bn

    def stats(bns):
        return [(bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked)) for bn in bns]

    assert model.freeze_encoder_bn() is model and model.encoder_bn_frozen
    model.train()
    assert all(not bn.training for bn in enc_bns) and dec_bn.training and model.training
    before, dec_before = stats(enc_bns), dec_bn.running_mean.clone()
    model(image, hole).mean().backward()
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
               for a, b in zip(before, stats(enc_bns)))
    assert not torch.equal(dec_before, dec_bn.running_mean)        # the decoder still learns stats
    assert all(bn.weight.grad is not None for bn in enc_bns)        # affine parameters still train
    model.eval().train()                                           # still frozen after .train()
    assert all(not bn.training for bn in enc_bns)
    model.freeze_encoder_bn(False)
    assert all(bn.training for bn in enc_bns) and not model.encoder_bn_frozen
    model(image, hole)
    assert not torch.equal(before[-1][0], enc_bns[-1].running_mean)
    frozen = small(cls, freeze_encoder_bn=True).train()
    assert frozen.encoder_bn_frozen and all(not bn.training for bn in frozen.encoder_batchnorms())


@pytest.mark.parametrize("cls", MODELS)
def test_adam_steps_lower_l1(cls):
    model = small(cls, layers=4, width=0.25)
    image, hole = batch(32, b=4, seed=4)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(10):
        loss = (model(image, hole) - image).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.85 * losses[0] and losses[-1] < min(losses[:-1])


@pytest.mark.parametrize("name,cls", [("pconv", PConvUNet), ("plain_unet", PlainUNet)])
def test_registry_round_trip(tmp_path, name, cls):
    assert name in model_names()
    config = dict(layers=5, width=0.125)
    torch.manual_seed(5)
    model = build_model(name, **config)
    assert type(model) is cls
    image, hole = batch(64, seed=5)
    model.train()
    model(image, hole)                                   # move the BN running stats off their init
    model.eval()
    path = save_model(model, tmp_path / f"{name}.pt", name, config)
    loaded = load_model(path)
    assert type(loaded) is cls and not loaded.training
    with torch.no_grad():
        assert torch.equal(model(image, hole), loaded(image, hole))


@pytest.mark.parametrize("cls", MODELS)
def test_bad_inputs(cls):
    model = small(cls)
    image, hole = batch(64)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*5 = 32; got 48×64"):
        model(image[..., :48, :], hole[..., :48, :])
    with pytest.raises(ValueError, match="binary"):
        model(image, hole * 0.5)
    with pytest.raises(ValueError, match="3 channels"):
        model(image[:, :2], hole)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(image * 2, hole)
    with pytest.raises(ValueError, match="spatial sizes differ"):
        model(image, hole[..., :32, :32])
    if cls is PConvUNet:
        with pytest.raises(ValueError, match="divisible"):
            model.valid_masks(hole[..., :48, :])


def test_grayscale_model():
    model = small(PConvUNet, in_channels=1, layers=3)
    image = torch.rand(2, 1, 16, 16)
    hole = (torch.rand(2, 1, 16, 16) < 0.3).float()
    assert model(image, hole).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match=r"B×1×H×W"):
        model(torch.rand(2, 3, 16, 16), hole)
