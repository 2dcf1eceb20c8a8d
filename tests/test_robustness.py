"""Fault injection: full disks, file-size limits, read-only folders, ``kill -9`` mid-write,
foreign checkpoints and garbage files through every loader, stale runs, a DDP rank that
never arrives. Each test states what the user sees (one ``error:`` line naming the file, or
an exception naming it) and that nothing was lost, half-written or half-loaded."""
from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for ddp_worker, however pytest imports
import ddp_worker  # noqa: E402
from inpaintlib import io as iio  # noqa: E402
from inpaintlib import registry  # noqa: E402
from inpaintlib.cli import main  # noqa: E402
from inpaintlib.train import (  # noqa: E402
    CheckpointMismatchError,
    Trainer,
    load_checkpoint,
    load_or_train,
    seed_everything,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
TORCH_ADVICE = ("weights_only` set to `False", "Re-running `torch.load`", "weights_only=False")

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- helpers


def write_pair(folder: Path, size: int = 32, noise: bool = False):
    rng = np.random.default_rng(0)
    if noise:
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    else:
        yy, xx = np.mgrid[0:size, 0:size]
        img = np.stack([xx * 255 / size, yy * 255 / size, np.full_like(xx, 128)], -1).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4:size // 2, size // 4:size // 2] = 255
    Image.fromarray(img).save(folder / "img.png")
    Image.fromarray(mask).save(folder / "mask.png")
    return str(folder / "img.png"), str(folder / "mask.png")


def run_cli(capsys, *args) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def assert_one_error_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


LIMIT_PRELUDE = """
    import resource, signal, sys
    def file_size_limit(n):
        # past the limit a write fails with EFBIG instead of killing the process with SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


class TinyNet(nn.Module):
    def __init__(self, hidden: int = 4, k2: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, 3, k2, padding=k2 // 2)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def data(step: int) -> torch.Tensor:
    return torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(step))


def step_fn(trainer, x):
    loss = (trainer.models["model"](x) - x).pow(2).mean()
    trainer.optimize("model", loss)
    return {"mse": loss}


def make(out_dir, max_steps, seed=0, net=None, step=step_fn, **kw):
    seed_everything(seed)
    net = net if net is not None else TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    kw.setdefault("log_every", 1)
    trainer = Trainer(net, opt, step, out_dir=out_dir, max_steps=max_steps, device="cpu", progress=False,
                      seed=seed, **kw)
    return trainer, net


def params(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Net(nn.Module):
    """A registered test generator whose weight shapes follow its config."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.out = nn.Conv2d(width, 3, 1)

    def forward(self, image, hole):
        return torch.sigmoid(self.out(self.conv(image * (1 - hole))))


@pytest.fixture
def test_net(monkeypatch):
    monkeypatch.setitem(registry._MODELS, "test-net", _Net)
    return _Net


# ----------------------------------------------------------------------------- atomic writes


def test_inpaint_output_survives_a_file_size_limit(tmp_path):
    """Before: the output was written in place, so a write that hit the limit left the previous
    result truncated, and the error was a traceback."""
    img, mask = write_pair(tmp_path, size=128, noise=True)  # a noisy PNG of ~50 kB
    out = tmp_path / "out.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out)
    before = out.read_bytes()
    r = run_python(LIMIT_PRELUDE + f"""
    from inpaintlib.cli import main
    file_size_limit(8000)
    sys.exit(main(["inpaint", {img!r}, {mask!r}, "-o", {str(out)!r}]))
    """)
    assert r.returncode == 2, r.stderr
    assert_one_error_line(r.stderr, f"cannot write {out}", "file-size limit")
    assert out.read_bytes() == before                     # the previous result is intact
    assert not list(tmp_path.glob("*.tmp"))               # and no temporary is left


def test_checkpoint_model_file_and_results_under_a_file_size_limit(tmp_path):
    """Before: torch's ``[enforce fail at inline_container.cc ...]`` and a partial ``.tmp``."""
    r = run_python(LIMIT_PRELUDE + f"""
    import json, torch
    from pathlib import Path
    from torch import nn
    from inpaintlib import compare, registry
    from inpaintlib.train import Trainer, load_checkpoint
    out = Path({str(tmp_path)!r})
    torch.manual_seed(0)
    net = nn.Linear(256, 256)                          # ~0.8 MB of checkpoint with Adam's state
    step = lambda t, x: (t.optimize("model", t.models["model"](x).pow(2).mean()), None)[1]
    t = Trainer(net, torch.optim.Adam(net.parameters()), step, out_dir=out / "run", max_steps=1,
                device="cpu", progress=False)
    t.fit(lambda s: torch.rand(2, 256))
    registry.save_model(net, out / "model.pt", "clmser")
    compare.append_records(out / "results.json", [{{"method": "old"}}])
    file_size_limit(100_000)
    report = {{}}
    t.max_steps = 2
    for name, fn in (("checkpoint", lambda: t.fit(lambda s: torch.rand(2, 256))),
                     ("model", lambda: registry.save_model(net, out / "model.pt", "clmser")),
                     ("results", lambda: compare.append_records(out / "results.json",
                                                                [{{"x": "y" * 200_000}}]))):
        try:
            fn()
            report[name] = "no error"
        except Exception as err:
            report[name] = [type(err).__name__, isinstance(err, OSError), str(err)]
    report["step"] = load_checkpoint(out / "run" / "last.pt")["step"]
    report["records"] = compare.read_records(out / "results.json")
    print(json.dumps(report))
    """)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    for name, file in (("checkpoint", tmp_path / "run" / "last.pt"), ("model", tmp_path / "model.pt"),
                       ("results", tmp_path / "results.json")):
        kind, is_os_error, message = report[name]
        assert kind == "WriteError" and is_os_error, report[name]
        assert message.startswith(f"cannot write {file}:") and "file-size limit" in message, message
        assert "enforce fail" not in message
    assert report["step"] == 1                                  # the last good checkpoint is intact
    assert report["records"] == [{"method": "old"}]             # history is never lost
    assert not list(tmp_path.rglob("*.tmp"))


class _FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, f, room: int = 1):
        self.f, self.room = f, room

    def write(self, b):
        if len(b) > self.room:
            self.f.write(b[:self.room])
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _writers(tmp_path, monkeypatch):
    """(file, write it again) for every kind of file the package writes."""
    from inpaintlib.compare import append_records
    from inpaintlib.masks import save_mask
    from inpaintlib.metrics import bucket_table, evaluate
    from inpaintlib.models.sc_lmser import SCLmser, save_sc_lmser

    monkeypatch.setitem(registry._MODELS, "test-net", _Net)
    t, _ = make(tmp_path / "run", 1)
    t.fit(data)
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 2:5, 2:5] = 1
    image = torch.rand(1, 3, 16, 16)
    table = bucket_table(torch.tensor([0.1]), evaluate(image, image, hole), [(0.0, 1.0)], method="x")
    sc = SCLmser(width=0.125)
    cases = {
        "checkpoint": (t.ckpt_path, t.save),
        "model file": (tmp_path / "m.pt", lambda: registry.save_model(_Net(), tmp_path / "m.pt", "test-net")),
        "sc-lmser file": (tmp_path / "sc.pt", lambda: save_sc_lmser(sc, tmp_path / "sc.pt")),
        "mask": (tmp_path / "mask.png", lambda: save_mask(hole[0], tmp_path / "mask.png")),
        "csv": (tmp_path / "t.csv", lambda: table.to_csv(tmp_path / "t.csv")),
        "results": (tmp_path / "r.json", lambda: append_records(tmp_path / "r.json", [{"a": 1}])),
        "config": (t.out_dir / "config.json", lambda: iio.write_text(t.out_dir / "config.json", "{}")),
    }
    return cases


