"""The Trainer: exact resume, determinism, the NaN guard, Ctrl-C, AMP, logs, samples, DDP."""
from __future__ import annotations

import csv
import json
import os
import sys
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for ddp_worker, however pytest imports
import ddp_worker  # noqa: E402
from inpaintlib.train import (  # noqa: E402
    CHECKPOINT_FORMAT,
    Trainer,
    _plan_sync_bn,
    convert_sync_bn,
    load_checkpoint,
    load_or_train,
    move_to,
    read_log,
    resolve_amp,
    seed_everything,
    shard_batch,
)
from inpaintlib.viz import make_grid  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixtures


class TinyNet(nn.Module):
    """Two convolutions with dropout between them (so dropout's RNG is part of resume)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = nn.Dropout(0.25)
        self.conv2 = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.drop(torch.relu(self.conv1(x))))


def data(step: int) -> torch.Tensor:
    """Deterministic in the step: the callable data form."""
    return torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(step))


def step_fn(trainer, x):
    noise = 0.1 * torch.randn_like(x)  # drawn from torch's global RNG
    pred = trainer.models["model"](x + noise)
    loss = (pred - x).pow(2).mean()
    trainer.optimize("model", loss)
    return {"mse": loss, "noise": noise.abs().mean()}


def make(out_dir, max_steps, seed=0, step=step_fn, **kw):
    seed_everything(seed)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 6], gamma=0.5)
    kw.setdefault("log_every", 1)
    trainer = Trainer(net, opt, step, schedulers=sched, out_dir=out_dir, max_steps=max_steps,
                      device="cpu", progress=kw.pop("progress", False), seed=seed, **kw)
    return trainer, net


def params(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def assert_same_params(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=f"parameter {k} differs")


def log_without_time(out_dir):
    log = read_log(out_dir)
    log.pop("time")
    return log


class AugSet(torch.utils.data.Dataset):
    """Ten fixed images plus a random brightness shift drawn from torch's global RNG."""

    def __init__(self):
        self.x = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 0.9

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.rand(1)


def make_loader(kind):
    if kind == "list":
        return [data(i) for i in range(3)]
    gen = torch.Generator().manual_seed(7) if kind == "seeded-loader" else None
    return torch.utils.data.DataLoader(AugSet(), batch_size=3, shuffle=True, generator=gen)


# ----------------------------------------------------------------------------- determinism and resume


def test_same_seed_gives_identical_runs_and_another_seed_does_not(tmp_path):
    t1, n1 = make(tmp_path / "a", 5)
    t1.fit(data)
    t2, n2 = make(tmp_path / "b", 5)
    t2.fit(data)
    t3, n3 = make(tmp_path / "c", 5, seed=1)
    t3.fit(data)
    assert_same_params(params(n1), params(n2), atol=0)
    assert not torch.equal(n1.conv1.weight, n3.conv1.weight)


def test_resume_is_exact_for_callable_data(tmp_path):
    full, net_full = make(tmp_path / "full", 8)
    full.fit(data)

    first, _ = make(tmp_path / "split", 4)
    assert first.fit(data)["step"] == 4
    second, net_split = make(tmp_path / "split", 8)  # a new Trainer, new model, same out_dir
    out = second.fit(data)

    assert out["step"] == 8 and second.step == 8
    assert_same_params(params(net_full), params(net_split))
    assert second.lr("model") == full.lr("model") == pytest.approx(1e-2 * 0.25)
    assert second.optimizers["model"].state_dict()["state"][0]["step"] == 8
    # the log is the same too: the same rows, nothing duplicated
    assert read_log(tmp_path / "split")["step"] == list(range(1, 9))
    assert log_without_time(tmp_path / "split") == log_without_time(tmp_path / "full")


@pytest.mark.parametrize("kind", ["loader", "seeded-loader", "list"])
def test_resume_is_exact_for_iterable_data(tmp_path, kind):
    # 4 batches per epoch for the loaders (3 for the list): step 5 is inside epoch 2
    full, net_full = make(tmp_path / "full", 9)
    full.fit(make_loader(kind))
    first, _ = make(tmp_path / "split", 5)
    first.fit(make_loader(kind))
    state = load_checkpoint(tmp_path / "split" / "last.pt")["data"]
    # after 5 batches: epoch 1 (0-based), 1 batch in (4 per epoch) or 2 batches in (3 per epoch)
    assert (state["epoch"], state["offset"]) == ((1, 2) if kind == "list" else (1, 1))
    second, net_split = make(tmp_path / "split", 9)
    second.fit(make_loader(kind))
    assert_same_params(params(net_full), params(net_split))
    assert log_without_time(tmp_path / "split") == log_without_time(tmp_path / "full")


