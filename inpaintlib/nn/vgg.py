"""VGG16 / VGG19 feature stacks for perceptual and style losses, without torchvision.

Taught in the "Partial convolution" chapter (perceptual and style losses on VGG16
pool1–pool3) and reused by the "Dual streams" chapter (CTSDG).

:class:`VGGFeatures` holds a ``features`` :class:`torch.nn.Sequential` laid out exactly
like ``torchvision.models.vgg16().features`` (or ``vgg19``): the same layer indices, so the
state-dict keys are ``features.0.weight``, ``features.0.bias``, ``features.2.weight``, ...
and a torchvision ImageNet checkpoint loads into it unchanged. Every layer also has a
readable name (``conv1_1``, ``relu1_1``, ..., ``pool1``, ..., ``relu4_2``, ``pool5``).

Weights policy (DESIGN.md, "Offline facts"): ImageNet weights are **never downloaded
silently and never silently random**. :func:`load_vgg_state_dict` looks, in order, at an
explicit file path, the environment variable ``INPAINTLIB_VGG16_WEIGHTS`` /
``INPAINTLIB_VGG19_WEIGHTS``, and torch hub's cache
(``torch.hub.get_dir()/checkpoints/vgg16-397923af.pth``, torchvision's file name); it
downloads only when called with ``download=True``. With none of these it raises a
:class:`FileNotFoundError` that says which file to put where. Random weights exist only
when asked for (``weights="random"``, used by the tests).
"""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import torch
from torch import nn

__all__ = [
    "VGG_CONFIGS",
    "VGG_URLS",
    "VGG_ENV_VARS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGGFeatures",
    "vgg_layer_names",
    "vgg_hub_path",
    "find_vgg_weights",
    "load_vgg_state_dict",
]

PathLike = Union[str, os.PathLike]

#: Layer configurations: an int is a 3×3 conv (padding 1) with that many output channels
#: followed by a ReLU, ``"M"`` a 2×2 max-pool with stride 2 (torchvision's configs D and E).
VGG_CONFIGS: dict[str, tuple] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}

#: Where torchvision publishes the ImageNet weights (the file names carry a hash prefix).
VGG_URLS: dict[str, str] = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}

#: Environment variables that point at a weights file.
VGG_ENV_VARS: dict[str, str] = {
    "vgg16": "INPAINTLIB_VGG16_WEIGHTS",
    "vgg19": "INPAINTLIB_VGG19_WEIGHTS",
}

#: ImageNet channel statistics the VGG weights were trained with (RGB, images in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_arch(arch: str) -> str:
    if arch not in VGG_CONFIGS:
        raise ValueError(f"arch must be one of {sorted(VGG_CONFIGS)}, got {arch!r}")
    return arch


def vgg_layer_names(arch: str = "vgg16") -> list[str]:
    """Readable names of the ``features`` layers, index by index.

    ``vgg_layer_names("vgg16")[4] == "pool1"``, ``[9] == "pool2"``, ``[16] == "pool3"``.
    """
    names = []
    block, conv = 1, 0
    for v in VGG_CONFIGS[_check_arch(arch)]:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return names


def _expected_shapes(arch: str) -> "OrderedDict[str, tuple[int, ...]]":
    """``features.N.weight/bias`` → shape for the full feature stack of ``arch``."""
    shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    idx, c_in = 0, 3
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            idx += 1
        else:
            shapes[f"features.{idx}.weight"] = (v, c_in, 3, 3)
            shapes[f"features.{idx}.bias"] = (v,)
            c_in = v
            idx += 2
    return shapes


# --------------------------------------------------------------------------- weights

def vgg_hub_path(arch: str = "vgg16") -> Path:
    """Where torch hub caches torchvision's weights file:
    ``torch.hub.get_dir()/checkpoints/<vgg16-397923af.pth | vgg19-dcbb9e9d.pth>``
    (``torch.hub.get_dir()`` is ``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``)."""
    name = VGG_URLS[_check_arch(arch)].rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _missing_message(arch: str) -> str:
    path = vgg_hub_path(arch)
    return (
        f"No ImageNet {arch.upper()} weights found, and downloads are off.\n"
        f"  Put the file {path.name} in the folder {path.parent}\n"
        f"  (download it from {VGG_URLS[arch]}),\n"
        f"  or set the environment variable {VGG_ENV_VARS[arch]}=/path/to/{path.name},\n"
        f"  or pass download=True to fetch it into that folder with torch.hub.\n"
        f"  For tests only, weights='random' builds a randomly initialised network."
    )