def test_a_full_disk_never_destroys_the_previous_file(tmp_path, monkeypatch):
    cases = _writers(tmp_path, monkeypatch)
    for name, (path, write) in cases.items():
        write()                                          # the previous, good file
        before = path.read_bytes()
        opener = iio._open_tmp
        monkeypatch.setattr(iio, "_open_tmp", lambda tmp, *a: _FullDisk(opener(tmp, *a)))
        with pytest.raises(iio.WriteError) as info:
            write()
        monkeypatch.setattr(iio, "_open_tmp", opener)
        assert str(info.value) == f"cannot write {path}: " + iio.describe_os_error(OSError(errno.ENOSPC, "")), name
        assert "the disk is full" in str(info.value)
        assert path.read_bytes() == before, name
        assert not list(tmp_path.rglob("*.tmp")), name
    assert load_checkpoint(cases["checkpoint"][0])["step"] == 1


def test_cli_full_or_read_only_disk_is_one_error_line_and_the_old_output_stays(tmp_path, monkeypatch, capsys):
    img, mask = write_pair(tmp_path)
    out = tmp_path / "out.png"
    assert main(["inpaint", img, mask, "-o", str(out)]) == 0
    before = out.read_bytes()
    opener = iio._open_tmp
    monkeypatch.setattr(iio, "_open_tmp", lambda tmp, *a: _FullDisk(opener(tmp, *a)))
    rc, err = run_cli(capsys, "inpaint", img, mask, "-o", out, "--method", "ns")
    assert rc == 2
    assert_one_error_line(err, f"cannot write {out}", "the disk is full")

    def read_only(tmp, *a):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp))

    monkeypatch.setattr(iio, "_open_tmp", read_only)
    rc, err = run_cli(capsys, "inpaint", img, mask, "-o", out, "--method", "ns")
    assert rc == 2
    assert_one_error_line(err, f"cannot write {out}", "read-only")
    assert out.read_bytes() == before and not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_cli_read_only_folder_for_real(tmp_path, capsys):
    img, mask = write_pair(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        rc, err = run_cli(capsys, "inpaint", img, mask, "-o", locked / "out.png")
    finally:
        locked.chmod(0o755)
    assert rc == 2
    assert_one_error_line(err, f"cannot write {locked / 'out.png'}", "permission denied")


def test_kill_9_during_a_checkpoint_write_loses_nothing(tmp_path):
    """The process dies half-way through writing ``last.pt``: the previous checkpoint is
    intact, and the next run resumes from it and replaces the orphaned temporary."""
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time, torch
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_robustness import make, data
        from inpaintlib import io
        t, _ = make({str(run)!r}, 1)
        t.fit(data)                                   # last.pt at step 1
        t.max_steps = 2
        real = io._RecordingWriter.write
        def write_then_hang(self, b):
            n = real(self, b)
            self.f.flush()
            print("half-written", flush=True)
            time.sleep(600)
        io._RecordingWriter.write = write_then_hang
        t.fit(data)                                   # its checkpoint write hangs half-way
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "half-written", line + child.stderr.read()
        assert (run / "last.pt.tmp").stat().st_size > 0
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        ddp_worker.kill_tree(child.pid)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert load_checkpoint(run / "last.pt")["step"] == 1        # untouched by the dying write
    t, net = make(run, 2)
    t.fit(data)                                                 # resumes from step 1
    assert load_checkpoint(run / "last.pt")["step"] == 2
    assert not (run / "last.pt.tmp").exists()
    full, net_full = make(tmp_path / "full", 2)
    full.fit(data)
    assert same(params(net), params(net_full))                  # exact resume, nothing lost


# ----------------------------------------------------------------------------- the CLI's one error path


def test_cli_user_errors_are_one_line_naming_the_file(tmp_path, capsys, test_net):
    img, mask = write_pair(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    text = tmp_path / "notes.pth"
    text.write_text("hello\n")
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))
    misfit = tmp_path / "misfit.pt"
    torch.save({"format": registry.MODEL_FORMAT, "model": "test-net", "config": {"width": 4},
                "state_dict": _Net(width=8).state_dict(), "meta": {}}, misfit)
    badconf = tmp_path / "badconf.pt"
    torch.save({"format": registry.MODEL_FORMAT, "model": "test-net", "config": {"depth": 3},
                "state_dict": _Net().state_dict(), "meta": {}}, badconf)
    cases = [
        (["inpaint", img, mask, "-o", afile / "out.png"], [f"{afile} is a file, not a folder"]),
        (["inpaint", img, mask, "-o", tmp_path], ["it is a folder", "filled.png"]),
        (["inpaint", img, mask, "-o", tmp_path / "out.xyz"], ["out.xyz", ".png"]),
        (["masks", "--n", "1", "--size", "32", "-o", afile], [str(afile), "folder"]),
        (["masks", "--n", "1", "--size", "32", "-o", afile / "sub"], [f"{afile} is a file, not a folder"]),
        (["eval", "--n", "1", "--size", "32", "--csv", tmp_path], [str(tmp_path), "it is a folder"]),
        (["convert", "pconv", text, "-o", tmp_path / "o.pt"], [str(text), "text file"]),
        (["convert", "pconv", plain, "-o", tmp_path / "o.pt"], [str(plain), "plain Python pickle"]),
        (["convert", "pconv", text, "-o", tmp_path], [str(tmp_path), "it is a folder"]),
        (["inpaint", img, mask, "-o", tmp_path / "o.png", "--method", misfit],
         [str(misfit), "do not fit", "conv.weight", "Nothing was loaded"]),
        (["inpaint", img, mask, "-o", tmp_path / "o.png", "--method", badconf], [str(badconf), "depth"]),
        (["inpaint", img, mask, "-o", tmp_path / "o.png", "--method", text], [str(text), "text file"]),
        (["export", badconf, "--format", "torchscript", "-o", afile / "x.pt"], [f"{afile} is a file"]),
        (["train", "sc_lmser", "--out", afile], [str(afile), "folder"]),
    ]
    for args, needles in cases:
        rc, err = run_cli(capsys, *args)
        assert rc == 2, (args, err)
        assert_one_error_line(err, *needles)
        for advice in TORCH_ADVICE:
            assert advice not in err
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.pt").exists()


