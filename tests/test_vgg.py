"""VGG16/VGG19 feature stacks, the weights policy, and the offline perceptual backbones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintlib.nn import (
    VGG_ENV_VARS,
    VGG_URLS,
    EfficientNetLite0Features,
    VGGFeatures,
    find_vgg_weights,
    load_vgg_state_dict,
    perceptual_backbone,
    vgg_hub_path,
    vgg_layer_names,
)

# torchvision.models.vgg16().features: conv layers at these indices, max-pools at 4, 9, 16, 23, 30.
VGG16_CONV = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG16_KEYS = [f"features.{i}.{p}" for i in VGG16_CONV for p in ("weight", "bias")]
VGG19_CONV = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG19_KEYS = [f"features.{i}.{p}" for i in VGG19_CONV for p in ("weight", "bias")]
VGG16_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG19_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 256] + [512] * 8


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No weights anywhere: an empty TORCH_HOME, no env vars, and downloading is a failure."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in VGG_ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    calls = []

    def no_download(*args, **kwargs):
        calls.append((args, kwargs))
        raise AssertionError("torch.hub.load_state_dict_from_url called without download=True")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return home


def torchvision_style_state(arch: str, seed: int = 0) -> dict:
    """A random state dict with torchvision's VGG keys: features.* plus (small) classifier.*."""
    g = torch.Generator().manual_seed(seed)
    widths = VGG16_WIDTHS if arch == "vgg16" else VGG19_WIDTHS
    convs = VGG16_CONV if arch == "vgg16" else VGG19_CONV
    state, c_in = {}, 3
    for i, c in zip(convs, widths):
        state[f"features.{i}.weight"] = torch.randn(c, c_in, 3, 3, generator=g) * 0.05
        state[f"features.{i}.bias"] = torch.randn(c, generator=g) * 0.05
        c_in = c
    # The real classifier is 4096×25088 etc.; the loader drops it whatever its shape.
    for i in (0, 3, 6):
        state[f"classifier.{i}.weight"] = torch.randn(4, 8, generator=g)
        state[f"classifier.{i}.bias"] = torch.randn(4, generator=g)
    return state


@pytest.fixture(scope="module")
def vgg16_state():
    return torchvision_style_state("vgg16")


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------------------- layout

def test_vgg16_state_dict_keys_match_torchvision_layout():
    m = VGGFeatures("vgg16", layers=("pool5",), weights="random")
    assert list(m.state_dict()) == VGG16_KEYS
    assert len(m.features) == 31
    for i, c in zip(VGG16_CONV, VGG16_WIDTHS):
        assert isinstance(m.features[i], torch.nn.Conv2d) and m.features[i].out_channels == c
        assert m.features[i].kernel_size == (3, 3) and m.features[i].padding == (1, 1)
        assert isinstance(m.features[i + 1], torch.nn.ReLU)
    for i in (4, 9, 16, 23, 30):
        assert isinstance(m.features[i], torch.nn.MaxPool2d)


def test_vgg19_state_dict_keys_match_torchvision_layout():
    m = VGGFeatures("vgg19", layers=("pool5",), weights="random")
    assert list(m.state_dict()) == VGG19_KEYS
    assert len(m.features) == 37
    for i in (4, 9, 18, 27, 36):
        assert isinstance(m.features[i], torch.nn.MaxPool2d)


