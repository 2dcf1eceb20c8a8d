"""Tests of data_scripts/: layouts, counts, splits, idempotency, checksums, resume, offline errors.

No network: archives are tiny fakes built in tmp_path, downloads use file:// URLs or a local HTTP
server on 127.0.0.1, and the offline case uses an unresolvable ``.invalid`` host.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import random
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from data_scripts import _common as C  # noqa: E402
from data_scripts import celeba, celeba_hq, cufs, cufsf, nvidia_masks, places2, prepare  # noqa: E402


# ------------------------------------------------------------------------------------ helpers
def img_bytes(seed: int, size: int = 8, fmt: str = "PNG") -> bytes:
    """A tiny real image, its colour fixed by ``seed``."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def make_zip(path: Path, files: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, files: dict) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_script(*args, timeout=60) -> subprocess.CompletedProcess:
    """Run a script as a subprocess from the repository root."""
    env = {k: v for k, v in os.environ.items() if k != C.DATA_ENV}
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env)


def files_under(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def lines(path: Path) -> list:
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------------- CelebA
@pytest.fixture
def fake_celeba(tmp_path):
    """Six aligned 'faces' and a partition file: 3 train, 1 val, 2 test."""
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    archive = make_zip(tmp_path / "fake_celeba.zip",
                       {f"img_align_celeba/{n}": img_bytes(i, fmt="JPEG")
                        for i, n in enumerate(names)})
    partition = tmp_path / "fake_partition.txt"
    partition.write_text("".join(f"{n} {s}\n" for n, s in zip(names, [0, 0, 0, 1, 2, 2])))
    return archive, partition, names


def test_celeba_layout_stamp_idempotency_and_force(tmp_path, fake_celeba, capsys):
    archive, partition, names = fake_celeba
    root = tmp_path / "data"
    argv = ["--root", str(root), "--archive", str(archive), "--partition", str(partition)]
    assert celeba.main(argv) == 0
    out = root / "celeba"
    assert files_under(out) == {f"img_align_celeba/{n}" for n in names} | {
        "list_eval_partition.txt", ".prepared.json"}
    with zipfile.ZipFile(archive) as zf:
        assert (out / "img_align_celeba/000003.jpg").read_bytes() == zf.read(
            "img_align_celeba/000003.jpg")
    assert (out / "list_eval_partition.txt").read_bytes() == partition.read_bytes()
    stamp = json.loads((out / ".prepared.json").read_text())
    assert stamp["files"] == 6
    assert stamp["counts"] == {"images": 6, "train": 3, "val": 1, "test": 2}
    seen = {a["name"]: a for a in stamp["archives"]}
    assert seen["fake_celeba.zip"]["sha256"] == sha256(archive)
    assert seen["fake_celeba.zip"]["size"] == archive.stat().st_size
    assert seen["fake_partition.txt"]["sha256"] == sha256(partition)

    # Second run: nothing happens, stamp and files untouched.
    stamp_bytes = (out / ".prepared.json").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    assert celeba.main(argv) == 0
    assert "already prepared, 6 files" in capsys.readouterr().out
    assert (out / ".prepared.json").read_bytes() == stamp_bytes
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes

    # --force redoes it: a deleted image comes back and a stray file is removed.
    (out / "img_align_celeba/000002.jpg").unlink()
    (out / "img_align_celeba/stray.jpg").write_bytes(b"x")
    assert celeba.main(argv + ["--force"]) == 0
    assert files_under(out / "img_align_celeba") == set(names)


def test_celeba_partition_naming_a_missing_image_is_an_error(tmp_path, fake_celeba, capsys):
    archive, partition, _ = fake_celeba
    partition.write_text(partition.read_text() + "999999.jpg 2\n")
    rc = celeba.main(["--root", str(tmp_path / "d"), "--archive", str(archive),
                      "--partition", str(partition)])
    err = capsys.readouterr().err
    assert rc == 2 and "999999.jpg" in err and "fake_partition.txt" in err
    assert not (tmp_path / "d/celeba/.prepared.json").exists()


def test_celeba_bad_partition_line_names_file_and_line(tmp_path, fake_celeba, capsys):
    archive, partition, _ = fake_celeba
    partition.write_text("000001.jpg 0\n000002.jpg 7\n")
    rc = celeba.main(["--root", str(tmp_path / "d"), "--archive", str(archive),
                      "--partition", str(partition)])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2 and "fake_partition.txt line 2" in err


def test_celeba_without_files_prints_manual_instructions(tmp_path):
    proc = run_script("data_scripts/celeba.py", "--root", tmp_path / "d")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for needle in ("img_align_celeba.zip", "list_eval_partition.txt", "Google Drive",
                   "--archive PATH", "--partition PATH", "mmlab.ie.cuhk.edu.hk",
                   str(tmp_path / "d" / "downloads" / "img_align_celeba.zip")):
        assert needle in err


def test_checksum_mismatch_exits_2_naming_the_file(tmp_path, fake_celeba):
    archive, partition, _ = fake_celeba
    proc = run_script("data_scripts/celeba.py", "--root", tmp_path / "d", "--archive", archive,
                      "--partition", partition, "--sha256", "fake_celeba.zip=" + "0" * 64)
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2
    assert "Checksum mismatch" in err and "fake_celeba.zip" in err and sha256(archive) in err
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "d/celeba/.prepared.json").exists()


