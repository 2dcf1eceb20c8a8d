"""Conventions of inpaintlib.tensors: validation errors, composite, conversions, device."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintlib.tensors import (
    composite,
    device,
    mask_image,
    to_numpy,
    to_pil,
    to_tensor,
    validate,
)


def pair(b=2, h=8, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g)
    hole = (torch.rand(b, 1, h, w, generator=g) > 0.5).float()
    return image, hole


def test_validate_returns_inputs_unchanged():
    image, hole = pair()
    out_image, out_hole = validate(image, hole)
    assert out_image is image and out_hole is hole


@pytest.mark.parametrize(
    "image_shape, hole_shape, message",
    [
        ((3, 8, 8), (1, 1, 8, 8), "B×3×H×W"),
        ((1, 4, 8, 8), (1, 1, 8, 8), "3 channels"),
        ((1, 1, 8, 8), (1, 1, 8, 8), "3 channels"),
        ((1, 3, 8, 8), (1, 8, 8), "B×1×H×W"),
        ((1, 3, 8, 8), (1, 3, 8, 8), "1 channel"),
        ((2, 3, 8, 8), (1, 1, 8, 8), "batch sizes differ"),
        ((1, 3, 8, 8), (1, 1, 8, 9), "spatial sizes differ"),
    ],
)
def test_validate_shape_errors(image_shape, hole_shape, message):
    with pytest.raises(ValueError, match=message):
        validate(torch.rand(image_shape), torch.zeros(hole_shape))


def test_validate_non_binary_mask():
    image, hole = pair()
    hole[0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="binary.*0.5"):
        validate(image, hole)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_validate_nan_inf(bad):
    image, hole = pair()
    image[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        validate(image, hole)
    image, hole = pair()
    hole[0, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        validate(image, hole)


def test_validate_range_and_dtype():
    image, hole = pair()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        validate(image * 2.0 + 0.1, hole)
    with pytest.raises(ValueError, match="floating-point"):
        validate((image * 255).to(torch.uint8), hole)
    with pytest.raises(ValueError, match="floating-point"):
        validate(image, hole.bool())
    with pytest.raises(TypeError, match="torch.Tensor"):
        validate(np.zeros((1, 3, 4, 4)), hole)


def test_composite_keeps_known_pixels_exactly():
    image, hole = pair()
    pred = torch.rand_like(image)
    out = composite(image, pred, hole)
    known = hole.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert torch.equal(out[~known], pred[~known])


def test_composite_rejects_bad_pred():
    image, hole = pair()
    with pytest.raises(ValueError, match="pred must have the image's shape"):
        composite(image, torch.rand(2, 3, 8, 9), hole)


def test_mask_image_zeroes_holes():
    image, hole = pair()
    out = mask_image(image, hole)
    assert torch.all(out[hole.expand_as(image) == 1] == 0)
    assert torch.equal(out[hole.expand_as(image) == 0], image[hole.expand_as(image) == 0])


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_validate_accepts_every_valid_pair(b, h, w, seed):
    image, hole = pair(b, h, w, seed)
    validate(image, hole)
    pred = torch.rand_like(image)
    out = composite(image, pred, hole)
    # composite is exactly pred·hole + image·(1−hole)
    assert torch.allclose(out, pred * hole + image * (1 - hole), atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(value=st.floats(min_value=0.001, max_value=0.999), seed=st.integers(0, 1000))
def test_validate_rejects_any_fractional_mask_value(value, seed):
    image, hole = pair(seed=seed)
    hole[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match="binary"):
        validate(image, hole)


def test_pil_round_trip_exact_for_8bit():
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr))
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert np.array_equal(np.asarray(to_pil(t)), arr)


def test_to_tensor_grayscale_and_alpha():
    gray = np.full((4, 4), 128, dtype=np.uint8)
    t = to_tensor(gray)
    assert t.shape == (1, 3, 4, 4)
    assert torch.allclose(t, torch.full_like(t, 128 / 255))
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    assert to_tensor(rgba).shape == (1, 3, 4, 4)


def test_to_tensor_hole_polarity_white_is_hole():
    arr = np.zeros((4, 4), dtype=np.uint8)
    arr[1, 2] = 255
    hole = to_tensor(Image.fromarray(arr), hole=True)
    assert hole.shape == (1, 1, 4, 4)
    assert hole.sum() == 1 and hole[0, 0, 1, 2] == 1


def test_to_tensor_errors():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_tensor(np.full((2, 2, 3), 2.0, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        to_tensor(np.full((2, 2, 3), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="channels"):
        to_tensor(np.zeros((2, 2, 5), dtype=np.uint8))
    with pytest.raises(TypeError):
        to_tensor([1, 2, 3])


def test_to_numpy_shapes():
    assert to_numpy(torch.rand(1, 3, 4, 5)).shape == (4, 5, 3)
    assert to_numpy(torch.rand(1, 1, 4, 5)).shape == (4, 5)
    with pytest.raises(ValueError, match="one image"):
        to_numpy(torch.rand(2, 3, 4, 5))


def test_device_default_and_forced(monkeypatch):
    monkeypatch.delenv("INPAINTLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    dev = device()
    if expected:
        assert dev.type == "cuda"
    assert device("cpu") == torch.device("cpu")
    monkeypatch.setenv("INPAINTLIB_DEVICE", "cpu")
    assert device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            device("cuda")


def test_validate_on_a_tensor_that_requires_grad_warns_nothing(recwarn):
    image, hole = pair()
    image.requires_grad_(True)
    validate(image, hole)
    assert not [w for w in recwarn if "requires_grad" in str(w.message) or "grad" in str(w.message)]


def test_export_mode_skips_value_checks_only_and_is_restored():
    from inpaintlib.tensors import export_mode, in_export_mode

    image = torch.full((1, 3, 4, 4), 2.0)            # out of range
    hole = torch.full((1, 1, 4, 4), 0.5)             # not binary
    with pytest.raises(ValueError):
        validate(image, hole)
    assert not in_export_mode()
    with pytest.raises(RuntimeError):
        with export_mode():
            assert in_export_mode()
            validate(image, hole)                    # values are not read
            with pytest.raises(ValueError, match="3 channels"):
                validate(torch.zeros(1, 4, 4, 4), hole[:, :, :4, :4])   # shapes still are
            raise RuntimeError("leave the block by an exception")
    assert not in_export_mode()                      # restored even after an exception
    with pytest.raises(ValueError):
        validate(image, hole)
