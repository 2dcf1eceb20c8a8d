"""Original checkpoints → inpaintlib models: every key lands, and the outputs match the originals.

The original layouts are recorded here as data (key names and shapes as the original code
saves them, read from its source), and each original network's computation is written out
again as a small functional reference forward driven by the original-named state dict.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintlib import convert as cv
from inpaintlib.registry import load_model

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def photo_and_hole(size, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    hole = (torch.rand(b, 1, size, size, generator=g) < 0.25).float()
    hole[0, :, size // 8: size // 2, size // 8: size // 2] = 1.0     # a big block: empty windows
    hole[-1, :, size // 2:, :] = 1.0                                 # half the image missing
    return image, hole


# ---------------------------------------------------------------------------------------
# PConv U-Net (naoto0804): layout as data
# ---------------------------------------------------------------------------------------
# (module, conv weight shape, has BatchNorm, has conv bias) for PConvUNet(layer_size=7).
PCONV_LAYERS_7 = [
    ("enc_1", (64, 3, 7, 7), False, False),
    ("enc_2", (128, 64, 5, 5), True, False),
    ("enc_3", (256, 128, 5, 5), True, False),
    ("enc_4", (512, 256, 3, 3), True, False),
    ("enc_5", (512, 512, 3, 3), True, False),
    ("enc_6", (512, 512, 3, 3), True, False),
    ("enc_7", (512, 512, 3, 3), True, False),
    ("dec_7", (512, 1024, 3, 3), True, False),
    ("dec_6", (512, 1024, 3, 3), True, False),
    ("dec_5", (512, 1024, 3, 3), True, False),
    ("dec_4", (256, 768, 3, 3), True, False),
    ("dec_3", (128, 384, 3, 3), True, False),
    ("dec_2", (64, 192, 3, 3), True, False),
    ("dec_1", (3, 67, 3, 3), False, True),
]


def pconv_layers(scale=1):
    """The table with every channel count except the image's 3 divided by ``scale``."""
    def s(c):
        return c if c in (3,) else c // scale

    out = []
    for name, (o, i, kh, kw), bn, bias in PCONV_LAYERS_7:
        i_new = 3 + 64 // scale if name == "dec_1" else s(i)
        out.append((name, (s(o), i_new, kh, kw), bn, bias))
    return out