@pytest.mark.parametrize("kind", ["callable", "seeded-loader"])
def test_ctrl_c_saves_the_current_step_and_resume_is_exact(tmp_path, kind):
    source = (lambda: data) if kind == "callable" else (lambda: make_loader(kind))
    full, net_full = make(tmp_path / "full", 8)
    full.fit(source())

    def interrupted(trainer, x):
        if trainer.step == 5:
            torch.randn(3)  # the unfinished step has used the RNG already
            raise KeyboardInterrupt
        return step_fn(trainer, x)

    broken, _ = make(tmp_path / "split", 8, step=interrupted)
    with pytest.raises(KeyboardInterrupt):
        broken.fit(source())
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step"] == 5
    assert read_log(tmp_path / "split")["step"] == [1, 2, 3, 4, 5]

    resumed, net_split = make(tmp_path / "split", 8)  # from the checkpoint, in a new Trainer
    resumed.fit(source())
    assert_same_params(params(net_full), params(net_split))

    # or call fit again on the interrupted Trainer (nothing else touching the RNG between)
    src = source()
    again, net_again = make(tmp_path / "again", 8, step=interrupted)
    with pytest.raises(KeyboardInterrupt):
        again.fit(src)
    again.step_fn = step_fn
    again.fit(src)  # the same loader object
    assert_same_params(params(net_full), params(net_again))


def test_log_rows_of_steps_run_again_are_dropped_on_resume(tmp_path):
    # rows every 3 steps, checkpoints every 4, a crash in step 7: last.pt (step 4) is in
    # the middle of a log window, and the row for step 6 must be dropped and rewritten
    def crashing(trainer, x):
        if trainer.step == 6:
            raise RuntimeError("power cut")
        return step_fn(trainer, x)

    full, _ = make(tmp_path / "full", 8, log_every=3)
    full.fit(data)
    crashed, _ = make(tmp_path / "split", 8, step=crashing, ckpt_every=4, log_every=3)
    with pytest.raises(RuntimeError, match="power cut"):
        crashed.fit(data)
    assert read_log(tmp_path / "split")["step"] == [3, 6]
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step"] == 4

    resumed, _ = make(tmp_path / "split", 8, log_every=3)
    resumed.fit(data)
    assert read_log(tmp_path / "split")["step"] == [3, 6, 8]
    assert log_without_time(tmp_path / "split") == log_without_time(tmp_path / "full")


def test_fit_again_with_more_steps_continues_in_memory(tmp_path):
    full, net_full = make(tmp_path / "full", 6)
    full.fit(data)
    t, net = make(tmp_path / "more", 3)
    t.fit(data)
    t.max_steps = 6
    t.fit(data)
    assert_same_params(params(net_full), params(net))


# ----------------------------------------------------------------------------- the NaN/Inf guard


def test_non_finite_loss_stops_before_any_update(tmp_path):
    seen = {}

    def exploding(trainer, x):
        pred = trainer.models["model"](x)
        loss = (pred - x).pow(2).mean()
        if trainer.step == 3:
            seen["before"] = params(trainer.module())
            seen["adam"] = trainer.optimizers["model"].state_dict()["state"][0]["step"].item()
            loss = loss * float("nan")
        trainer.optimize("model", loss, parts={"l2": loss})
        return {"mse": loss}

    t, net = make(tmp_path, 10, step=exploding, ckpt_every=2)
    with pytest.raises(FloatingPointError) as err:
        t.fit(data)
    msg = str(err.value)
    assert "step 4" in msg and "'model'" in msg and "nan" in msg
    assert "lowering the learning rate" in msg and "non-finite terms: l2" in msg
    assert "last.pt (step 2)" in msg
    assert_same_params(seen["before"], params(net), atol=0)  # nothing was stepped
    assert t.optimizers["model"].state_dict()["state"][0]["step"].item() == seen["adam"] == 3
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2  # the last good one, untouched


