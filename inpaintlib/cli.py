"""The ``inpaintlib`` command line.

::

    inpaintlib inpaint IMAGE MASK -o OUT --method telea|ns|biharmonic|pconv|gmcnn|ctsdg|clmser|MODEL.pt
    inpaintlib masks --kind free_form --n 10 --size 256 --buckets ctsdg -o masks/eval
    inpaintlib eval --method ctsdg --images celeba --masks nvidia --size 256 --n 100
    inpaintlib train METHOD --profile quick
    inpaintlib train pconv --images my_photos/ --masks data/nvidia_masks/train --size 256 --steps 2000
    inpaintlib convert METHOD ORIGINAL.pth -o OURS.pt
    inpaintlib export MODEL.pt --format onnx|torchscript -o FILE
    inpaintlib info

Every error the user can fix — a missing or unreadable file, a bad mask, an unknown method, a
model file that does not fit, a full or read-only disk, an output path that is a folder or
under a file — prints one line starting with ``error:`` that names the file and what to do,
and exits with status 2; no traceback. Every file is written atomically (a temporary in the
same folder, then a rename), so a failed write never destroys the previous file. A bug in
inpaintlib itself still shows its traceback, with a line saying how to report it, and exits
with status 1; Ctrl-C exits with 130.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser"]


class UserError(Exception):
    """An error caused by the command's input, reported without a traceback."""


def _baseline_names() -> list[str]:
    from .baselines import BASELINES

    return sorted(BASELINES)


def _reference_names() -> list[str]:
    from .reference import inpainting_references

    return sorted(inpainting_references())


def _resolve_method(method: str):
    """A baseline name, a method name (its reference model) or a model file → a callable
    ``(image, hole) -> pred``."""
    from .baselines import BASELINES, get_baseline

    if method in BASELINES:
        return get_baseline(method), method
    if method in _reference_names():
        from .reference import load_reference

        return load_reference(method), f"{method} (reference model)"
    path = Path(method)
    if path.suffix in {".pt", ".pth", ".ckpt"} or path.exists():
        from .registry import load_model

        return load_model(path), path.name
    raise UserError(
        f"unknown method {method!r}: use one of {', '.join(_baseline_names())}, a method with a reference "
        f"model ({', '.join(_reference_names())}) or the path of a model file"
    )


def cmd_inpaint(args) -> int:
    import torch

    from .io import check_output_path, image_format, save_image
    from .tensors import composite, device, to_pil, validate

    # before any work: an output that is a folder, under a file, or of an unknown image format
    out_path = check_output_path(args.output, "filled.png")
    image_format(out_path)

    from .data import load_image
    from .masks import load_mask

    image = load_image(args.image).unsqueeze(0)
    hole = load_mask(args.mask, invert=args.invert_mask).unsqueeze(0)
    if image.shape[-2:] != hole.shape[-2:]:
        raise UserError(
            f"image {args.image} is {image.shape[-1]}×{image.shape[-2]} but mask {args.mask} is "
            f"{hole.shape[-1]}×{hole.shape[-2]}; they must have the same size"
        )
    validate(image, hole)
    from .inference import inpaint, model_size

    model, name = _resolve_method(args.method)
    dev = device(args.device) if args.device else (torch.device("cpu") if name in _baseline_names() else device())
    if hasattr(model, "to"):
        model = model.to(dev)
    size = args.size or model_size(model)
    strategy = args.strategy if size else "native"
    if size and tuple(image.shape[-2:]) != (size, size) and strategy != "native":
        print(f"{name}: trained at {size} px; the {image.shape[-1]}×{image.shape[-2]} photo is filled with the "
              f"'{strategy}' strategy (the model runs at {size} px, the fill is pasted back at full size; "
              f"--strategy crop|resize|native)")
    out = inpaint(model, image.to(dev), hole.to(dev), size=size, strategy=strategy, raw=args.raw).cpu()
    save_image(to_pil(out), out_path)  # atomic: the previous file survives a failed write
    print(f"{name}: filled {int(hole.sum())} hole pixels ({float(hole.mean()):.1%}) -> {out_path}")
    return 0


def _buckets(name: str):
    from . import masks

    table = {"ctsdg": masks.CTSDG_BUCKETS, "pconv": masks.PCONV_BUCKETS}
    if name not in table:
        raise UserError(f"unknown bucket set {name!r}; choose ctsdg or pconv")
    return table[name]


def _check_folder_arg(folder, option: str, what: str) -> None:
    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise UserError(f"{folder} is a file, but {option} takes the folder to write {what} into; "
                        f"give a folder name")