def test_known_md5_table_is_checked(tmp_path, fake_celeba, capsys):
    """A file carrying an official name is checked against the known MD5 (torchvision's)."""
    archive, partition, _ = fake_celeba
    official = tmp_path / "list_eval_partition.txt"
    official.write_bytes(partition.read_bytes())
    rc = celeba.main(["--root", str(tmp_path / "d"), "--archive", str(archive),
                      "--partition", str(official)])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2 and "list_eval_partition.txt" in err
    assert C.KNOWN_CHECKSUMS["list_eval_partition.txt"]["md5"] in err
    assert all(v["sha256"] is None for v in C.KNOWN_CHECKSUMS.values())  # none invented


# ---------------------------------------------------------------------------------- CelebA-HQ
def test_celeba_hq_split_sizes_for_30000_names():
    names = [f"{i}.jpg" for i in range(30_000)]
    train, test = celeba_hq.split_names(names, seed=0)
    assert (len(train), len(test)) == (27_000, 3_000)
    assert not set(train) & set(test) and set(train) | set(test) == set(names)
    assert train == sorted(train) and test == sorted(test)
    assert celeba_hq.split_names(list(reversed(names)), seed=0) == (train, test)
    assert celeba_hq.split_names(names, seed=1)[1] != test


def test_celeba_hq_resize_subfolder_and_seeded_split(tmp_path):
    files = {f"CelebAMask-HQ/CelebA-HQ-img/{i}.jpg": img_bytes(i, 16, "JPEG") for i in range(18)}
    files.update({f"CelebAMask-HQ/CelebA-HQ-img/{i}.png": img_bytes(i, 32) for i in (100, 101)})
    files["CelebAMask-HQ/CelebAMask-HQ-mask-anno/0/00000_hair.png"] = img_bytes(7, 16)
    archive = make_zip(tmp_path / "CelebAMask-HQ.zip", files)
    root = tmp_path / "data"
    assert celeba_hq.main(["--root", str(root), "--archive", str(archive), "--size", "16",
                           "--workers", "2", "-q"]) == 0
    out = root / "celeba_hq"
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == sorted([f"{i}.jpg" for i in range(18)] + ["100.png", "101.png"])
    assert (out / "images/3.jpg").read_bytes() == files["CelebAMask-HQ/CelebA-HQ-img/3.jpg"]
    with Image.open(out / "images/100.png") as img:
        assert img.size == (16, 16)
    train, test = lines(out / "train.txt"), lines(out / "test.txt")
    assert (len(train), len(test)) == (18, 2)  # 10 % test
    expected_test = sorted(random.Random(0).sample(sorted(names), 2))
    assert test == expected_test and train == sorted(set(names) - set(expected_test))
    stamp = json.loads((out / ".prepared.json").read_text())
    assert stamp["counts"] == {"images": 20, "train": 18, "test": 2}