def pconv_state_dict(layers, seed=0, with_nbt=True):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape, bn, bias in layers:
        fan_in = shape[1] * shape[2] * shape[3]
        # the original divides by sum(M) (about fan_in), so trained weights are fan_in times larger
        sd[f"{name}.conv.input_conv.weight"] = torch.randn(shape, generator=g) * fan_in ** 0.5
        sd[f"{name}.conv.mask_conv.weight"] = torch.ones(shape)
        if bias:
            sd[f"{name}.conv.input_conv.bias"] = torch.randn(shape[0], generator=g) * 0.1
        if bn:
            c = shape[0]
            sd[f"{name}.bn.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
            sd[f"{name}.bn.bias"] = 0.1 * torch.randn(c, generator=g)
            sd[f"{name}.bn.running_mean"] = 0.1 * torch.randn(c, generator=g)
            sd[f"{name}.bn.running_var"] = 0.5 + torch.rand(c, generator=g)
            if with_nbt:
                sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(1000)
    return sd


def naoto_layer(x, mask, weight, bias, stride):
    """naoto0804's partial convolution: multi-channel mask, (conv(x·m) − b)/sum(m) + b."""
    k = weight.shape[-1]
    pad = k // 2
    out = F.conv2d(x * mask, weight, bias, stride, pad)
    b = bias.view(1, -1, 1, 1) if bias is not None else torch.zeros_like(out)
    with torch.no_grad():
        out_mask = F.conv2d(mask, torch.ones_like(weight), None, stride, pad)
    holes = out_mask == 0
    mask_sum = out_mask.masked_fill(holes, 1.0)
    out = ((out - b) / mask_sum + b).masked_fill(holes, 0.0)
    new_mask = torch.ones_like(out).masked_fill(holes, 0.0)
    return out, new_mask


def naoto_forward(sd, image, hole, layer_size=7, calibrate=False, upsampling_mode="nearest"):
    """The original's test-time computation for one photo and hole mask, output in [0, 1].

    ``calibrate=True`` first sets every BatchNorm's running statistics to the batch's own
    (as training would leave them), so that activations keep a realistic scale.
    """
    def bn(h, name):
        if calibrate:
            sd[f"{name}.bn.running_mean"] = h.mean(dim=(0, 2, 3))
            sd[f"{name}.bn.running_var"] = h.var(dim=(0, 2, 3))
        return F.batch_norm(h, sd[f"{name}.bn.running_mean"], sd[f"{name}.bn.running_var"],
                            sd[f"{name}.bn.weight"], sd[f"{name}.bn.bias"], False, 0.0, 1e-5)

    mask = (1.0 - hole).expand(-1, 3, -1, -1)             # RGB mask image, 1 = known
    x = (image - IMAGENET_MEAN) / IMAGENET_STD * mask      # normalised gt × mask
    hs, ms = [x], [mask]
    for i in range(1, layer_size + 1):
        h, m = naoto_layer(hs[-1], ms[-1], sd[f"enc_{i}.conv.input_conv.weight"], None, 2)
        if i > 1:
            h = bn(h, f"enc_{i}")
        hs.append(F.relu(h))
        ms.append(m)
    h, m = hs[-1], ms[-1]
    for i in range(layer_size, 0, -1):
        h = torch.cat([F.interpolate(h, scale_factor=2, mode=upsampling_mode), hs[i - 1]], 1)
        m = torch.cat([F.interpolate(m, scale_factor=2, mode="nearest"), ms[i - 1]], 1)
        h, m = naoto_layer(h, m, sd[f"dec_{i}.conv.input_conv.weight"], sd.get(f"dec_{i}.conv.input_conv.bias"), 1)
        if i > 1:
            h = F.leaky_relu(bn(h, f"dec_{i}"), 0.2)
    return (h * IMAGENET_STD + IMAGENET_MEAN).clamp(0, 1)   # unnormalise; images are saved clamped


def test_pconv_layout_table_matches_the_recorded_original():
    want = {}
    for name, shape, bn, bias in PCONV_LAYERS_7:
        want[f"{name}.conv.input_conv.weight"] = shape
        want[f"{name}.conv.mask_conv.weight"] = shape
        if bias:
            want[f"{name}.conv.input_conv.bias"] = (shape[0],)
        if bn:
            for p in ("weight", "bias", "running_mean", "running_var"):
                want[f"{name}.bn.{p}"] = (shape[0],)
            want[f"{name}.bn.num_batches_tracked"] = ()
    assert cv.pconv_key_table(7, 64) == want


def test_pconv_full_size_every_parameter_lands_where_it_should():
    sd = pconv_state_dict(PCONV_LAYERS_7)
    res = cv.convert("pconv", {"n_iter": 1_000_000, "model": sd, "optimizer": {"state": {}, "param_groups": []}})
    model, ours = res.model, res.model.state_dict()
    assert res.name == "pconv" and res.config == {"layers": 7, "base_channels": 64, "normalization": "imagenet"}
    assert sum(p.numel() for p in model.parameters()) == 25_779_860
    names = [n for n, *_ in PCONV_LAYERS_7]
    for name, shape, bn, bias in PCONV_LAYERS_7:
        level = int(name[4:]) - 1
        dst = f"{'encoder' if name.startswith('enc') else 'decoder'}.{level}"
        window = shape[1] * shape[2] * shape[3]
        w = sd[f"{name}.conv.input_conv.weight"]
        assert (ours[f"{dst}.conv.weight"] * window - w).abs().max() <= 1e-6 * w.abs().max(), name
        if bn:
            for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                assert torch.equal(ours[f"{dst}.bn.{p}"], sd[f"{name}.bn.{p}"]), f"{name}.bn.{p}"
    assert torch.equal(ours["decoder.0.conv.bias"], sd["dec_1.conv.input_conv.bias"])
    assert torch.equal(ours["encoder.0.conv.bias"], torch.zeros(64))
    assert len(names) == 14 and not model.training


@pytest.mark.parametrize("layer_size", [7, 4])
def test_pconv_converted_output_matches_the_original_computation(layer_size):
    table = pconv_layers(scale=16)     # 4, 8, 16, 32 channels: the original's pattern, tiny
    if layer_size == 4:                # enc_1 … enc_4 and dec_4 … dec_1 of the same network
        keep = {"enc_1", "enc_2", "enc_3", "enc_4", "dec_4", "dec_3", "dec_2", "dec_1"}
        table = [t for t in table if t[0] in keep]
    sd = pconv_state_dict(table, seed=1)
    size = 2 ** layer_size * 2
    image, hole = photo_and_hole(size)
    with torch.no_grad():
        naoto_forward(sd, image, hole, layer_size, calibrate=True)   # realistic BN statistics
        model = cv.convert_pconv(sd)
        ours = model(image, hole)
        ref = naoto_forward(sd, image, hole, layer_size)
    assert (ours - ref).abs().max() <= 1e-5
    assert ref.std() > 0.05            # a real signal, not a constant output


def test_pconv_bilinear_upsampling_is_a_conversion_option(tmp_path):
    """naoto0804's ``upsampling_mode='bilinear'`` (features only) leaves no trace in the
    weights: converted with the matching option the outputs agree, with the default they do not."""
    sd = pconv_state_dict(pconv_layers(scale=16), seed=3)
    image, hole = photo_and_hole(256)
    with torch.no_grad():
        naoto_forward(sd, image, hole, calibrate=True, upsampling_mode="bilinear")
        ref = naoto_forward(sd, image, hole, upsampling_mode="bilinear")
        bilinear = cv.convert_pconv(sd, upsampling="bilinear")
        nearest = cv.convert_pconv(sd)
        assert (bilinear(image, hole) - ref).abs().max() <= 1e-5 and ref.std() > 0.05
        assert (nearest(image, hole) - ref).abs().max() > 1e-3
    res = cv.convert_file("pconv", _save(tmp_path / "naoto.pth", {"model": sd}), tmp_path / "ours.pt",
                          upsampling="bilinear")
    assert res.config["upsampling"] == "bilinear"
    with torch.no_grad():
        assert (load_model(tmp_path / "ours.pt")(image, hole) - ref).abs().max() <= 1e-5   # stored in the file
    with pytest.raises(ValueError, match="upsampling must be one of"):
        cv.convert_pconv(sd, upsampling="bicubic")
    with pytest.raises(ValueError, match="no option upsampling"):
        cv.convert("gmcnn", {}, upsampling="bilinear")


def _save(path, obj):
    torch.save(obj, path)
    return path


def test_converted_pconv_never_sees_hole_pixels():
    model = cv.convert_pconv(pconv_state_dict(pconv_layers(16), seed=2))
    image, hole = photo_and_hole(128)
    other = torch.where(hole.bool(), torch.rand_like(image), image)   # change only hidden pixels
    with torch.no_grad():
        assert torch.equal(model(image, hole), model(other, hole))


def test_pconv_old_checkpoints_without_num_batches_tracked_convert():
    sd = pconv_state_dict(pconv_layers(16), with_nbt=False)
    model = cv.convert_pconv(sd)
    assert int(model.state_dict()["encoder.1.bn.num_batches_tracked"]) == 0


def test_pconv_dataparallel_prefix_is_removed():
    sd = pconv_state_dict(pconv_layers(16))
    a = cv.convert_pconv({"model": {f"module.{k}": v for k, v in sd.items()}})
    b = cv.convert_pconv(sd)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


# ---------------------------------------------------------------------------------------
# GMCNN (shepnerd, PyTorch release): layout as data
# ---------------------------------------------------------------------------------------
_TRUNK = lambda k: [  # noqa: E731  (out, in) of the 12 trunk convolutions, cnum = 32
    (32, 4), (64, 32), (64, 64), (128, 64), (128, 128), (128, 128),
    (128, 128), (128, 128), (128, 128), (128, 128), (128, 128), (128, 128)]
# list name → (kernel, {index: (out, in)}); the other indices are parameter-free upsamplings
GMCNN_LISTS_32 = {
    "EB1": (7, dict(enumerate(_TRUNK(7)))),
    "EB2": (5, {**dict(enumerate(_TRUNK(5))), 13: (64, 128), 14: (64, 64)}),
    "EB3": (3, {**dict(enumerate(_TRUNK(3))), 13: (64, 128), 14: (64, 64), 16: (32, 64), 17: (32, 32)}),
    "decoding_layers": (3, {0: (16, 224), 1: (3, 16)}),
}
# the original's reflection pad of each list entry (0 = an upsampling, no activation)
GMCNN_PADS = {
    "EB1": [3, 3, 3, 3, 3, 3, 6, 12, 24, 48, 3, 3, 0],
    "EB2": [2, 2, 2, 2, 2, 2, 4, 8, 16, 32, 2, 2, 0, 2, 2, 0],
    "EB3": [1, 1, 1, 1, 1, 1, 2, 4, 8, 16, 1, 1, 0, 1, 1, 0, 1, 1],
}
GMCNN_STRIDE2 = {1, 3}
GMCNN_DILATION = {6: 2, 7: 4, 8: 8, 9: 16}


def gmcnn_state_dict(cnum=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = lambda c: c if c in (3, 4) else c * cnum // 32  # noqa: E731
    sd = {}
    for name, (k, convs) in GMCNN_LISTS_32.items():
        for i, (o, c_in) in convs.items():
            o, c_in = s(o), s(c_in)
            sd[f"{name}.{i}.weight"] = torch.randn(o, c_in, k, k, generator=g) * (1.0 / (c_in * k * k)) ** 0.5
            sd[f"{name}.{i}.bias"] = 0.05 * torch.randn(o, generator=g)
    return sd


def shepnerd_forward(sd, image, hole):
    """The original's evaluate(): input [(2I−1)(1−M), M], three columns, decoder, clamp."""
    x = torch.cat([(image * 2 - 1) * (1 - hole), hole], 1)
    outs = []
    for name, up in (("EB1", {12: ("bilinear", 4)}), ("EB2", {12: ("nearest", 2), 15: ("bilinear", 2)}),
                     ("EB3", {12: ("nearest", 2), 15: ("nearest", 2)})):
        h = x
        for i, pad in enumerate(GMCNN_PADS[name]):
            if i in up:
                mode, f = up[i]
                size = (h.shape[2] * f, h.shape[3] * f)
                h = (F.interpolate(h, size=size, mode=mode) if mode == "nearest"
                     else F.interpolate(h, size=size, mode=mode, align_corners=True))
                continue
            stride = 2 if i in GMCNN_STRIDE2 else 1
            dil = GMCNN_DILATION.get(i, 1) if i < 12 else 1
            h = F.elu(F.conv2d(F.pad(h, (pad,) * 4, mode="reflect"), sd[f"{name}.{i}.weight"],
                               sd[f"{name}.{i}.bias"], stride, 0, dil))
        outs.append(h)
    h = torch.cat(outs, 1)
    h = F.elu(F.conv2d(F.pad(h, (1,) * 4, mode="reflect"), sd["decoding_layers.0.weight"], sd["decoding_layers.0.bias"]))
    h = F.conv2d(F.pad(h, (1,) * 4, mode="reflect"), sd["decoding_layers.1.weight"], sd["decoding_layers.1.bias"])
    return (h.clamp(-1, 1) + 1) / 2


def test_gmcnn_layout_table_matches_the_recorded_original():
    want = {}
    for name, (k, convs) in GMCNN_LISTS_32.items():
        for i, (o, c_in) in convs.items():
            want[f"{name}.{i}.weight"] = (o, c_in, k, k)
            want[f"{name}.{i}.bias"] = (o,)
    assert cv.gmcnn_key_table(32) == want


def test_gmcnn_full_size_every_parameter_lands_where_it_should():
    sd = gmcnn_state_dict(32)
    res = cv.convert("gmcnn", sd)
    ours = res.model.state_dict()
    assert res.name == "gmcnn" and res.config == {"cnum": 32}
    assert sum(p.numel() for p in res.model.parameters()) == 12_561_891 == sum(v.numel() for v in sd.values())
    tails = {"EB2": {13: 1, 14: 2}, "EB3": {13: 1, 14: 2, 16: 4, 17: 5}}
    for c, name in enumerate(("EB1", "EB2", "EB3")):
        for i in GMCNN_LISTS_32[name][1]:
            dst = f"columns.{c}.trunk.{i}.conv" if i < 12 else f"columns.{c}.tail.{tails[name][i]}.conv"
            assert torch.equal(ours[f"{dst}.weight"], sd[f"{name}.{i}.weight"])
            assert torch.equal(ours[f"{dst}.bias"], sd[f"{name}.{i}.bias"])
    for j in range(2):
        assert torch.equal(ours[f"decoder.{j}.conv.weight"], sd[f"decoding_layers.{j}.weight"])


def test_gmcnn_converted_output_matches_the_original_computation():
    sd = gmcnn_state_dict(cnum=8, seed=2)
    model = cv.convert_gmcnn(sd)
    image, hole = photo_and_hole(200, b=1)   # trunk at 50 px: every reflection pad (≤ 48) is valid
    with torch.no_grad():
        ours = model(image, hole)
        ref = shepnerd_forward(sd, image, hole)
    assert (ours - ref).abs().max() <= 1e-5


# ---------------------------------------------------------------------------------------
# mismatches: named keys, nothing half-loaded
# ---------------------------------------------------------------------------------------
def test_missing_key_is_named():
    sd = pconv_state_dict(pconv_layers(16))
    del sd["dec_3.bn.running_var"]
    with pytest.raises(cv.ConversionError, match=r"missing keys: dec_3\.bn\.running_var") as info:
        cv.convert("pconv", sd)
    assert info.value.missing == ["dec_3.bn.running_var"]


def test_unexpected_key_is_named():
    sd = gmcnn_state_dict(8)
    sd["EB1.12.weight"] = torch.zeros(1)
    with pytest.raises(cv.ConversionError, match=r"unexpected keys: EB1\.12\.weight"):
        cv.convert("gmcnn", sd)


def test_wrong_shape_is_named():
    sd = pconv_state_dict(pconv_layers(16))
    sd["enc_3.conv.input_conv.weight"] = torch.zeros(16, 8, 3, 3)
    sd["enc_3.conv.mask_conv.weight"] = torch.ones(16, 8, 3, 3)
    with pytest.raises(cv.ConversionError, match=r"wrong shapes: enc_3\.conv\.input_conv\.weight \(16, 8, 3, 3\) "
                                                 r"\(expected \(16, 8, 5, 5\)\)"):
        cv.convert("pconv", sd)


def test_wrong_method_is_named():
    with pytest.raises(cv.ConversionError, match="looks like a gmcnn checkpoint"):
        cv.convert("pconv", gmcnn_state_dict(8))
    with pytest.raises(cv.ConversionError, match="looks like a pconv checkpoint"):
        cv.convert("gmcnn", pconv_state_dict(pconv_layers(16)))
    with pytest.raises(ValueError, match="unknown method 'lama'"):
        cv.convert("lama", {})


def test_mask_kernels_must_be_ones_and_early_layout_is_refused():
    sd = pconv_state_dict(pconv_layers(16))
    sd["enc_2.conv.mask_conv.weight"] = sd["enc_2.conv.mask_conv.weight"] * 0.5
    with pytest.raises(cv.ConversionError, match="enc_2.conv.mask_conv.weight"):
        cv.convert("pconv", sd)
    early = {"enc_1.conv.conv2d.weight": torch.zeros(4, 3, 7, 7), "enc_1.conv.mask2d.weight": torch.ones(4, 3, 7, 7)}
    with pytest.raises(cv.ConversionError, match="bias before every BatchNorm"):
        cv.convert("pconv", early)


class TrainingConfig:
    """Stands for a training framework's config object saved beside the weights."""


def test_no_state_dict_is_a_clear_error_and_foreign_objects_load_as_placeholders(tmp_path):
    with pytest.raises(cv.ConversionError, match="no state dict found"):
        cv.convert("gmcnn", {"epoch": 3, "arch": "GMCNN"})
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": gmcnn_state_dict(8), "config": TrainingConfig(), "monitor_best": float("inf")}, path)
    with pytest.raises(Exception):                       # what plain weights_only loading does
        torch.load(path, weights_only=True)
    obj = cv.load_original(path)                        # read safely: the config is a placeholder
    assert type(obj["config"]).__name__ == "TrainingConfig" and type(obj["config"]) is not TrainingConfig
    a = cv.convert("gmcnn", path).model
    b = cv.convert("gmcnn", path, trust=True).model
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    with pytest.raises(FileNotFoundError):
        cv.convert("gmcnn", tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(cv.ConversionError, match="could not be read"):
        cv.convert("gmcnn", tmp_path / "junk.pth")


def test_converted_file_loads_through_the_registry(tmp_path):
    sd = pconv_state_dict(pconv_layers(16), seed=3)
    src = tmp_path / "naoto.pth"
    torch.save({"n_iter": 10, "model": sd}, src)
    res = cv.convert_file("pconv", src, tmp_path / "ours.pt")
    model = load_model(tmp_path / "ours.pt")
    image, hole = photo_and_hole(256, b=1)
    with torch.no_grad():
        assert torch.equal(model(image, hole), res.model(image, hole))
    payload = torch.load(tmp_path / "ours.pt", weights_only=True)
    assert payload["meta"]["converter"] == "pconv" and payload["config"]["normalization"] == "imagenet"


# ---------------------------------------------------------------------------------------
# CLmser family (CMACH508/CLmser): layout as data
# ---------------------------------------------------------------------------------------
# kernel k_i: (out, in); the released cfg's CHANNEL list with 3 input channels
CLMSER_KERNELS = [(16, 3), (32, 16), (64, 32), (128, 64), (256, 128), (256, 256), (256, 256)]


def clmser_state_dict(dcw, seed=0):
    """As the released Generator saves it; with DCW one tensor under two names."""
    g = torch.Generator().manual_seed(seed)
    kern = lambda o, i: torch.randn(o, i, 3, 3, generator=g) * (2.0 / (i * 9)) ** 0.5  # noqa: E731
    enc = [kern(o, i) for o, i in CLMSER_KERNELS]
    dec = enc if dcw else [kern(o, i) for o, i in CLMSER_KERNELS]
    sd = {}

    def bn(prefix, c):
        sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(7)

    for i, k in enumerate(enc):
        sd[f"DownBlocks.{i}.conv2d.weight"] = k
        bn(f"DownBlocks.{i}.bn", k.shape[0])
    for i in range(6):
        sd[f"UpBlocks.{i}.dconv2d.weight"] = dec[i + 1]
        bn(f"UpBlocks.{i}.bn", dec[i + 1].shape[1])
    sd["OutBlock.dconv2d.weight"] = dec[0]
    return sd


def clmser_forward(sd, image, hole, dpn, calibrate=False):
    """The released Generator's forward on the normalised masked image, mapped to [0, 1]."""
    def bn(h, p):
        if calibrate:
            sd[f"{p}.running_mean"], sd[f"{p}.running_var"] = h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3))
        return F.batch_norm(h, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], False, 0.0, 1e-5)

    x = (image - 0.5) / 0.5 * (1 - hole)           # Normalize(0.5, 0.5), then × mask (1 = kept)
    feats = []
    for i in range(7):
        x = F.relu(bn(F.conv2d(x, sd[f"DownBlocks.{i}.conv2d.weight"], stride=1 if i == 0 else 2, padding=1),
                      f"DownBlocks.{i}.bn"))
        feats.append(x)
    x = feats[-1]
    for i in range(5, -1, -1):
        inp = 0.5 * x + 0.5 * feats[i + 1] if dpn else x
        y = F.conv_transpose2d(inp, sd[f"UpBlocks.{i}.dconv2d.weight"], stride=2, padding=1, output_padding=1)
        x = F.relu(bn(y, f"UpBlocks.{i}.bn"))
    out = torch.tanh(F.conv_transpose2d(x, sd["OutBlock.dconv2d.weight"], stride=1, padding=1))
    return (out + 1) / 2