def test_layer_names_follow_torchvision_indices():
    names = vgg_layer_names("vgg16")
    assert len(names) == 31
    assert [names[i] for i in VGG16_CONV] == [
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
        "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    assert [names.index(p) for p in ("pool1", "pool2", "pool3", "pool4", "pool5")] == [4, 9, 16, 23, 30]
    assert names.index("relu3_2") == 13 and names.index("relu4_2") == 20
    n19 = vgg_layer_names("vgg19")
    assert len(n19) == 37 and n19.index("conv3_4") == 16 and n19.index("relu4_2") == 22
    assert [n19.index(p) for p in ("pool1", "pool2", "pool3", "pool4", "pool5")] == [4, 9, 18, 27, 36]


@pytest.mark.parametrize("arch,expected,widths", [
    ("vgg16", 14_714_688, VGG16_WIDTHS), ("vgg19", 20_024_384, VGG19_WIDTHS)])
def test_parameter_counts(arch, expected, widths):
    by_formula, c_in = 0, 3
    for c in widths:
        by_formula += 9 * c_in * c + c
        c_in = c
    assert by_formula == expected
    assert n_params(VGGFeatures(arch, layers=("pool5",), weights="random")) == expected


def test_truncation_after_deepest_requested_layer():
    m = VGGFeatures("vgg16", weights="random")  # default pool1–pool3
    assert len(m.features) == 17 and m.layer_names[-1] == "pool3"
    assert list(m.state_dict()) == VGG16_KEYS[:14]
    m = VGGFeatures("vgg19", layers=("relu4_2", "relu1_1"), weights="random")
    assert len(m.features) == 23 and m.layer_names[-1] == "relu4_2"


def test_forward_returns_requested_maps_in_order_and_equal_to_manual_run():
    torch.manual_seed(0)
    m = VGGFeatures("vgg16", layers=("pool3", "relu1_2", "pool1"), weights="random")
    x = torch.rand(2, 3, 32, 32)
    out = m(x)
    assert list(out) == ["pool3", "relu1_2", "pool1"]
    assert out["pool3"].shape == (2, 256, 4, 4)
    assert out["relu1_2"].shape == (2, 64, 32, 32)
    assert out["pool1"].shape == (2, 64, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = (x - mean) / std
    manual = {}
    for i, layer in enumerate(m.features):
        h = layer(h)
        manual[i] = h
    torch.testing.assert_close(out["relu1_2"], manual[3])
    torch.testing.assert_close(out["pool1"], manual[4])
    torch.testing.assert_close(out["pool3"], manual[16])
    assert bool((out["relu1_2"] >= 0).all())


def test_normalize_false_takes_raw_input():
    torch.manual_seed(1)
    a = VGGFeatures("vgg16", layers=("conv1_1",), weights="random", normalize=False)
    b = VGGFeatures("vgg16", layers=("conv1_1",), weights="random")
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(b(x)["conv1_1"], a((x - mean) / std)["conv1_1"])
    # the normalisation buffers are not in the state dict (keys stay torchvision's)
    assert "mean" not in b.state_dict() and "std" not in b.state_dict()


def test_frozen_by_default_and_stays_in_eval():
    m = VGGFeatures("vgg16", weights="random")
    assert not any(p.requires_grad for p in m.parameters())
    parent = torch.nn.Sequential(m)
    parent.train()
    assert m.training is False
    t = VGGFeatures("vgg16", layers=("conv1_1",), weights="random", requires_grad=True)
    assert all(p.requires_grad for p in t.parameters())


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="arch must be one of"):
        VGGFeatures("vgg11", weights="random")
    with pytest.raises(ValueError, match="unknown vgg16 layer.*conv3_4"):
        VGGFeatures("vgg16", layers=("conv3_4",), weights="random")
    with pytest.raises(ValueError, match="duplicates"):
        VGGFeatures("vgg16", layers=("pool1", "pool1"), weights="random")
    m = VGGFeatures("vgg16", layers=("conv1_1",), weights="random")
    with pytest.raises(ValueError, match="B×3×H×W"):
        m(torch.rand(1, 1, 8, 8))


# --------------------------------------------------------------------------- weights policy

def test_load_from_file_with_classifier_keys(tmp_path, clean_env, vgg16_state):
    path = tmp_path / "my_vgg16.pth"
    torch.save(vgg16_state, path)
    sd = load_vgg_state_dict("vgg16", path)
    assert list(sd) == VGG16_KEYS  # classifier.* dropped
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        load_vgg_state_dict("vgg16", "imagenet")  # "imagenet" means: look in the usual places
    for k in VGG16_KEYS:
        assert torch.equal(sd[k], vgg16_state[k])
    m = VGGFeatures("vgg16", layers=("pool3",), weights=path)
    for k, v in m.state_dict().items():
        assert torch.equal(v, vgg16_state[k])
    assert str(path) in m.description and "ImageNet" in m.description


def test_load_features_only_and_bare_sequential_dicts(tmp_path, clean_env, vgg16_state):
    feats = {k: v for k, v in vgg16_state.items() if k.startswith("features.")}
    bare = {k[len("features."):]: v for k, v in feats.items()}
    for name, sd in (("features_only.pth", feats), ("bare.pth", bare)):
        path = tmp_path / name
        torch.save(sd, path)
        m = VGGFeatures("vgg16", layers=("pool1",), weights=path)
        assert torch.equal(m.features[2].weight, vgg16_state["features.2.weight"])


def test_env_var_is_used(tmp_path, clean_env, monkeypatch, vgg16_state):
    path = tmp_path / "elsewhere.pth"
    torch.save(vgg16_state, path)
    monkeypatch.setenv("INPAINTLIB_VGG16_WEIGHTS", str(path))
    assert find_vgg_weights("vgg16") == (path, "$INPAINTLIB_VGG16_WEIGHTS")
    m = VGGFeatures("vgg16", layers=("conv1_1",))  # weights="imagenet" by default
    assert torch.equal(m.features[0].weight, vgg16_state["features.0.weight"])
    assert "INPAINTLIB_VGG16_WEIGHTS" in m.weights_source
    monkeypatch.setenv("INPAINTLIB_VGG16_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="INPAINTLIB_VGG16_WEIGHTS.*missing.pth"):
        load_vgg_state_dict("vgg16")


def test_hub_cache_path_is_used(clean_env, vgg16_state):
    expected = clean_env / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert vgg_hub_path("vgg16") == expected
    assert vgg_hub_path("vgg19").name == "vgg19-dcbb9e9d.pth"
    expected.parent.mkdir(parents=True)
    torch.save(vgg16_state, expected)
    m = VGGFeatures("vgg16", layers=("conv1_1",))
    assert torch.equal(m.features[0].bias, vgg16_state["features.0.bias"])
    assert "torch hub cache" in m.weights_source


def test_missing_weights_error_says_what_to_put_where(clean_env, no_network):
    folder = clean_env / "hub" / "checkpoints"
    for call in (lambda: load_vgg_state_dict("vgg16"), lambda: VGGFeatures("vgg16")):
        with pytest.raises(FileNotFoundError) as info:
            call()
        msg = str(info.value)
        assert "vgg16-397923af.pth" in msg
        assert str(folder) in msg
        assert VGG_URLS["vgg16"] == "https://download.pytorch.org/models/vgg16-397923af.pth"
        assert VGG_URLS["vgg16"] in msg
        assert "INPAINTLIB_VGG16_WEIGHTS" in msg
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        load_vgg_state_dict("vgg19")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_vgg_state_dict("vgg16", clean_env / "nope.pth")


def test_download_only_when_asked(clean_env, monkeypatch, vgg16_state):
    calls = []

    def fake_download(url, **kwargs):
        calls.append(url)
        return dict(vgg16_state)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(FileNotFoundError):
        load_vgg_state_dict("vgg16")
    assert calls == []
    sd = load_vgg_state_dict("vgg16", download=True)
    assert calls == [VGG_URLS["vgg16"]]
    assert list(sd) == VGG16_KEYS


def test_mismatched_or_unreadable_file_is_a_clear_error(tmp_path, clean_env):
    vgg19 = tmp_path / "actually_vgg19.pth"
    torch.save(torchvision_style_state("vgg19"), vgg19)
    with pytest.raises(ValueError, match=r"actually_vgg19\.pth.*vgg16.*looks like VGG19"):
        load_vgg_state_dict("vgg16", vgg19)
    bad_shape = torchvision_style_state("vgg16")
    bad_shape["features.2.weight"] = torch.zeros(32, 64, 3, 3)
    path = tmp_path / "bad_shape.pth"
    torch.save(bad_shape, path)
    with pytest.raises(ValueError, match=r"bad_shape\.pth.*features\.2\.weight"):
        VGGFeatures("vgg16", weights=path)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        load_vgg_state_dict("vgg16", junk)
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match=r"resnet\.pth.*conv1\.weight"):
        load_vgg_state_dict("vgg16", other)


# --------------------------------------------------------------------------- backbones

def test_auto_picks_efficientnet_without_vgg_weights(clean_env, no_network, capsys):
    bb = perceptual_backbone("auto")
    out = capsys.readouterr().out
    assert bb.kind == "efficientnet_lite0"
    assert "EfficientNet-Lite0" in bb.description and "ImageNet" in bb.description
    assert "no VGG16 ImageNet weights found" in out and str(vgg_hub_path("vgg16")) in out
    assert bb.description in out
    feats = bb(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 32, 32), (2, 24, 16, 16), (2, 40, 8, 8)]


