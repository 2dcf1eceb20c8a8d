"""Tests for inpaintlib.data: sample bank, transforms, folders, real-data readers, edges."""
from __future__ import annotations

import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import inpaintlib
from inpaintlib import data as D
from inpaintlib.data import bank as sb
from inpaintlib.data import transforms as T
from inpaintlib.profiles import get_profile


# ----------------------------------------------------------------------------- helpers
def _save_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG")
    return path


def _rand_rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _solid(h: int, w: int, rgb) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


# ----------------------------------------------------------------------------- data_root
def test_data_root_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINTLIB_DATA", str(tmp_path))
    assert D.data_root() == tmp_path
    monkeypatch.delenv("INPAINTLIB_DATA")
    repo = Path(inpaintlib.__file__).resolve().parent.parent
    assert D.data_root() == repo / "data"


# ----------------------------------------------------------------------------- sample bank
EXPECTED_HELDOUT = ("grace_hopper", "chelsea", "china", "gravel")


def test_sample_bank_split_is_fixed_disjoint_and_large_enough():
    train, held, every = (D.sample_bank_names(s) for s in ("train", "heldout", "all"))
    assert held == EXPECTED_HELDOUT  # the split is a constant, listed here by name
    assert len(train) + len(held) >= 15 and len(held) >= 4
    assert not set(train) & set(held)
    assert set(train) | set(held) == set(D.PHOTOS) == set(every)
    assert len(every) == len(set(every))
    # The module docstring lists every photo with its source and licence note.
    for name, (_, source, licence) in D.PHOTOS.items():
        assert name in sb.__doc__
    with pytest.raises(ValueError, match="split"):
        D.sample_bank_names("validation")