def test_clmser_layout_table_matches_the_recorded_original():
    want = {}
    for i, (o, c) in enumerate(CLMSER_KERNELS):
        want[f"DownBlocks.{i}.conv2d.weight"] = (o, c, 3, 3)
        for p in ("weight", "bias", "running_mean", "running_var"):
            want[f"DownBlocks.{i}.bn.{p}"] = (o,)
        want[f"DownBlocks.{i}.bn.num_batches_tracked"] = ()
    for i in range(6):
        o, c = CLMSER_KERNELS[i + 1]
        want[f"UpBlocks.{i}.dconv2d.weight"] = (o, c, 3, 3)
        for p in ("weight", "bias", "running_mean", "running_var"):
            want[f"UpBlocks.{i}.bn.{p}"] = (c,)
        want[f"UpBlocks.{i}.bn.num_batches_tracked"] = ()
    want["OutBlock.dconv2d.weight"] = (16, 3, 3, 3)
    assert cv.clmser_key_table() == want


@pytest.mark.parametrize("method,dcw,dpn", [("clmser", True, True), ("clmser_n", True, False),
                                            ("clmser_w", False, True), ("cae", False, False)])
def test_clmser_variants_land_and_match_the_original_computation(method, dcw, dpn):
    sd = clmser_state_dict(dcw, seed=4)
    image, hole = photo_and_hole(64)
    with torch.no_grad():
        clmser_forward(sd, image, hole, dpn, calibrate=True)
        res = cv.convert(method, {"arch": "Generator", "epoch": 50, "state_dict": sd})
        ours = res.model(image, hole)
        ref = clmser_forward(sd, image, hole, dpn)
    assert res.name == "clmser" and res.config == {"dcw": dcw, "dpn": dpn, "dpn_weight": 0.5}
    assert (ours - ref).abs().max() <= 1e-5 and ref.std() > 0.05
    own = res.model.state_dict()
    for i in range(7):
        assert torch.equal(own[f"enc_kernels.{i}"], sd[f"DownBlocks.{i}.conv2d.weight"])
        assert torch.equal(own[f"enc_bn.{i}.running_var"], sd[f"DownBlocks.{i}.bn.running_var"])
    for i in range(6):
        assert torch.equal(own[f"dec_bn.{5 - i}.weight"], sd[f"UpBlocks.{i}.bn.weight"])
        if not dcw:
            assert torch.equal(own[f"dec_kernels.{i + 1}"], sd[f"UpBlocks.{i}.dconv2d.weight"])
    n = sum(p.numel() for p in res.model.parameters())
    assert n == (1_575_280 if dcw else 3_147_040)