def test_non_finite_gradient_with_finite_loss_is_caught(tmp_path):
    def bad_grad(trainer, x):
        w = trainer.module().conv1.weight
        # sqrt(|w - w|) is 0, but its gradient is 0/0 = NaN
        loss = (trainer.models["model"](x) - x).pow(2).mean() + torch.sqrt((w - w.detach()).abs().sum())
        trainer.optimize("model", loss)
        return {"loss": loss}

    t, net = make(tmp_path, 3, step=bad_grad)
    before = params(net)
    with pytest.raises(FloatingPointError, match=r"gradient norm for optimizer 'model' is nan.*step 1|step 1.*gradient norm"):
        t.fit(data)
    assert_same_params(before, params(net), atol=0)
    assert not (tmp_path / "last.pt").exists()


# ----------------------------------------------------------------------------- optimisation details


def test_grad_clip_limits_the_update_to_the_clip_norm(tmp_path):
    lin = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(lin.weight)
    direction = torch.tensor([[3.0, 4.0, 0.0, 0.0]])  # gradient norm 5 * 2 = 10
    norms = []

    def fn(trainer, _):
        loss = (trainer.models["model"].weight * direction * 2).sum()
        norms.append(trainer.optimize("model", loss))
        return {}

    t = Trainer(lin, torch.optim.SGD(lin.parameters(), lr=1.0), fn, out_dir=tmp_path, max_steps=1,
                device="cpu", grad_clip={"model": 1.0}, progress=False)
    t.fit(lambda step: torch.zeros(1))
    assert float(norms[0]) == pytest.approx(10.0)  # the norm before clipping is returned
    torch.testing.assert_close(lin.weight.detach(), -direction / 5.0)  # a step of length 1
    with pytest.raises(ValueError, match="grad_clip names unknown optimizers"):
        Trainer(lin, torch.optim.SGD(lin.parameters(), lr=1.0), fn, out_dir=tmp_path, max_steps=1,
                device="cpu", grad_clip={"g": 1.0})


def test_gan_style_steps_count_per_optimizer_and_schedulers_follow_their_optimizer(tmp_path):
    seed_everything(0)
    g, d = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 1, 3, padding=1)
    opts = {"g": torch.optim.Adam(g.parameters(), 1e-3), "d": torch.optim.Adam(d.parameters(), 1e-3)}
    scheds = {"d": torch.optim.lr_scheduler.StepLR(opts["d"], step_size=4, gamma=0.1)}

    def gan_step(trainer, x):
        fake = trainer.models["g"](x)
        for _ in range(2):  # two critic steps per generator step
            loss_d = F.softplus(trainer.models["d"](fake.detach())).mean() + F.softplus(-trainer.models["d"](x)).mean()
            trainer.optimize("d", loss_d)
        loss_g = F.softplus(-trainer.models["d"](fake)).mean()
        trainer.optimize("g", loss_g)
        return {"d": loss_d, "g": loss_g}

    t = Trainer({"g": g, "d": d}, opts, gan_step, schedulers=scheds, out_dir=tmp_path, max_steps=3,
                device="cpu", progress=False, log_every=1)
    t.fit(data)
    assert opts["g"].state_dict()["state"][0]["step"].item() == 3
    assert opts["d"].state_dict()["state"][0]["step"].item() == 6
    assert t.lr("d") == pytest.approx(1e-4)  # 6 critic steps passed the step_size=4 boundary
    assert t.lr("g") == pytest.approx(1e-3)
    with open(tmp_path / "log.csv") as f:
        assert next(csv.reader(f)) == ["step", "d", "g", "lr_g", "lr_d", "time"]


def test_amp_settings(tmp_path):
    assert resolve_amp("auto", "cpu") is None
    assert resolve_amp("auto", "cuda", bf16_supported=True) is torch.bfloat16
    assert resolve_amp("auto", "cuda", bf16_supported=False) is torch.float16
    assert resolve_amp("off", "cuda") is None and resolve_amp(False, "cuda") is None
    assert resolve_amp("fp16", "cpu") is torch.float16 and resolve_amp("bf16", "cpu") is torch.bfloat16
    with pytest.raises(ValueError, match="amp must be"):
        resolve_amp("fp8", "cpu")

    seen = {}

    def probe(trainer, x):
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        seen["dtype"] = trainer.models["model"](x).dtype
        return step_fn(trainer, x)

    for amp, dtype in [("auto", torch.float32), ("off", torch.float32), ("bf16", torch.bfloat16)]:
        t, net = make(tmp_path / amp, 2, step=probe, amp=amp)
        t.fit(data)
        assert seen["dtype"] == dtype and seen["autocast"] == (dtype != torch.float32)
        assert net.conv1.weight.dtype == torch.float32  # master weights stay fp32
        assert t.scalers == {}
        assert torch.isfinite(net.conv1.weight).all()


