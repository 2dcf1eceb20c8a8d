"""Photo/sketch data: the pencil-sketch proxy, SketchPairs, and the CUFS / CUFSF readers on
tiny fake folders laid out as data_scripts/cufs.py writes them."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib.data import CUFS, CUFSF, SampleBank, SketchPairs, pencil_sketch
from inpaintlib.data.sketches import CANVAS, FACE_BOX

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------- pencil_sketch

def test_pencil_sketch_range_shape_and_determinism():
    photos = torch.rand(3, 3, 40, 48)
    s = pencil_sketch(photos)
    assert s.shape == (3, 1, 40, 48) and float(s.min()) >= 0 and float(s.max()) <= 1
    assert torch.equal(s, pencil_sketch(photos))
    assert torch.allclose(pencil_sketch(photos[1]), s[1])          # C×H×W works, and per image
    assert torch.allclose(pencil_sketch(photos[1:2]), s[1:2])      # the batch does not mix images


def test_pencil_sketch_is_white_on_flat_regions_and_dark_on_edges():
    flat = torch.full((1, 3, 32, 32), 0.6)
    assert torch.allclose(pencil_sketch(flat), torch.ones(1, 1, 32, 32))
    step = torch.ones(1, 3, 32, 32)
    step[..., :, 16:] = 0.3                                          # a vertical edge at column 16
    s = pencil_sketch(step, sigma=2.0)[0, 0]
    assert float(s[:, 16:18].mean()) < 0.6 and float(s[:, :8].mean()) > 0.99 and float(s[:, 26:].mean()) > 0.99


def test_pencil_sketch_rejects_bad_input():
    with pytest.raises(ValueError, match="B×3×H×W"):
        pencil_sketch(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pencil_sketch(torch.full((1, 3, 8, 8), 1.5))
    with pytest.raises(TypeError):
        pencil_sketch(np.zeros((3, 8, 8)))


# ----------------------------------------------------------------- SketchPairs

def test_sketch_pairs_are_a_labelled_proxy():
    pairs = SketchPairs(2, 64)
    assert pairs.proxy is True
    assert "proxy for CUFS" in repr(pairs) and "not hand-drawn" in repr(pairs)


def test_sketch_pairs_shapes_and_determinism():
    pairs = SketchPairs(2, 64, seed=1)
    photo, sketch = pairs(5)
    assert photo.shape == (2, 3, 64, 64) and sketch.shape == (2, 1, 64, 64)
    again = SketchPairs(2, 64, seed=1)(5)
    assert torch.equal(photo, again[0]) and torch.equal(sketch, again[1])
    assert not torch.equal(photo, pairs(6)[0])


def _offset(big, crop):
    """Where ``crop`` (C×s×s) lies in ``big`` (C×S×S): the unique exact match."""
    s = crop.shape[-1]
    hits = [(t, l) for t in range(big.shape[-2] - s + 1) for l in range(big.shape[-1] - s + 1)
            if torch.equal(big[:, t:t + s, l:l + s], crop)]
    assert len(hits) == 1
    return hits[0]


def test_sketch_pairs_cut_photo_and_sketch_at_the_same_offset():
    pairs = SketchPairs(2, 32, seed=0)
    photos = pairs.photos(3)
    assert photos.shape[-1] == round(32 * 286 / 256)
    sketches = pencil_sketch(photos)
    photo, sketch = pairs(3)
    offsets = set()
    for b in range(2):
        t, l = _offset(photos[b], photo[b])
        assert torch.equal(sketches[b, :, t:t + 32, l:l + 32], sketch[b])
        offsets.add((t, l))
    assert len(offsets) == 2  # one random offset per sample


def test_heldout_pairs_are_centre_crops_of_the_heldout_photos():
    pairs = SketchPairs(4, 64, split="heldout")
    photo, sketch = pairs(0)
    bank = SampleBank("heldout", size=pairs.canvas)
    m = (pairs.canvas - 64) // 2
    for i in range(4):
        assert torch.equal(photo[i], bank[i][:, m:m + 64, m:m + 64])
    assert torch.equal(photo, pairs(0)[0])
    with pytest.raises(ValueError, match="split"):
        SketchPairs(1, 64, split="test")


# ----------------------------------------------------------------- CUFS / CUFSF on fake folders

def _write_pair(root, name, w=200, h=250, seed=0):
    """A grey photo (R = G = B) and a sketch holding the same grey values: any crop of the
    photo's first channel equals the sketch's crop exactly when both used the same offset."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 200, size=(h, w), dtype=np.uint8)
    (root / "photos").mkdir(parents=True, exist_ok=True)
    (root / "sketches").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(root / "photos" / f"{name}.png")
    Image.fromarray(grey).save(root / "sketches" / f"{name}.png")
    return grey


