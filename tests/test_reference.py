"""The reference models shipped with the book: cards match files, models load by name, the
build script reproduces a card's fields, and the CLI uses them at their own size."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlib import reference
from inpaintlib.cli import main
from inpaintlib.inference import model_size

SHIPPED = reference.reference_names("inpainting")
#: Methods whose reference model must ship with the book.
REQUIRED = ("pconv", "clmser", "ctsdg", "gmcnn", "sc_lmser")
CARD_FIELDS = ("method", "model", "config", "image_size", "command", "commit", "date", "device", "machine",
               "wall_seconds", "phases", "data", "parameters", "weights_sha256", "weights_bytes", "scores")


def test_required_reference_models_ship_and_stay_small():
    assert set(REQUIRED) <= set(reference.reference_names())
    total = sum(reference.reference_path(m).stat().st_size for m in reference.reference_names())
    assert total <= 40e6


@pytest.mark.parametrize("method", SHIPPED)
def test_card_matches_its_file(method):
    info = reference.card(method)
    assert [f for f in CARD_FIELDS if f not in info] == []
    assert reference.check_card(method) == []
    assert info["method"] == method and info["image_size"] == reference.SPECS[method].image_size
    for name in ("telea", "ns", "biharmonic", "mean_colour", method):
        assert set(info["scores"][name]) == {"0–20%", "20–40%", "40–60%", "all"}
    assert info["scores"][method]["40–60%"]["psnr"]["n"] >= 20


@pytest.mark.parametrize("method", SHIPPED)
def test_reference_loads_by_name_and_fills_at_its_size(method):
    model = reference.load_reference(method)
    assert model_size(model) == reference.card(method)["image_size"]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    s = model_size(model)
    image = torch.rand(1, 3, s, s)
    hole = torch.zeros(1, 1, s, s)
    hole[..., s // 4: s // 2, s // 4: s // 2] = 1
    with torch.no_grad():
        pred = model(image, hole)
    assert pred.shape == image.shape and bool(torch.isfinite(pred).all())


@pytest.mark.parametrize("method", SHIPPED)
def test_reference_beats_the_mean_colour_fill_in_every_bucket(method):
    scores = reference.card(method)["scores"]
    for bucket in ("0–20%", "20–40%", "40–60%"):
        assert scores[method][bucket]["psnr"]["mean"] > scores["mean_colour"][bucket]["psnr"]["mean"], bucket


def test_a_tampered_card_is_caught(tmp_path):
    method = SHIPPED[0]
    for suffix in (".pt", ".json"):
        src = reference.reference_path(method).with_suffix(suffix)
        (tmp_path / src.name).write_bytes(src.read_bytes())
    assert reference.check_card(method, tmp_path) == []
    card_path = tmp_path / f"{method}.json"
    info = json.loads(card_path.read_text())
    info["weights_sha256"] = "0" * 64
    info["parameters"] += 1
    card_path.write_text(json.dumps(info))
    problems = reference.check_card(method, tmp_path)
    assert any("sha256" in p for p in problems) and any("weights in the file" in p for p in problems)


def test_unknown_or_missing_reference_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no reference model is defined"):
        reference.load_reference("telea")
    with pytest.raises(FileNotFoundError, match="inpaintlib.reference build pconv"):
        reference.load_reference("pconv", tmp_path)


def test_build_writes_a_card_that_matches_its_file(tmp_path):
    info = reference.build("pconv", root=tmp_path, work=tmp_path / "work", steps_scale=0.002, evaluate=False)
    assert reference.check_card("pconv", tmp_path) == []
    assert info["phases"]["stage1"]["steps"] == round(3600 * 0.002)
    assert info["data"]["images"].startswith("sample bank, train split (14 photos)")
    payload = torch.load(tmp_path / "pconv.pt", weights_only=True)
    floats = [v for v in payload["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)


def test_cli_inpaints_a_large_photo_with_a_reference_model_at_its_size(tmp_path, capsys):
    method = SHIPPED[0]
    size = reference.card(method)["image_size"]
    yy, xx = np.mgrid[0:300, 0:400]
    img = np.stack([xx * 255 / 400, yy * 255 / 300, 128 + 60 * np.sin(xx / 9)], -1).clip(0, 255).astype(np.uint8)
    mask = np.zeros((300, 400), np.uint8)
    mask[120:170, 200:260] = 255
    Image.fromarray(img).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "hole.png")
    out = tmp_path / "filled.png"
    rc = main(["inpaint", str(tmp_path / "photo.png"), str(tmp_path / "hole.png"), "-o", str(out),
               "--method", method])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"trained at {size} px" in text and "'crop' strategy" in text
    res = np.asarray(Image.open(out)).astype(int)
    known = mask == 0
    assert np.array_equal(res[known], img[known].astype(int))
    # a smooth ramp: a learned fill lands near the truth, far better than black
    assert np.abs(res[~known] - img[~known].astype(int)).mean() < 40


def test_the_readme_quick_start_inpaint_command_works(tmp_path, capsys):
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    line = next(l for l in quick.splitlines() if "inpaintlib inpaint" in l)
    args = shlex.split(line.split("#")[0])[1:]          # drop the program name and the comment
    method = args[args.index("--method") + 1]
    assert method in SHIPPED, f"the README's quick start names {method!r}, which has no shipped reference model"
    photo = (np.random.default_rng(1).random((200, 240, 3)) * 60 + 100).astype(np.uint8)
    hole = np.zeros((200, 240), np.uint8)
    hole[60:110, 90:150] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(hole).save(tmp_path / "hole.png")
    names = {"photo.png": str(tmp_path / "photo.png"), "hole.png": str(tmp_path / "hole.png"),
             "filled.png": str(tmp_path / "filled.png")}
    assert main([names.get(a, a) for a in args]) == 0
    out = np.asarray(Image.open(tmp_path / "filled.png"))
    assert out.shape == photo.shape and np.array_equal(out[hole == 0], photo[hole == 0])
    assert re.search(r"trained at \d+ px", capsys.readouterr().out)


def test_the_sc_lmser_reference_draws_strokes():
    """Its photo → sketch output beats a blank white page on both L1 and SSIM (held-out pairs)."""
    if "sc_lmser" not in reference.reference_names():
        pytest.skip("no SC-Lmser reference model in this copy")
    scores = reference.card("sc_lmser")["scores"]
    ours, blank = scores["sc_lmser"]["heldout"], scores["blank page"]["heldout"]
    assert ours["l1"]["mean"] < blank["l1"]["mean"] and ours["ssim"]["mean"] > blank["ssim"]["mean"]
    assert reference.check_card("sc_lmser") == []


def test_reference_goals_compute_margins_against_the_best_baseline_and_the_floor():
    from inpaintlib.compare import reference_goals

    def rec(name, kind, psnrs):
        return {"method": name, "kind": kind,
                "buckets": [{"bucket": b, "psnr": v} for b, v in zip(("0–20%", "20–40%", "40–60%"), psnrs)]}

    records = [rec("pconv (reference)", "reference", (27.0, 22.4, 20.0)),
               rec("clmser (reference)", "reference", (26.0, 21.0, 18.0)),
               rec("telea", "baseline", (28.0, 22.7, 19.7)), rec("ns", "baseline", (28.1, 22.8, 19.5)),
               rec("mean colour", "floor", (24.0, 19.5, 17.5))]
    goals = {(g["method"], g["test"]): g for g in reference_goals(records)}
    best_40 = goals[("pconv (reference)", "beats telea (best baseline), 40–60%")]
    assert best_40["met"] and best_40["margin"] == pytest.approx(0.3)
    within = goals[("pconv (reference)", "within 0.5 dB of ns (best baseline), 20–40%")]
    assert within["met"] and within["margin"] == pytest.approx(22.4 - 22.8 + 0.5)
    assert goals[("clmser (reference)", "beats the mean-colour fill, 40–60%")]["margin"] == pytest.approx(0.5)
    assert not any("best baseline" in t for m, t in goals if m.startswith("clmser"))   # no baseline target