def test_fp16_uses_a_grad_scaler_that_is_checkpointed(tmp_path):
    t, net = make(tmp_path, 2, amp="fp16")
    assert t.amp_dtype is torch.float16 and set(t.scalers) == {"model"}
    t.scalers["model"] = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    t.fit(data)
    scale = t.scalers["model"].get_scale()
    assert scale == 4096.0  # two successful steps, each doubling the scale
    assert load_checkpoint(tmp_path / "last.pt")["scalers"]["model"]["scale"] == scale
    t2, _ = make(tmp_path, 2, amp="fp16")
    t2.load()
    assert t2.scalers["model"].get_scale() == scale


def test_channels_last_models_and_batches(tmp_path):
    seen = {}

    def probe(trainer, x):
        seen["batch"] = x.is_contiguous(memory_format=torch.channels_last)
        return step_fn(trainer, x)

    t, net = make(tmp_path, 1, step=probe, channels_last=True)
    assert net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    t.fit(data)
    assert seen["batch"]


def test_compile_wraps_the_model_but_checkpoints_the_plain_module(tmp_path):
    t, net = make(tmp_path, 2, compile={"backend": "eager"})
    assert t.models["model"] is not net and t.module("model") is net
    before = params(net)
    t.fit(data)
    assert not torch.equal(before["conv1.weight"], net.conv1.weight)
    keys = load_checkpoint(tmp_path / "last.pt")["models"]["model"].keys()
    assert set(keys) == set(before) and not any("_orig_mod" in k for k in keys)


# ----------------------------------------------------------------------------- logs, progress, samples


def test_csv_rows_are_window_means_with_lr_and_time(tmp_path):
    def counting(trainer, x):
        step_fn(trainer, x)
        return {"a": float(trainer.step), "b": torch.tensor(2.0 * trainer.step)}

    t, _ = make(tmp_path, 7, step=counting, log_every=3)
    out = t.fit(data)
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "a", "b", "lr", "time"]
    log = read_log(tmp_path)
    assert log["step"] == [3, 6, 7]
    assert log["a"] == [1.0, 4.0, 6.0]  # means of steps 0-2, 3-5 and 6 (0-based)
    assert log["b"] == [2.0, 8.0, 12.0]
    assert log["lr"] == [pytest.approx(5e-3), pytest.approx(2.5e-3), pytest.approx(2.5e-3)]
    assert all(b >= a >= 0 for a, b in zip(log["time"], log["time"][1:]))
    assert out["step"] == 7 and out["a"] == 6.0


def test_step_fn_must_return_the_same_scalar_names(tmp_path):
    def growing(trainer, x):
        logs = step_fn(trainer, x)
        return {**logs, "extra": 1.0} if trainer.step >= 2 else logs

    t, _ = make(tmp_path / "a", 4, step=growing)
    with pytest.raises(ValueError, match="'extra'.*no column"):
        t.fit(data)

    t, _ = make(tmp_path / "b", 2, step=lambda tr, x: {"v": torch.ones(2)})
    with pytest.raises(ValueError, match="'v' with shape \\(2,\\)"):
        t.fit(data)


def test_progress_bar_shows_the_latest_losses(tmp_path, capsys):
    t, _ = make(tmp_path, 3, progress=True)
    t.fit(data)
    err = capsys.readouterr().err
    assert "3/3" in err and "mse=" in err