def cmd_masks(args) -> int:
    from .masks import bucket_label, fixed_mask_set

    _check_folder_arg(args.output, "-o", "the PNG masks")
    buckets = _buckets(args.buckets)
    ms = fixed_mask_set(args.kind, args.n, args.size, buckets=buckets, seed=args.seed, root=args.output)
    print(f"{len(ms)} {args.kind} masks of {args.size}px in {args.output}")
    for i, b in enumerate(buckets):
        n = int((ms.bucket_ids == i).sum())
        print(f"  {bucket_label(b):>8}: {n}")
    return 0


def cmd_eval(args) -> int:
    import torch

    from .io import check_output_path
    from .protocols import evaluate_protocol
    from .tensors import device

    if args.csv:
        check_output_path(args.csv, "scores.csv")  # before the evaluation, not after it
    _check_folder_arg(args.mask_dir, "--mask-dir", "the fixed mask set")
    setting = {"images": "sample_bank" if args.images == "heldout" else args.images, "masks": args.masks,
               "buckets": _buckets(args.buckets), "split": args.split}
    quoted_for = args.method
    if args.paper_protocol:
        from .data.sources import PAPER_DATA

        if args.paper_protocol not in PAPER_DATA:
            raise UserError(f"--paper-protocol takes a method: {', '.join(PAPER_DATA)}")
        setting = PAPER_DATA[args.paper_protocol].evaluation()
        quoted_for = args.paper_protocol
        print(f"the {args.paper_protocol} paper's protocol: {setting['images']} {setting['split']} split, "
              f"{setting['masks']} masks")
    model, name = _resolve_method(args.method)
    dev = torch.device("cpu") if name in _baseline_names() else device(args.device)
    if hasattr(model, "to"):
        model = model.to(dev)
    table, card, quoted = evaluate_protocol(
        model, name, size=args.size, n=args.n, seed=args.seed, device=dev, batch_size=args.batch_size,
        invert_masks=args.invert_mask, mask_dir=args.mask_dir, method=quoted_for, **setting)
    print(card)
    print(table.to_markdown() if hasattr(table, "to_markdown") else table)
    if quoted:
        print("\nreproduction numbers the book quotes for this method, with their protocol:")
        print(quoted)
    if args.csv:
        table.to_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


#: CLI options -> recipe keyword arguments (only those a recipe accepts are passed)
_TRAIN_KWARGS = {"images": "images", "masks": "masks", "allow_sample_bank": "allow_sample_bank",
                 "invert_mask": "invert_masks", "workers": "num_workers", "seed": "seed", "device": "device"}