def test_cli_write_error_in_a_real_process_has_no_traceback(tmp_path):
    img, mask = write_pair(tmp_path)
    (tmp_path / "afile").write_text("x")
    r = subprocess.run([sys.executable, "-m", "inpaintlib", "eval", "--n", "1", "--size", "32",
                        "--csv", str(tmp_path / "afile" / "t.csv")],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2
    assert_one_error_line(r.stderr, f"{tmp_path / 'afile'} is a file, not a folder")


def test_a_bug_still_shows_its_traceback_and_how_to_report_it(monkeypatch, capsys):
    from inpaintlib import cli

    def broken(args):
        raise RuntimeError("an internal invariant failed")

    monkeypatch.setattr(cli, "cmd_info", broken)
    rc = main(["info"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" in err and "an internal invariant failed" in err
    assert "This is a bug in inpaintlib" in err and "report" in err
    assert not err.startswith("error:")


# ----------------------------------------------------------------------------- garbage through every loader


def _garbage(tmp_path) -> dict:
    files = {}
    files["empty"] = tmp_path / "empty.pt"
    files["empty"].write_bytes(b"")
    files["text"] = tmp_path / "text.pt"
    files["text"].write_text("just some notes\n")
    files["plain pickle"] = tmp_path / "plain.pt"
    files["plain pickle"].write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    files["random bytes"] = tmp_path / "random.pt"
    files["random bytes"].write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(1000)}, whole)
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(whole.read_bytes()[:1500])
    files["pickled module"] = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), files["pickled module"])
    files["a tensor"] = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), files["a tensor"])
    files["folder"] = tmp_path / "folder.pt"
    files["folder"].mkdir()
    return files