def test_clmser_dcw_is_checked_and_convert_clmser_takes_variant_names():
    with pytest.raises(cv.ConversionError, match="convert it as clmser_w or cae"):
        cv.convert("clmser", clmser_state_dict(dcw=False))
    with pytest.raises(cv.ConversionError, match="convert it as clmser or clmser_n"):
        cv.convert("cae", clmser_state_dict(dcw=True))
    model = cv.convert_clmser(clmser_state_dict(dcw=True), "CLmser_n")
    assert (model.dcw, model.dpn) == (True, False)
    with pytest.raises(ValueError, match="unknown CLmser variant"):
        cv.convert_clmser(clmser_state_dict(dcw=True), "CLmser_x")
    with pytest.raises(cv.ConversionError, match="looks like a clmser-family"):
        cv.convert("pconv", clmser_state_dict(dcw=True))


# ---------------------------------------------------------------------------------------
# CTSDG (xiefan-guo/ctsdg generator): layout as data
# ---------------------------------------------------------------------------------------
def _ctsdg_stream(s, cin):
    enc = [(f"ec_{s}_1", (64, cin, 7, 7), False), (f"ec_{s}_2", (128, 64, 5, 5), True),
           (f"ec_{s}_3", (256, 128, 5, 5), True), (f"ec_{s}_4", (512, 256, 3, 3), True),
           (f"ec_{s}_5", (512, 512, 3, 3), True), (f"ec_{s}_6", (512, 512, 3, 3), True),
           (f"ec_{s}_7", (512, 512, 3, 3), True)]
    dec = [(f"dc_{s}_7", (512, 1024, 3, 3), True), (f"dc_{s}_6", (512, 1024, 3, 3), True),
           (f"dc_{s}_5", (512, 1024, 3, 3), True), (f"dc_{s}_4", (256, 768, 3, 3), True),
           (f"dc_{s}_3", (128, 384, 3, 3), True), (f"dc_{s}_2", (64, 192, 3, 3), True),
           (f"dc_{s}_1", (64, 64 + cin, 3, 3), True)]
    return [(f"{n}.conv.weight", shape, bn, f"{n}.bn") for n, shape, bn in enc + dec]