def test_sample_bank_images_load_with_network_blocked(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(OSError, match="network disabled"):  # the block is real
        socket.create_connection(("example.com", 80), timeout=1)
    D.clear_sample_bank_cache()  # force a fresh decode under the block
    images = D.sample_bank_images("all")
    assert [n for n, _ in images] == list(D.sample_bank_names("all"))
    assert len(images) >= 15
    for name, img in images:
        assert img.dtype == torch.float32 and img.dim() == 3 and img.shape[0] == 3, name
        assert min(img.shape[1:]) >= 256, name  # real photos, not thumbnails
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0, name
        assert float(img.std()) > 0.05, name  # not blank
    gray = dict(images)["camera"]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_sample_bank_images_are_fresh_copies():
    a = D.sample_bank_images("heldout")[0][1]
    a.zero_()
    b = D.sample_bank_images("heldout")[0][1]
    assert float(b.max()) > 0


def test_train_crops_have_profile_size_and_range():
    bank = D.SampleBank("train", profile="quick")
    size = get_profile("quick").image_size
    assert bank.size == size and bank.augment and len(bank) == 512
    batch = bank.batch(range(16))
    assert batch.shape == (16, 3, size, size) and batch.dtype == torch.float32
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    # Crops show content: most crops have visible variation.
    assert (batch.flatten(1).std(dim=1) > 0.02).float().mean() >= 0.75
    # Item i shows photo i mod n, so a batch visits distinct photos.
    assert [bank.image_name(i) for i in range(3)] == list(D.TRAIN_NAMES[:3])


def test_train_crops_deterministic_in_seed_index_epoch():
    a = D.SampleBank("train", size=32, seed=3)
    b = D.SampleBank("train", size=32, seed=3)
    assert torch.equal(a[5], b[5])
    assert torch.equal(a[5], a[5])
    assert not torch.equal(a[5], D.SampleBank("train", size=32, seed=4)[5])
    first = a[5]
    a.set_epoch(1)
    assert not torch.equal(first, a[5])
    b.set_epoch(1)
    assert torch.equal(a[5], b[5])
    a.set_epoch(0)
    assert torch.equal(first, a[5])
    # Items that show the same photo still get different crops.
    n = len(D.TRAIN_NAMES)
    assert not torch.equal(a[1], a[1 + n])


def test_batch_at_matches_items_and_is_deterministic():
    bank = D.SampleBank("train", size=32, seed=7, length=10)
    step2 = bank.batch_at(2, 4)  # global positions 8, 9, 10, 11
    assert step2.shape == (4, 3, 32, 32)
    assert torch.equal(step2[0], bank[8]) and torch.equal(step2[1], bank[9])
    bank.set_epoch(1)
    assert torch.equal(step2[2], bank[0]) and torch.equal(step2[3], bank[1])
    assert torch.equal(bank.batch_at(2, 4), step2)  # independent of the current epoch
    x = D.sample_bank_batch("train", batch_size=4, step=3, size=32, seed=1)
    assert torch.equal(x, D.sample_bank_batch("train", batch_size=4, step=3, size=32, seed=1))
    assert not torch.equal(x, D.sample_bank_batch("train", batch_size=4, step=4, size=32, seed=1))
    assert not torch.equal(x, D.sample_bank_batch("train", batch_size=4, step=3, size=32, seed=2))
    quick = get_profile("quick")
    assert D.sample_bank_batch(profile="quick").shape == (
        quick.batch_size, 3, quick.image_size, quick.image_size)


def test_heldout_crops_are_fixed_centre_crops():
    size = 48
    bank = D.sample_bank("heldout", size=size, seed=0)
    assert not bank.augment and len(bank) == len(EXPECTED_HELDOUT)
    again = D.SampleBank("heldout", size=size, seed=123)  # the seed does not matter
    again.set_epoch(5)  # nor the epoch
    for i, (name, img) in enumerate(D.sample_bank_images("heldout")):
        # Independent expectation: the centre window of the photo resized so its
        # shorter side is `size`, computed with torch's own antialiased interpolate.
        H, W = img.shape[1:]
        scale = size / min(H, W)
        oh, ow = max(size, round(H * scale)), max(size, round(W * scale))
        small = torch.nn.functional.interpolate(
            img[None], size=(oh, ow), mode="bilinear", antialias=True, align_corners=False)[0]
        top, left = (oh - size) // 2, (ow - size) // 2
        expected = small[:, top:top + size, left:left + size]
        assert torch.allclose(bank[i], expected, atol=1e-6), name
        assert torch.equal(bank[i], again[i])
    longer = D.SampleBank("heldout", size=size, length=10)
    extra = longer.batch(range(10))
    assert torch.equal(extra[:4], bank.batch(range(4)))
    assert torch.equal(extra, D.SampleBank("heldout", size=size, length=10).batch(range(10)))
    assert not torch.equal(extra[4], extra[0])  # further crops differ from the centre ones


def test_sample_bank_errors_and_dataloader():
    with pytest.raises(ValueError, match="split"):
        D.SampleBank("val", size=32)
    with pytest.raises(ValueError, match="size"):
        D.SampleBank("train", size=0)
    with pytest.raises(ValueError, match="length"):
        D.SampleBank("train", size=32, length=0)
    with pytest.raises(ValueError, match="seed"):
        D.SampleBank("train", size=32, seed=-1)
    bank = D.SampleBank("train", size=32, length=6)
    with pytest.raises(IndexError):
        bank[6]
    assert torch.equal(bank[-1], bank[5])
    loader = torch.utils.data.DataLoader(bank, batch_size=3, shuffle=False)
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(3, 3, 32, 32)] * 2
    assert torch.equal(batches[1][0], bank[3])


# ----------------------------------------------------------------------------- transforms
def test_center_crop_picks_exact_centre():
    x = torch.arange(7 * 10).view(1, 7, 10)
    out = T.center_crop(x, (3, 4))
    rows, cols = torch.arange(2, 5), torch.arange(3, 7)  # (7-3)//2 = 2, (10-4)//2 = 3
    assert torch.equal(out[0], (rows[:, None] * 10 + cols[None, :]))
    batch = torch.arange(2 * 3 * 6 * 6).view(2, 3, 6, 6)
    assert torch.equal(T.center_crop(batch, 2), batch[..., 2:4, 2:4])
    with pytest.raises(ValueError, match="larger than the image"):
        T.center_crop(x, 8)