def _loaders():
    from inpaintlib.convert import convert
    from inpaintlib.data import load_image
    from inpaintlib.masks import load_mask
    from inpaintlib.models.sc_lmser import load_sc_lmser
    from inpaintlib.nn.inception import load_inception_state_dict
    from inpaintlib.nn.vgg import load_vgg_state_dict

    def trainer_load(path):
        t, _ = make(path.parent / "t", 1)
        t.load(path)

    def trainer_weights(path):
        t, _ = make(path.parent / "t", 1)
        t.load_weights(path)

    return {
        "load_model": registry.load_model,
        "load_checkpoint": load_checkpoint,
        "Trainer.load": trainer_load,
        "Trainer.load_weights": trainer_weights,
        "load_sc_lmser": load_sc_lmser,
        "convert": lambda p: convert("pconv", p),
        "vgg": lambda p: load_vgg_state_dict("vgg16", p),
        "inception": lambda p: load_inception_state_dict(p),
        "load_mask": load_mask,
        "load_image": load_image,
    }


def test_garbage_files_through_every_loader_are_a_clear_error(tmp_path, monkeypatch):
    """Before: ``KeyError``, ``UnpicklingError`` with torch's advice to unpickle with
    ``weights_only=False``, or ``RuntimeError``s that did not name the file."""
    for var in ("INPAINTLIB_VGG16_WEIGHTS", "INPAINTLIB_INCEPTION_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    files = _garbage(tmp_path)
    failures = []
    for lname, load in _loaders().items():
        for kind, path in files.items():
            try:
                load(path)
            except (ValueError, OSError) as err:  # OSError only for a folder ("not found", "is a folder")
                if isinstance(err, OSError) and kind != "folder":
                    failures.append(f"{lname} / {kind}: {type(err).__name__}: {err}")
                    continue
                message = str(err)
                if path.name not in message or any(a in message for a in TORCH_ADVICE):
                    failures.append(f"{lname} / {kind}: {message}")
            except Exception as err:  # any other type is a failure of the loader
                failures.append(f"{lname} / {kind}: {type(err).__name__}: {err}")
            else:
                failures.append(f"{lname} / {kind}: no error")
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- foreign files, no half-loading


def test_resume_from_another_architecture_is_rejected_before_anything_is_copied(tmp_path):
    """Before: a raw ``RuntimeError`` (no file name) after ``conv1`` had been overwritten."""
    other, _ = make(tmp_path, 1, net=TinyNet(k2=5))     # conv1 fits, conv2 does not
    other.fit(data)
    t, net = make(tmp_path, 2, seed=3)
    before = params(net)
    with pytest.raises(CheckpointMismatchError) as info:
        t.fit(data)
    message = str(info.value)
    assert str(tmp_path / "last.pt") in message and "TinyNet" in message
    assert "conv2.weight: file (3, 4, 5, 5) vs model (3, 4, 3, 3)" in message and "Nothing was loaded" in message
    assert same(params(net), before) and t.step == 0          # not even conv1 was copied


def test_resume_from_another_methods_checkpoint_names_both(tmp_path):
    seed_everything(0)
    g, d = TinyNet(), TinyNet()
    gan = Trainer({"g": g, "d": d}, {"g": torch.optim.Adam(g.parameters()), "d": torch.optim.Adam(d.parameters())},
                  lambda t, x: None, out_dir=tmp_path, max_steps=0, device="cpu", progress=False)
    gan.save()
    t, net = make(tmp_path, 1)
    with pytest.raises(CheckpointMismatchError, match=r"last\.pt holds models \['d', 'g'\], not \['model'\]"):
        t.fit(data)


def test_an_optimiser_that_does_not_fit_is_rejected_before_the_models_are_copied(tmp_path):
    t, _ = make(tmp_path, 1)
    t.fit(data)
    seed_everything(5)
    net = TinyNet()
    opt = torch.optim.Adam([{"params": [net.conv1.weight]}, {"params": [p for n, p in net.named_parameters()
                                                                        if n != "conv1.weight"]}])
    t2 = Trainer(net, opt, step_fn, out_dir=tmp_path, max_steps=2, device="cpu", progress=False)
    before = params(net)
    with pytest.raises(CheckpointMismatchError, match=r"optimizer 'model' has parameter groups of sizes \[4\]"):
        t2.load()
    assert same(params(net), before)


def test_load_model_rejects_weights_and_configs_that_do_not_fit(tmp_path, test_net):
    """Before: ``RuntimeError: Error(s) in loading state_dict`` and ``TypeError`` without the file."""
    misfit = tmp_path / "misfit.pt"
    torch.save({"format": registry.MODEL_FORMAT, "model": "test-net", "config": {"width": 4},
                "state_dict": _Net(width=8).state_dict(), "meta": {}}, misfit)
    with pytest.raises(ValueError) as info:
        registry.load_model(misfit)
    message = str(info.value)
    assert str(misfit) in message and "'test-net'" in message and "_Net(width=4)" in message
    assert "conv.weight: file (8, 3, 3, 3) vs model (4, 3, 3, 3)" in message
    badconf = tmp_path / "badconf.pt"
    torch.save({"format": registry.MODEL_FORMAT, "model": "test-net", "config": {"depth": 3},
                "state_dict": {}, "meta": {}}, badconf)
    with pytest.raises(ValueError, match=r"badconf\.pt: its config \{'depth': 3\} does not build a 'test-net'"):
        registry.load_model(badconf)
    t, _ = make(tmp_path / "run", 1)
    t.fit(data)
    with pytest.raises(ValueError, match="it is a Trainer checkpoint"):
        registry.load_model(t.ckpt_path)


def test_load_sc_lmser_rejects_a_file_that_does_not_fit(tmp_path):
    from inpaintlib.models.sc_lmser import MODEL_FORMAT, SCLmser, load_sc_lmser

    path = tmp_path / "sc.pt"
    torch.save({"format": MODEL_FORMAT, "config": {"width": 0.125},
                "state_dict": SCLmser(width=0.25).state_dict(), "meta": {}}, path)
    with pytest.raises(ValueError, match=r"sc\.pt: its weights do not fit the SC-Lmser .*wrong shapes"):
        load_sc_lmser(path)
    torch.save({"format": MODEL_FORMAT, "config": {"colour": 3}, "state_dict": {}, "meta": {}}, path)
    with pytest.raises(ValueError, match=r"sc\.pt: its config"):
        load_sc_lmser(path)


# ----------------------------------------------------------------------------- stale results


def test_load_or_train_continues_a_shorter_run_exactly(tmp_path):
    """Before: asking for 6 steps where a 4-step run was stored trained nothing, said nothing
    and returned the 4-step weights."""
    calls = []

    def counted(trainer, x):
        calls.append(trainer.step)
        return step_fn(trainer, x)

    t4, _ = make(tmp_path / "run", 4, step=counted)
    load_or_train(t4, data)
    t6, net6 = make(tmp_path / "run", 6, step=counted)
    out = load_or_train(t6, data)
    assert out["trained"] is True and out["continued_from"] == 4 and out["step"] == 6
    assert calls == [0, 1, 2, 3, 4, 5]
    assert load_checkpoint(tmp_path / "run" / "final.pt")["step"] == 6
    full, net_full = make(tmp_path / "full", 6)
    load_or_train(full, data)
    assert same(params(net6), params(net_full))               # as if it had run 6 steps at once
    again, net_again = make(tmp_path / "run", 6, seed=9)
    assert load_or_train(again, data)["trained"] is False and same(params(net_again), params(net_full))


def test_load_or_train_refuses_a_longer_run_and_another_profile(tmp_path):
    t, _ = make(tmp_path / "run", 4, config={"profile": "quick", "image_size": 64, "steps": 4})
    load_or_train(t, data)
    short, net = make(tmp_path / "run", 3, seed=2, config={"profile": "quick", "image_size": 64, "steps": 3})
    before = params(net)
    with pytest.raises(CheckpointMismatchError, match=r"final\.pt holds a run of 4 steps, more than the 3"):
        load_or_train(short, data)
    other, net = make(tmp_path / "run", 4, seed=2, config={"profile": "workshop", "image_size": 256, "steps": 4})
    before_other = params(net)
    with pytest.raises(CheckpointMismatchError) as info:
        load_or_train(other, data)
    message = str(info.value)
    assert str(tmp_path / "run" / "final.pt") in message
    assert "profile: 'quick' in the file, 'workshop' asked" in message and "image_size" in message
    assert same(params(net), before_other) and same(params(short.module()), before)  # nothing copied


def test_resuming_with_another_config_is_an_error_not_a_warning(tmp_path):
    """Before: a checkpoint from another profile only warned, then trained on."""
    t, _ = make(tmp_path, 2, config={"profile": "quick"})
    t.fit(data)
    again, net = make(tmp_path, 4, seed=1, config={"profile": "workshop"})
    before = params(net)
    with pytest.raises(CheckpointMismatchError, match=r"last\.pt was written by another run: profile"):
        again.fit(data)
    assert same(params(net), before)


def test_a_later_phase_is_trained_again_when_an_earlier_phase_was(tmp_path):
    """Two phases on one model: when phase 1 continues to more steps, phase 2's stored run
    (fine-tuned from the old phase 1) is stale and is trained again, not loaded."""

    def recipe(steps1, seed=0):
        seed_everything(seed)
        net = TinyNet()
        results = []
        for phase, steps in (("one", steps1), ("two", 2)):
            t, _ = make(tmp_path / phase, steps, net=net, config={"phase": phase})
            results.append(load_or_train(t, data))
        return net, [r["trained"] for r in results]

    net, trained = recipe(2)
    assert trained == [True, True]
    same_again, trained = recipe(2, seed=7)
    assert trained == [False, False] and same(params(net), params(same_again))
    longer, trained = recipe(3, seed=7)
    assert trained == [True, True]                     # phase two trained again from the new phase one
    assert not same(params(longer), params(net))
    reload, trained = recipe(3, seed=8)
    assert trained == [False, False] and same(params(reload), params(longer))


def test_cli_train_with_more_steps_continues_and_another_profile_is_an_error(tmp_path, capsys):
    """Before: re-running ``train`` with more ``--steps`` trained nothing and rewrote the
    model file labelled with the new settings around the old weights."""
    from inpaintlib.models.sc_lmser import load_sc_lmser

    out = tmp_path / "run"
    assert main(["train", "sc_lmser", "--profile", "quick", "--steps", "1", "--out", str(out)]) == 0
    one = load_sc_lmser(out / "sc_lmser.pt").state_dict()
    capsys.readouterr()
    assert main(["train", "sc_lmser", "--profile", "quick", "--steps", "2", "--out", str(out)]) == 0
    assert "continuing" in capsys.readouterr().out
    payload = torch.load(out / "sc_lmser.pt", weights_only=True)
    assert payload["meta"]["schedule"]["steps"] == 2 and load_checkpoint(out / "final.pt")["step"] == 2
    assert not same(payload["state_dict"], one)          # the weights are the 2-step run's
    rc, err = run_cli(capsys, "train", "sc_lmser", "--profile", "workshop", "--out", out)
    assert rc == 2
    assert_one_error_line(err, str(out), "'quick' profile", "'workshop'")


# ----------------------------------------------------------------------------- DDP start-up


def test_a_rank_that_never_arrives_is_named_within_the_timeout(tmp_path):
    """Before: rank 0 waited in the rendezvous with torch's 30-minute default and said nothing."""
    env = dict(ENV, WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="0",
               INPAINTLIB_DDP_TIMEOUT="3")
    code = ("import torch; from torch import nn; from inpaintlib.train import Trainer; net = nn.Linear(2, 2); "
            f"Trainer(net, torch.optim.SGD(net.parameters(), 0.1), None, out_dir={str(tmp_path)!r}, "
            "max_steps=1, device='cpu')")
    rc, output, timed_out = ddp_worker.run_guarded([sys.executable, "-c", code], env=env, timeout=120)
    assert not timed_out and rc != 0
    assert "DistributedStartError: rank 0 of 2: the process group did not form within 3 s: rank(s) 1 did not " \
           "arrive" in output


def test_the_guard_kills_workers_that_started_sessions_of_their_own(tmp_path):
    """torchrun starts each worker with ``start_new_session``: a guard that kills only the
    launcher (or only its process group) leaves the workers running."""
    pid_file = tmp_path / "worker.pid"
    launcher = textwrap.dedent(f"""
        import subprocess, sys, time
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        open({str(pid_file)!r}, "w").write(str(worker.pid))
        time.sleep(600)
    """)
    start = time.monotonic()
    rc, _, timed_out = ddp_worker.run_guarded([sys.executable, "-c", launcher], timeout=5, grace=1)
    assert timed_out and time.monotonic() - start < 60
    worker = int(pid_file.read_text())
    for _ in range(50):  # the kill is asynchronous; a zombie is reaped by init
        try:
            with open(f"/proc/{worker}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {worker} outlived the guard")


# ----------------------------------------------------------------------------- smaller items


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_composite_takes_any_float_hole_that_validate_accepts(dtype):
    """Before: ``RuntimeError: expected dtype float for `weight```."""
    from inpaintlib.tensors import composite, validate

    image, pred = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    hole = torch.zeros(2, 1, 8, 8)
    hole[..., 2:5, 3:6] = 1
    validate(image, hole.to(dtype))
    out = composite(image, pred, hole.to(dtype))
    assert out.dtype == image.dtype and torch.equal(out, composite(image, pred, hole))
    half = composite(image.to(dtype), pred, hole)          # and the other way round
    assert half.dtype == dtype


def test_baselines_take_an_empty_batch():
    from inpaintlib.baselines import BASELINES, Baseline, mean_colour_fill

    image, hole = torch.rand(0, 3, 16, 16), torch.zeros(0, 1, 16, 16)
    for name, fn in BASELINES.items():
        assert fn(image, hole).shape == (0, 3, 16, 16), name
        assert Baseline(name)(image, hole).shape == (0, 3, 16, 16), name
    assert mean_colour_fill(image, hole).shape == (0, 3, 16, 16)


def test_hub_downloads_check_the_hash_and_never_unpickle_code(tmp_path, monkeypatch):
    from inpaintlib.nn import inception, vgg

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for var in ("INPAINTLIB_VGG16_WEIGHTS", "INPAINTLIB_INCEPTION_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    seen = []

    def fake(url, **kwargs):
        seen.append((url, kwargs))
        raise RuntimeError('invalid hash value (expected "6726825d", got "deadbeef")')

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake)
    with pytest.raises(ValueError, match="could not download the FID Inception weights .*invalid hash"):
        inception.load_inception_state_dict(download=True)
    with pytest.raises(ValueError, match="could not download the vgg16 weights .*invalid hash"):
        vgg.load_vgg_state_dict("vgg16", download=True)
    assert [u for u, _ in seen] == [inception.FID_INCEPTION_URL, vgg.VGG_URLS["vgg16"]]
    for _, kwargs in seen:
        assert kwargs.get("check_hash") is True and kwargs.get("weights_only") is True


def test_writes_check_the_destination_first(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(iio.WriteError, match="afile is a file, not a folder"):
        iio.write_text(tmp_path / "afile" / "deeper" / "x.txt", "x")
    with pytest.raises(iio.WriteError, match="it is a folder"):
        iio.write_text(tmp_path, "x")
    with pytest.raises(ValueError, match=r"x\.xyz: extension '\.xyz'"):
        iio.save_image(Image.new("L", (2, 2)), tmp_path / "x.xyz")
    assert iio.write_text(tmp_path / "a" / "b.txt", "ok").read_text() == "ok"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "afile", "b.txt"]