def test_sample_grids_are_saved_in_eval_mode(tmp_path):
    modes = []

    def sample_fn(trainer):
        modes.append(trainer.module().training)
        assert not torch.is_grad_enabled()
        return trainer.module()(data(0)[:2]).clamp(0, 1)

    t, net = make(tmp_path, 5, sample_every=2, sample_fn=sample_fn)
    t.fit(data)
    files = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert files == ["step_000002.png", "step_000004.png"]
    assert modes == [False, False] and net.training  # back in train mode afterwards
    with Image.open(tmp_path / "samples" / "step_000004.png") as img:
        size = img.size
    assert size == (make_grid(torch.zeros(2, 3, 8, 8)).shape[2], make_grid(torch.zeros(2, 3, 8, 8)).shape[1])
    with pytest.raises(ValueError, match="sample_every is set but no sample_fn"):
        make(tmp_path, 1, sample_every=2)


def test_tensorboard_logging_and_a_clear_error_without_the_package(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    t, _ = make(tmp_path / "tb", 2, tensorboard=True)
    t.fit(data)
    t.close()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb" / "tb").iterdir())

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    t, _ = make(tmp_path / "none", 2, tensorboard=True)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        t.fit(data)


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_holds_everything_and_is_written_atomically(tmp_path, monkeypatch):
    t, net = make(tmp_path, 3, config={"profile": "quick", "out": tmp_path})
    t.fit(data)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["step"] == 3
    assert set(ckpt["models"]) == set(ckpt["optimizers"]) == set(ckpt["schedulers"]) == {"model"}
    assert ckpt["config"] == {"profile": "quick", "out": str(tmp_path)}
    assert json.loads((tmp_path / "config.json").read_text()) == ckpt["config"]
    assert set(ckpt["rng"][0]) >= {"python", "numpy", "torch"} and len(ckpt["rng"]) == 1
    assert ckpt["schedulers"]["model"]["last_epoch"] == 3
    assert not list(tmp_path.glob("*.tmp"))

    # a save that dies half-way leaves the previous checkpoint intact
    def dying_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match=r"cannot write .*last\.pt: disk full"):
        t.save()
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 3
    assert not list(tmp_path.glob("*.tmp"))  # the half-written temporary is removed


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not an inpaintlib Trainer checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_load_or_train_trains_once_then_loads(tmp_path):
    calls = []

    def counted(trainer, x):
        calls.append(trainer.step)
        return step_fn(trainer, x)

    t1, net1 = make(tmp_path / "run", 4, step=counted)
    out1 = load_or_train(t1, data, tmp_path / "model.pt")
    assert out1["trained"] is True and out1["step"] == 4 and len(calls) == 4
    assert (tmp_path / "model.pt").is_file()

    t2, net2 = make(tmp_path / "run2", 4, seed=5, step=counted)  # different init
    out2 = load_or_train(t2, data, tmp_path / "model.pt")
    assert out2["trained"] is False and out2["step"] == 4 and len(calls) == 4  # no training
    assert out2["mse"] == out1["mse"]
    assert_same_params(params(net1), params(net2), atol=0)
    assert t2.step == 0  # weights only: optimiser and step untouched


def test_load_weights_checks_model_names(tmp_path):
    t, _ = make(tmp_path, 1)
    t.fit(data)
    seed_everything(0)
    other = Trainer({"g": TinyNet()}, torch.optim.SGD(TinyNet().parameters(), 0.1), step_fn,
                    out_dir=tmp_path / "o", max_steps=1, device="cpu")
    with pytest.raises(ValueError, match=r"holds models \['model'\], not \['g'\]"):
        other.load_weights(tmp_path / "last.pt")


# ----------------------------------------------------------------------------- inputs and errors


def test_bad_arguments_give_clear_errors(tmp_path):
    net = TinyNet()
    opt = torch.optim.SGD(net.parameters(), 0.1)
    with pytest.raises(ValueError, match=r"schedulers \['d'\] have no optimizer"):
        Trainer(net, opt, step_fn, schedulers={"d": torch.optim.lr_scheduler.StepLR(opt, 1)},
                out_dir=tmp_path, max_steps=1)
    with pytest.raises(TypeError, match=r"models\['g'\] must be an nn.Module"):
        Trainer({"g": "net"}, opt, step_fn, out_dir=tmp_path, max_steps=1)

    def wrong_name(trainer, x):
        trainer.optimize("g", trainer.models["model"](x).mean())

    t = Trainer(net, opt, wrong_name, out_dir=tmp_path, max_steps=1, device="cpu", progress=False)
    with pytest.raises(KeyError, match="no optimizer named 'g'"):
        t.fit(data)

    def detached(trainer, x):
        with torch.no_grad():
            trainer.optimize("model", trainer.models["model"](x).mean())

    t = Trainer(net, opt, detached, out_dir=tmp_path, max_steps=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="does not require grad"):
        t.fit(data)

    t = Trainer(net, opt, step_fn, out_dir=tmp_path / "it", max_steps=5, device="cpu", progress=False)
    with pytest.raises(ValueError, match="ran out after step 2"):
        t.fit(iter([data(0), data(1)]))


