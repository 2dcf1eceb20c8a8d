"""inpaintlib.baselines: classical inpainting with a model's call signature."""
import pytest
import torch

from inpaintlib.baselines import (
    BASELINES,
    Baseline,
    biharmonic,
    get_baseline,
    navier_stokes,
    telea,
)
from inpaintlib.metrics import l1_hole
from inpaintlib.tensors import composite

NAMES = sorted(BASELINES)
H, W = 40, 48


def gradient_image(b=2):
    """A smooth image: each channel a different linear ramp, inside [0.1, 0.9]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    img = torch.stack([0.1 + 0.8 * xx, 0.1 + 0.8 * yy, 0.5 + 0.2 * (xx - yy)])
    return img[None].repeat(b, 1, 1, 1).contiguous()


def small_hole(b=2):
    hole = torch.zeros(b, 1, H, W)
    hole[0, :, 15:23, 18:26] = 1.0
    if b > 1:
        hole[1, :, 5:11, 30:38] = 1.0
    return hole


def random_pair(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, H, W, generator=g)
    hole = (torch.rand(b, 1, H, W, generator=g) > 0.8).float()
    return image, hole


def test_registry_and_get_baseline():
    assert BASELINES == {"telea": telea, "ns": navier_stokes, "biharmonic": biharmonic}
    assert get_baseline("ns") is navier_stokes
    with pytest.raises(ValueError, match="unknown baseline 'patchmatch'.*biharmonic, ns, telea"):
        get_baseline("patchmatch")


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_range_dtype_device(name):
    image, hole = random_pair(b=3)
    pred = BASELINES[name](image, hole)
    assert pred.shape == image.shape
    assert pred.dtype == torch.float32 and pred.device == image.device
    assert float(pred.min()) >= 0.0 and float(pred.max()) <= 1.0
    assert bool(torch.isfinite(pred).all())
    pred64 = BASELINES[name](image.double(), hole.double())
    assert pred64.dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_smooth_image_small_hole_is_filled_close_to_truth(name):
    image, hole = gradient_image(), small_hole()
    pred = BASELINES[name](image, hole)
    err = l1_hole(pred, image, hole)
    zero_fill = l1_hole(image * (1 - hole), image, hole)
    assert (err < 0.02).all(), err
    assert (zero_fill > 0.3).all()


@pytest.mark.parametrize("name", NAMES)
def test_known_pixels_kept_within_one_level(name):
    image, hole = random_pair(seed=1)
    pred = BASELINES[name](image, hole)
    known = (1 - hole).bool().expand_as(image)
    assert float((pred - image).abs()[known].max()) <= 1 / 255 + 1e-6
    # composite restores them exactly
    out = composite(image, pred, hole)
    assert torch.equal(out[known], image[known])


@pytest.mark.parametrize("name", NAMES)
def test_hole_pixels_are_never_seen(name):
    image, hole = random_pair(seed=2)
    other = torch.where(hole.bool().expand_as(image), 1.0 - image, image)
    fn = BASELINES[name]
    assert torch.equal(fn(image, hole), fn(other, hole))


@pytest.mark.parametrize("name", NAMES)
def test_empty_hole_is_identity(name):
    image, hole = random_pair(seed=3)
    hole[1] = 0.0
    pred = BASELINES[name](image, hole)
    assert torch.equal(pred[1], image[1])
    assert torch.equal(BASELINES[name](image, torch.zeros_like(hole)), image)


def test_opencv_outputs_are_quantised_to_8_bits():
    image, hole = random_pair(seed=4)
    for fn in (telea, navier_stokes):
        pred = fn(image, hole)
        filled = pred[hole.bool().expand_as(pred)] * 255
        assert torch.allclose(filled, filled.round(), atol=1e-3)


def test_biharmonic_reproduces_a_linear_ramp():
    image = gradient_image(b=1)
    hole = torch.zeros(1, 1, H, W)
    hole[:, :, 10:26, 12:30] = 1.0  # a fairly large hole
    pred = biharmonic(image, hole)
    assert float(l1_hole(pred, image, hole)) < 1e-4
    assert float((pred - image).abs().max()) < 1e-3


def test_radius_changes_telea_and_is_checked():
    image, hole = random_pair(seed=5)
    assert not torch.equal(telea(image, hole, radius=1), telea(image, hole, radius=6))
    with pytest.raises(ValueError, match="radius must be positive"):
        navier_stokes(image, hole, radius=0)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises(name):
    fn = BASELINES[name]
    image, hole = random_pair()
    with pytest.raises(ValueError, match="binary"):
        fn(image, hole * 0.5)
    with pytest.raises(ValueError, match="3 channels"):
        fn(image[:, :1], hole)
    with pytest.raises(ValueError, match="batch sizes differ"):
        fn(image, hole[:1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(image * 2, hole)
    with pytest.raises(ValueError, match="whole image"):
        fn(image, torch.ones_like(hole))


def test_baseline_wrapper_behaves_like_a_model():
    image, hole = random_pair(seed=6)
    model = Baseline("telea", radius=5).eval().to("cpu")
    assert model.name == "telea"
    assert list(model.parameters()) == []
    assert model.train() is model
    assert torch.equal(model(image, hole), telea(image, hole, radius=5))
    assert torch.equal(model.forward(image, hole), telea(image, hole, radius=5))
    assert "telea" in repr(model)
    with pytest.raises(ValueError, match="unknown baseline"):
        Baseline("nope")
    with pytest.raises(ValueError, match="does not accept"):
        Baseline("biharmonic", radius=3)