# (key, shape, BatchNorm prefix or None): bias-free PConv layers of both streams …
CTSDG_PCONV = _ctsdg_stream("texture", 3) + _ctsdg_stream("structure", 2)
# … and the other parameters: (key, shape)
CTSDG_OTHER = [
    ("texture_feature_projection.texture_resolver.conv1.weight", (16, 64, 3, 3)),
    ("texture_feature_projection.texture_resolver.conv2.weight", (64, 16, 3, 3)),
    ("texture_feature_projection.out_layer.0.weight", (3, 64, 1, 1)),
    ("texture_feature_projection.out_layer.0.bias", (3,)),
    ("structure_feature_projection.structure_resolver.conv1.weight", (16, 64, 3, 3)),
    ("structure_feature_projection.structure_resolver.conv2.weight", (64, 16, 3, 3)),
    ("structure_feature_projection.out_layer.0.weight", (1, 64, 1, 1)),
    ("structure_feature_projection.out_layer.0.bias", (1,)),
    ("bigff.structure_gate.0.weight", (64, 128, 3, 3)), ("bigff.structure_gate.0.bias", (64,)),
    ("bigff.texture_gate.0.weight", (64, 128, 3, 3)), ("bigff.texture_gate.0.bias", (64,)),
    ("bigff.structure_gamma", (1,)), ("bigff.texture_gamma", (1,)),
    ("fusion_layer1.0.weight", (64, 128, 3, 3)), ("fusion_layer1.0.bias", (64,)),
    *[(f"cfa.msfa.dilated_conv_{k}.0.{p}", (64, 64, 3, 3) if p == "weight" else (64,))
      for k in range(4) for p in ("weight", "bias")],
    ("cfa.msfa.weight_calc.0.weight", (64, 64, 3, 3)), ("cfa.msfa.weight_calc.0.bias", (64,)),
    ("cfa.msfa.weight_calc.2.weight", (4, 64, 1, 1)), ("cfa.msfa.weight_calc.2.bias", (4,)),
    ("fusion_layer2.0.weight", (64, 128, 3, 3)), ("fusion_layer2.0.bias", (64,)),
    ("out_layer.0.weight", (3, 192, 1, 1)), ("out_layer.0.bias", (3,)),
]
CTSDG_HEAD_BN = [("texture_feature_projection.texture_resolver.bn1", 16),
                 ("texture_feature_projection.texture_resolver.bn2", 64),
                 ("structure_feature_projection.structure_resolver.bn1", 16),
                 ("structure_feature_projection.structure_resolver.bn2", 64)]