def find_vgg_weights(arch: str = "vgg16", weights: Optional[PathLike] = None) -> Optional[tuple[Path, str]]:
    """Find a local ImageNet weights file without touching the network.

    Looks, in order, at ``weights`` (an explicit path), the environment variable
    ``INPAINTLIB_VGG16_WEIGHTS`` / ``INPAINTLIB_VGG19_WEIGHTS`` and the torch hub cache
    (:func:`vgg_hub_path`). Returns ``(path, how_it_was_found)`` or ``None`` when there is
    no file. An explicit path or an environment variable that names a missing file is an
    error (:class:`FileNotFoundError`), never a silent fall-through.
    """
    _check_arch(arch)
    if isinstance(weights, str) and weights in ("imagenet", "random"):
        if weights == "random":
            raise ValueError("weights='random' has no file; use VGGFeatures(weights='random')")
        weights = None
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            raise ValueError(f"VGG weights file {path} is a folder; give the path of the .pth file")
        if not path.is_file():
            raise FileNotFoundError(f"VGG weights file {path} does not exist")
        return path, "explicit path"
    env = VGG_ENV_VARS[arch]
    value = os.environ.get(env)
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{env} points to {path}, which does not exist. " + _missing_message(arch)
            )
        return path, f"${env}"
    path = vgg_hub_path(arch)
    if path.is_file():
        return path, "torch hub cache"
    return None