def cmd_train(args) -> int:
    import dataclasses
    import inspect
    import sys as _sys

    from .data import checkpoint_root
    from .profiles import get_profile
    from .registry import get_recipe

    try:
        recipe = get_recipe(args.method)
    except ValueError as err:
        raise UserError(str(err)) from err
    profile = get_profile(args.profile)
    accepted = inspect.signature(recipe).parameters
    kwargs = {}
    for option, name in _TRAIN_KWARGS.items():
        value = getattr(args, option)
        if value is None or value is False:
            continue
        if name not in accepted:
            if args.method == "sc_lmser" and option == "images":
                if value not in ("cufs", "cufsf", "proxy"):
                    raise UserError("sc_lmser trains on photo-sketch pairs: --images cufs, cufsf or proxy")
                kwargs["dataset"] = value
                continue
            raise UserError(f"{args.method} does not take --{option.replace('_', '-')}")
        kwargs[name] = value
    if args.mask_augment is not None:
        kwargs["mask_augment"] = args.mask_augment
    if args.steps is not None:
        kwargs["max_steps"] = args.steps
    overrides = {}
    module = _sys.modules[recipe.__module__]
    fields = {f.name for f in dataclasses.fields(module.schedule(profile))} if hasattr(module, "schedule") else set()
    if args.size is not None:
        overrides["image_size"] = args.size
    if args.batch_size is not None:
        batch_fields = [f for f in ("batch_size", "batch_pretrain", "batch_finetune") if f in fields]
        if not batch_fields:
            raise UserError(f"{args.method}'s schedule has no batch size to set")
        overrides.update({f: args.batch_size for f in batch_fields})
    if overrides:
        kwargs["overrides"] = overrides
    out = Path(args.out or checkpoint_root() / f"{args.method}-{profile.name}")
    _check_folder_arg(out, "--out", "the run")
    _check_existing_run(out, profile.name)
    if args.resume and not any(out.rglob("last.pt")) and not any(out.rglob("final.pt")):
        raise UserError(f"--resume: {out} holds no run to continue (no last.pt or final.pt under it); "
                        f"leave out --resume to start one")
    what = f"continuing the run in {out}" if args.resume else f"-> {out}"
    print(f"training {args.method} with {profile} {what}")
    if overrides:
        print("  schedule overrides: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    recipe(profile=profile, out_dir=out, **kwargs)
    return 0


def _check_existing_run(out: Path, profile: str) -> None:
    """A run folder already holding a model file of another profile is an error before any
    training: its checkpoints would be another run's (load_or_train would refuse them too)."""
    from .io import load_torch

    if not out.is_dir():
        return
    for path in sorted(out.glob("*.pt")):
        if path.name in ("final.pt", "last.pt"):
            continue
        try:
            payload = load_torch(path, "model file")
        except (ValueError, OSError):
            continue
        meta = payload.get("meta") if isinstance(payload, dict) else None
        stored = meta.get("profile") if isinstance(meta, dict) else None
        if stored and stored != profile:
            raise UserError(f"{out} holds a run trained with the {stored!r} profile ({path.name}); you asked for "
                            f"{profile!r}. Use another --out (by default each profile has its own folder), "
                            f"or delete {out} to train again")


def cmd_convert(args) -> int:
    from .convert import ConversionError, convert_file, methods
    from .io import check_output_path

    if args.method not in methods():
        raise UserError(f"unknown method {args.method!r} for conversion; choose one of {', '.join(methods())}")
    options = {}
    if args.upsampling is not None:
        if args.method != "pconv":
            raise UserError(f"--upsampling applies to pconv conversions only (the {args.method} network's "
                            "upsampling is fixed)")
        options["upsampling"] = args.upsampling
    check_output_path(args.output, f"{args.method}.pt")
    try:
        res = convert_file(args.method, args.original, args.output, trust=args.trust, **options)
    except ConversionError as err:
        message = str(err)
        raise UserError(message if str(args.original) in message else f"{args.original}: {message}") from err
    n = sum(p.numel() for p in res.model.parameters())
    config = ", ".join(f"{k}={v!r}" for k, v in res.config.items())
    print(f"{args.method}: {args.original} -> {args.output} ({type(res.model).__name__}({config}), "
          f"{n:,} parameters)")
    for note in res.notes:
        print(f"  - {note}")
    return 0


def cmd_export(args) -> int:
    from .export import eager_output, example_inputs, export_checkpoint, run_exported
    from .io import check_output_path

    if not Path(args.checkpoint).is_file():
        raise UserError(f"model file not found: {args.checkpoint}")
    check_output_path(args.output)
    try:
        path, model = export_checkpoint(args.checkpoint, args.output, args.format, size=args.size,
                                        batch=args.batch_size, onnx_exporter=args.onnx_exporter)
    except (ImportError, TypeError) as err:
        raise UserError(str(err)) from err
    inputs = example_inputs(model, args.size, args.batch_size, seed=1)
    diff = float((run_exported(path, *inputs, fmt=args.format) - eager_output(model, inputs)).abs().max())
    names = "image, hole, edge" if len(inputs) == 3 else "image, hole"
    print(f"{args.format}: {args.checkpoint} -> {path} (inputs {names}: batch {args.batch_size}, "
          f"{args.size}×{args.size}); max |exported − eager| = {diff:.2e}")
    if diff > 1e-4:
        raise UserError(f"the exported model differs from the eager one by {diff:.2e} (> 1e-4)")
    return 0


def cmd_info(args) -> int:
    import platform

    import torch

    from . import __version__
    from .profiles import get_profile
    from .registry import model_names, recipe_names
    from .tensors import device

    print(f"inpaintlib {__version__}  python {platform.python_version()}  torch {torch.__version__}")
    print(f"device: {device()}  threads: {torch.get_num_threads()}")
    print(f"profile: {get_profile()}")
    try:
        from .data import data_root

        print(f"data root: {data_root()}")
        print("  " + "; ".join(_prepared_data()))
    except ImportError:
        pass
    print(f"baselines: {', '.join(_baseline_names())}")
    print(f"models: {', '.join(model_names()) or '-'}   recipes: {', '.join(recipe_names()) or '-'}")
    return 0


def _prepared_data() -> list:
    """One entry per dataset the recipes can read: prepared (with its size) or not."""
    from .data.sources import DATASETS, DataNotPrepared, open_images, open_masks

    out = []
    for name in DATASETS:
        try:
            ds, _ = (open_masks("nvidia", 64, "test") if name == "nvidia" else open_images(name, 64, "test"))
            out.append(f"{name}: prepared ({len(ds):,} test items)")
        except (DataNotPrepared, OSError, ValueError):
            out.append(f"{name}: not prepared")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inpaintlib", description="Image inpainting tools from the Inpainting Book.")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("inpaint", help="fill the holes of one image")
    q.add_argument("image", help="input image (any format Pillow reads)")
    q.add_argument("mask", help="mask image, white = hole (see --invert-mask)")
    q.add_argument("-o", "--output", required=True, help="output image path")
    q.add_argument("--method", default="telea",
                   help="telea, ns, biharmonic; pconv, gmcnn, ctsdg or clmser (the reference model shipped "
                        "with the book); or a model file (.pt)")
    q.add_argument("--strategy", default="crop", choices=["crop", "resize", "native"],
                   help="how a model trained at a smaller size fills a larger photo: 'crop' (default) fills a "
                        "window around the hole at the model's size, 'resize' the whole photo at the model's "
                        "size, 'native' runs the model on the photo as it is")
    q.add_argument("--size", type=int, default=None,
                   help="the size to run the model at (default: the size it was trained at)")
    q.add_argument("--invert-mask", action="store_true", help="the mask file marks holes in black")
    q.add_argument("--raw", action="store_true", help="save the raw prediction instead of the composite")
    q.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    q.set_defaults(func=cmd_inpaint)

    m = sub.add_parser("masks", help="write a deterministic evaluation mask set")
    m.add_argument("--kind", default="free_form", help="free_form, rectangle or dense_points")
    m.add_argument("--n", type=int, default=100, help="masks per hole-ratio bucket")
    m.add_argument("--size", type=int, default=256)
    m.add_argument("--buckets", default="ctsdg", help="ctsdg (0-20-40-60%%) or pconv (1-10-...-60%%)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("-o", "--output", required=True, help="folder for the PNG masks")
    m.set_defaults(func=cmd_masks)

    e = sub.add_parser("eval", help="evaluate a method per hole-ratio bucket, with its protocol card")
    e.add_argument("--method", default="telea",
                   help="telea, ns, biharmonic, a method with a reference model (pconv, gmcnn, ctsdg, clmser), "
                        "or a model file (.pt)")
    e.add_argument("--images", default="heldout",
                   help="'heldout' (the sample bank's held-out photos), a prepared dataset (celeba, celeba_hq, "
                        "places2: its test split) or an image folder (centre crops)")
    e.add_argument("--split", default="test", choices=["test", "train"], help="the dataset's split (default test)")
    e.add_argument("--masks", default="free_form",
                   help="a mask kind for a generated fixed set (free_form, rectangle, dense_points), 'nvidia' (the "
                        "NVIDIA test masks) or a folder of PNG masks (white = hole): the first --n per bucket")
    e.add_argument("--invert-mask", action="store_true", help="the mask files mark holes in black")
    e.add_argument("--paper-protocol", default=None, metavar="METHOD",
                   help="evaluate the way METHOD's paper does (pconv, ctsdg: the NVIDIA test masks; its dataset's "
                        "test split and buckets), replacing --images, --masks, --split and --buckets")
    e.add_argument("--mask-dir", default=None, help="keep a generated fixed mask set in this folder")
    e.add_argument("--n", type=int, default=8, help="masks per bucket")
    e.add_argument("--size", type=int, default=128)
    e.add_argument("--buckets", default="ctsdg", help="ctsdg (0-20-40-60%%) or pconv (1-10-...-60%%)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--device", default=None)
    e.add_argument("--csv", default=None, help="also write the table as CSV")
    e.set_defaults(func=cmd_eval)

    t = sub.add_parser("train", help="train a method with its recipe, on the profile's data or your own folders")
    t.add_argument("method", help="pconv, ctsdg, gmcnn, clmser or sc_lmser")
    t.add_argument("--profile", default=None, help="quick, workshop or paper (default: the machine's)")
    t.add_argument("--images", default=None,
                   help="a prepared dataset (celeba, celeba_hq, places2), a folder of your photos, or sample_bank "
                        "(default: the profile's choice: the paper's data in workshop/paper when prepared)")
    t.add_argument("--masks", default=None,
                   help="nvidia (the NVIDIA irregular masks), a folder of PNG masks (white = hole), or a generator "
                        "kind: free_form, rectangle, dense_points (default: the paper's)")
    t.add_argument("--no-mask-augment", dest="mask_augment", action="store_false", default=None,
                   help="use mask files as they are (default: dilate, rotate and crop them, as in the PConv paper)")
    t.add_argument("--invert-mask", action="store_true", help="the mask files mark holes in black")
    t.add_argument("--allow-sample-bank", action="store_true",
                   help="let the paper profile fall back to the sample bank when the paper's data is missing")
    t.add_argument("--size", type=int, default=None, help="image size (default: the profile's)")
    t.add_argument("--batch-size", type=int, default=None, help="batch size (default: the recipe's)")
    t.add_argument("--steps", type=int, default=None,
                   help="steps of the first phase (later phases get a quarter; default: the profile's schedule)")
    t.add_argument("--workers", type=int, default=None, help="data loading processes (default: the profile's)")
    t.add_argument("--seed", type=int, default=None, help="seed of the weights and the batches (default 0)")
    t.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out (an interrupted run, or a finished one to more --steps); "
                        "an error if there is none")
    t.add_argument("--out", default=None, help="output folder (default $INPAINTLIB_CHECKPOINTS or checkpoints/, then METHOD-PROFILE)")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("convert", help="turn an original authors' checkpoint into a model file")
    c.add_argument("method", help="pconv, gmcnn, clmser, clmser_n, clmser_w, cae or ctsdg")
    c.add_argument("original", help="the checkpoint as the original code saved it (.pth)")
    c.add_argument("-o", "--output", required=True, help="model file to write (.pt)")
    c.add_argument("--trust", action="store_true",
                   help="allow pickled Python objects besides tensors (only for files you trust)")
    c.add_argument("--upsampling", choices=("nearest", "bilinear"), default=None,
                   help="pconv only: the decoder's upsampling the original model was trained with "
                        "(its upsampling_mode; default nearest); the checkpoint does not record it")
    c.set_defaults(func=cmd_convert)

    x = sub.add_parser("export", help="write a model file as ONNX or TorchScript")
    x.add_argument("checkpoint", help="a model file (.pt) written by train, convert or save_model")
    x.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    x.add_argument("-o", "--output", required=True, help="file to write (.onnx / .pt)")
    x.add_argument("--size", type=int, default=256, help="image side of the exported graph (default 256)")
    x.add_argument("--batch-size", type=int, default=1, help="batch size of the exported graph (default 1)")
    x.add_argument("--onnx-exporter", default="dynamo", choices=["dynamo", "legacy"],
                   help="torch.export-based (default) or the deprecated TorchScript-based ONNX exporter")
    x.set_defaults(func=cmd_export)

    i = sub.add_parser("info", help="print versions, device, profile and what is registered")
    i.set_defaults(func=cmd_info)
    return p


REPORT = ("This is a bug in inpaintlib, not a problem with your input. Please report it to the "
          "inpaintlib maintainers (the book's repository, Issues) with the command you ran, the output "
          "of `inpaintlib info` and the traceback above.")


def user_message(err: BaseException) -> Optional[str]:
    """The one-line message for an error the user can fix, or ``None`` for a bug.

    User errors: :class:`UserError`; :class:`ValueError` (bad input, a file that is not what it
    should be, a checkpoint of another run — the library's messages name the file); every
    :class:`OSError` (missing files, full or read-only disks, permissions, a folder where a file
    should be: the message names the file and the cause); running out of memory."""
    from .io import WriteError, describe_os_error

    if isinstance(err, (UserError, WriteError)):
        return str(err)
    if isinstance(err, OSError):
        if err.errno is None or not err.strerror:  # raised by inpaintlib with its own message
            return str(err)
        name = f" {err.filename}" if err.filename else ""
        other = f" -> {err.filename2}" if getattr(err, "filename2", None) else ""
        return f"cannot use{name}{other}: {describe_os_error(err)}"
    if isinstance(err, ValueError):
        return str(err)
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        first = (str(err).strip().splitlines() or [""])[0]
        return (f"out of memory{f' ({first})' if first else ''}: use a smaller --size or --batch-size, "
                f"or --device cpu")
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command; returns the exit status (0, 2 for a user's error, 130 for Ctrl-C).
    A bug re-raises nothing: its traceback is printed with how to report it, and 1 returned."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        message = user_message(err)
        if message is None:
            import traceback

            traceback.print_exc()
            print(f"\n{REPORT}", file=sys.stderr)
            return 1
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