def test_resize_nearest_exact_2x_and_shapes():
    x = torch.arange(4 * 6, dtype=torch.float32).view(1, 4, 6)
    up = T.resize(x, (8, 12), mode="nearest")
    assert torch.equal(up, x.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))
    down = T.resize(up, (4, 6), mode="nearest")
    assert torch.equal(down, x)  # centre-aligned: picks pixels 1, 3, 5, ...
    ints = torch.arange(16, dtype=torch.uint8).view(1, 4, 4)
    assert torch.equal(T.resize(ints, 2, mode="nearest"), ints[:, 1::2, 1::2])
    img = torch.rand(3, 40, 60)
    assert T.resize(img, 20).shape == (3, 20, 30)  # int = shorter side
    assert T.resize(img.transpose(1, 2), 20).shape == (3, 30, 20)
    assert T.resize(img[None], (17, 23)).shape == (1, 3, 17, 23)
    const = torch.full((3, 33, 47), 0.25)
    assert torch.allclose(T.resize(const, 9), torch.full_like(T.resize(const, 9), 0.25))
    with pytest.raises(ValueError, match="mode"):
        T.resize(img, 10, mode="cubic")
    with pytest.raises(ValueError, match="floating-point"):
        T.resize(ints, 2)
    with pytest.raises(ValueError, match="C×H×W"):
        T.resize(torch.rand(40, 60), 20)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(2, 40), w=st.integers(2, 40), oh=st.integers(1, 40), ow=st.integers(1, 40))
def test_resize_bilinear_stays_in_input_range(h, w, oh, ow):
    img = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * 41 + w))
    out = T.resize(img, (oh, ow))
    assert out.shape == (3, oh, ow)
    assert float(out.min()) >= float(img.min()) - 1e-6 and float(out.max()) <= float(img.max()) + 1e-6


def test_random_crop_is_a_window_and_seeded():
    x = torch.arange(9 * 11).view(1, 9, 11)
    out = T.random_crop(x, (4, 5), torch.Generator().manual_seed(0))
    top, left = divmod(int(out[0, 0, 0]), 11)
    assert torch.equal(out, x[:, top:top + 4, left:left + 5])
    again = T.random_crop(x, (4, 5), torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    tops = {int(T.random_crop(x, 4, torch.Generator().manual_seed(s))[0, 0, 0]) for s in range(20)}
    assert len(tops) > 3
    with pytest.raises(ValueError, match="larger"):
        T.random_crop(x, 10)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(8, 300), w=st.integers(8, 300), seed=st.integers(0, 10_000),
       lo=st.floats(0.05, 1.0))
def test_random_resized_crop_params_in_bounds(h, w, seed, lo):
    g = torch.Generator().manual_seed(seed)
    top, left, ch, cw = T.random_resized_crop_params(h, w, (lo, 1.0), (3 / 4, 4 / 3), g)
    assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w and ch >= 1 and cw >= 1


def test_random_resized_crop_respects_scale_and_ratio():
    fractions, ratios = [], []
    for s in range(200):
        g = torch.Generator().manual_seed(s)
        _, _, ch, cw = T.random_resized_crop_params(200, 300, (0.2, 0.6), (0.8, 1.25), g)
        fractions.append(ch * cw / 60000)
        ratios.append(cw / ch)
    assert min(fractions) > 0.18 and max(fractions) < 0.62
    assert min(ratios) > 0.77 and max(ratios) < 1.3
    img = torch.rand(3, 50, 70)
    out = T.random_resized_crop(img, 24, generator=torch.Generator().manual_seed(1))
    assert out.shape == (3, 24, 24)


def test_hflip():
    x = torch.arange(12).view(1, 3, 4)
    assert torch.equal(T.hflip(x)[0, 0], torch.tensor([3, 2, 1, 0]))
    assert torch.equal(T.hflip(T.hflip(x)), x)


