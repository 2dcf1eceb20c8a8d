"""Running a model at the size it was trained at (inpaintlib.inference)."""
import pytest
import torch

from inpaintlib.inference import crop_window, inpaint, model_size


class Recorder(torch.nn.Module):
    """A fake model: fills the hole with 0.5 and remembers what it was given."""

    def __init__(self, size=None):
        super().__init__()
        self.calls = []
        if size:
            self.reference_size = size

    def forward(self, image, hole):
        self.calls.append((image.clone(), hole.clone()))
        return image * (1 - hole) + 0.5 * hole


def _photo(h=96, w=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, h, w, generator=g)
    hole = torch.zeros(1, 1, h, w)
    hole[..., 40:50, 100:115] = 1
    return image, hole


def test_crop_runs_the_model_at_its_size_on_a_window_around_the_hole():
    image, hole = _photo()
    model = Recorder(size=32)
    out = inpaint(model, image, hole)
    (x, h), = model.calls
    assert x.shape == (1, 3, 32, 32) and h.shape == (1, 1, 32, 32)
    assert bool((x * h == 0).all())                       # the model never sees hole pixels
    assert torch.equal(out * (1 - hole), image * (1 - hole))   # known pixels exact
    assert torch.allclose(out[..., 40:50, 100:115], torch.full((1, 3, 10, 15), 0.5), atol=1e-5)
    t, l, side = crop_window(hole[0], 32)
    assert side == 38 and t <= 40 and t + side >= 50 and l <= 100 and l + side >= 115


def test_the_small_hole_covers_every_missing_pixel():
    image, hole = _photo(64, 64)
    hole.zero_()
    hole[..., 5, 7] = 1                                   # a single pixel
    model = Recorder(size=16)
    inpaint(model, image, hole, strategy="resize")
    (_, h), = model.calls
    assert h.shape == (1, 1, 16, 16) and int(h.sum()) == 1 and h[0, 0, 1, 1] == 1


def test_resize_and_native_strategies():
    image, hole = _photo()
    model = Recorder(size=32)
    inpaint(model, image, hole, strategy="resize")
    assert model.calls[-1][0].shape == (1, 3, 32, 32)
    inpaint(model, image, hole, strategy="native")
    assert model.calls[-1][0].shape == (1, 3, 96, 160)
    plain = Recorder()
    inpaint(plain, image, hole)                           # no recorded size: as it is
    assert plain.calls[-1][0].shape == (1, 3, 96, 160)
    with pytest.raises(ValueError, match="strategy"):
        inpaint(model, image, hole, strategy="tile")


def test_holes_wider_than_the_short_side_fall_back_to_the_whole_photo():
    image, hole = _photo()
    hole[..., 10:20, 2:150] = 1
    assert crop_window(hole[0], 32) is None
    model = Recorder(size=32)
    out = inpaint(model, image, hole)
    assert model.calls[-1][0].shape == (1, 3, 32, 32)
    assert torch.equal(out * (1 - hole), image * (1 - hole))


def test_batches_get_one_window_each():
    a, ha = _photo(seed=1)
    b, hb = _photo(seed=2)
    hb = torch.roll(hb, shifts=(30, -80), dims=(2, 3))
    model = Recorder(size=32)
    out = inpaint(model, torch.cat([a, b]), torch.cat([ha, hb]))
    assert len(model.calls) == 2 and out.shape == (2, 3, 96, 160)


def test_model_size_reads_the_recorded_size():
    assert model_size(Recorder(size=128)) == 128
    m = Recorder()
    m.trained_size = 64
    assert model_size(m) == 64
    assert model_size(Recorder()) is None
