"""FID: the Fréchet distance against closed forms, the FID Inception-v3 network's layout
(pytorch-fid's weights file keys and shapes), its weights policy offline, and metrics.fid."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from inpaintlib import metrics
from inpaintlib.nn import (
    FID_INCEPTION_ENV_VAR,
    FID_INCEPTION_URL,
    FIDInceptionV3,
    find_inception_weights,
    inception_hub_path,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# --------------------------------------------------------------------------------------------
# The layout of pytorch-fid's pt_inception-2015-12-05-6726825d.pth (torchvision's Inception3
# names with 1008 classes and no auxiliary head): every conv is "<name>.conv.weight" without
# bias, followed by "<name>.bn.{weight,bias,running_mean,running_var}". Rows: (name, in, out, kh, kw).
STEM = [
    ("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3), ("Conv2d_2b_3x3", 32, 64, 3, 3),
    ("Conv2d_3b_1x1", 64, 80, 1, 1), ("Conv2d_4a_3x3", 80, 192, 3, 3),
]
# Blocks: name → rows of (branch, in, out, kh, kw); "IN" is the block's input width.
A = lambda c, pool: [("branch1x1", c, 64, 1, 1), ("branch5x5_1", c, 48, 1, 1), ("branch5x5_2", 48, 64, 5, 5),  # noqa: E731
                     ("branch3x3dbl_1", c, 64, 1, 1), ("branch3x3dbl_2", 64, 96, 3, 3),
                     ("branch3x3dbl_3", 96, 96, 3, 3), ("branch_pool", c, pool, 1, 1)]
C = lambda c7: [("branch1x1", 768, 192, 1, 1), ("branch7x7_1", 768, c7, 1, 1), ("branch7x7_2", c7, c7, 1, 7),  # noqa: E731
                ("branch7x7_3", c7, 192, 7, 1), ("branch7x7dbl_1", 768, c7, 1, 1),
                ("branch7x7dbl_2", c7, c7, 7, 1), ("branch7x7dbl_3", c7, c7, 1, 7),
                ("branch7x7dbl_4", c7, c7, 7, 1), ("branch7x7dbl_5", c7, 192, 1, 7),
                ("branch_pool", 768, 192, 1, 1)]
E = lambda c: [("branch1x1", c, 320, 1, 1), ("branch3x3_1", c, 384, 1, 1), ("branch3x3_2a", 384, 384, 1, 3),  # noqa: E731
               ("branch3x3_2b", 384, 384, 3, 1), ("branch3x3dbl_1", c, 448, 1, 1),
               ("branch3x3dbl_2", 448, 384, 3, 3), ("branch3x3dbl_3a", 384, 384, 1, 3),
               ("branch3x3dbl_3b", 384, 384, 3, 1), ("branch_pool", c, 192, 1, 1)]
BLOCKS = {
    "Mixed_5b": A(192, 32), "Mixed_5c": A(256, 64), "Mixed_5d": A(288, 64),
    "Mixed_6a": [("branch3x3", 288, 384, 3, 3), ("branch3x3dbl_1", 288, 64, 1, 1),
                 ("branch3x3dbl_2", 64, 96, 3, 3), ("branch3x3dbl_3", 96, 96, 3, 3)],
    "Mixed_6b": C(128), "Mixed_6c": C(160), "Mixed_6d": C(160), "Mixed_6e": C(192),
    "Mixed_7a": [("branch3x3_1", 768, 192, 1, 1), ("branch3x3_2", 192, 320, 3, 3),
                 ("branch7x7x3_1", 768, 192, 1, 1), ("branch7x7x3_2", 192, 192, 1, 7),
                 ("branch7x7x3_3", 192, 192, 7, 1), ("branch7x7x3_4", 192, 192, 3, 3)],
    "Mixed_7b": E(1280), "Mixed_7c": E(2048),
}


def pytorch_fid_layout(with_counters: bool = True) -> dict:
    """key → shape of the weights file (``num_batches_tracked`` optional: older files lack it)."""
    rows = list(STEM) + [(f"{b}.{n}", i, o, kh, kw) for b, rs in BLOCKS.items() for n, i, o, kh, kw in rs]
    out = {}
    for name, c_in, c_out, kh, kw in rows:
        out[f"{name}.conv.weight"] = (c_out, c_in, kh, kw)
        for p in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.bn.{p}"] = (c_out,)
        if with_counters:
            out[f"{name}.bn.num_batches_tracked"] = ()
    out["fc.weight"], out["fc.bias"] = (1008, 2048), (1008,)
    return out


@pytest.fixture(scope="module")
def random_net():
    torch.manual_seed(0)
    return FIDInceptionV3(weights="random")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No weights anywhere: an empty TORCH_HOME, no env var, and a download is a failure."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv(FID_INCEPTION_ENV_VAR, raising=False)

    def no_download(*args, **kwargs):
        raise AssertionError("torch.hub.load_state_dict_from_url called without download=True")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return home


def fake_weights(seed: int = 0, with_counters: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in pytorch_fid_layout(with_counters).items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    return state


# ----------------------------------------------------------------- Fréchet distance

def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_full_covariances_against_scipy_sqrtm():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) + 1
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))
    d = metrics.frechet_distance(m1, s1, m2, s2)
    assert d == pytest.approx(expected, rel=1e-9)
    assert d == pytest.approx(metrics.frechet_distance(m2, s2, m1, s1), rel=1e-9)
    assert metrics.frechet_distance(m1, s1, m1, s1) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_singular_covariances_stay_finite():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 10)), rng.normal(size=(4, 10))  # 4 samples in 10-d: rank 3
    d = metrics.frechet_distance(*metrics.feature_statistics(x), *metrics.feature_statistics(y))
    assert np.isfinite(d) and d > 0


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same length"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="3×3"):
        metrics.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))


# ----------------------------------------------------------------- the network

def test_state_dict_matches_the_pytorch_fid_file_layout(random_net):
    own = {k: tuple(v.shape) for k, v in random_net.state_dict().items()}
    assert own == pytorch_fid_layout(with_counters=True)
    assert len(own) == 94 * 6 + 2


def test_features_are_2048_d_and_grey_is_repeated(random_net):
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        f1 = random_net(x)
        f3 = random_net(x.repeat(1, 3, 1, 1))
    assert f1.shape == (2, 2048) and torch.equal(f1, f3)
    with pytest.raises(ValueError, match="B×3×H×W"):
        random_net(torch.rand(1, 2, 8, 8))
    assert not any(p.requires_grad for p in random_net.parameters())
    random_net.train()
    assert not random_net.training


def test_strict_load_from_a_file_with_those_keys(tmp_path, clean_env, no_network):
    state = fake_weights(seed=3)                  # without num_batches_tracked, as older torch files
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    net = FIDInceptionV3(weights=path)
    for k, v in state.items():
        assert torch.equal(net.state_dict()[k], v), k
    assert str(path) in net.description
    # loading it with strict=True directly works as well (the counters are filled in by torch)
    net.load_state_dict(fake_weights(seed=4, with_counters=True), strict=True)


def test_env_var_and_hub_cache_are_found(tmp_path, clean_env, monkeypatch):
    assert find_inception_weights() is None
    hub = inception_hub_path()
    assert hub.parent == clean_env / "hub" / "checkpoints" and hub.name == FID_INCEPTION_URL.rsplit("/", 1)[-1]
    hub.parent.mkdir(parents=True)
    torch.save(fake_weights(), hub)
    assert find_inception_weights() == hub
    other = tmp_path / "elsewhere.pth"
    torch.save(fake_weights(seed=1), other)
    monkeypatch.setenv(FID_INCEPTION_ENV_VAR, str(other))
    assert find_inception_weights() == other                    # the variable wins over the cache
    monkeypatch.setenv(FID_INCEPTION_ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        find_inception_weights()


def test_missing_weights_error_says_what_to_put_where(clean_env, no_network):
    with pytest.raises(FileNotFoundError) as err:
        FIDInceptionV3()
    text = str(err.value)
    for needle in ("pt_inception-2015-12-05-6726825d.pth", str(clean_env / "hub" / "checkpoints"),
                   FID_INCEPTION_ENV_VAR, FID_INCEPTION_URL, "download=True"):
        assert needle in text
    with pytest.raises(FileNotFoundError):
        metrics.fid(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))


def test_download_only_when_asked(clean_env, monkeypatch):
    calls = []

    def fake_download(url, **kwargs):
        calls.append(url)
        return fake_weights()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(FileNotFoundError):
        FIDInceptionV3()
    assert calls == []
    net = FIDInceptionV3(download=True)
    assert calls == [FID_INCEPTION_URL] and "downloaded" in net.description


def test_a_wrong_file_is_a_clear_error(tmp_path, clean_env):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="bad.pth.*pytorch-fid layout"):
        FIDInceptionV3(weights=bad)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="garbage.pth"):
        FIDInceptionV3(weights=garbage)


# ----------------------------------------------------------------- metrics.fid

def test_distance_from_features_equals_distance_from_statistics():
    rng = np.random.default_rng(3)
    for n1, n2, dim in [(5, 7, 30), (40, 25, 6)]:            # fewer samples than dimensions, and more
        f1, f2 = rng.normal(size=(n1, dim)), rng.normal(size=(n2, dim)) * 2 + 0.5
        expected = metrics.frechet_distance(*metrics.feature_statistics(f1), *metrics.feature_statistics(f2))
        assert metrics.frechet_distance_features(f1, f2) == pytest.approx(expected, rel=1e-7)
    assert metrics.frechet_distance_features(f1, f1) == pytest.approx(0, abs=1e-9)
    with pytest.raises(ValueError, match="dimensions"):
        metrics.frechet_distance_features(f1, f1[:, :3])


def test_fid_from_images(random_net):
    torch.manual_seed(0)
    a = torch.rand(2, 1, 80, 80)
    b = (a * 0.3 + 0.6).clamp(0, 1)
    random_net.resize_input = False      # 80 px straight in: the same network, 14× cheaper than at 299
    try:
        feats = metrics.inception_features(torch.cat([a, b]), random_net, batch_size=3)
        assert feats.shape == (4, 2048) and feats.dtype == torch.float64
        d = metrics.fid(a, b, model=random_net, batch_size=2)
        assert d == pytest.approx(metrics.frechet_distance_features(feats[:2], feats[2:]), rel=1e-6) and d > 0
        assert metrics.fid(a, a, model=random_net) == pytest.approx(0, abs=1e-6 * float(feats[:2].pow(2).sum()))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            metrics.fid(a * 2, b, model=random_net)
    finally:
        random_net.resize_input = True