# ----------------------------------------------------------------------------- load_image
def test_load_image_values_modes_and_errors(tmp_path):
    rgb = _rand_rgb(5, 7, 0)
    p = _save_png(tmp_path / "rgb.png", rgb)
    img = D.load_image(p)
    assert img.shape == (3, 5, 7) and img.dtype == torch.float32
    assert torch.allclose(img, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(gray).save(tmp_path / "gray.png")
    g = D.load_image(tmp_path / "gray.png")
    assert g.shape == (3, 4, 5) and torch.allclose(g[1], torch.from_numpy(gray).float() / 255)
    rgba = np.dstack([rgb, np.full((5, 7), 10, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert torch.allclose(D.load_image(tmp_path / "rgba.png"), img)
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="broken.png"):
        D.load_image(tmp_path / "broken.png")
    full = p.read_bytes()
    (tmp_path / "truncated.png").write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="truncated.png"):
        D.load_image(tmp_path / "truncated.png")
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        D.load_image(tmp_path / "nowhere.png")


# ----------------------------------------------------------------------------- ImageFolder
def _tree(root: Path) -> dict:
    """A nested folder: 4 readable images, 1 corrupt one, 1 non-image file."""
    files = {
        "b/x/deep.png": _rand_rgb(10, 12, 1),
        "a.png": _rand_rgb(8, 8, 2),
        "b/second.PNG": _rand_rgb(9, 16, 3),
        "c.bmp": _rand_rgb(12, 10, 4),
    }
    for rel, arr in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(p, format="PNG" if rel.lower().endswith("png") else "BMP")
    (root / "b" / "broken.jpg").write_bytes(b"definitely not a jpeg")
    (root / "notes.txt").write_text("ignore me")
    (root / ".hidden.png").write_bytes(b"hidden")
    return files


def test_image_folder_sorted_nested_and_corrupt_file_raises(tmp_path):
    files = _tree(tmp_path)
    ds = D.ImageFolder(tmp_path)
    rels = [p.relative_to(tmp_path).as_posix() for p in ds.paths]
    assert rels == ["a.png", "b/broken.jpg", "b/second.PNG", "b/x/deep.png", "c.bmp"]
    assert torch.allclose(ds[0], torch.from_numpy(files["a.png"]).permute(2, 0, 1).float() / 255)
    assert ds[3].shape == (3, 10, 12)
    with pytest.raises(ValueError, match="broken.jpg"):
        ds[1]
    flat = D.ImageFolder(tmp_path, recursive=False)
    assert [p.name for p in flat.paths] == ["a.png", "c.bmp"]
    only_png = D.ImageFolder(tmp_path, extensions=("png",))
    assert len(only_png) == 3


def test_image_folder_skip_mode_warns_and_counts(tmp_path):
    _tree(tmp_path)
    with pytest.warns(UserWarning, match="broken.jpg") as record:
        ds = D.ImageFolder(tmp_path, on_error="skip", size=6)
    assert sum("broken.jpg" in str(w.message) for w in record) == 1
    assert len(ds) == 4
    items = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, 6, 6) for x in items)
    # A file that breaks after the folder was scanned is replaced by the next one.
    victim = ds.paths[1]
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.warns(UserWarning, match=victim.name):
        replaced = ds[1]
    assert torch.equal(replaced, ds[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the broken file is remembered: no second warning
        assert torch.equal(ds[1], ds[2])


def test_image_folder_crops_and_errors(tmp_path):
    _save_png(tmp_path / "wide.png", _rand_rgb(20, 40, 5))
    centre = D.ImageFolder(tmp_path, size=10)[0]
    full = T.resize(D.load_image(tmp_path / "wide.png"), 10)
    assert full.shape == (3, 10, 20) and torch.equal(centre, full[:, :, 5:15])
    keep = D.ImageFolder(tmp_path, size=10, crop=None)[0]
    assert torch.equal(keep, full)
    rnd = D.ImageFolder(tmp_path, size=10, crop="random", seed=1)
    first = rnd[0]
    assert first.shape == (3, 10, 10) and torch.equal(first, rnd[0])
    crops = set()
    for e in range(8):
        rnd.set_epoch(e)
        crops.add(rnd[0].sum().item())
    assert len(crops) > 1
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="empty"):
        D.ImageFolder(empty)
    with pytest.raises(FileNotFoundError, match="missing_folder"):
        D.ImageFolder(tmp_path / "missing_folder")
    with pytest.raises(ValueError, match="on_error"):
        D.ImageFolder(tmp_path, on_error="ignore")


# ----------------------------------------------------------------------------- CelebA
def _celeba(root: Path, labels=(0, 0, 0, 1, 2, 2)) -> None:
    # 218×178 like img_align_celeba: rows 0-19 and 198-217 red, the centre 178 rows blue,
    # so the 178×178 centre crop is pure blue. PNG bytes under a .jpg name keep it lossless
    # (Pillow reads the format from the content).
    img = _solid(218, 178, (0, 0, 255))
    img[:20] = (255, 0, 0)
    img[198:] = (255, 0, 0)
    (root / "img_align_celeba").mkdir(parents=True)
    lines = []
    for i, lab in enumerate(labels, start=1):
        name = f"{i:06d}.jpg"
        Image.fromarray(img).save(root / "img_align_celeba" / name, format="PNG")
        lines.append(f"{name} {lab}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def test_celeba_splits_and_centre_crop(tmp_path, monkeypatch):
    _celeba(tmp_path / "celeba")
    monkeypatch.setenv("INPAINTLIB_DATA", str(tmp_path))
    assert len(D.CelebA(split="train")) == 3  # root defaults to data_root()/"celeba"
    tmp_path = tmp_path / "celeba"
    counts = {s: len(D.CelebA(tmp_path, split=s, size=32)) for s in ("train", "val", "test")}
    assert counts == {"train": 3, "val": 1, "test": 2}
    test = D.CelebA(tmp_path, split="test", size=32)
    assert [p.name for p in test.paths] == ["000005.jpg", "000006.jpg"]
    x = test[0]
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x, torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 32, 32))
    squashed = D.CelebA(tmp_path, split="test", size=32, center_crop=None)[0]
    assert float(squashed[0].max()) > 0.5  # without the crop the red bands remain
    with pytest.raises(ValueError, match="split"):
        D.CelebA(tmp_path, split="valid")