def test_auto_picks_vgg16_when_hub_cache_has_the_file(clean_env, no_network, capsys, vgg16_state):
    path = clean_env / "hub" / "checkpoints" / "vgg16-397923af.pth"
    path.parent.mkdir(parents=True)
    torch.save(vgg16_state, path)
    bb = perceptual_backbone("auto")
    out = capsys.readouterr().out
    assert bb.kind == "vgg16"
    assert bb.description.startswith("VGG16 pool1, pool2, pool3, ImageNet weights from")
    assert str(path) in bb.description and bb.description in out
    feats = bb(torch.rand(1, 3, 32, 32))
    assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4)]
    assert torch.equal(bb.extractor.features[0].weight, vgg16_state["features.0.weight"])


def test_backbone_kinds(clean_env, capsys):
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        perceptual_backbone("vgg16")
    with pytest.raises(ValueError, match="kind must be one of"):
        perceptual_backbone("resnet50")
    bb = perceptual_backbone("random_vgg16", layers=("relu1_2", "relu2_2"), verbose=False)
    assert capsys.readouterr().out == ""
    assert "RANDOM" in bb.description
    assert [f.shape[1] for f in bb(torch.rand(1, 3, 16, 16))] == [64, 128]


def test_efficientnet_lite0_weights_are_real_imagenet(no_network):
    from skimage import data

    m = EfficientNetLite0Features()
    assert "efficientnet-lite0-57934424.pth" in m.weights_source
    img = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255.0
    img = F.interpolate(img, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    probs = m.classify(img).softmax(1)[0]
    top = int(probs.argmax())
    assert 281 <= top <= 285, f"chelsea classified as ImageNet class {top}"  # tabby ... Egyptian cat
    assert float(probs[281:286].sum()) > 0.8


def test_efficientnet_features_frozen_and_eval():
    m = EfficientNetLite0Features(layers=("stride8", "stem", "stride2"))
    assert not any(p.requires_grad for p in m.parameters())
    running = m.net._bn0.running_mean.clone()
    torch.nn.Sequential(m).train()
    assert not m.training and not m.net._blocks[0].training
    x = torch.rand(2, 3, 48, 40, requires_grad=True)
    out = m(x)
    assert list(out) == ["stride8", "stem", "stride2"]
    assert tuple(out["stem"].shape) == (2, 32, 24, 20) and tuple(out["stride8"].shape) == (2, 40, 6, 5)
    out["stride8"].sum().backward()  # gradients reach the input, not the weights
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in m.parameters())
    assert torch.equal(m.net._bn0.running_mean, running)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite0 layer"):
        EfficientNetLite0Features(layers=("conv1_1",))
    # VGG pool names are aliases of the maps at the same resolution
    alias = EfficientNetLite0Features(layers=("pool1", "pool2", "pool3"))(x.detach())
    torch.testing.assert_close(alias["pool1"], out["stride2"].detach())
    assert [v.shape[1] for v in alias.values()] == [16, 24, 40]


def test_partial_conv_is_exported():
    from inpaintlib.nn import PartialConv2d

    assert isinstance(PartialConv2d, type) and issubclass(PartialConv2d, torch.nn.Module)