def _ctsdg_scale(c, base, planes):
    """A channel count of the recorded table in a narrow copy (base channels ``base``)."""
    if c in (1, 2, 3, 4):
        return c
    if c == 16:
        return planes
    if c % 64 in (2, 3):                 # 64 + the stream's input channels
        return base + c % 64
    return c * base // 64


def ctsdg_state_dict(base=64, planes=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    sc = lambda shape: tuple(_ctsdg_scale(c, base, planes) if i < 2 else c for i, c in enumerate(shape))  # noqa: E731
    sd = {}

    def bn(prefix, c):
        sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[f"{prefix}.running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(3)

    def weight(shape):
        fan_in = shape[1] * shape[2] * shape[3]
        return torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5

    for key, shape, has_bn, bn_prefix in CTSDG_PCONV:
        shape = (_ctsdg_scale(shape[0], base, planes), _ctsdg_scale(shape[1], base, planes), *shape[2:])
        sd[key] = weight(shape)
        if has_bn:
            bn(bn_prefix, shape[0])
    for key, shape in CTSDG_OTHER:
        shape = sc(shape) if len(shape) == 4 else (_ctsdg_scale(shape[0], base, planes),)
        if key.endswith("gamma"):
            sd[key] = torch.full(shape, 0.5)
        elif len(shape) == 4:
            sd[key] = weight(shape)
        else:
            sd[key] = 0.05 * torch.randn(shape, generator=g)
    for prefix, c in CTSDG_HEAD_BN:
        bn(prefix, _ctsdg_scale(c, base, planes))
    return sd


def nvidia_pconv(x, mask, weight, stride, pad):
    """NVIDIA's multi-channel PartialConv2d, bias-free: conv(x·M)·(C_in·k²)/(sum(M) + 1e-8)."""
    ones = torch.ones_like(weight)
    update = F.conv2d(mask, ones, None, stride, pad)
    ratio = weight[0].numel() / (update + 1e-8)
    update = update.clamp(0, 1)
    return F.conv2d(x * mask, weight, None, stride, pad) * (ratio * update), update


def ctsdg_forward(sd, image, hole, edge, calibrate=False, gray=None):
    """The official generator's forward on the test pipeline's inputs (given edge and gray;
    gray defaults to the BT.709 luma of the clean image)."""
    def bn(h, p):
        if calibrate:
            sd[f"{p}.running_mean"], sd[f"{p}.running_var"] = h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3))
        return F.batch_norm(h, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], False, 0.0, 1e-5)

    mask = 1 - hole
    if gray is None:
        gray = (image * torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    inputs = {"texture": ((image * 2 - 1) * mask, mask.repeat(1, 3, 1, 1)),
              "structure": (torch.cat([edge * mask, gray * mask], 1), mask.repeat(1, 2, 1, 1))}
    kernels = [7, 5, 5, 3, 3, 3, 3]
    enc = {}
    for s, (x, m) in inputs.items():
        levels = [(x, m)]
        for i in range(1, 8):
            h, m = nvidia_pconv(levels[-1][0], levels[-1][1], sd[f"ec_{s}_{i}.conv.weight"], 2, kernels[i - 1] // 2)
            if i > 1:
                h = bn(h, f"ec_{s}_{i}.bn")
            levels.append((F.relu(h), m))
        enc[s] = levels
    dec = {}
    for s, other in (("texture", "structure"), ("structure", "texture")):
        h, m = enc[other][7]
        for i in range(7, 0, -1):
            h = torch.cat([F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False), enc[s][i - 1][0]], 1)
            m = torch.cat([F.interpolate(m, scale_factor=2, mode="nearest"), enc[s][i - 1][1]], 1)
            h, m = nvidia_pconv(h, m, sd[f"dc_{s}_{i}.conv.weight"], 1, 1)
            h = F.leaky_relu(bn(h, f"dc_{s}_{i}.bn"), 0.2)
        dec[s] = h
    t, st = dec["texture"], dec["structure"]
    energy = torch.cat([t, st], 1)
    g_s2t = torch.sigmoid(F.conv2d(energy, sd["bigff.structure_gate.0.weight"], sd["bigff.structure_gate.0.bias"], padding=1))
    g_t2s = torch.sigmoid(F.conv2d(energy, sd["bigff.texture_gate.0.weight"], sd["bigff.texture_gate.0.bias"], padding=1))
    t = t + sd["bigff.texture_gamma"] * (g_s2t * st)
    st = st + sd["bigff.structure_gamma"] * (g_t2s * t)
    fused = torch.cat([t, st], 1)
    y = F.leaky_relu(F.conv2d(fused, sd["fusion_layer1.0.weight"], sd["fusion_layer1.0.bias"], stride=2, padding=1), 0.2)
    # RAL, one sample at a time as the original (zero pad 1, unfold, conv, softmax, transposed conv)
    fg = F.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=True)
    outs = []
    for b in range(y.shape[0]):
        c = y.shape[1]
        bg = F.pad(y[b:b + 1], (1, 1, 1, 1)).permute(0, 2, 3, 1).unfold(1, 4, 2).unfold(2, 4, 2)
        bg = bg.contiguous().view(-1, c, 4, 4)
        fp = F.pad(fg[b:b + 1], (1, 1, 1, 1)).permute(0, 2, 3, 1).unfold(1, 3, 1).unfold(2, 3, 1)
        fp = fp.contiguous().view(-1, c, 3, 3)
        fp = fp / torch.clamp(fp.pow(2).sum([1, 2, 3], keepdim=True).sqrt(), min=1e-4)
        score = F.conv2d(fg[b:b + 1], fp, padding=1)
        att = F.softmax(score * 10.0, dim=1).clamp(min=1e-8)
        outs.append(F.conv_transpose2d(att, bg, stride=2, padding=1) / 4.0)
    ral = torch.cat(outs, 0)
    w = F.relu(F.conv2d(ral, sd["cfa.msfa.weight_calc.0.weight"], sd["cfa.msfa.weight_calc.0.bias"], padding=1))
    w = torch.softmax(F.relu(F.conv2d(w, sd["cfa.msfa.weight_calc.2.weight"], sd["cfa.msfa.weight_calc.2.bias"])), 1)
    att = sum(w[:, k:k + 1] * F.relu(F.conv2d(ral, sd[f"cfa.msfa.dilated_conv_{k}.0.weight"],
                                              sd[f"cfa.msfa.dilated_conv_{k}.0.bias"], padding=d, dilation=d))
              for k, d in enumerate((1, 2, 4, 8)))
    y = F.leaky_relu(F.conv2d(torch.cat([y, att], 1), sd["fusion_layer2.0.weight"], sd["fusion_layer2.0.bias"],
                              padding=1), 0.2)
    y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    out = torch.tanh(F.conv2d(torch.cat([y, fused], 1), sd["out_layer.0.weight"], sd["out_layer.0.bias"]))
    return (out + 1) / 2