def test_celeba_hq_split_file_matches_by_stem(tmp_path):
    archive = make_zip(tmp_path / "hq.zip", {f"imgs/{i:05d}.png": img_bytes(i, 32)
                                             for i in range(4)})
    split = tmp_path / "split.txt"
    split.write_text("00000.jpg train\n00001.jpg train\n00002.jpg test\n")
    root = tmp_path / "data"
    assert celeba_hq.main(["--root", str(root), "--archive", str(archive), "--size", "16",
                           "--workers", "1", "--split-file", str(split), "-q"]) == 0
    out = root / "celeba_hq"
    assert lines(out / "train.txt") == ["00000.png", "00001.png"]
    assert lines(out / "test.txt") == ["00002.png"]
    assert json.loads((out / ".prepared.json").read_text())["counts"]["unlisted"] == 1


def test_celeba_hq_non_square_image_is_an_error(tmp_path, capsys):
    img = Image.new("RGB", (20, 10))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    archive = make_zip(tmp_path / "hq.zip", {"a/wide.png": buf.getvalue()})
    rc = celeba_hq.main(["--root", str(tmp_path / "d"), "--archive", str(archive),
                         "--size", "16", "--workers", "1"])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2 and "wide.png is 20x10, not square" in err


# ------------------------------------------------------------------------------------ Places2
@pytest.fixture
def fake_places(tmp_path):
    """A mirror folder with the four official archives in miniature (no test list inside the
    file list, so the test split is listed from its archive)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    train = [(f"/{c[0]}/{c}/{i:08d}.jpg", label) for label, c in enumerate(["abbey", "bar"])
             for i in range(1, 5)]
    val = [(f"Places365_val_{i:08d}.jpg", i % 2) for i in range(1, 5)]
    make_tar(mirror / "filelist_places365-standard.tar", {
        "places365_train_standard.txt": "".join(f"{p} {l}\n" for p, l in train).encode(),
        "places365_val.txt": "".join(f"{p} {l}\n" for p, l in val).encode(),
        "categories_places365.txt": b"/a/abbey 0\n/b/bar 1\n"})
    make_tar(mirror / "train_256_places365standard.tar",
             {f"data_256{p}": img_bytes(k, fmt="JPEG") for k, (p, _) in enumerate(train)})
    make_tar(mirror / "val_256.tar",
             {f"val_256/{p}": img_bytes(k, fmt="JPEG") for k, (p, _) in enumerate(val)})
    make_tar(mirror / "test_256.tar", {f"test_256/Places365_test_{i:08d}.jpg": img_bytes(i)
                                       for i in range(1, 7)})
    checks = []
    for archive in sorted(mirror.iterdir()):
        checks += ["--sha256", f"{archive.name}={sha256(archive)}"]
    return mirror, train, val, checks


def test_places2_subset_lists_and_only_listed_files(tmp_path, fake_places):
    mirror, train, val, checks = fake_places
    root = tmp_path / "data"
    argv = ["--root", str(root), "--base-url", mirror.as_uri(), "--splits", "train,val,test",
            "--train-fraction", "0.5", "--val-count", "2", "--test-count", "3", "--seed", "0",
            "-q", *checks]
    assert places2.main(argv) == 0
    out = root / "places2"
    train_lines = lines(out / "train.txt")
    assert len(train_lines) == 4 and len(lines(out / "val.txt")) == 2
    assert len(lines(out / "test.txt")) == 3
    labels = {f"data_256{p}": str(l) for p, l in train}
    for line in train_lines:  # '<relative path> <label>', label from the official list
        path, label = line.split()
        assert labels[path] == label
    order = [p for p, _ in train]
    picked = [line.split()[0][len("data_256"):] for line in train_lines]
    assert picked == sorted(picked, key=order.index)  # list order kept
    assert all(len(line.split()) == 1 for line in lines(out / "test.txt"))  # no labels
    listed = {line.split()[0] for f in ("train", "val", "test") for line in lines(out / f"{f}.txt")}
    assert files_under(out) - {"train.txt", "val.txt", "test.txt", ".prepared.json",
                               "categories_places365.txt"} == listed
    assert (root / "downloads/val_256.tar").read_bytes() == (mirror / "val_256.tar").read_bytes()
    stamp = json.loads((out / ".prepared.json").read_text())
    assert stamp["counts"] == {"train": 4, "val": 2, "test": 3} and stamp["files"] == 9
    assert {a["name"] for a in stamp["archives"]} == {p.name for p in mirror.iterdir()}

    # Deterministic: the same seed gives the same lists in a fresh root; another seed differs.
    other = tmp_path / "other"
    assert places2.main([*argv[:1], str(other), *argv[2:]]) == 0
    for f in ("train.txt", "val.txt", "test.txt"):
        assert lines(other / "places2" / f) == lines(out / f)
    third = tmp_path / "third"
    assert places2.main(["--root", str(third), *argv[2:-len(checks) - 1], "--seed", "5",
                         "-q", *checks]) == 0
    assert lines(third / "places2/train.txt") != train_lines


def test_places2_select_is_fraction_of_list_in_order():
    entries = [(f"x/{i}.jpg", "0") for i in range(1000)]
    chosen = places2.select(entries, 100, seed=0, split="train")
    assert len(chosen) == 100 and chosen == sorted(chosen, key=entries.index)
    assert chosen == places2.select(entries, 100, seed=0, split="train")
    assert chosen != places2.select(entries, 100, seed=0, split="test")
    with pytest.raises(C.DataScriptError, match="Asked for 2,000 train images"):
        places2.select(entries, 2000, seed=0, split="train")


# ------------------------------------------------------------------------------- NVIDIA masks
@pytest.fixture
def fake_masks(tmp_path):
    train = {f"irregular_mask/disocclusion_img_mask/{i:05d}.png": img_bytes(i) for i in range(5)}
    test = {f"mask/testing_mask_dataset/{i:05d}.png": img_bytes(10 + i) for i in range(6)}
    test["__MACOSX/mask/testing_mask_dataset/._00000.png"] = b"junk"
    test["mask/readme.txt"] = b"not a mask"
    return (make_zip(tmp_path / "irregular_mask.zip", train),
            make_zip(tmp_path / "test_mask.zip", test), train, test)


def test_nvidia_masks_layout_via_dispatcher_subprocess(tmp_path, fake_masks):
    train_zip, test_zip, train, test = fake_masks
    root = tmp_path / "data"
    proc = run_script("data_scripts/prepare.py", "nvidia_masks", "--root", root,
                      "--train-archive", train_zip, "--test-archive", test_zip)
    assert proc.returncode == 0, proc.stderr
    out = root / "nvidia_masks"
    assert files_under(out / "train") == {f"{i:05d}.png" for i in range(5)}
    assert files_under(out / "test") == {f"{i:05d}.png" for i in range(6)}
    assert (out / "test/00004.png").read_bytes() == test["mask/testing_mask_dataset/00004.png"]
    stamp = json.loads((out / ".prepared.json").read_text())
    assert stamp["counts"] == {"train": 5, "test": 6} and stamp["files"] == 11
    again = run_script("data_scripts/nvidia_masks.py", "--root", root,
                       "--train-archive", train_zip, "--test-archive", test_zip)
    assert again.returncode == 0 and "already prepared, 11 files" in again.stdout


def test_interrupted_preparation_is_continued(tmp_path, fake_masks, capsys):
    train_zip, test_zip, train, _ = fake_masks
    root = tmp_path / "data"
    argv = ["--root", str(root), "--train-archive", str(train_zip), "--splits", "train"]
    assert nvidia_masks.main(argv) == 0
    out = root / "nvidia_masks"
    # Simulate an interruption: no stamp, one truncated file, one half-written temp file.
    (out / ".prepared.json").unlink()
    (out / "train/00001.png").write_bytes(b"trunc")
    (out / "train/00003.png.partial").write_bytes(b"half")
    untouched = (out / "train/00002.png").stat().st_mtime_ns
    time.sleep(0.01)
    assert nvidia_masks.main(argv) == 0
    assert "unfinished preparation" in capsys.readouterr().out
    assert (out / "train/00001.png").read_bytes() == train[
        "irregular_mask/disocclusion_img_mask/00001.png"]
    assert (out / "train/00002.png").stat().st_mtime_ns == untouched
    assert files_under(out / "train") == {f"{i:05d}.png" for i in range(5)}
    assert (out / ".prepared.json").exists()


def test_unsafe_archive_member_is_refused(tmp_path, capsys):
    archive = make_zip(tmp_path / "test_mask.zip", {"../evil.png": img_bytes(0)})
    rc = nvidia_masks.main(["--root", str(tmp_path / "d"), "--splits", "test",
                            "--test-archive", str(archive)])
    assert rc == 2 and "unsafe path" in capsys.readouterr().err
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "d/evil.png").exists()


def test_offline_message_no_traceback_no_hang(tmp_path):
    root = tmp_path / "data"
    t0 = time.monotonic()
    proc = run_script("data_scripts/nvidia_masks.py", "--root", root, "--splits", "train",
                      "--train-url", "http://nonexistent.invalid/irregular_mask.zip",
                      "--timeout", "5")
    assert time.monotonic() - t0 < 30
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    low = err.lower()
    assert "could not download irregular_mask.zip" in low and "offline" in low
    assert "--train-archive PATH" in err and "nv-adlr.github.io" in err
    assert str(root / "downloads" / "irregular_mask.zip") in err


# ---------------------------------------------------------------------------------- CUFS/CUFSF
def fake_pairs_zip(path: Path, n: int, top: str = "CUFS") -> Path:
    files = {}
    for i in range(n):
        files[f"{top}/photos/{i:04d}.jpg"] = b"p%d" % i
        files[f"{top}/sketches/{i:04d}.jpg"] = b"s%d" % i
    return make_zip(path, files)


@pytest.mark.parametrize("module,n,expected", [(cufs, 606, (268, 338)),
                                               (cufsf, 1194, (250, 944))])
def test_cufs_official_split_sizes(tmp_path, module, n, expected):
    archive = fake_pairs_zip(tmp_path / "raw.zip", n)
    root = tmp_path / "data"
    assert module.main(["--root", str(root), "--archive", str(archive), "-q"]) == 0
    out = root / module.DATASET.dirname
    train, test = lines(out / "train.txt"), lines(out / "test.txt")
    assert (len(train), len(test)) == expected
    pairs = [line.split() for line in train + test]
    assert all(p == [f"photos/{p[0][7:]}", f"sketches/{p[0][7:]}"] for p in pairs)
    assert len({p[0] for p in pairs}) == n
    assert files_under(out / "photos") == {f"{i:04d}.jpg" for i in range(n)}
    assert (out / "sketches/0042.jpg").read_bytes() == b"s42"
    expected_train = set(random.Random(0).sample(sorted(f"{i:04d}" for i in range(n)),
                                                 expected[0]))
    assert {p[0][7:-4] for p in (line.split() for line in train)} == expected_train
    stamp = json.loads((out / ".prepared.json").read_text())
    assert stamp["counts"] == {"pairs": n, "train": expected[0], "test": expected[1]}
    assert stamp["files"] == 2 * n


def test_cufs_training_testing_folders_are_used(tmp_path):
    files = {}
    for sub, split, idx in [("CUHK", "Training", range(3)), ("CUHK", "Testing", range(3, 5)),
                            ("AR", "Testing", range(10, 12))]:
        for i in idx:
            files[f"FaceSketch/{sub}/{split} Photos/{i:02d}.png"] = b"p"
            files[f"FaceSketch/{sub}/{split} Sketches/{i:02d}.png"] = b"s"
    files["FaceSketch/CUHK/Training Photos/99.png"] = b"lonely"
    archive = make_zip(tmp_path / "faces.zip", files)
    root = tmp_path / "data"
    assert cufs.main(["--root", str(root), "--archive", str(archive), "-q"]) == 0
    out = root / "cufs"
    assert lines(out / "train.txt") == [
        f"photos/cuhk_training_{i:02d}.png sketches/cuhk_training_{i:02d}.png" for i in range(3)]
    assert len(lines(out / "test.txt")) == 4
    assert json.loads((out / ".prepared.json").read_text())["counts"]["unpaired"] == 1


def test_cufs_split_dir_with_original_list_format(tmp_path):
    archive = make_zip(tmp_path / "faces.zip", {
        **{f"FaceSketch/photos/{i}.jpg": b"p%d" % i for i in range(6)},
        **{f"FaceSketch/sketches/{i}.jpg": b"s%d" % i for i in range(6)}})
    split_dir = tmp_path / "lists"
    split_dir.mkdir()
    for split, idx in (("train", [0, 2, 4]), ("test", [1, 3, 5])):
        for kind, folder in (("photo", "photos"), ("sketch", "sketches")):
            (split_dir / f"CUFS_{split}_{kind}_paths.txt").write_text("".join(
                f"/data/someone/datasets/FaceSketch/{folder}/{i}.jpg\n" for i in idx))
    root = tmp_path / "data"
    assert cufs.main(["--root", str(root), "--archive", str(archive),
                      "--split-dir", str(split_dir), "-q"]) == 0
    assert lines(root / "cufs/train.txt") == [f"photos/{i}.jpg sketches/{i}.jpg" for i in (0, 2, 4)]
    assert lines(root / "cufs/test.txt") == [f"photos/{i}.jpg sketches/{i}.jpg" for i in (1, 3, 5)]


def test_cufs_small_copy_separate_archives_proportional_split_and_options(tmp_path, capsys):
    photos = make_zip(tmp_path / "photos.zip", {f"{i}.jpg": b"p" for i in range(10)})
    sketches = make_zip(tmp_path / "sketches.zip", {f"{i}.jpg": b"s" for i in range(10)})
    root = tmp_path / "data"
    argv = ["--root", str(root), "--archive", str(photos), "--archive", str(sketches), "-q"]
    assert cufs.main(argv) == 0
    out = root / "cufs"
    assert (len(lines(out / "train.txt")), len(lines(out / "test.txt"))) == (4, 6)  # 10*268/606
    stamp = (out / ".prepared.json").read_bytes()
    # Different options on a prepared folder: refused with a pointer to --force, nothing changed.
    assert cufs.main(argv + ["--train-count", "7"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / ".prepared.json").read_bytes() == stamp
    assert cufs.main(argv + ["--train-count", "7", "--force"]) == 0
    assert (len(lines(out / "train.txt")), len(lines(out / "test.txt"))) == (7, 3)


def test_cufs_module_invocation_without_inputs_explains(tmp_path):
    proc = run_script("-m", "data_scripts.cufsf", "--root", tmp_path / "d")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--archive PATH" in err and "mmlab.ie.cuhk.edu.hk/archive/cufsf" in err


def test_cufs_classify_photo_or_sketch_by_innermost_word():
    assert cufs.classify(["x", "FaceSketch", "CUHK", "Training Photos", "00"]) == (
        "photo", ("x", "facesketch", "cuhk", "training", "00"))
    assert cufs.classify(["x", "FaceSketch", "CUHK", "Training Sketches", "00"])[1] == (
        "x", "facesketch", "cuhk", "training", "00")
    assert cufs.classify(["x", "faces", "00"]) == (None, None)
    assert cufs.classify(["x", "001", "Photo"]) == ("photo", ("x", "001"))
    assert cufs.classify(["x", "001", "sketch"]) == ("sketch", ("x", "001"))


# ---------------------------------------------------------------------------------- downloads
class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.data``; honours Range unless ``server.ignore_range``; ``server.cut``
    stops after that many body bytes. Counts body bytes in ``server.served``."""

    def do_GET(self):  # noqa: N802 - http.server API
        data, start = self.server.data, 0
        rng = self.headers.get("Range")
        self.server.ranges.append(rng)
        if rng and not self.server.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut is not None:
            body = body[:self.server.cut]
        self.server.served += len(body)  # counted before sending: the client may finish first
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.data = random.Random(3).randbytes(200_000)
    server.served, server.ranges, server.ignore_range, server.cut = 0, [], False, None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/blob.bin"