def _fake(root, n_train=2, n_test=1, **size):
    greys = {}
    lines = {"train": [], "test": []}
    for i in range(n_train + n_test):
        name = f"f{i:02d}"
        greys[name] = _write_pair(root, name, seed=i, **size)
        lines["train" if i < n_train else "test"].append(f"photos/{name}.png sketches/{name}.png")
    for split, ls in lines.items():
        (root / f"{split}.txt").write_text("\n".join(ls) + "\n")
    return greys


def test_cufs_preprocessing_matches_the_original(tmp_path):
    root = tmp_path / "cufs"
    greys = _fake(root)
    with pytest.warns(UserWarning, match="268"):
        test = CUFS(root, split="test")
    assert len(test) == 1 and not test.proxy
    photo, sketch = test[0]
    assert photo.shape == (3, 256, 256) and sketch.shape == (1, 256, 256)
    top, bottom, left, right = FACE_BOX
    face = torch.from_numpy(greys["f02"]).float() / 255
    assert torch.equal(photo[0, top:bottom, left:right], face)           # the face, unresized, at rows 3:253, cols 28:228
    assert torch.equal(sketch[0, top:bottom, left:right], face)
    assert float(photo[:, :top].min()) == 1.0 and float(photo[:, :, :left].min()) == 1.0   # white canvas around it
    assert "338" in test.note


def test_cufs_training_crops_share_one_random_offset(tmp_path):
    root = tmp_path / "cufs"
    _fake(root, n_train=3)
    with pytest.warns(UserWarning, match="268"):
        train = CUFS(root, split="train", seed=0)
    seen = set()
    for epoch in range(3):
        train.set_epoch(epoch)
        for i in range(len(train)):
            photo, sketch = train[i]
            assert torch.equal(photo[0:1], sketch)          # same offset for photo and sketch
            white_rows = int((photo[0].amin(dim=1) == 1).sum())
            seen.add(white_rows)
    assert len(seen) > 1                                     # the offset really varies (not the centre crop)
    data = train.pairs_at(2, seed=0)
    a, b = data(4), data(4)
    assert a[0].shape == (2, 3, 256, 256) and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_cufs_fits_other_sizes_into_200_by_250(tmp_path):
    root = tmp_path / "cufs"
    _fake(root, n_train=1, n_test=1, w=100, h=100)          # square: scaled ×2 to 200×200
    with pytest.warns(UserWarning):
        photo, _ = CUFS(root, split="test")[0]
    face_rows = (photo[0] < 1).any(dim=1).nonzero().flatten()
    face_cols = (photo[0] < 1).any(dim=0).nonzero().flatten()
    assert int(face_cols[-1] - face_cols[0]) + 1 <= 200 and int(face_rows[-1] - face_rows[0]) + 1 <= 200
    assert int(face_cols[0]) >= 28 - 1 and int(face_rows[0]) >= (CANVAS - 200) // 2 - 15 - 1
    with pytest.warns(UserWarning):
        small, small_sketch = CUFS(root, split="test", size=64)[0]
    assert small.shape == (3, 64, 64) and small_sketch.shape == (1, 64, 64)


def test_cufsf_split_sizes_and_no_warning_when_they_match(tmp_path, monkeypatch):
    root = tmp_path / "cufsf"
    _fake(root, n_train=2, n_test=1)
    with pytest.warns(UserWarning, match="250"):
        CUFSF(root, split="train")
    monkeypatch.setattr(CUFSF, "SPLIT_SIZES", {"train": 2, "test": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CUFSF(root, split="train").note == ""
    assert CUFS.SPLIT_SIZES == {"train": 268, "test": 338}


def test_default_root_is_under_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTLIB_DATA", str(tmp_path))
    _fake(tmp_path / "cufsf")
    with pytest.warns(UserWarning):
        assert CUFSF(split="test").root == tmp_path / "cufsf"
    with pytest.raises(FileNotFoundError, match="cufs.py"):
        CUFS(split="test")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        CUFS(tmp_path / "nowhere")
    root = tmp_path / "cufs"
    root.mkdir()
    with pytest.raises(FileNotFoundError, match="train.txt"):
        CUFS(root, split="train")
    _fake(root)
    (root / "sketches" / "f01.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"f01\.png \(line 2 of .*train\.txt\)"):
        CUFS(root, split="train")
    (root / "test.txt").write_text("photos/f02.png\n")
    with pytest.raises(ValueError, match="line 1"):
        CUFS(root, split="test")
    with pytest.raises(ValueError, match="split"):
        CUFS(root, split="val")