def test_ctsdg_layout_table_matches_the_recorded_original():
    want = {}
    for key, shape, has_bn, prefix in CTSDG_PCONV:
        want[key] = shape
        if has_bn:
            for p in ("weight", "bias", "running_mean", "running_var"):
                want[f"{prefix}.{p}"] = (shape[0],)
            want[f"{prefix}.num_batches_tracked"] = ()
    want.update(dict(CTSDG_OTHER))
    for prefix, c in CTSDG_HEAD_BN:
        for p in ("weight", "bias", "running_mean", "running_var"):
            want[f"{prefix}.{p}"] = (c,)
        want[f"{prefix}.num_batches_tracked"] = ()
    assert cv.ctsdg_key_table() == want


def test_ctsdg_full_size_every_parameter_lands():
    sd = ctsdg_state_dict()
    res = cv.convert("ctsdg", {"generator": sd, "n_iter": 10})
    own = res.model.state_dict()
    assert res.config == {"layers": 7, "width": 1.0}
    assert sum(p.numel() for p in res.model.parameters()) == 52_147_789
    for s in ("texture", "structure"):
        for i in range(1, 8):
            assert torch.equal(own[f"{s}_encoder.{i - 1}.conv.weight"], sd[f"ec_{s}_{i}.conv.weight"])
            assert torch.equal(own[f"{s}_decoder.{i - 1}.bn.running_var"], sd[f"dc_{s}_{i}.bn.running_var"])
    assert torch.equal(own["bigff.alpha"], sd["bigff.texture_gamma"])
    assert torch.equal(own["cfa.msfa.weight_out.weight"], sd["cfa.msfa.weight_calc.2.weight"])
    assert torch.equal(own["structure_head.trunk.bn1.weight"],
                       sd["structure_feature_projection.structure_resolver.bn1.weight"])


