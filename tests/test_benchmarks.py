"""The comparison code (inpaintlib.compare) and the benchmark scripts' logic: records
are appended, never overwritten, and carry what a reader needs (method, profile,
budget, device, commit, date). Tiny sizes and tiny models; no timing assertions."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from inpaintlib import compare, masks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402
import scale  # noqa: E402
import speed  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(nn.Module):
    """A two-layer generator with the library's call: ``forward(image, hole)``."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1))

    def forward(self, image, hole):
        return torch.sigmoid(self.net(torch.cat([image * (1 - hole), hole], 1)))


class Mean(nn.Module):
    """Fills the hole with each image's mean known colour (no parameters)."""

    def forward(self, image, hole):
        known = 1 - hole
        mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True)
        return mean.expand_as(image)


# ------------------------------------------------------------------ results files


def test_append_records_keeps_history_and_stores_nan_as_null(tmp_path):
    path = tmp_path / "sub" / "r.json"
    assert compare.read_records(path) == []
    compare.append_records(path, [{"a": 1, "x": float("nan")}])
    compare.append_records(path, [{"a": 2, "t": torch.tensor([1.5, 2.0])}, {"a": 3, "p": Path("/x")}])
    recs = compare.read_records(path)
    assert [r["a"] for r in recs] == [1, 2, 3]
    assert recs[0]["x"] is None and recs[1]["t"] == [1.5, 2.0] and recs[2]["p"] == "/x"
    assert json.loads(path.read_text()) == recs
    assert not (tmp_path / "sub" / "r.json.tmp").exists()


def test_read_records_refuses_a_file_that_is_not_a_list(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="list of records"):
        compare.read_records(bad)
    bad.write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        compare.append_records(bad, [{"a": 1}])


def test_run_info_fields_and_commit_outside_git(tmp_path):
    info = compare.run_info("cpu", note="n", command="c")
    assert {"commit", "date", "device", "machine", "torch", "python", "threads", "note", "command"} <= set(info)
    assert info["device"] == "cpu" and info["date"].endswith("+00:00")
    assert info["commit"] == "unknown" or len(info["commit"].split("+")[0]) == 40
    assert compare.git_commit(tmp_path) == "unknown"


# ------------------------------------------------------------------ methods and budgets


def test_inpainting_methods_follow_the_registry_and_leave_out_other_tasks(monkeypatch):
    names = compare.inpainting_methods()
    assert {"pconv", "gmcnn"} <= set(names)
    assert names.index("pconv") < names.index("gmcnn")          # the book's order
    assert compare.inpainting_methods(["gmcnn"]) == ["gmcnn"]
    with pytest.raises(ValueError, match="no training recipe"):
        compare.inpainting_methods(["nonexistent"])
    monkeypatch.setitem(compare.METHODS, "gmcnn", compare.MethodInfo("gmcnn", "G", "gmcnn", task="photo→sketch"))
    assert "gmcnn" not in compare.inpainting_methods()
    with pytest.raises(ValueError, match="not an inpainting method"):
        compare.inpainting_methods(["gmcnn"])


def test_training_budget_comes_from_the_recipe_schedule():
    from inpaintlib.recipes import gmcnn, pconv

    b = compare.training_budget("pconv", "quick")
    s = pconv.schedule("quick")
    assert b["steps"] == s.stage1_steps + s.stage2_steps and b["image_size"] == 64
    g = compare.training_budget("gmcnn", "workshop")
    s = gmcnn.schedule("workshop")
    assert g["steps"] == s.pretrain_steps + s.finetune_steps and g["image_size"] == 256
    assert g["schedule"]["d_steps"] == s.d_steps


def test_training_seconds_sums_the_last_time_of_every_phase_log(tmp_path):
    for phase, times in (("stage1", [1.0, 2.5]), ("stage2", [0.5, 4.0])):
        (tmp_path / phase).mkdir()
        rows = "\n".join(f"{10 * (i + 1)},0.1,{t}" for i, t in enumerate(times))
        (tmp_path / phase / "log.csv").write_text("step,loss,time\n" + rows + "\n")
    assert compare.training_seconds("pconv", "quick", run_dir=tmp_path) == pytest.approx(6.5)
    assert compare.trained_steps("pconv", "quick", run_dir=tmp_path) == 40
    assert math.isnan(compare.training_seconds("pconv", "quick", run_dir=tmp_path / "missing"))
    assert compare.trained_steps("pconv", "quick", run_dir=tmp_path / "missing") is None