def test_download_resumes_with_range_request(tmp_path, http_server):
    data = http_server.data
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(data[:100_000])
    C.download(_url(http_server), dest, sha256=hashlib.sha256(data).hexdigest(), log=lambda m: 0)
    assert dest.read_bytes() == data and not (tmp_path / "blob.bin.part").exists()
    assert http_server.ranges == ["bytes=100000-"]
    assert http_server.served == 100_000  # only the second half crossed the wire


def test_download_restarts_when_server_ignores_range(tmp_path, http_server):
    http_server.ignore_range = True
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"x" * 5000)
    C.download(_url(http_server), dest, log=lambda m: 0)
    assert dest.read_bytes() == http_server.data and http_server.served == 200_000


def test_cut_download_keeps_part_then_resumes(tmp_path, http_server):
    dest = tmp_path / "blob.bin"
    http_server.cut = 60_000
    with pytest.raises(C.DownloadError, match="resumes from there"):
        C.download(_url(http_server), dest, log=lambda m: 0)
    assert (tmp_path / "blob.bin.part").stat().st_size == 60_000 and not dest.exists()
    http_server.cut, http_server.served = None, 0
    C.download(_url(http_server), dest, log=lambda m: 0)
    assert dest.read_bytes() == http_server.data and http_server.served == 140_000