def _features_only(state: Mapping, arch: str, source: str) -> "OrderedDict[str, torch.Tensor]":
    """Keep the ``features.*`` tensors of a torchvision-style state dict and check them."""
    if not isinstance(state, Mapping):
        raise ValueError(f"VGG weights file {source} is not a state dict of tensors (it holds a {type(state).__name__})")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"VGG weights file {source} is not a state dict of tensors")
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):  # saved from DataParallel/DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    others = []
    for k, v in state.items():
        if k.startswith("features."):
            out[k] = v
        elif k.startswith("classifier."):
            continue  # the fully connected head is not used for features
        elif k.split(".", 1)[0].isdigit():  # a bare nn.Sequential's state dict
            out["features." + k] = v
        else:
            others.append(k)
    expected = _expected_shapes(arch)
    missing = [k for k in expected if k not in out]
    unexpected = [k for k in out if k not in expected] + others
    wrong = [f"{k}: file {tuple(out[k].shape)} vs {arch} {expected[k]}"
             for k in expected if k in out and tuple(out[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        other = "vgg19" if arch == "vgg16" else "vgg16"
        hint = ""
        if not _shape_problems(out, other):
            hint = f" It looks like {other.upper()} weights."
        details = "; ".join(
            part for part in (
                f"missing keys {missing[:4]}{' ...' if len(missing) > 4 else ''}" if missing else "",
                f"unexpected keys {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}" if unexpected else "",
                f"wrong shapes {wrong[:3]}{' ...' if len(wrong) > 3 else ''}" if wrong else "",
            ) if part
        )
        raise ValueError(
            f"VGG weights file {source} does not match torchvision's {arch} features layout: "
            f"{details}.{hint}"
        )
    return OrderedDict((k, out[k]) for k in expected)


def _shape_problems(state: Mapping[str, torch.Tensor], arch: str) -> bool:
    expected = _expected_shapes(arch)
    return set(state) != set(expected) or any(tuple(state[k].shape) != s for k, s in expected.items())


def _read_state_file(path: Path) -> Mapping:
    from ..io import _load_failure, quiet_load

    try:
        with quiet_load():
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt file, a pickled model, not a torch file at all
        raise ValueError(f"could not read VGG weights file {path}: {_load_failure(path, err)}") from err


def _resolve_vgg(arch: str, weights: Optional[PathLike], download: bool
                 ) -> tuple["OrderedDict[str, torch.Tensor]", str]:
    found = find_vgg_weights(arch, weights)
    if found is not None:
        path, how = found
        return _features_only(_read_state_file(path), arch, str(path)), f"{path} ({how})"
    if not download:
        raise FileNotFoundError(_missing_message(arch))
    # check_hash: the file name carries the first digits of its SHA-256; weights_only: tensors
    # and plain containers, never pickled code
    try:
        state = torch.hub.load_state_dict_from_url(
            VGG_URLS[arch], map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:  # offline, bad hash, not weights
        raise ValueError(f"could not download the {arch} weights from {VGG_URLS[arch]} into "
                         f"{vgg_hub_path(arch).parent}: {type(err).__name__}: "
                         f"{(str(err).strip().splitlines() or [''])[0]}") from err
    path = vgg_hub_path(arch)
    return _features_only(state, arch, VGG_URLS[arch]), f"{path} (downloaded)"


def load_vgg_state_dict(arch: str = "vgg16", weights: Optional[PathLike] = None,
                        download: bool = False) -> "OrderedDict[str, torch.Tensor]":
    """Load ImageNet VGG weights as a ``features.*`` state dict (classifier dropped).

    Resolution order: ``weights`` (a file path); ``$INPAINTLIB_VGG16_WEIGHTS`` /
    ``$INPAINTLIB_VGG19_WEIGHTS``; the torch hub cache (:func:`vgg_hub_path`);
    ``torch.hub.load_state_dict_from_url`` (torchvision's URL) **only** when
    ``download=True``. Accepts a full torchvision state dict (``features.*`` +
    ``classifier.*``) or a features-only one (with or without the ``features.`` prefix).

    Raises:
        FileNotFoundError: no file and ``download=False``; the message names the file,
            the folder to put it in, the environment variable and the URL.
        ValueError: the file cannot be read or does not match ``arch``'s layout (the
            message names the file).
    """
    return _resolve_vgg(_check_arch(arch), weights, download)[0]


# --------------------------------------------------------------------------- module

class VGGFeatures(nn.Module):
    """Frozen VGG16/VGG19 feature extractor returning named intermediate maps.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        layers: names of the layers whose outputs :meth:`forward` returns, e.g. the
            PConv paper's ``("pool1", "pool2", "pool3")`` (torchvision indices 4, 9, 16).
            The stack is truncated after the deepest one.
        weights: ``"imagenet"`` (see :func:`load_vgg_state_dict`; never downloads unless
            ``download=True``), ``"random"`` (tests only) or a path to a weights file.
        normalize: apply ImageNet mean/std inside, so inputs are images in ``[0, 1]``.
        requires_grad: ``False`` (default) freezes the weights.
        download: allow :func:`torch.hub.load_state_dict_from_url` for ``"imagenet"``.

    Attributes:
        features: the truncated ``nn.Sequential`` (torchvision's indices and keys).
        layer_names: readable name of each layer in ``features``.
        description: one line saying which layers and which weights (printed by
            :func:`inpaintlib.nn.perceptual_backbone`).
    """

    def __init__(self, arch: str = "vgg16", layers: Sequence[str] = ("pool1", "pool2", "pool3"),
                 weights: Union[str, os.PathLike] = "imagenet", normalize: bool = True,
                 requires_grad: bool = False, download: bool = False):
        super().__init__()
        _check_arch(arch)
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        all_names = vgg_layer_names(arch)
        if not layers:
            raise ValueError("layers must name at least one layer")
        unknown = [n for n in layers if n not in all_names]
        if unknown:
            raise ValueError(f"unknown {arch} layer(s) {unknown}; valid names: {all_names}")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers contains duplicates: {list(layers)}")
        self.arch = arch
        self.layers = layers
        self.normalize = normalize
        self._index = {n: all_names.index(n) for n in layers}
        depth = max(self._index.values()) + 1
        self.layer_names = all_names[:depth]

        modules: list[nn.Module] = []
        c_in = 3
        for v in VGG_CONFIGS[arch]:
            if v == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                c_in = v
        self.features = nn.Sequential(*modules[:depth])

        # Not persistent: the state dict holds exactly torchvision's features.* keys.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        names = ", ".join(layers)
        if isinstance(weights, str) and weights == "random":
            self._init_random()
            self.weights_source = "random"
            self.description = f"{arch.upper()} {names}, RANDOM weights (not ImageNet; for tests)"
        else:
            path = None if (isinstance(weights, str) and weights == "imagenet") else weights
            state, source = _resolve_vgg(arch, path, download)
            own = self.features.state_dict()
            self.load_state_dict(OrderedDict(
                (k, v) for k, v in state.items() if k[len("features."):] in own
            ), strict=True)
            self.weights_source = source
            self.description = f"{arch.upper()} {names}, ImageNet weights from {source}"

        self.requires_grad_(requires_grad)
        self.eval()

    def _init_random(self) -> None:
        # torchvision's VGG initialisation: Kaiming normal (fan_out, ReLU), zero bias.
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Stay in eval mode when frozen (a parent's ``.train()`` does not unfreeze it)."""
        frozen = not any(p.requires_grad for p in self.parameters())
        return super().train(False if frozen else mode)

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Images ``B×3×H×W`` in ``[0, 1]`` → ``{layer name: feature map}`` in the
        requested order. (The value range is not checked here, to avoid a device sync
        every step; the losses validate their targets.)"""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects images of shape B×3×H×W, got {tuple(x.shape)}")
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = {i: n for n, i in self._index.items()}
        found = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                found[wanted[i]] = x
        return OrderedDict((n, found[n]) for n in self.layers)

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, layers={self.layers}, weights={self.weights_source!r}"
