"""Real data end to end, on tiny fake folders laid out like each prepared dataset.

What each profile trains on (the paper's data when prepared, the sample bank otherwise),
that the right files are read with the documented crops and mask polarity, that the
worker loader gives exactly ``data(step)``, and that ``inpaintlib train`` / ``eval``
work on a user's folders — with the network blocked (nothing is downloaded).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib import cli
from inpaintlib.data import DataNotPrepared, Prefetched, TrainingPairs, plan_data
from inpaintlib.data.sources import eval_masks, open_images, open_masks
from inpaintlib.masks import PCONV_BUCKETS, CTSDG_BUCKETS, MaskFolder, NvidiaMasks, hole_ratio
from inpaintlib.train import Trainer, shard_batch

pytestmark = pytest.mark.usefixtures("no_network", "one_thread")

BLUE, RED = (0, 0, 255), (255, 0, 0)


def _png(path: Path, arr: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def _face(seed: int) -> np.ndarray:
    """218×178 like img_align_celeba: red bands outside the 178×178 centre square, inside a
    blue image with a little seeded texture (so batches differ)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((218, 178, 3), np.uint8)
    img[..., 2] = 200 + rng.integers(0, 55, (218, 178))
    img[:20] = RED
    img[198:] = RED
    return img


def _rect_mask(size: int, ratio: float) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    side = int(round(size * ratio ** 0.5))
    m[:side, :side] = 255                # white = hole, as NVIDIA's files
    return m


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """A data root holding fake CelebA, CelebA-HQ, Places2 and NVIDIA masks."""
    root = tmp_path_factory.mktemp("data")
    lines = []
    for i in range(1, 13):
        name = f"{i:06d}.jpg"
        _png(root / "celeba" / "img_align_celeba" / name, _face(i))  # PNG bytes: lossless
        lines.append(f"{name} {0 if i <= 8 else (1 if i <= 9 else 2)}")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    for i in range(6):
        _png(root / "celeba_hq" / "images" / f"{i}.png", np.full((96, 96, 3), 40 * i, np.uint8))
    (root / "celeba_hq" / "train.txt").write_text("0.png\n1.png\n2.png\n3.png\n")
    (root / "celeba_hq" / "test.txt").write_text("4.png\n5.png\n")
    rng = np.random.default_rng(0)
    for i, rel in enumerate(["a/abbey/1.jpg", "a/abbey/2.jpg", "b/beach/3.jpg", "b/beach/4.jpg"]):
        _png(root / "places2" / rel, rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
    (root / "places2" / "train.txt").write_text("/a/abbey/1.jpg 0\n/a/abbey/2.jpg 0\n/b/beach/3.jpg 1\n")
    (root / "places2" / "test.txt").write_text("/b/beach/4.jpg 1\n")
    for i in range(6):
        _png(root / "nvidia_masks" / "train" / f"{i:05d}.png", _rect_mask(128, 0.05 + 0.08 * i))
    ratios = [0.05, 0.08, 0.15, 0.18, 0.25, 0.28, 0.35, 0.45, 0.55, 0.58]
    for i, r in enumerate(ratios):
        _png(root / "nvidia_masks" / "test" / f"{i:05d}.png", _rect_mask(64, r))
    return root


@pytest.fixture
def data_env(fake_root, monkeypatch):
    monkeypatch.setenv("INPAINTLIB_DATA", str(fake_root))
    return fake_root


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTLIB_DATA", str(tmp_path / "nothing"))
    return tmp_path


# ----------------------------------------------------------------------------- which data
@pytest.mark.parametrize("method, images, masks", [
    ("ctsdg", "CelebA train split (8 faces; centre 178×178 crop", "NVIDIA irregular masks, train split"),
    ("pconv", "Places2 train list (3 images, random-resized crops", "NVIDIA irregular masks, train split"),
    ("gmcnn", "Places2 train list", "generated 'rectangle' holes"),
    ("clmser", "CelebA-HQ train split (4 faces", "generated 'dense_points' holes"),
])
def test_workshop_and_paper_pick_the_papers_data(data_env, method, images, masks):
    for profile in ("workshop", "paper"):
        plan = plan_data(method, profile, size=32)
        assert plan.source == "paper"
        assert plan.images_label.startswith(images), plan.images_label
        assert plan.masks_label.startswith(masks), plan.masks_label
        assert "the paper's data" in str(plan)
        assert plan.tag() is not None  # recorded in the checkpoints' config


def test_gmcnn_falls_back_to_celeba_hq_without_places2(data_env, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(data_env / "celeba_hq", root / "celeba_hq")
    monkeypatch.setenv("INPAINTLIB_DATA", str(root))
    plan = plan_data("gmcnn", "workshop", size=32)
    assert plan.source == "paper" and plan.images_label.startswith("CelebA-HQ")


def test_quick_profile_uses_the_sample_bank_and_says_how_to_change_it(data_env):
    plan = plan_data("ctsdg", "quick", size=32)
    assert plan.images == "sample_bank" and plan.masks == "free_form" and plan.is_default
    assert plan.tag() is None  # the book's default runs keep their checkpoint config
    assert "--images" in str(plan)


def test_workshop_without_data_says_what_prepares_it_and_falls_back(empty_env):
    plan = plan_data("ctsdg", "workshop", size=32)
    assert plan.source == "sample bank (fallback)" and plan.images == "sample_bank"
    text = str(plan)
    assert "python data_scripts/prepare.py celeba" in text
    assert "python data_scripts/prepare.py nvidia_masks" in text
    assert plan.masks == "free_form" and "instead of the paper's NVIDIA masks" in plan.masks_label


def test_paper_refuses_the_sample_bank_unless_asked(empty_env):
    with pytest.raises(DataNotPrepared, match=r"paper profile.*data_scripts/prepare.py celeba.*--allow-sample-bank"):
        plan_data("ctsdg", "paper", size=32)
    plan = plan_data("ctsdg", "paper", size=32, allow_sample_bank=True)
    assert plan.images == "sample_bank"
    own = plan_data("ctsdg", "paper", size=32, images="sample_bank", masks="free_form")
    assert own.source == "given"  # an explicit choice is not a fallback


def test_unknown_images_and_masks_are_clear_errors(data_env):
    with pytest.raises(ValueError, match="unknown images 'imagenet'"):
        open_images("imagenet", 32)
    with pytest.raises(ValueError, match="unknown masks 'blobs'"):
        open_masks("blobs", 32)
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        open_images(str(data_env / "no" / "such"), 32)


# ----------------------------------------------------------------------------- crops and masks
def test_celeba_is_the_centre_178_crop_resized(data_env):
    ds, label = open_images("celeba", 32, split="train")
    batch = torch.stack([ds[i] for i in range(len(ds))])
    assert batch.shape == (8, 3, 32, 32)
    assert float(batch[:, 0].max()) < 1e-6  # no red band: it lies outside the 178×178 centre square
    test, _ = open_images("celeba", 32, split="test")
    assert [p.name for p in test.paths] == ["000010.jpg", "000011.jpg", "000012.jpg"]  # partition 2


def test_mask_files_white_is_hole_and_augmented_only_for_training(data_env):
    test = NvidiaMasks(size=64, split="test")
    assert not test.augment and abs(float(hole_ratio(test[0][None])) - 0.05) < 0.01
    inverted = MaskFolder(data_env / "nvidia_masks" / "test", 64, invert=True)
    assert torch.equal(inverted[0], 1 - test[0])
    train = NvidiaMasks(size=32, split="train")
    assert train.augment
    pairs = TrainingPairs(4, 32, masks=train, seed=0)
    a, b = pairs(0)[1], pairs(1)[1]
    assert set(torch.unique(a).tolist()) <= {0.0, 1.0}
    assert torch.equal(pairs(0)[1], a)        # a pure function of the step
    assert not torch.equal(a, b)              # fresh augmentations every step


def test_eval_masks_from_a_folder_are_bucketed_by_their_pixels(data_env):
    ms, label = eval_masks("nvidia", 2, 64, CTSDG_BUCKETS)
    counts = torch.bincount(ms.bucket_ids, minlength=3).tolist()
    assert counts == [2, 2, 2]
    for r, b in zip(ms.ratios.tolist(), ms.bucket_ids.tolist()):
        lo, hi = CTSDG_BUCKETS[b]
        assert lo < r <= hi or (lo == 0 and r == 0)
    few, label = eval_masks(str(data_env / "nvidia_masks" / "test"), 3, 64, PCONV_BUCKETS)
    assert "fewer than 3" in label  # the folder has only two masks in (0.3, 0.4]


# ----------------------------------------------------------------------------- loader
def test_prefetched_batches_are_exactly_data_of_step(data_env):
    plan = plan_data("ctsdg", "workshop", size=32)
    pairs = plan.pairs(4, 32, seed=5)
    pre = Prefetched(pairs, num_workers=2, pin_memory=False)
    try:
        for start in (0, 3):  # a fresh run and a resumed one, with the same workers
            for k, batch in zip(range(3), pre.batches(start)):
                for got, want in zip(batch, pairs(start + k)):
                    assert torch.equal(got, want)
        for rank in (0, 1):  # one rank's share only
            got = next(pre.batches(2, rank, 2))
            for g, w in zip(got, shard_batch(pairs(2), rank, 2)):
                assert torch.equal(g, w)
    finally:
        pre.close()


def test_trainer_with_workers_sees_the_same_batches_and_resumes_exactly(data_env, tmp_path):
    pairs = plan_data("pconv", "workshop", size=16).pairs(2, 16, seed=1)

    def run(data, out, steps):
        seen = []
        w = torch.nn.Parameter(torch.zeros(()))

        def step_fn(trainer, batch):
            image, hole = batch
            seen.append(float(image.sum() + 10 * hole.sum()))
            loss = (w - image.mean()) ** 2
            trainer.optimize("g", loss)
            return {"loss": loss}

        t = Trainer({"g": torch.nn.ParameterList([w])}, {"g": torch.optim.SGD([w], lr=0.1)}, step_fn,
                    out_dir=out, max_steps=steps, progress=False, ckpt_every=2)
        t.fit(data)
        return seen, float(w.detach())

    direct, w_direct = run(pairs, tmp_path / "a", 4)
    pre = Prefetched(pairs, num_workers=2, pin_memory=False)
    ahead, w_ahead = run(pre, tmp_path / "b", 4)
    first, _ = run(pre, tmp_path / "c", 2)
    rest, w_resumed = run(pre, tmp_path / "c", 4)   # resumes from the step-2 checkpoint
    pre.close()
    assert ahead == direct and first + rest == direct
    assert w_ahead == w_direct == w_resumed


# ----------------------------------------------------------------------------- recipes
def test_ctsdg_recipe_in_workshop_trains_on_celeba_with_nvidia_masks(data_env, tmp_path, capsys):
    from inpaintlib.recipes.ctsdg import train_ctsdg
    from inpaintlib.registry import load_model

    tiny = {"layers": 5, "width": 0.125, "image_size": 64, "batch_size": 2}
    train_ctsdg("workshop", out_dir=tmp_path / "run", max_steps=1, overrides=tiny, backbone="efficientnet_lite0",
                num_workers=1)
    out = capsys.readouterr().out
    assert "CelebA train split" in out and "NVIDIA irregular masks" in out
    meta = torch.load(tmp_path / "run" / "ctsdg.pt", map_location="cpu", weights_only=False)["meta"]
    assert "CelebA" in meta["data"] and "NVIDIA" in meta["data"]
    assert load_model(tmp_path / "run" / "ctsdg.pt") is not None


def test_a_run_on_other_data_is_never_continued_as_a_sample_bank_run(data_env, tmp_path):
    from inpaintlib.recipes.pconv import train_pconv
    from inpaintlib.train import CheckpointMismatchError

    tiny = {"image_size": 32, "layers": 4, "batch_size": 2}
    train_pconv("quick", out_dir=tmp_path / "run", max_steps=1, overrides=tiny, progress=False,
                backbone="efficientnet_lite0")
    with pytest.raises(CheckpointMismatchError):
        train_pconv("quick", out_dir=tmp_path / "run", max_steps=1, overrides=tiny, progress=False,
                    backbone="efficientnet_lite0", images="celeba", masks="nvidia")


# ----------------------------------------------------------------------------- command line
def test_cli_trains_pconv_on_a_users_folders(data_env, tmp_path, capsys):
    photos = tmp_path / "my_photos"
    for i in range(3):
        _png(photos / f"p{i}.jpg", np.random.default_rng(i).integers(0, 255, (50, 70, 3), dtype=np.uint8), "JPEG")
    rc = cli.main(["train", "pconv", "--profile", "quick", "--images", str(photos), "--masks",
                   str(data_env / "nvidia_masks" / "train"), "--size", "64", "--batch-size", "2", "--steps", "1",
                   "--workers", "0", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"3 images from {photos}" in out and "6 PNG masks from" in out and "augmented" in out
    assert "image_size=64" in out and "batch_size=2" in out
    assert (tmp_path / "run" / "pconv.pt").is_file()
    rc = cli.main(["train", "pconv", "--profile", "quick", "--images", str(photos), "--masks",
                   str(data_env / "nvidia_masks" / "train"), "--size", "64", "--batch-size", "2", "--steps", "2",
                   "--workers", "0", "--out", str(tmp_path / "run"), "--resume"])
    assert rc == 0 and "continuing" in capsys.readouterr().out


def test_cli_train_errors_are_one_line(empty_env, tmp_path, capsys):
    assert cli.main(["train", "ctsdg", "--profile", "paper", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "data_scripts/prepare.py celeba" in err and "Traceback" not in err
    assert cli.main(["train", "pconv", "--profile", "quick", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "holds no run to continue" in capsys.readouterr().err
    assert cli.main(["train", "sc_lmser", "--profile", "quick", "--images", "celeba", "--out",
                     str(tmp_path / "s")]) == 2
    assert "photo-sketch pairs" in capsys.readouterr().err


def test_cli_eval_on_a_test_split_with_mask_files_prints_protocol_and_quotes(data_env, capsys):
    rc = cli.main(["eval", "--method", "telea", "--images", "celeba", "--masks", "nvidia", "--size", "64",
                   "--n", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "protocol:" in out and "CelebA test split (3 faces" in out and "NVIDIA irregular masks, test split" in out
    assert "composited" in out and "inpaintlib.metrics" in out
    assert "0-20%" in out.replace("–", "-") or "0–20" in out
    rc = cli.main(["eval", "--method", "ctsdg", "--images", "celeba", "--masks", "nvidia", "--size", "64",
                   "--n", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "their numbers, not ours" in out and "38.04" in out and "MindSpore" in out


def test_cli_eval_with_the_papers_protocol(data_env, capsys):
    rc = cli.main(["eval", "--method", "telea", "--paper-protocol", "ctsdg", "--size", "64", "--n", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "CelebA test split" in out and "NVIDIA irregular masks, test split" in out and "38.04" in out
    assert cli.main(["eval", "--method", "telea", "--paper-protocol", "deepfill"]) == 2


def test_cli_info_lists_what_is_prepared(data_env, capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "celeba: prepared (3 test items)" in out and "nvidia: prepared (10 test items)" in out