def test_download_checksum_mismatch_deletes_the_copy(tmp_path, http_server):
    dest = tmp_path / "blob.bin"
    with pytest.raises(C.ChecksumError, match="blob.bin"):
        C.download(_url(http_server), dest, sha256="f" * 64, log=lambda m: 0)
    assert not dest.exists() and not (tmp_path / "blob.bin.part").exists()


def test_download_file_url_resumes_and_verifies(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 40)
    dest = tmp_path / "out" / "src.bin"
    dest.parent.mkdir()
    (dest.parent / "src.bin.part").write_bytes(src.read_bytes()[:3000])
    C.download(src.as_uri(), dest, md5=hashlib.md5(src.read_bytes()).hexdigest(), log=lambda m: 0)
    assert dest.read_bytes() == src.read_bytes()


def test_download_connection_refused_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(C.DownloadError) as info:
        C.download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", flag="--archive",
                   page="https://example.org/page", timeout=5, log=lambda m: 0)
    msg = str(info.value)
    assert "refused" in msg and "offline" in msg and "--archive PATH" in msg
    assert str(tmp_path / "x.zip") in msg


# -------------------------------------------------------------------------- dispatcher, imports
def test_prepare_list_and_unknown_dataset():
    proc = run_script("data_scripts/prepare.py", "--list")
    assert proc.returncode == 0
    for name in prepare.DATASETS:
        assert f"{name}:" in proc.stdout
    assert "celeba/img_align_celeba/000001.jpg" in proc.stdout
    assert "white = hole" in proc.stdout and "cufs/train.txt" in proc.stdout
    bad = run_script("data_scripts/prepare.py", "imagenet")
    assert bad.returncode == 2 and "unknown dataset" in bad.stderr


def test_scripts_import_neither_torch_nor_numpy():
    code = ("import sys; import data_scripts.prepare as p; [p.load(n) for n in p.DATASETS]; "
            "bad = [m for m in ('torch', 'numpy', 'inpaintlib', 'PIL') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = run_script("-c", code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (REPO / "data_scripts").glob("*.py"):
        assert "import torch" not in path.read_text(), path
