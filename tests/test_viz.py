"""Image grids and the book's figures: exact grid layout, PNG round trip, figure contents."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaintlib.tensors import composite
from inpaintlib.viz import HOLE_TINT, make_grid, save_grid, show_images, show_inpainting


def constant_tiles(n, h=4, w=5, c=3):
    """Tile i is filled with the value (i + 1) / 100 (channel k adds k / 1000)."""
    vals = (torch.arange(n, dtype=torch.float32) + 1) / 100
    x = vals.view(n, 1, 1, 1).expand(n, c, h, w).clone()
    return x + torch.arange(c, dtype=torch.float32).view(1, c, 1, 1) / 1000


def test_grid_places_every_tile_at_its_documented_position():
    n, h, w, p, nrow = 7, 4, 5, 2, 3
    x = constant_tiles(n, h, w)
    grid = make_grid(x, nrow=nrow, padding=p, pad_value=0.5)
    rows, ncol = 3, 3
    assert grid.shape == (3, rows * (h + p) + p, ncol * (w + p) + p) == (3, 20, 23)
    covered = torch.zeros(grid.shape[1:], dtype=torch.bool)
    for i in range(rows * ncol):
        y0, x0 = p + (i // ncol) * (h + p), p + (i % ncol) * (w + p)
        tile = grid[:, y0:y0 + h, x0:x0 + w]
        expected = x[i] if i < n else torch.full((3, h, w), 0.5)  # empty slots: pad_value
        assert torch.equal(tile, expected), f"tile {i}"
        covered[y0:y0 + h, x0:x0 + w] = True
    assert (grid[:, ~covered] == 0.5).all()  # everything else is padding
    assert (~covered).sum() == 20 * 23 - rows * ncol * h * w


def test_grid_defaults_match_torchvision_layout_and_single_row():
    x = constant_tiles(3, 6, 6)
    grid = make_grid(x)  # nrow=8 > 3 images: one row of 3, padding 2, white
    assert grid.shape == (3, 6 + 4, 3 * 8 + 2)
    assert torch.equal(grid[:, 2:8, 2:8], x[0]) and torch.equal(grid[:, 2:8, 18:24], x[2])
    assert (grid[:, :2] == 1.0).all() and (grid[:, :, -2:] == 1.0).all()


def test_grid_without_padding_is_a_plain_mosaic():
    x = torch.rand(4, 3, 2, 3)
    grid = make_grid(x, nrow=2, padding=0)
    expected = torch.cat([torch.cat([x[0], x[1]], dim=2), torch.cat([x[2], x[3]], dim=2)], dim=1)
    assert torch.equal(grid, expected)


def test_one_channel_images_are_repeated_to_rgb_and_values_are_not_clamped():
    hole = torch.tensor([[[[0.0, 1.0], [2.0, -1.0]]]])  # values outside [0, 1] kept as they are
    grid = make_grid(torch.cat([hole, hole]), nrow=2, padding=1, pad_value=0.25)
    assert grid.shape == (3, 4, 7)
    for ch in range(3):
        assert torch.equal(grid[ch, 1:3, 1:3], hole[0, 0])
        assert torch.equal(grid[ch, 1:3, 4:6], hole[0, 0])
    assert make_grid(torch.rand(3, 4, 4)).shape == (3, 8, 8)  # one C×H×W image


def test_make_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        make_grid(torch.rand(2, 4, 8, 8))
    with pytest.raises(ValueError, match="N×C×H×W"):
        make_grid(torch.rand(8, 8))
    with pytest.raises(ValueError, match="empty batch"):
        make_grid(torch.rand(0, 3, 8, 8))
    with pytest.raises(ValueError, match="floating-point"):
        make_grid(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="nrow must be at least 1"):
        make_grid(torch.rand(2, 3, 4, 4), nrow=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        make_grid(np.zeros((1, 3, 4, 4)))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), nrow=st.integers(1, 10), padding=st.integers(0, 3),
       h=st.integers(1, 5), w=st.integers(1, 5))
def test_grid_shape_and_tile_count_property(n, nrow, padding, h, w):
    x = torch.rand(n, 3, h, w) + 2.0  # tiles > 2, padding = 0: easy to tell apart
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=0.0)
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    assert grid.shape == (3, rows * (h + padding) + padding, ncol * (w + padding) + padding)
    assert int((grid > 1.0).sum()) == n * 3 * h * w  # every pixel of every tile, once
    assert torch.isclose(grid.sum(), x.sum(), rtol=1e-5)


def test_save_grid_round_trips_8_bit_values_and_leaves_no_temp_file(tmp_path):
    levels = torch.randint(0, 256, (5, 3, 6, 7), generator=torch.Generator().manual_seed(0))
    x = levels.float() / 255.0
    path = save_grid(x, tmp_path / "deep" / "grid.png", nrow=2, padding=1, pad_value=0.0)
    assert path == tmp_path / "deep" / "grid.png"
    with Image.open(path) as f:
        img = np.asarray(f)
    assert img.dtype == np.uint8 and img.shape == (3 * 7 + 1, 2 * 8 + 1, 3)
    expected = make_grid(levels.float(), nrow=2, padding=1, pad_value=0.0).permute(1, 2, 0).numpy()
    assert np.array_equal(img, expected.astype(np.uint8))
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_save_grid_clamps_and_refuses_nan(tmp_path):
    x = torch.tensor([-0.5, 0.5, 1.5]).view(1, 1, 1, 3)
    with Image.open(save_grid(x, tmp_path / "c.png", padding=0)) as f:
        img = np.asarray(f)
    assert img[0, :, 0].tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="NaN or Inf.*bad.png"):
        save_grid(torch.full((1, 3, 2, 2), float("nan")), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_show_images_one_panel_per_image_with_titles():
    import matplotlib.pyplot as plt

    x = torch.rand(5, 3, 6, 6)
    fig = show_images(x, titles=list("abcde"), nrow=3)
    axes = fig.axes
    assert len(axes) == 6  # 2 rows × 3 columns, the last one empty
    shown = [ax for ax in axes if ax.images]
    assert [ax.get_title() for ax in shown] == list("abcde")
    np.testing.assert_allclose(shown[4].images[0].get_array(), x[4].permute(1, 2, 0).numpy(), atol=1e-6)
    plt.close(fig)

    fig = show_images([torch.rand(1, 3, 4, 4), torch.rand(1, 8, 8)])  # list, mixed sizes, a mask
    assert len(fig.axes) == 2 and fig.axes[1].images[0].get_array().shape == (8, 8, 3)
    plt.close(fig)
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        show_images(torch.rand(3, 3, 4, 4), titles=["a", "b"])


def test_show_inpainting_panels_are_masked_input_prediction_composite_truth():
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    image = torch.rand(6, 3, 8, 8, generator=g)
    hole = (torch.rand(6, 1, 8, 8, generator=g) > 0.6).float()
    pred = torch.rand(6, 3, 8, 8, generator=g)
    fig = show_inpainting(image, hole, pred, max_samples=3)
    axes = np.array(fig.axes).reshape(3, 4)
    assert [ax.get_title() for ax in axes[0]] == ["masked input", "prediction", "composite", "ground truth"]
    tint = torch.tensor(HOLE_TINT).view(3, 1, 1)
    for r in range(3):
        arrays = [torch.from_numpy(np.asarray(ax.images[0].get_array())).permute(2, 0, 1) for ax in axes[r]]
        masked, shown_pred, comp, truth = arrays
        # the masked input hides every hole pixel behind the tint and keeps the rest
        h = hole[r].bool().expand(3, -1, -1)
        assert torch.allclose(masked[h], tint.expand(3, 8, 8)[h])
        assert torch.allclose(masked[~h], image[r][~h])
        assert torch.allclose(shown_pred, pred[r])
        assert torch.allclose(comp, composite(image[r:r + 1], pred[r:r + 1], hole[r:r + 1])[0])
        assert torch.allclose(truth, image[r])
    plt.close(fig)

    with pytest.raises(ValueError, match="pred must have the image's shape"):
        show_inpainting(image, hole, pred[:, :, :4])
    with pytest.raises(ValueError, match="binary"):
        show_inpainting(image, hole * 0.5, pred)