def test_celeba_missing_files_are_named(tmp_path):
    _celeba(tmp_path)
    (tmp_path / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"000002\.jpg.*line 2"):
        D.CelebA(tmp_path, split="train")
    assert len(D.CelebA(tmp_path, split="test")) == 2  # other splits are unaffected
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"list_eval_partition\.txt.*data_scripts/celeba\.py"):
        D.CelebA(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_scripts/celeba.py"):
        D.CelebA(tmp_path / "nope")


def test_celeba_bad_partition_line(tmp_path):
    _celeba(tmp_path)
    with open(tmp_path / "list_eval_partition.txt", "a") as f:
        f.write("000007.jpg seven\n")
    with pytest.raises(ValueError, match="line 7"):
        D.CelebA(tmp_path)


# ----------------------------------------------------------------------------- CelebA-HQ
def _celeba_hq(root: Path) -> None:
    for i in range(5):
        _save_png(root / "images" / f"{i}.png", _solid(40, 40, (i * 50, 0, 0)))
    (root / "train.txt").write_text("0.png\n1.png\n\n2.png\n")
    (root / "test.txt").write_text("3.png\n4.png\n")


def test_celeba_hq_splits_and_split_file(tmp_path):
    _celeba_hq(tmp_path)
    train = D.CelebAHQ(tmp_path, split="train", size=16)
    test = D.CelebAHQ(tmp_path, split="test", size=16)
    assert (len(train), len(test)) == (3, 2)
    assert test[1].shape == (3, 16, 16) and abs(float(test[1][0].mean()) - 200 / 255) < 1e-6
    custom = tmp_path / "mine.txt"
    custom.write_text("4.png\n")
    assert len(D.CelebAHQ(tmp_path, split="train", split_file=custom)) == 1
    (tmp_path / "test.txt").write_text("3.png\nghost.png\n")
    with pytest.raises(FileNotFoundError, match=r"ghost\.png.*line 2 of .*test\.txt"):
        D.CelebAHQ(tmp_path, split="test")
    (tmp_path / "train.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"train\.txt.*data_scripts/celeba_hq\.py") as err:
        D.CelebAHQ(tmp_path, split="train")
    assert "download" not in str(err.value) and "images you have" in str(err.value)   # no download exists


# ----------------------------------------------------------------------------- Places2
def _places(root: Path) -> Path:
    names = ["a/abbey/00000001.jpg", "a/abbey/00000002.jpg", "b/beach/00000003.jpg"]
    for i, n in enumerate(names):
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rand_rgb(48, 64, 10 + i)).save(p, format="PNG")
    lst = root / "train.txt"
    lst.write_text("/a/abbey/00000001.jpg 0\n/a/abbey/00000002.jpg 0\nb/beach/00000003.jpg 48\n")
    return lst


def test_places2_train_and_test(tmp_path):
    _places(tmp_path)
    train = D.Places2(tmp_path, "train.txt", size=32, train=True, seed=0)
    assert len(train) == 3 and train.labels == [0, 0, 48]
    assert D.Places2(tmp_path, size=32).paths == train.paths  # list_file defaults to train.txt
    x = train[2]
    assert x.shape == (3, 32, 32) and torch.equal(x, train[2])
    train.set_epoch(1)
    assert not torch.equal(x, train[2])
    test = D.Places2(tmp_path, tmp_path / "train.txt", size=32, train=False)
    y = test[0]
    expected = T.resize(D.load_image(tmp_path / "a/abbey/00000001.jpg"), (32, 32))
    assert torch.equal(y, expected)


def test_places2_missing_file_names_list_and_line(tmp_path):
    lst = _places(tmp_path)
    lst.write_text(lst.read_text() + "/c/canyon/00000009.jpg 60\n")
    with pytest.raises(FileNotFoundError, match=r"00000009\.jpg.*line 4 of .*train\.txt"):
        D.Places2(tmp_path, "train.txt", size=32)
    lazy = D.Places2(tmp_path, "train.txt", size=32, check_files=False)
    with pytest.raises(FileNotFoundError, match=r"00000009\.jpg.*line 4"):
        lazy[3]
    with pytest.raises(FileNotFoundError, match=r"val\.txt.*data_scripts/places2\.py"):
        D.Places2(tmp_path, "val.txt")


# ----------------------------------------------------------------------------- edges & gray
def test_grayscale_matches_formula():
    img = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    r, g, b = img[:, 0:1], img[:, 1:2], img[:, 2:3]
    assert torch.allclose(D.grayscale(img), 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6)
    assert torch.allclose(D.grayscale(img, "709"), 0.2125 * r + 0.7154 * g + 0.0721 * b, atol=1e-6)
    assert D.grayscale(img[0]).shape == (1, 5, 6)
    white = torch.ones(1, 3, 2, 2)
    assert torch.equal(D.grayscale(white), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="3 channels"):
        D.grayscale(torch.rand(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.grayscale(torch.full((1, 3, 4, 4), 2.0))


def test_edges_binary_and_located_on_a_step():
    img = torch.zeros(2, 3, 32, 32)
    img[0, :, :, 16:] = 1.0  # a vertical step between columns 15 and 16
    e = D.edges(img, sigma=2.0)
    assert e.shape == (2, 1, 32, 32) and e.dtype == img.dtype
    assert set(torch.unique(e).tolist()) <= {0.0, 1.0}
    cols = torch.nonzero(e[0, 0])[:, 1]
    assert len(cols) > 10 and int(cols.min()) >= 14 and int(cols.max()) <= 17
    assert float(e[1].sum()) == 0.0  # a flat image has no edges
    assert D.edges(img[0]).shape == (1, 32, 32)
    with pytest.raises(ValueError, match="sigma"):
        D.edges(img, sigma=0)


def test_every_sample_bank_crop_is_a_valid_image():
    """Regression: antialiased resizing overshot 1.0 by one ulp on some photos."""
    from inpaintlib.tensors import validate_image

    for split, size, n in [("heldout", 128, 8), ("train", 64, 64)]:
        bank = D.SampleBank(split, size=size, length=n)
        batch = torch.stack([bank[i] for i in range(len(bank))])
        validate_image(batch)
        assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