def test_move_to_and_shard_batch_handle_nested_batches():
    Pair = namedtuple("Pair", "image hole")
    batch = {"pair": Pair(torch.arange(8.0).view(8, 1), torch.ones(8, 1)), "name": "x", "n": [torch.arange(8)]}
    moved = move_to(batch, torch.device("cpu"))
    assert isinstance(moved["pair"], Pair) and moved["name"] == "x"
    four_d = move_to([torch.zeros(2, 3, 4, 4)], torch.device("cpu"), channels_last=True)[0]
    assert four_d.is_contiguous(memory_format=torch.channels_last)

    parts = [shard_batch(batch, r, 4) for r in range(4)]
    for r, part in enumerate(parts):
        assert part["pair"].image.flatten().tolist() == [2.0 * r, 2.0 * r + 1]
        assert part["n"][0].tolist() == [2 * r, 2 * r + 1] and part["name"] == "x"
    assert torch.equal(torch.cat([p["pair"].image for p in parts]), batch["pair"].image)
    with pytest.raises(ValueError, match="global batch size 8 is not divisible by the world size 3"):
        shard_batch(batch, 0, 3)


# ----------------------------------------------------------------------------- DDP


def test_ddp_two_cpu_processes_match_one_process_with_the_same_global_batch(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this build")
    env = dict(os.environ, OMP_NUM_THREADS="1", INPAINTLIB_DDP_TIMEOUT="180",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    out = tmp_path / "ddp"
    # --standalone: torchrun binds its rendezvous store to a port it picks itself (no race for
    # a port the test found free and released); every rank waits at most INPAINTLIB_DDP_TIMEOUT
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=2",
           str(ROOT / "tests" / "ddp_worker.py"), str(out)]
    # a hang guard, not a speed target (CI machines can be slow): past it, torchrun and every
    # worker (each in a session of its own) are killed, so nothing outlives the test
    rc, output, timed_out = ddp_worker.run_guarded(cmd, env=env, timeout=900)
    if timed_out:
        pytest.fail(f"the DDP run hung and was killed with all its workers:\n{output[-3000:]}")
    assert rc == 0, output[-6000:]

    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    for r, info in enumerate(ranks):
        assert info["rank"] == r and info["world_size"] == 2 and info["step"] == ddp_worker.STEPS
        assert info["local_batch"] == ddp_worker.GLOBAL_BATCH // 2
        assert info["wrapped"] == {"g": "DistributedDataParallel", "d": "DistributedDataParallel"}

    ref = ddp_worker.make_trainer(tmp_path / "single")
    ref.fit(ddp_worker.data)
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])  # seeded per rank
    for name in ("g", "d"):
        assert_same_params(params(ref.module(name)), ckpt["models"][name], atol=1e-5)
    # rank 0 alone wrote the log, one row per step, holding the mean over both ranks
    ddp_log, ref_log = read_log(out), read_log(tmp_path / "single")
    assert ddp_log["step"] == list(range(1, ddp_worker.STEPS + 1))
    for key in ("d", "g", "rec", "lr_g", "lr_d"):
        assert ddp_log[key] == pytest.approx(ref_log[key], abs=1e-5)


# ----------------------------------------------------------------------------- BatchNorm under DDP (sync_bn)

CUDA = torch.device("cuda")  # the decision only: nothing is moved there


def bn_net() -> nn.Module:
    seed_everything(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Sequential(nn.Conv2d(4, 3, 1), nn.BatchNorm2d(3)))


def no_process_group() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        pytest.skip("a process group is open in this process: SyncBatchNorm would try to synchronise")


