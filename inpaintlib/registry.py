"""Registries of generators and training recipes, and the portable model file.

Each method chapter registers its generator (``@register_model("pconv")``) and its recipe
(``@register_recipe("pconv")``); the command line and the benchmark chapter look them up
by name. A *model file* is a small checkpoint that names the generator and the arguments it
was built with, so ``load_model(path)`` rebuilds it without knowing the class in advance.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

__all__ = [
    "register_model",
    "register_recipe",
    "model_names",
    "recipe_names",
    "build_model",
    "get_recipe",
    "save_model",
    "load_model",
    "MODEL_FORMAT",
]

MODEL_FORMAT = "inpaintlib-model/1"

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_RECIPES: dict[str, Callable[..., Any]] = {}


def register_model(name: str):
    """Class decorator: make a generator buildable by name (``build_model(name, **config)``)."""

    def deco(cls):
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = cls
        return cls

    return deco


def register_recipe(name: str):
    """Function decorator: register a training recipe ``recipe(profile, out_dir, **kw)``."""

    def deco(fn):
        if name in _RECIPES and _RECIPES[name] is not fn:
            raise ValueError(f"a recipe named {name!r} is already registered")
        _RECIPES[name] = fn
        return fn

    return deco


def _load_builtin() -> None:
    # Method modules register themselves on import; importing the subpackages is enough.
    import importlib

    for mod in ("inpaintlib.models", "inpaintlib.recipes"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:  # subpackage not written yet
            if err.name != mod:
                raise


def model_names() -> list[str]:
    """Names of the registered generators."""
    _load_builtin()
    return sorted(_MODELS)


def recipe_names() -> list[str]:
    """Names of the registered training recipes."""
    _load_builtin()
    return sorted(_RECIPES)


def build_model(name: str, **config) -> nn.Module:
    """Build the generator registered as ``name`` with ``config`` as keyword arguments."""
    _load_builtin()
    if name not in _MODELS:
        known = ", ".join(sorted(_MODELS)) or "none registered yet"
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return _MODELS[name](**config)


def get_recipe(name: str) -> Callable[..., Any]:
    """The training recipe registered as ``name``."""
    _load_builtin()
    if name not in _RECIPES:
        known = ", ".join(sorted(_RECIPES)) or "none registered yet"
        raise ValueError(f"unknown method {name!r}; methods with a training recipe: {known}")
    return _RECIPES[name]


def save_model(model: nn.Module, path: Union[str, os.PathLike], name: str,
               config: Optional[dict] = None, meta: Optional[dict] = None) -> Path:
    """Write a portable model file (atomically): generator name, config, weights, metadata.

    A failed write (full disk, read-only folder, a parent that is a file) raises
    :class:`inpaintlib.io.WriteError` naming the file; the previous file stays as it was."""
    from .io import save_torch

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": MODEL_FORMAT, "model": name, "config": dict(config or {}),
               "state_dict": state, "meta": dict(meta or {})}
    return save_torch(payload, Path(path))


def load_model(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = "cpu") -> nn.Module:
    """Rebuild a generator from a model file written by :func:`save_model`, in eval mode.
    When the file records the image size it was trained at, the model gets it as
    ``model.trained_size`` (:func:`inpaintlib.inference.model_size`).

    Every problem is a :class:`ValueError` naming the file (a missing file a
    :class:`FileNotFoundError`): not a PyTorch file, not a model file, an unknown generator, a
    config the generator does not accept, or weights that do not fit the architecture the
    config builds — checked before any weight is copied."""
    from .io import load_torch, state_mismatch

    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        payload = load_torch(path, "inpaintlib model file", map_location=map_location)
    except FileNotFoundError:
        raise FileNotFoundError(f"model file not found: {path}") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        hint = ""
        if isinstance(payload, dict) and str(payload.get("format", "")).startswith("inpaintlib-trainer"):
            hint = (" — it is a Trainer checkpoint; the recipe writes the model file beside it "
                    "(<out_dir>/<method>.pt), or use Trainer.load_weights")
        raise ValueError(
            f"{path} is not an inpaintlib model file (expected format {MODEL_FORMAT!r}){hint}; "
            "write one with inpaintlib.registry.save_model or `inpaintlib convert`"
        )
    name, config, state = payload.get("model"), payload.get("config"), payload.get("state_dict")
    if not isinstance(name, str) or not isinstance(config, dict) or not isinstance(state, dict):
        raise ValueError(f"{path} is a damaged model file: it needs a generator name, a config dict "
                         f"and a state dict (found {type(name).__name__}, {type(config).__name__}, "
                         f"{type(state).__name__})")
    try:
        model = build_model(name, **config)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    except Exception as err:  # the config does not fit the generator's arguments
        raise ValueError(f"{path}: its config {config} does not build a {name!r} model ({type(err).__name__}: "
                         f"{err}); the file is damaged or was written by another version of inpaintlib") from err
    problems = state_mismatch(model.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: its weights do not fit the {name!r} model its config builds "
                         f"({type(model).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})): "
                         f"{'; '.join(problems)}. Nothing was loaded; the file is damaged or was "
                         f"written by another version of inpaintlib")
    model.load_state_dict(state)
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    size = (meta.get("schedule") or {}).get("image_size") or (meta.get("overrides") or {}).get("image_size")
    if size:
        model.trained_size = int(size)   # what inpaintlib.inference runs the model at
    return model.eval()