# ------------------------------------------------------------------ evaluation


def test_evaluation_set_defaults_and_buckets():
    data = compare.evaluation_set("quick")
    per = max(4, 8 // 2)
    assert data.images.shape == (3 * per, 3, 64, 64) and data.holes.shape == (3 * per, 1, 64, 64)
    ids = masks.bucket_indices(data.ratios, masks.CTSDG_BUCKETS)
    assert ids.tolist() == [b for b in range(3) for _ in range(per)]
    assert data.description["buckets"] == ["0–20%", "20–40%", "40–60%"]
    assert "held-out" in data.description["images"]
    again = compare.evaluation_set("quick")
    assert torch.equal(again.holes, data.holes) and torch.equal(again.images, data.images)


def test_evaluation_set_from_an_image_folder(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (40, 30), (60 * i, 100, 200)).save(tmp_path / f"{i}.png")
    data = compare.evaluation_set("quick", size=24, per_bucket=2, images=tmp_path)
    assert data.images.shape == (6, 3, 24, 24)
    assert torch.equal(data.images[0], data.images[2])           # images repeat in turn
    assert "2 images" in data.description["images"]


def test_compare_records_every_method_per_bucket_and_the_goal_check():
    data = compare.evaluation_set("quick", size=32, per_bucket=1)
    recs = compare.compare({"pconv": Tiny(), "mean": Mean()}, data, "quick", baselines=["telea", "ns"])
    assert [r["method"] for r in recs] == ["pconv", "mean", "telea", "ns"]
    assert [r["kind"] for r in recs] == ["learned", "learned", "baseline", "baseline"]
    r = recs[0]
    assert r["profile"] == "quick" and r["device"] == "cpu" and r["budget"]["steps"] == 250
    assert recs[1]["budget"] is None                 # no recipe registered for "mean"
    assert [row["bucket"] for row in r["buckets"]] == ["0–20%", "20–40%", "40–60%", "all"]
    assert all(row["count"] == 1 for row in r["buckets"][:3])
    assert "LPIPS" in r["lpips_note"] and (r["fid"] is not None or r["fid_note"])
    # the mean-colour fill is scored from its composites: check one bucket by hand
    from inpaintlib import metrics
    from inpaintlib.tensors import composite

    x, h = data.images[2:3], data.holes[2:3]
    psnr = float(metrics.psnr(composite(x, Mean()(x, h), h), x)[0])
    assert recs[1]["buckets"][2]["psnr"] == pytest.approx(psnr, rel=1e-5)
    rows = compare.beats_best_baseline(recs)
    assert len(rows) == 4 and {row["bucket"] for row in rows} == {"20–40%", "40–60%"}
    for row in rows:
        best = max(b["buckets"][[x["bucket"] for x in b["buckets"]].index(row["bucket"])]["psnr"] for b in recs[2:])
        assert row["baseline_value"] == best and row["beats"] == (row["psnr"] > best)
    table = compare.records_table(recs)
    assert table.count("\n") == 1 + 4 * 4


def test_goal_check_on_synthetic_records():
    def rec(name, kind, values):
        return {"method": name, "kind": kind,
                "buckets": [{"bucket": b, "psnr": v, "l1_hole": -v} for b, v in zip(("20–40%", "40–60%"), values)]}

    recs = [rec("a", "learned", [25.0, 20.0]), rec("t", "baseline", [24.0, 21.0]), rec("n", "baseline", [23.0, 22.0])]
    rows = compare.beats_best_baseline(recs)
    assert [(r["best_baseline"], r["beats"]) for r in rows] == [("t", True), ("n", False)]
    rows = compare.beats_best_baseline(recs, metric="l1_hole")       # lower is better
    assert [(r["best_baseline"], r["beats"]) for r in rows] == [("t", True), ("n", False)]
    with pytest.raises(ValueError, match="no baseline"):
        compare.beats_best_baseline(recs[:1])


# ------------------------------------------------------------------ the scripts


def test_quality_run_appends_records_with_budget_device_commit(tmp_path, monkeypatch):
    def tiny_model(name, profile, progress=False):
        torch.manual_seed(0)
        return Tiny().eval()

    monkeypatch.setattr(compare, "trained_model", tiny_model)
    out = tmp_path / "quality.json"
    first = quality.run("quick", ["pconv"], per_bucket=1, baselines=["telea"], out=out, note="test", command="c")
    quality.run("quick", ["pconv"], per_bucket=1, baselines=["telea"], out=out)
    recs = json.loads(out.read_text())
    assert len(first) == 2 and len(recs) == 4                  # appended, not overwritten
    assert [r["method"] for r in recs] == ["pconv", "telea"] * 2
    assert recs[0]["date"] == first[0]["date"]
    assert recs[0]["buckets"] == recs[2]["buckets"]              # same model, same pairs, same numbers
    r = recs[0]
    for key in ("benchmark", "method", "kind", "profile", "budget", "training_seconds", "device", "commit",
                "date", "machine", "torch", "eval", "buckets", "inference_ms_per_image"):
        assert key in r, key
    assert r["benchmark"] == "quality" and r["profile"] == "quick" and r["note"] == "test"
    assert r["budget"]["steps"] == 250 and r["budget"]["image_size"] == 64
    assert recs[1]["method"] == "telea" and recs[1]["budget"] is None


def test_speed_one_step_on_a_tiny_model_records_ok_and_skipped_variants(tmp_path):
    out = tmp_path / "speed.json"
    kw = dict(models=["tiny"], devices=["cpu"], variants=["eager", "channels_last", "amp", "compile"], size=16,
              train_batch=2, warmup=0, runs=1, build=lambda name: Tiny(), losses={}, out=out)
    speed.run(**kw)
    speed.run(**dict(kw, variants=["eager"]))
    recs = json.loads(out.read_text())
    assert [r["variant"] for r in recs] == ["eager", "channels_last", "amp", "compile", "eager"]
    eager, cl, amp, comp = recs[:4]
    for r in (eager, cl):
        assert r["status"] == "ok" and r["params"] == sum(p.numel() for p in Tiny().parameters())
        assert r["train_step_s"] > 0 and r["infer_b1_s"] > 0 and r["infer_b8_s"] > 0
        assert r["train_batch"] == 2 and r["size"] == 16 and r["device"] == "cpu"
        assert "Adam" in r["timed"] and r["loss"].startswith("generic") and "commit" in r and "date" in r
        assert "VmHWM" in r["memory_method"] or "unavailable" in r["memory_method"]
    assert "train_speedup_vs_eager" in cl
    assert amp["status"] == "skipped" and "bf16" in amp["reason"]
    assert comp["status"] == "skipped" and "torch.compile" in comp["reason"]


def test_speed_records_a_failing_variant_as_skipped_with_its_error(tmp_path):
    class Broken(Tiny):
        def forward(self, image, hole):
            raise RuntimeError("no kernel for this layout")

    recs = speed.run(models=["broken"], devices=["cpu"], variants=["eager"], size=16, train_batch=1, warmup=0,
                     runs=1, build=lambda name: Broken(), losses={}, out=None)
    assert recs[0]["status"] == "skipped" and "no kernel for this layout" in recs[0]["reason"]
    with pytest.raises(ValueError, match="unknown variant"):
        speed.skip_reason("fast", torch.device("cpu"))


def test_speed_main_losses_are_the_methods_own():
    desc, aux, fn = speed.MAIN_LOSSES["gmcnn"](32)
    x = torch.rand(2, 3, 32, 32)
    h = torch.zeros(2, 1, 32, 32)
    h[..., 8:24, 8:24] = 1
    assert "L_rec" in desc and float(fn(x, x, h)) == 0.0 and float(fn(torch.zeros_like(x), x, h)) > 0
    assert speed.NOT_INPAINTING == {n for n, i in compare.METHODS.items() if i.task != "inpainting"}


def test_scale_throughput_from_a_log_and_batch_check(tmp_path):
    rows = "\n".join(f"{s},0.5,{0.25 * s}" for s in range(1, 8))
    (tmp_path / "log.csv").write_text("step,loss,time\n" + rows + "\n")
    assert scale.timed_seconds(tmp_path, warmup=2, steps=5) == pytest.approx(1.25)
    assert scale.timed_seconds(tmp_path, warmup=0, steps=4) == pytest.approx(1.0)
    with pytest.raises(RuntimeError, match="lacks the rows"):
        scale.timed_seconds(tmp_path, warmup=2, steps=10)
    with pytest.raises(ValueError, match="not divisible"):
        scale.run(nprocs=[3], global_batch=8, out=None)


# ------------------------------------------------------------------ input pipeline
def test_loader_benchmark_builds_fake_layouts_and_reports_per_worker_count(tmp_path, no_network):
    import loader

    out = tmp_path / "loader.md"
    assert loader.main(["--workers", "0", "1", "--streams", "pconv", "--size", "32", "--batch", "2",
                        "--seconds", "0", "--images", "4", "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| pconv |")]
    assert [r.split("|")[2].strip() for r in rows] == ["0", "1"]
    assert all(float(r.split("|")[4]) > 0 for r in rows)          # images per second
    assert "no GPU record yet" in text or "GPU" in text


def test_gmcnn_factors_table_states_gaps_and_effects_against_the_base():
    import gmcnn_factors

    def rec(g2, t2, g4, t4):
        return {"overrides": {"image_size": 64}, "train_seconds": 1.0,
                "psnr": {"20–40%": {"gmcnn": g2, "telea": t2, "mean_colour": 0.0},
                         "40–60%": {"gmcnn": g4, "telea": t4, "mean_colour": 0.0}},
                "se": {"20–40%": 0.5, "40–60%": 0.5}}

    text = gmcnn_factors.table({"base": rec(21.0, 24.0, 18.5, 21.0), "width": rec(21.5, 24.0, 19.5, 21.0)}, "# t")
    base_row = next(line for line in text.splitlines() if line.startswith("| the reference"))
    width_row = next(line for line in text.splitlines() if line.startswith("| generator width"))
    assert "-3.00" in base_row and "-2.50" in base_row
    assert "-2.50" in width_row and "-1.50" in width_row
    assert width_row.rstrip(" |").endswith("+0.50 / +1.00 dB")


def test_gmcnn_factors_smoke_run_scores_beside_telea(tmp_path):
    import gmcnn_factors

    out = tmp_path / "f.md"
    assert gmcnn_factors.main(["--factors", "base", "--scale", "0.01", "--per-bucket", "1",
                               "--json", str(tmp_path / "f.json"), "--out", str(out)]) == 0
    res = json.loads((tmp_path / "f.json").read_text())["base"]
    assert res["overrides"]["pretrain_steps"] == 3 and res["overrides"]["finetune_steps"] == 1
    for bucket in ("20–40%", "40–60%"):
        assert math.isfinite(res["psnr"][bucket]["gmcnn"]) and res["psnr"][bucket]["telea"] > 0
    assert "| the reference's settings" in out.read_text()


def test_idmrf_region_smoke_run_trains_three_arms_and_measures_the_pull_on_the_hole(tmp_path):
    import idmrf_region

    out, js = tmp_path / "r.md", tmp_path / "r.json"
    assert idmrf_region.main(["--scale", "0.02", "--seeds", "1", "2", "--json", str(js), "--out", str(out)]) == 0
    res = json.loads(js.read_text())
    assert res["schedule"]["pretrain_steps"] == 3 and res["schedule"]["finetune_steps"] == 1
    assert set(res["psnr"]) == {"none", "image", "patch"} and all(len(v) == 2 for v in res["psnr"].values())
    assert set(res["differences"]) == {"patch-none", "image-none", "patch-image"}
    # rectangles: the local patch is the hole's box, so all of its gradient lands on the hole;
    # on the whole image, known pixels take part of it
    grad = res["gradient"]
    assert grad["patch"]["share_on_hole"] > 0.99 > grad["image"]["share_on_hole"]
    text = out.read_text()
    assert "| + ID-MRF on the local patch" in text and "| patch − none |" in text
    assert all(line.count("|") == 5 for line in text.splitlines() if line.startswith("| ID-MRF on"))


def test_dilated_conv_smoke_run_times_every_dilated_layer_and_the_step(tmp_path):
    import dilated_conv
    from inpaintlib.models import gmcnn

    out = tmp_path / "d.md"
    applies = gmcnn._DilatedConvCPU.applies
    assert dilated_conv.main(["--size", "64", "--channels", "4", "--width", "0.125", "--rounds", "1",
                              "--out", str(out)]) == 0
    assert gmcnn._DilatedConvCPU.applies is applies       # the switch is put back
    text = out.read_text()
    for k in (3, 5, 7):
        for d in (2, 4, 8, 16):
            assert f"| {k}×{k} | {d} |" in text
    assert "| 3×3 | 4 |" in text and text.count("`F.conv2d` (map < 4·d) |") == 6    # 16×16: d = 8, 16
    assert "| inpaintlib's (`_DilatedConvCPU`) |" in text and "64 px, batch 1" in text