def test_ctsdg_converted_output_matches_the_original_computation():
    from inpaintlib.models.ctsdg import known_region_edges

    sd = ctsdg_state_dict(base=4, planes=4, seed=5)   # the original's layout, 16× narrower
    image, hole = photo_and_hole(128)
    edge = known_region_edges(image, hole)
    with torch.no_grad():
        ctsdg_forward(sd, image, hole, edge, calibrate=True)
        model = cv.convert_ctsdg({"generator": sd})
        ours = model(image, hole, edge=edge)
        ref = ctsdg_forward(sd, image, hole, edge)
    assert (ours - ref).abs().max() <= 1e-5 and ref.std() > 0.02


def official_loader_structure(image, sigma=2.0):
    """utils/canny.py's image_to_edge on the data loader's [-1, 1] tensor, step by step:
    ToPILImage (``mul(255).byte()``), rgb2gray of the bytes, canny of the whole image,
    ToTensor of the float gray image (mode F: no rescaling)."""
    from PIL import Image
    from skimage.color import rgb2gray
    from skimage.feature import canny

    edges, grays = [], []
    for x in image * 2 - 1:
        pil = Image.fromarray(x.mul(255).byte().permute(1, 2, 0).numpy(), "RGB")
        gray = rgb2gray(np.array(pil))
        edges.append(torch.from_numpy(np.array(Image.fromarray(canny(gray, sigma=sigma))).astype(np.float32)))
        grays.append(torch.from_numpy(np.array(Image.fromarray(gray), dtype=np.float32)))
    return torch.stack(edges)[:, None], torch.stack(grays)[:, None]


def test_ctsdg_original_structure_is_the_official_loaders():
    from inpaintlib.models.ctsdg import original_structure

    image, _ = photo_and_hole(64, b=3, seed=4)
    image[0, :, :16] = 0.0                       # black rows: the cast wraps them to byte 1
    edge, gray = original_structure(image)
    want_edge, want_gray = official_loader_structure(image)
    assert torch.equal(edge, want_edge) and edge.sum() > 0
    assert (gray - want_gray).abs().max() <= 1e-6
    assert abs(float(gray[0, 0, 0, 0]) - 1 / 255) <= 1e-6        # black → byte 1 in every channel
    luma = (image * torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert (gray - luma).abs().max() > 0.3                           # the wrap is not a small effect


def test_ctsdg_converted_checkpoint_reproduces_the_original_pipeline_end_to_end():
    from inpaintlib.models.ctsdg import original_structure

    sd = ctsdg_state_dict(base=4, planes=4, seed=7)
    image, hole = photo_and_hole(128, seed=3)
    edge, gray = official_loader_structure(image)           # what the original's test.py feeds
    with torch.no_grad():
        ctsdg_forward(sd, image, hole, edge, calibrate=True, gray=gray)
        model = cv.convert_ctsdg({"generator": sd})
        ref = ctsdg_forward(sd, image, hole, edge, gray=gray)
        e, g = original_structure(image)
        ours = model(image, hole, edge=e, gray=g)
        default = model(image, hole)                         # the book's own structure input
    assert (ours - ref).abs().max() <= 1e-5 and ref.std() > 0.02
    assert (default - ref).abs().max() > 1e-3                # without them the outputs differ


def test_ctsdg_gray_argument_is_checked():
    from inpaintlib.models.ctsdg import CTSDG

    model = CTSDG(layers=3, width=0.0625).eval()
    image, hole = photo_and_hole(32, b=1)
    for bad, msg in ((torch.zeros(1, 2, 32, 32), "B×1×H×W"), (torch.full((1, 1, 32, 32), 2.0), r"\[0, 1\]"),
                     (torch.zeros(1, 1, 32, 32, dtype=torch.long), "floating-point")):
        with pytest.raises(ValueError, match=msg):
            model(image, hole, gray=bad)
    with torch.no_grad():
        a = model(image, hole, gray=torch.zeros(1, 1, 32, 32))
        b = model(image, hole, gray=torch.ones(1, 1, 32, 32))
    assert (a - b).abs().max() > 0                           # the gray map reaches the network
