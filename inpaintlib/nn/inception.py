"""The Inception-v3 network of the Fréchet Inception Distance (FID), without torchvision.

Taught in the "Sketch synthesis with SC-Lmser" chapter, whose paper reports FID (computed
with the ``pytorch-fid`` package, 2048-d pool3 features).

:class:`FIDInceptionV3` is the Inception-v3 *variant* FID implementations use: the
TensorFlow graph of 2015-12-05 (``inception-2015-12-05.tgz``) as ported to PyTorch by
``pytorch-fid``. It differs from the usual ImageNet Inception-v3 in three places, which
change the features and hence every FID:

* the average pools inside the ``Mixed_5*``, ``Mixed_6b–e`` and ``Mixed_7b`` blocks ignore
  the zero padding (``count_include_pad=False``, TensorFlow's convention);
* the last block, ``Mixed_7c``, pools its fourth branch with a **max** pool, not an average;
* the classifier has 1008 outputs.

Its modules carry torchvision's names (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch5x5_1.bn.running_mean``, …, ``fc.weight``), so the state dict matches the
file ``pt_inception-2015-12-05-6726825d.pth`` that ``pytorch-fid`` publishes, and that file
loads with ``strict=True``. :meth:`FIDInceptionV3.forward` takes images in ``[0, 1]``
(3 channels, or 1 channel repeated to 3), resizes them bilinearly to 299×299, scales them to
``[-1, 1]`` and returns the 2048-d average-pooled features (pool3).

Weights policy (as :mod:`inpaintlib.nn.vgg`): the weights are **never downloaded silently
and never silently random**. :func:`find_inception_weights` looks at an explicit path, then
``$INPAINTLIB_INCEPTION_WEIGHTS``, then torch hub's cache
(``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth``); a download from
:data:`FID_INCEPTION_URL` happens only with ``download=True``. Otherwise a
:class:`FileNotFoundError` says which file to put where. ``weights="random"`` is for tests.
"""
from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Optional, Union

import torch
import torch.nn.functional as nnf
from torch import nn

__all__ = [
    "FID_INCEPTION_URL",
    "FID_INCEPTION_ENV_VAR",
    "FID_FEATURE_DIM",
    "FIDInceptionV3",
    "inception_hub_path",
    "find_inception_weights",
    "load_inception_state_dict",
]

PathLike = Union[str, os.PathLike]

#: Where pytorch-fid publishes the ported TF Inception weights.
FID_INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                     "pt_inception-2015-12-05-6726825d.pth")
#: Environment variable that may point at the weights file.
FID_INCEPTION_ENV_VAR = "INPAINTLIB_INCEPTION_WEIGHTS"
#: Length of the pool3 feature vector.
FID_FEATURE_DIM = 2048


class ConvBN(nn.Module):
    """Convolution without bias → batch norm (ε = 0.001) → ReLU: Inception's basic layer
    (``conv`` and ``bn`` as in torchvision's ``BasicConv2d``)."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nnf.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that averages only the pixels inside the image (TF's)."""
    return nnf.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35×35 block: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1 (64 + 64 + 96 + pool_features)."""

    def __init__(self, c_in: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(c_in, 64, 1)
        self.branch5x5_1 = ConvBN(c_in, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(c_in, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class InceptionB(nn.Module):
    """35 → 17 reduction: 3×3/2 | 1×1→3×3→3×3/2 | max-pool 3×3/2 (384 + 96 + c_in)."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            nnf.max_pool2d(x, 3, stride=2),
        ], 1)


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (1×7 and 7×1), 4 × 192 channels out."""

    def __init__(self, c_in: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(c_in, 192, 1)
        self.branch7x7_1 = ConvBN(c_in, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(c_in, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class InceptionD(nn.Module):
    """17 → 8 reduction: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool 3×3/2 (320 + 192 + c_in)."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(c_in, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, nnf.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8×8 block with split 1×3 / 3×1 branches, 320 + 768 + 768 + 192 = 2048 channels out.

    ``pool="avg"`` (``Mixed_7b``: TF's padding-excluding average) or ``"max"`` (``Mixed_7c``:
    the FID graph's max pool)."""

    def __init__(self, c_in: int, pool: str = "avg"):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = ConvBN(c_in, 320, 1)
        self.branch3x3_1 = ConvBN(c_in, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(c_in, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _tf_avg_pool(x) if self.pool == "avg" else nnf.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
            self.branch_pool(pooled),
        ], 1)


# --------------------------------------------------------------------------- weights

def inception_hub_path() -> Path:
    """``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth`` (where
    ``pytorch-fid`` and ``torch.hub`` cache the file; ``$TORCH_HOME/hub`` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FID_INCEPTION_URL.rsplit("/", 1)[-1]


def _missing_message() -> str:
    path = inception_hub_path()
    return (
        f"No FID Inception weights found, and downloads are off.\n"
        f"  Put the file {path.name} in the folder {path.parent}\n"
        f"  (download it from {FID_INCEPTION_URL}),\n"
        f"  or set the environment variable {FID_INCEPTION_ENV_VAR}=/path/to/{path.name},\n"
        f"  or pass download=True to fetch it into that folder with torch.hub.\n"
        f"  For tests only, weights='random' builds a randomly initialised network."
    )


def find_inception_weights(weights: Optional[PathLike] = None) -> Optional[Path]:
    """The FID Inception weights file, found without touching the network, or ``None``.

    Looks at ``weights`` (an explicit path), ``$INPAINTLIB_INCEPTION_WEIGHTS`` and the torch
    hub cache (:func:`inception_hub_path`), in that order. An explicit path or an
    environment variable naming a missing file raises :class:`FileNotFoundError`.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            raise ValueError(f"FID Inception weights file {path} is a folder; give the path of the .pth file")
        if not path.is_file():
            raise FileNotFoundError(f"FID Inception weights file {path} does not exist")
        return path
    value = os.environ.get(FID_INCEPTION_ENV_VAR, "").strip()
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{FID_INCEPTION_ENV_VAR} points to {path}, which does not exist. "
                                    + _missing_message())
        return path
    path = inception_hub_path()
    return path if path.is_file() else None