def test_sync_bn_default_converts_models_with_batchnorm_only_under_ddp_on_gpus():
    frozen = bn_net().requires_grad_(False)  # not DDP-wrapped: left alone
    models = {"g": bn_net(), "d": TinyNet(), "f": frozen}
    for choice in (None, True, False):  # one process: never
        assert _plan_sync_bn(models, choice, 1, CUDA) == ([], "")
    names, note = _plan_sync_bn(models, None, 2, CUDA)
    assert names == ["g"] and note.startswith("sync_bn: ") and "global batch of all 2 processes" in note
    assert _plan_sync_bn(models, True, 3, CUDA)[0] == ["g"]
    assert _plan_sync_bn(models, False, 2, CUDA) == ([], "")
    assert _plan_sync_bn({"d": TinyNet()}, None, 2, CUDA) == ([], "")
    # CPU (gloo): SyncBatchNorm cannot run; the default keeps per-process statistics and says so
    names, note = _plan_sync_bn(models, None, 3, torch.device("cpu"))
    assert names == [] and "per process (1/3 of the global batch each)" in note
    with pytest.raises(ValueError, match="runs only on GPUs.*sync_bn=False"):
        _plan_sync_bn(models, True, 2, torch.device("cpu"))
    assert _plan_sync_bn({"d": TinyNet()}, True, 2, torch.device("cpu")) == ([], "")  # nothing to sync
    with pytest.raises(TypeError, match="sync_bn must be None"):
        _plan_sync_bn(models, "on", 1, torch.device("cpu"))


def test_convert_sync_bn_keeps_the_module_its_tensors_modes_and_state_dict_keys():
    no_process_group()
    net = bn_net()
    net[3][1].eval()  # a frozen layer stays frozen
    opt = torch.optim.Adam(net.parameters())
    state = {k: v.clone() for k, v in net.state_dict().items()}
    tensors = [*net.parameters(), *net.buffers()]
    assert convert_sync_bn(net) is net  # changed in place: whoever holds `net` trains it
    assert type(net[1]) is nn.SyncBatchNorm and type(net[3][1]) is nn.SyncBatchNorm
    assert net[1].training and not net[3][1].training
    assert list(net.state_dict()) == list(state)
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert all(a is b for a, b in zip([*net.parameters(), *net.buffers()], tensors, strict=True))
    assert opt.param_groups[0]["params"] == list(net.parameters())
    # without a process group SyncBatchNorm computes plain BatchNorm (CPU too); weights load both ways
    plain = bn_net()
    plain.load_state_dict(net.state_dict())
    plain[3][1].eval()
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(net(x), plain(x), atol=1e-6)
    assert torch.allclose(net[1].running_var, plain[1].running_var)
    # a model that is itself a BatchNorm layer: a new layer sharing its tensors
    bn = nn.BatchNorm2d(3)
    sync = convert_sync_bn(bn)
    assert type(sync) is nn.SyncBatchNorm and sync is not bn
    assert sync.weight is bn.weight and sync.running_mean is bn.running_mean
    assert convert_sync_bn(sync) is sync


def test_frozen_batchnorm_of_the_models_stays_frozen_with_sync_bn():
    from inpaintlib.models.pconv_unet import PConvUNet

    net = PConvUNet(layers=3, base_channels=8).freeze_encoder_bn()
    convert_sync_bn(net)
    frozen = net.encoder_batchnorms()
    assert frozen and all(type(bn) is nn.SyncBatchNorm for bn in frozen)
    net.train()
    assert not any(bn.training for bn in frozen)


def test_sync_bn_changes_nothing_in_one_process(tmp_path):
    for choice in (None, True):
        trainer, net = make(tmp_path / str(choice), 1, step=step_fn, sync_bn=choice)
        assert trainer.sync_bn_models == () and trainer.module() is net
    seed_everything(0)
    net = bn_net()
    trainer = Trainer(net, torch.optim.Adam(net.parameters(), 1e-2), step_fn, out_dir=tmp_path / "bn",
                      max_steps=1, device="cpu", progress=False, sync_bn=True)
    trainer.fit(data)
    assert type(net[1]) is nn.BatchNorm2d and trainer.sync_bn_models == ()
    assert load_checkpoint(tmp_path / "bn" / "last.pt")["sync_bn"] == []


