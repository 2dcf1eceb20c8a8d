"""benchmarks/gpu_check.py, the one-shot GPU check: its dry run's record and summary, the
extrapolation and budget arithmetic, the deadline and the watchdog, and, on the CPU at tiny
size, the code paths a GPU takes (bf16 autocast, channels_last and torch.compile steps of
every recipe, built as the script builds them). No timing assertions."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from inpaintlib import compare

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def _only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {[p.name for p in found]}"
    return found[0]


def _settings(**changes) -> "gpu_check.Settings":
    """The dry run's settings: CPU, shrunk schedules."""
    s = gpu_check.Settings(dry_run=True, device=torch.device("cpu"), budget_s=60.0, step_warmup=0, step_runs=1,
                           overrides={k: dict(v) for k, v in gpu_check.DRY_OVERRIDES.items()})
    for k, v in changes.items():
        setattr(s, k, v)
    return s


# ---------------------------------------------------------------------------- the dry run


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry run (a generous budget, so a busy machine still measures everything)."""
    out = tmp_path_factory.mktemp("gpu_check")
    start = time.perf_counter()
    r = _run("--dry-run", "--out-dir", str(out), "--budget-s", "300")
    wall = time.perf_counter() - start
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert not list(out.glob("*.partial")), "temporary files left behind"
    path = _only(out, "gpu_check-*.json")
    records = compare.read_records(path)
    assert len(records) == 1, "the file holds ONE record"
    md = _only(out, "gpu_check-*.md")
    assert md.stem == path.stem and path.name.startswith("gpu_check-cpu-dry-run-")
    return records[0], md.read_text(encoding="utf-8"), wall, r.stdout


def test_dry_run_names_the_device_and_the_run(dry_run):
    rec, md, wall, _ = dry_run
    assert rec["benchmark"] == "gpu_check" and rec["dry_run"] is True and rec["finished"] is True
    assert rec["stopped"] is None
    dev = rec["device_info"]
    assert dev["name"].startswith("CPU") and dev["gpu_count"] == 0
    for key in ("torch", "torch_cuda_build", "cuda_runtime", "driver", "cpu_count"):
        assert key in dev
    for key in ("commit", "date", "torch", "python", "machine", "command"):
        assert rec[key], key
    assert "--dry-run" in rec["command"]
    assert rec["wall_s"] < rec["budget_s"] + 15
    assert f"# GPU check: {dev['name']}" in md and "DRY RUN" in md and rec["commit"] in md


def test_dry_run_times_every_recipe_step_in_every_variant(dry_run):
    rec = dry_run[0]
    steps = rec["training_steps"]
    assert len(steps) == len(gpu_check.STEP_CASES) * len(gpu_check.VARIANTS)
    for recipe, phase in gpu_check.STEP_CASES:
        for variant in gpu_check.VARIANTS:
            [e] = [s for s in steps if s["case"] == f"{recipe}/{phase}" and s["variant"] == variant]
            assert e["recipe"] == recipe and e["batch"] >= 1 and e["size"] in (32, 64)
            assert e["dtype"] == gpu_check.VARIANT_LABELS[variant][0]
            assert e["memory_format"] == gpu_check.VARIANT_LABELS[variant][1]
            if variant != "compile":
                assert e["status"] == "ok", e
            if e["status"] == "ok":
                assert e["ms"] > 0 and e["images_per_s"] > 0 and e["timed_runs"] >= 1
                assert e["peak_memory_bytes"] is None          # CPU: no CUDA memory
            else:
                assert e["status"] in ("skipped", "error") and (e.get("reason") or e.get("error"))
    compiled = [s for s in steps if s["variant"] == "compile"]
    pconv = next(s for s in compiled if s["case"] == "pconv/stage1")
    assert pconv["status"] == "ok" and pconv["compile_backend"] == "eager" and pconv["compile_first_call_s"] > 0
    assert all("dry run" in s["reason"] for s in compiled if s is not pconv)
    for recipe in gpu_check.RECIPES:
        assert f"| {recipe}/" in dry_run[1]


def test_dry_run_times_inference_and_data(dry_run):
    rec = dry_run[0]
    for label, _, _ in gpu_check.INFERENCE_CASES:
        for batch in (1, 2):
            for dtype in ("fp32", "bf16"):
                [e] = [x for x in rec["inference"]
                       if (x["model"], x["batch"], x["dtype"]) == (label, batch, dtype)]
                assert e["status"] == "ok" and e["ms"] > 0 and e["size"] in (32, 64), e
    cases = [d["case"] for d in rec["data_loader"]]
    assert cases == [f"{r}/{p}" for r, p in gpu_check.STEP_CASES]
    for d in rec["data_loader"]:
        assert d["status"] == "ok" and d["images_per_s"] > 0 and d["s_per_batch"] > 0
        assert d["starvation"]["gpu_step_variant"] == "bf16" and "verdict" in d["starvation"]
    assert rec["ddp"]["status"] == "skipped" and "GPU" in rec["ddp"]["reason"]


def test_dry_run_compares_partial_conv_with_conv2d_on_every_layer(dry_run):
    import partial_conv

    rec, md = dry_run[0], dry_run[1]
    entries = rec["partial_conv"]
    assert [(e["layer"], e["dtype"]) for e in entries] == [
        (shape[0], dtype) for dtype in ("fp32", "bf16") for shape in partial_conv.SHAPES]
    for e, shape in zip(entries, list(partial_conv.SHAPES) * 2):
        assert e["status"] == "ok", e
        assert e["size"] == max(8, shape[5] // 8) and e["batch"] == 2        # the dry run's shrunk layers
        assert e["shape"].startswith(f"{shape[1] if shape[1] <= 4 else shape[1] // 8}→{shape[2] // 8}, ")
        assert e["conv_ms"] > 0 and e["pconv_ms"] > 0
        assert e["ratio"] == pytest.approx(e["pconv_ms"] / e["conv_ms"], rel=2e-2)
    assert "## PartialConv2d against nn.Conv2d" in md and "- fp32: ratio from" in md and "- bf16: ratio from" in md


def test_summary_quotes_the_newest_gpu_record_and_never_a_dry_run(dry_run, tmp_path):
    rec = dry_run[0]
    compare.append_records(tmp_path / "gpu_check-cpu-dry-run-1.json", [rec])
    assert gpu_check.newest_record(tmp_path) == (None, None)             # a dry run is never quoted
    text = (gpu_check.write_summary(tmp_path)).read_text(encoding="utf-8")
    assert text.startswith("No GPU check has been recorded") and "python benchmarks/gpu_check.py" in text

    gpu = json.loads(json.dumps(rec))
    gpu.update(dry_run=False, date="2027-01-02T03:04:05+00:00", commit="abcdef0123456789")
    gpu["device_info"].update(name="NVIDIA H200", gpu_count=1, cuda_runtime="12.8")
    older = dict(gpu, date="2026-12-31T00:00:00+00:00", commit="0000000000")
    compare.append_records(tmp_path / "gpu_check-nvidia-h200-new.json", [gpu])
    compare.append_records(tmp_path / "gpu_check-nvidia-h200-old.json", [older])
    path, newest = gpu_check.newest_record(tmp_path)
    assert path.name == "gpu_check-nvidia-h200-new.json" and newest["commit"] == "abcdef0123456789"
    text = gpu_check.write_summary(tmp_path).read_text(encoding="utf-8")
    assert "on **NVIDIA H200** ×1 on 2027-01-02, commit abcdef0123" in text and "DRY RUN" not in text
    for w in gpu["workshop"]:                 # every chapter: one run, the chapter, the verdict
        row = next(line for line in text.splitlines() if line.startswith(f"| {w['recipe']} |"))
        assert f"{w['chapter_training_s'] / 60:,.1f} min" in row and ("within" in row or "**over**" in row)
    for recipe, phase in gpu_check.STEP_CASES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {recipe}/{phase} |"))
        assert row.count(" ms") >= 3                                     # fp32, bf16, channels_last
    assert "CTSDG training step (G + D iteration, bf16 autocast, batch 2, 32 px, H200): goal ≤ 100 ms" in text
    assert "The MindSpore port reports (their figures" in text


def test_the_books_gpu_summary_follows_the_committed_records():
    """The workshop guide and the comparison chapter include this file: it must say what the
    newest committed GPU record says (``python benchmarks/gpu_check.py --summarise``)."""
    folder = compare.results_dir()
    path, rec = gpu_check.newest_record(folder)
    committed = (folder / gpu_check.SUMMARY_NAME).read_text(encoding="utf-8")
    assert committed == gpu_check.summary_markdown(rec, path.name if path else "")


def test_dry_run_extrapolates_the_workshop_schedules(dry_run):
    rec = dry_run[0]
    assert [w["recipe"] for w in rec["workshop"]] == list(gpu_check.RECIPES)
    for w in rec["workshop"]:
        assert w["status"] == "ok", w
        full = gpu_check._recipe_module(w["recipe"]).schedule("workshop")
        runs, _ = gpu_check.CHAPTER_RUNS[w["recipe"]]
        assert [p["phase"] for p in w["phases"]] == [p for p, _, _ in gpu_check.PHASES[w["recipe"]]]
        for p, (_, field, _) in zip(w["phases"], gpu_check.PHASES[w["recipe"]]):
            assert p["schedule_steps"] == getattr(full, field)            # the chapter's schedule, not the run's
            assert p["ms_per_step"] > 0 and p["chapter_runs"] == runs[p["phase"]]
            assert p["extrapolated_s"] == pytest.approx(p["ms_per_step"] * p["schedule_steps"] / 1000, rel=1e-3)
        assert w["recipe_training_s"] == pytest.approx(sum(p["extrapolated_s"] for p in w["phases"]), abs=0.1)
        assert w["chapter_training_s"] == pytest.approx(sum(p["chapter_s"] for p in w["phases"]), abs=0.1)
        assert w["budget_s"] == 900 and isinstance(w["within_budget"], bool)
        assert w["margin_s"] == pytest.approx(900 - w["chapter_training_s"], abs=0.1)


def test_dry_run_reports_the_goals(dry_run):
    rec, md = dry_run[0], dry_run[1]
    train = [g for g in rec["goals"] if g["goal"] == "ctsdg_train_step"]
    infer = [g for g in rec["goals"] if g["goal"] == "ctsdg_inference_b1"]
    assert sorted(g["variant"] for g in train) == sorted(gpu_check.VARIANTS)
    assert len(infer) == 4 and all(g["batch"] == 1 for g in infer)
    for g in train + infer:
        assert g["comparable"] is False                                    # a dry run measures nothing
        if g["status"] != "not measured":
            assert g["status"] in ("met", "missed") and g["by_ms"] >= 0 and g["by_pct"] >= 0
    assert "goal ≤ 100 ms" in md and "goal ≤ 8 ms" in md
    assert "590 ms/step on 1× V100" in md and "76 ms/image" in md and "theirs" in md
    assert "## Workshop profile" in md and "15-min budget" in md


def test_dry_run_prints_a_line_per_measurement(dry_run):
    out = dry_run[3]
    assert "gpu_check: wrote" in out and "workshop ctsdg: ok" in out


def test_without_cuda_it_exits_2_and_writes_nothing(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = _run("--out-dir", str(tmp_path), timeout=120)
    assert r.returncode == 2
    assert "no CUDA device" in r.stderr and "--dry-run" in r.stderr
    assert not list(tmp_path.iterdir())


def test_a_spent_budget_skips_measurements_but_writes_the_record(tmp_path):
    r = _run("--dry-run", "--out-dir", str(tmp_path), "--budget-s", "0.5", "--grace-s", "60", timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    [rec] = compare.read_records(_only(tmp_path, "*.json"))
    assert rec["finished"] is True and rec["stopped"].startswith("deadline")
    entries = rec["data_loader"] + rec["training_steps"] + rec["inference"] + rec["workshop"]
    assert entries and all(e["status"] == "skipped" for e in entries)
    assert all(e["reason"].startswith("deadline") or "dry run" in e["reason"] for e in entries)
    assert "goal ≤ 100 ms: not measured" in _only(tmp_path, "*.md").read_text(encoding="utf-8")


def test_the_watchdog_writes_the_record_and_exits(tmp_path):
    """A measurement that overruns the budget: the watchdog marks it, writes both files and exits."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        import torch
        sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
        import gpu_check as g
        s = g.Settings(dry_run=True, device=torch.device("cpu"), budget_s=0.0, grace_s=0.5)
        base = Path({str(tmp_path)!r}) / "gpu_check-x"
        rec = g.Recorder({{"benchmark": "gpu_check", "dry_run": True, "training_steps": []}},
                         base.with_suffix(".json"), base.with_suffix(".md"))
        rec.add("training_steps", {{"case": "ctsdg/train", "variant": "compile", "status": "running"}})
        g._watchdog(rec, s)
        time.sleep(60)
        print("not reached")
    """)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and "not reached" not in r.stdout, r.stderr[-2000:]
    assert time.perf_counter() - start < 50
    [rec] = compare.read_records(tmp_path / "gpu_check-x.json")
    assert rec["finished"] is False and rec["stopped"].startswith("watchdog")
    assert rec["training_steps"][0]["status"] == "interrupted"
    assert "interrupted" in (tmp_path / "gpu_check-x.md").read_text(encoding="utf-8")


# -------------------------------------------------------------------------- arithmetic


def test_extrapolate_multiplies_ms_per_step_by_the_schedule_and_the_chapter_runs():
    phases = [{"phase": "a", "measured_steps": 100, "measured_s": 5.0, "schedule_steps": 6000},   # 50 ms/step
              {"phase": "b", "measured_steps": 20, "measured_s": 2.0, "schedule_steps": 2000}]    # 100 ms/step
    r = gpu_check.extrapolate(phases, {"a": 2}, budget_s=900)
    a, b = r["phases"]
    assert a["ms_per_step"] == 50 and a["extrapolated_s"] == 300 and a["chapter_runs"] == 2 and a["chapter_s"] == 600
    assert b["ms_per_step"] == 100 and b["extrapolated_s"] == 200 and b["chapter_runs"] == 1 and b["chapter_s"] == 200
    assert r["recipe_training_s"] == 500 and r["chapter_training_s"] == 800
    assert r["within_budget"] is True and r["margin_s"] == 100 and r["recipe_within_budget"] is True
    over = gpu_check.extrapolate(phases, {"a": 3, "b": 2}, budget_s=900)     # 900 + 400
    assert over["chapter_training_s"] == 1300 and over["within_budget"] is False and over["margin_s"] == -400
    exact = gpu_check.extrapolate(phases[:1], {"a": 3}, budget_s=900)       # exactly at the budget: within
    assert exact["chapter_training_s"] == 900 and exact["within_budget"] is True and exact["margin_s"] == 0
    assert gpu_check.BUDGET_PER_CHAPTER_S == 15 * 60
    with pytest.raises(ValueError, match="measured_steps"):
        gpu_check.extrapolate([{"phase": "a", "measured_steps": 0, "measured_s": 1.0, "schedule_steps": 10}])


def test_phase_time_leaves_the_first_log_row_out(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("step,loss,lr,time\n10,1.0,0.1,3.0\n20,0.9,0.1,3.5\n30,0.8,0.1,4.0\n")
    p = gpu_check.phase_time_from_log(log)
    assert p == {"measured_steps": 20, "measured_s": 1.0, "includes_warmup": False, "trained_steps": 30}
    log.write_text("step,loss,lr,time\n5,1.0,0.1,2.5\n")
    p = gpu_check.phase_time_from_log(log)
    assert p == {"measured_steps": 5, "measured_s": 2.5, "includes_warmup": True, "trained_steps": 5}


def test_choose_steps_targets_the_run_length_within_its_bounds():
    s = _settings(run_seconds=20.0, run_steps=(80, 400))
    steps = {"ctsdg/train": {"ms": 150.0}}
    data = {"ctsdg/train": {"s_per_batch": 0.05}}
    n, est = gpu_check.choose_steps("ctsdg", steps, data, s)      # 0.2 s/step + a quarter of that for fine-tuning
    assert n == 80 and est == pytest.approx(80 * 0.25)
    n, est = gpu_check.choose_steps("ctsdg", {"ctsdg/train": {"ms": 20.0}}, {"ctsdg/train": {"s_per_batch": 0.01}}, s)
    assert n == 400
    s.run_seconds = 5.0
    n, _ = gpu_check.choose_steps("clmser", {"clmser/train": {"ms": 40.0}}, {"clmser/train": {"s_per_batch": 0.01}}, s)
    assert n == 100
    n, est = gpu_check.choose_steps("clmser", {}, {}, s)           # nothing measured: a default, no estimate
    assert 80 <= n <= 400 and est is None


def test_goal_lines_say_met_or_missed_and_by_how_much():
    rec = {"dry_run": False, "device_info": {"name": "NVIDIA H200"},
           "training_steps": [{"case": "ctsdg/train", "variant": "bf16", "dtype": "bf16 autocast", "batch": 6,
                               "size": 256, "status": "ok", "ms": 80.0},
                              {"case": "ctsdg/train", "variant": "compile", "dtype": "float32", "batch": 6,
                               "size": 256, "status": "skipped", "reason": "deadline"}],
           "inference": [{"model": "ctsdg", "batch": 1, "dtype": "fp32", "size": 256, "status": "ok", "ms": 10.0},
                         {"model": "ctsdg", "batch": 8, "dtype": "fp32", "size": 256, "status": "ok", "ms": 30.0}]}
    goals = gpu_check.goal_lines(rec)
    assert len(goals) == 3
    met, skipped, missed = goals
    assert met["status"] == "met" and met["by_ms"] == 20 and met["by_pct"] == 20 and met["comparable"] is True
    assert skipped["status"] == "not measured" and skipped["reason"] == "deadline"
    assert missed["status"] == "missed" and missed["by_ms"] == 2 and missed["by_pct"] == 25
    rec["goals"] = goals
    md = gpu_check.render_markdown(rec)
    assert "goal ≤ 100 ms: 80.0 ms — **met** by 20.0 ms (20 %)" in md
    assert "goal ≤ 8 ms: 10.0 ms — **missed** by 2.00 ms (25 %)" in md
    assert "H200" in md and "batch 6, 256 px" in md and "not comparable" not in md


def test_ddp_runs_one_process_with_one_gpu_and_two_processes_with_more(monkeypatch, tmp_path):
    import scale

    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))     # restored after the test
    cuda = _settings(dry_run=False, device=torch.device("cuda"))
    deadline = gpu_check.Deadline(600, start=time.monotonic())   # from now, not from the import
    launched = []

    def fake_launch(nproc, out_dir, steps, warmup, global_batch, size, threads, timeout):
        launched.append(nproc)
        return {"nproc": nproc, "backend": "nccl" if nproc > 1 else "none", "global_batch": global_batch,
                "size": size, "images_per_s": 100.0 * (1.8 if nproc == 2 else 1.0)}

    monkeypatch.setattr(scale, "launch", fake_launch)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_check.ddp_check(cuda, deadline, tmp_path)["status"] == "skipped" and not launched
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    one = gpu_check.ddp_check(cuda, deadline, tmp_path)
    assert launched == [1] and one["status"] == "ok" and "speedup_2_vs_1" not in one
    assert one["note"].startswith("1 GPU: one process under torchrun only")
    md = gpu_check.render_markdown({"device_info": {"name": "NVIDIA H200"}, "ddp": one})
    assert "- 1 GPU: one process under torchrun only" in md and "1 process(es), backend none" in md
    launched.clear()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    two = gpu_check.ddp_check(cuda, deadline, tmp_path)
    assert launched == [2, 1] and two["status"] == "ok" and two["speedup_2_vs_1"] == 1.8
    assert str(ROOT) in os.environ["PYTHONPATH"].split(os.pathsep)     # the torchrun workers import inpaintlib
    md = gpu_check.render_markdown({"device_info": {"name": "NVIDIA H100"}, "ddp": two})
    assert "2 process(es), backend nccl" in md and "1.80×" in md


def test_device_slug_is_a_safe_file_name():
    assert gpu_check.device_slug({"name": "NVIDIA H100 80GB HBM3"}, False) == "nvidia-h100-80gb-hbm3"
    assert gpu_check.device_slug({"name": "anything"}, True) == "cpu-dry-run"


# --------------------------------------------- the GPU's code paths, on the CPU at tiny size


def _params(models):
    return {n: [p.detach().clone() for p in m.parameters()] for n, m in models.items()}


def _changed(before, models, name="g"):
    return any(not torch.equal(a, b.detach()) for a, b in zip(before[name], models[name].parameters()))


@pytest.mark.parametrize("recipe,phase", gpu_check.STEP_CASES)
def test_one_bf16_autocast_training_step(recipe, phase, tmp_path):
    case = gpu_check.build_case(recipe, phase, _settings())
    before = _params(case.models)
    dtypes = set()

    def seen(mod, inp, out):                       # PartialConv2d returns (features, mask)
        dtypes.update(t.dtype for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor))

    hooks = [m.register_forward_hook(seen) for m in case.models["g"].modules()]   # CLmser: functional convs
    runner = gpu_check.StepRunner(case, "bf16", torch.device("cpu"), tmp_path)
    assert runner.trainer.amp_dtype == torch.bfloat16
    logs = runner.one()
    runner.close()
    for h in hooks:
        h.remove()
    assert torch.bfloat16 in dtypes, f"no layer of {recipe}'s generator ran in bf16: {dtypes}"
    assert torch.isfinite(torch.as_tensor(logs["loss"]).float()).all()
    assert _changed(before, case.models), "the generator was not updated"
    assert all(p.dtype == torch.float32 for m in case.models.values() for p in m.parameters())  # weights stay fp32


@pytest.mark.parametrize("recipe,phase", gpu_check.STEP_CASES)
def test_one_channels_last_training_step(recipe, phase, tmp_path):
    case = gpu_check.build_case(recipe, phase, _settings())
    before = _params(case.models)
    runner = gpu_check.StepRunner(case, "channels_last", torch.device("cpu"), tmp_path)
    image = runner.batch[0]
    assert image.is_contiguous(memory_format=torch.channels_last) and not image.is_contiguous()
    kernels = [p for p in case.models["g"].parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    logs = runner.one()
    runner.close()
    assert torch.isfinite(torch.as_tensor(logs["loss"]).float()).all()
    assert _changed(before, case.models)


@pytest.mark.parametrize("recipe,phase", gpu_check.STEP_CASES)
def test_torch_compile_of_every_generator_for_one_step(recipe, phase, tmp_path):
    """Every recipe phase with its generator under ``torch.compile`` (TorchDynamo's graph
    capture with the ``eager`` backend: the same tracing, guards and graph breaks as the GPU
    run's Inductor, without compiling kernels): one step, a finite loss, updated weights."""
    case = gpu_check.build_case(recipe, phase, _settings())
    before = _params(case.models)
    graphs = []

    def captured(gm, example_inputs):             # the "eager" backend, counting what it is given
        graphs.append(gm)
        return gm.forward

    runner = gpu_check.StepRunner(case, "compile", torch.device("cpu"), tmp_path, compile_backend=captured)
    try:
        assert isinstance(runner.trainer.models["g"], torch._dynamo.eval_frame.OptimizedModule)
        logs = runner.one()
    finally:
        runner.close()
        torch._dynamo.reset()
    convs = sum(1 for gm in graphs for n in gm.graph.nodes if "conv" in str(n.target))
    assert graphs and convs > 0, f"{recipe}/{phase}: no convolution was captured in a graph ({len(graphs)} graphs)"
    assert torch.isfinite(torch.as_tensor(logs["loss"]).float()).all()
    assert _changed(before, case.models), f"{recipe}/{phase}: the generator was not updated"


def _cxx_compiler():
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


@pytest.mark.slow   # Inductor compiles C++ kernels: 40–70 s on a busy 2-core machine
def test_torch_compile_of_pconv_for_one_step(tmp_path):
    """Inductor (the GPU run's backend) on the CPU: it compiles C++ kernels, so it needs a C++
    compiler (the dry run uses the quicker eager backend)."""
    if not _cxx_compiler():
        pytest.skip("no C++ compiler (g++, c++, clang++ or $CXX): torch.compile's Inductor needs one on the CPU")
    case = gpu_check.build_case("pconv", "stage1", _settings())
    before = _params(case.models)
    runner = gpu_check.StepRunner(case, "compile", torch.device("cpu"), tmp_path, compile_backend="inductor")
    assert isinstance(runner.trainer.models["g"], torch._dynamo.eval_frame.OptimizedModule)
    try:
        logs = runner.one()
    except Exception as err:  # a compiler that is present but unusable
        if any(k in type(err).__name__ for k in ("CppCompileError", "InvalidCxxCompiler")):
            pytest.skip(f"the C++ toolchain cannot build Inductor's kernels: {type(err).__name__}")
        raise
    finally:
        runner.close()
        torch._dynamo.reset()
    assert torch.isfinite(torch.as_tensor(logs["loss"]).float()).all()
    assert _changed(before, case.models)