def _normalise_state(state: Mapping, own: Mapping[str, torch.Tensor], source: str) -> "OrderedDict[str, torch.Tensor]":
    """Check a state dict against the network's keys and shapes; fill in the BatchNorm
    ``num_batches_tracked`` counters when a file has none (they do not affect the features)."""
    if not isinstance(state, Mapping):
        raise ValueError(f"FID Inception weights file {source} is not a state dict of tensors "
                         f"(it holds a {type(state).__name__})")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"FID Inception weights file {source} is not a state dict of tensors")
    state = OrderedDict(state)
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(v)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = [f"missing keys {missing[:4]}" if missing else "",
                 f"unexpected keys {unexpected[:4]}" if unexpected else "",
                 f"wrong shapes {wrong[:3]}" if wrong else ""]
        raise ValueError(f"FID Inception weights file {source} does not match the pytorch-fid "
                         f"layout: {'; '.join(p for p in parts if p)}")
    return OrderedDict((k, state[k]) for k in own)


def load_inception_state_dict(weights: Optional[PathLike] = None, download: bool = False) -> "OrderedDict[str, torch.Tensor]":
    """Read the FID Inception weights (see :func:`find_inception_weights`; downloads only with
    ``download=True``). Raises :class:`FileNotFoundError` naming the file, the folder, the
    environment variable and the URL when there is none."""
    state, _ = _resolve(weights, download)
    return state


def _resolve(weights: Optional[PathLike], download: bool):
    path = find_inception_weights(weights)
    if path is not None:
        from ..io import _load_failure, quiet_load

        try:
            with quiet_load():
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # not a torch file, truncated, a pickled model
            raise ValueError(f"could not read FID Inception weights file {path}: {_load_failure(path, err)}") from err
        if not isinstance(state, Mapping):
            raise ValueError(f"FID Inception weights file {path} is not a state dict of tensors "
                             f"(it holds a {type(state).__name__})")
        return state, str(path)
    if not download:
        raise FileNotFoundError(_missing_message())
    # check_hash: the file name carries the first digits of its SHA-256 (6726825d), checked
    # before the file is kept; weights_only: tensors and plain containers, never pickled code
    try:
        state = torch.hub.load_state_dict_from_url(FID_INCEPTION_URL, map_location="cpu", progress=True,
                                                   check_hash=True, weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:  # offline, bad hash, not weights
        raise ValueError(f"could not download the FID Inception weights from {FID_INCEPTION_URL} into "
                         f"{inception_hub_path().parent}: {type(err).__name__}: "
                         f"{(str(err).strip().splitlines() or [''])[0]}") from err
    return state, f"{inception_hub_path()} (downloaded)"


# --------------------------------------------------------------------------- the network

class FIDInceptionV3(nn.Module):
    """Inception-v3 as FID uses it (chapter "Sketch synthesis with SC-Lmser"): images in
    ``[0, 1]`` → ``B×2048`` pool3 features.

    Args:
        weights: ``"pretrained"`` (the pytorch-fid file, found by
            :func:`find_inception_weights`), a path to that file, or ``"random"`` (tests).
        download: allow fetching the file from :data:`FID_INCEPTION_URL` into the hub cache.
        resize_input: resize to 299×299 (bilinear, no anti-aliasing, as pytorch-fid).
        normalize_input: map ``[0, 1]`` to ``[-1, 1]`` inside.

    The network stays frozen and in eval mode. ``description`` says which weights it holds.
    """

    def __init__(self, weights: Union[str, os.PathLike] = "pretrained", download: bool = False,
                 resize_input: bool = True, normalize_input: bool = True):
        super().__init__()
        self.resize_input, self.normalize_input = bool(resize_input), bool(normalize_input)
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, 1008)  # the TF graph's classifier: kept so the file loads strictly
        if isinstance(weights, str) and weights == "random":
            self.weights_source = "random"
            self.description = "FID Inception-v3, RANDOM weights (for tests; FIDs are meaningless)"
        else:
            path = None if (isinstance(weights, str) and weights == "pretrained") else weights
            state, source = _resolve(path, download)
            self.load_state_dict(_normalise_state(state, self.state_dict(), source), strict=True)
            self.weights_source = source
            self.description = f"FID Inception-v3 (pytorch-fid's TF port) from {source}"
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FIDInceptionV3":
        """Always eval: the batch-norm statistics are the network's."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B×3×H×W`` or ``B×1×H×W`` images in ``[0, 1]`` → ``B×2048`` features."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"FIDInceptionV3 expects images of shape B×3×H×W or B×1×H×W, got {shape}")
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.resize_input:
            x = nnf.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        if self.normalize_input:
            x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = nnf.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = nnf.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return f"weights={self.weights_source!r}"