def test_checkpoints_of_sync_bn_models_resume_into_plain_batchnorm(tmp_path):
    no_process_group()

    def bn_trainer(out_dir, steps, sync):
        net = bn_net()
        if sync:
            convert_sync_bn(net)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        return Trainer(net, opt, step_fn, out_dir=out_dir, max_steps=steps, device="cpu",
                       progress=False, seed=0, log_every=1), net

    ref, ref_net = bn_trainer(tmp_path / "ref", 4, sync=False)
    ref.fit(data)
    first, _ = bn_trainer(tmp_path / "run", 2, sync=True)  # as a SyncBatchNorm model under DDP saves it
    first.fit(data)
    second, net = bn_trainer(tmp_path / "run", 4, sync=False)  # resumed in one process, plain BatchNorm
    second.fit(data)
    assert second.step == 4 and type(net[1]) is nn.BatchNorm2d
    for k, v in ref_net.state_dict().items():
        assert torch.allclose(net.state_dict()[k], v, atol=1e-6), k


def _bn_running_stats(rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """The running statistics of ddp_worker's input BatchNorm after its run, computed directly
    from ``rows`` of each step's global batch (mean, unbiased variance, momentum updates)."""
    m = ddp_worker.BN_MOMENTUM
    mean, var = torch.zeros(3), torch.ones(3)
    for step in range(ddp_worker.STEPS):
        x = ddp_worker.data(step)[0][rows].double()
        mean = (1 - m) * mean + m * x.mean(dim=(0, 2, 3)).float()
        var = (1 - m) * var + m * x.var(dim=(0, 2, 3), unbiased=True).float()
    return mean, var


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_ddp_batchnorm_statistics_with_the_default_sync_bn(tmp_path, device):
    """CUDA (two GPUs): the statistics of every rank are those of the global batch. CPU (gloo):
    the documented fallback, per-process statistics, and ``sync_bn=True`` is refused."""
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this build")
    if device == "cuda" and torch.cuda.device_count() < 2:
        pytest.skip("SyncBatchNorm under NCCL needs two GPUs")
    env = dict(os.environ, OMP_NUM_THREADS="1", INPAINTLIB_DDP_TIMEOUT="180",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=2",
           str(ROOT / "tests" / "ddp_worker.py"), str(out), "bn", device]
    rc, output, timed_out = ddp_worker.run_guarded(cmd, env=env, timeout=900)
    if timed_out:
        pytest.fail(f"the DDP run hung and was killed with all its workers:\n{output[-3000:]}")
    assert rc == 0, output[-6000:]
    ranks = [json.loads((out / f"bn_rank{r}.json").read_text()) for r in range(2)]
    ckpt = load_checkpoint(out / "last.pt")
    assert list(ckpt["models"]["g"]) == list(ddp_worker.build_bn_model().state_dict())  # same keys
    half = ddp_worker.GLOBAL_BATCH // 2
    if device == "cuda":
        assert output.count("sync_bn: the BatchNorm layers of g are SyncBatchNorm") == 2  # rank 0, per Trainer
        assert ckpt["sync_bn"] == ["g"]
        mean, var = _bn_running_stats(slice(None))  # the whole global batch
        for info in ranks:
            assert info["bn_type"] == "SyncBatchNorm" and info["sync_bn_models"] == ["g"]
            assert info["forced_error"] == "" and info["batches_tracked"] == ddp_worker.STEPS
            assert torch.allclose(torch.tensor(info["running_mean"]), mean, atol=1e-5)
            assert torch.allclose(torch.tensor(info["running_var"]), var, atol=1e-5)
        return
    assert output.count("sync_bn: off: SyncBatchNorm needs GPUs") == 1  # rank 0 only
    assert ckpt["sync_bn"] == []
    for info in ranks:
        assert info["bn_type"] == "BatchNorm2d" and info["sync_bn_models"] == []
        assert "runs only on GPUs" in info["forced_error"]
    # rank 0 (whose buffers DDP broadcasts and the checkpoint holds) normalised over its half only
    mean, var = _bn_running_stats(slice(0, half))
    assert torch.allclose(torch.tensor(ranks[0]["running_mean"]), mean, atol=1e-5)
    assert torch.allclose(torch.tensor(ranks[0]["running_var"]), var, atol=1e-5)
    assert torch.allclose(ckpt["models"]["g"]["0.running_mean"], mean, atol=1e-5)
    assert not torch.allclose(_bn_running_stats(slice(None))[0], mean, atol=1e-3)
    assert ranks[0]["running_mean"] != ranks[1]["running_mean"]
