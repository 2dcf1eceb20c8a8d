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
    """Write a portable model file (atomically): generator name, config, weights, metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": MODEL_FORMAT, "model": name, "config": dict(config or {}),
               "state_dict": state, "meta": dict(meta or {})}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_model(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = "cpu") -> nn.Module:
    """Rebuild a generator from a model file written by :func:`save_model`, in eval mode.
    When the file records the image size it was trained at, the model gets it as
    ``model.trained_size`` (:func:`inpaintlib.inference.model_size`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # corrupt or foreign file
        raise ValueError(f"{path} is not a readable inpaintlib model file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{path} is not an inpaintlib model file (expected format {MODEL_FORMAT!r}); "
            "write one with inpaintlib.registry.save_model"
        )
    model = build_model(payload["model"], **payload["config"])
    model.load_state_dict(payload["state_dict"])
    meta = payload.get("meta") or {}
    size = (meta.get("schedule") or {}).get("image_size") or (meta.get("overrides") or {}).get("image_size")
    if size:
        model.trained_size = int(size)   # what inpaintlib.inference runs the model at
    return model.eval()
