"""SC-Lmser: two Lmser networks for photo ↔ sketch with a supervised alternating consistency
(Sheng, Tu and Xu, PRICAI 2021). Taught in the "Sketch synthesis with SC-Lmser" chapter.

This is a PyTorch version of what the authors' TensorFlow 1 code does
(``reference/methods.md`` §2), written anew.

**Generators.** ``G`` maps a photo (3 channels) to a sketch (1 channel), ``F`` a sketch to a
photo; both are the same Lmser encoder–decoder (:class:`SCLmserGenerator`). Lmser folds an
auto-encoder along its middle layer so that paired encoder and decoder neurons merge; the
released code realises the merge as **channel concatenation** of encoder level ``k`` into
decoder level ``k``. Blocks (base ``ch`` = 64, no biases, no spectral norm):

* :class:`ResBlockDown` — main: IN → LReLU(0.2) → conv3×3 → IN → LReLU(0.2) → conv3×3 →
  avg-pool 2×2; skip: conv1×1 → avg-pool 2×2; output: the sum.
* :class:`ResBlockUp` — main: IN → ReLU → nearest ×2 → conv3×3 → IN → ReLU → conv3×3;
  skip: nearest ×2 → conv1×1; output: the sum.

=========  ==================================  ================  ==========
stage      block                               channels          at 256 px
=========  ==================================  ================  ==========
e1 … e5    ResBlockDown                        128, 256, 512,    128² … 8²
                                               512, 1024
d5         ResBlockUp(e5)                      512               16²
d4 … d1    ResBlockUp(concat(d_{k+1}, e_k))    512, 256, 128,    32² … 256²
                                               out
=========  ==================================  ================  ==========

The output is **linear** (no tanh), in the ``[-1, 1]`` training space; it is clipped to
``[-1, 1]`` only for evaluation (:meth:`SCLmser.photo_to_sketch` /
:meth:`SCLmser.sketch_to_photo`). Instance norm has a learnable scale (init N(1, 0.02)) and
offset (init 0), ε = 1e-5; convolutions start from a truncated normal with std 0.02.
``width`` multiplies every channel count except the output (the quick profile's shrink).

**Parameter counts** at ``width=1``: G **43,638,801**, F **43,641,433**, each
discriminator **2,766,592** (the tests derive them independently from the tables here).

**Discriminators** (:class:`PatchDiscriminator`): the conditional pix2pix PatchGAN — a
4-channel input (condition and candidate concatenated), five 4×4 convolutions each after a
1-pixel zero pad, strides 2, 2, 2, 1, 1, channels 64, 128, 256, 512, 1; batch norm on layers
2–4 (TF momentum 0.1, i.e. PyTorch ``momentum=0.9``), LReLU(0.2) after layers 1–4, raw
logits out: a 30×30 map at 256 px. ``Dy`` judges (photo, sketch), ``Dx`` (sketch, photo).

**Losses** (LSGAN, ``x`` photo, ``y`` sketch, both in ``[-1, 1]``, L1 weight 10):

* ``L_Dy1 = E[(Dy(x,y)−1)²] + E[Dy(x,G(x))²]``;  ``L_Dy2`` the same with ``G(F(G(x)))``;
* ``L_Dx = E[(Dx(y,x)−1)²] + E[Dx(y,F(y))²]``;
* ``L_G1 = 10·|G(x)−y|₁ + E[(Dy(x,G(x))−1)²]``;
* ``L_G2 = 10·|G(F(G(x)))−y|₁ + E[(Dy(x,G(F(G(x))))−1)²]`` — the *supervised alternating
  consistency*: the photo goes to a sketch, back to a photo and to a sketch again, and that
  second sketch must match the true one. Only **G** is updated by it; ``F`` lies on the path
  (gradients flow through it to G) but its weights do not move;
* ``L_F = 10·|F(y)−x|₁ + E[(Dx(y,F(y))−1)²]``.

These are :func:`lsgan_d_loss`, :func:`lsgan_g_loss`, :func:`discriminator_loss` and
:func:`translation_loss`; :data:`SC_LMSER_LOSS_WEIGHTS` holds the weights. The training step
(which update uses which loss) is :func:`inpaintlib.recipes.sc_lmser.make_step_fn`.

SC-Lmser is not an inpainting generator (no ``hole``), so it is not in the inpainting model
registry; its recipe is registered as ``"sc_lmser"``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as fn
from torch import nn

__all__ = [
    "SC_LMSER_LOSS_WEIGHTS",
    "ResBlockDown",
    "ResBlockUp",
    "SCLmserGenerator",
    "SCLmser",
    "PatchDiscriminator",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "discriminator_loss",
    "translation_loss",
    "alternating_paths",
    "to_signed",
    "to_unit",
    "save_sc_lmser",
    "load_sc_lmser",
]

#: Loss weights of the original code: L1 × 10 (``l1_lambda``), adversarial × 1. Its options
#: ``lambda1``/``lambda2``, ``alpha``, ``ld``, ``moving_decay`` and ``share`` are unused.
SC_LMSER_LOSS_WEIGHTS: Dict[str, float] = {"l1": 10.0, "adv": 1.0}

#: Encoder and decoder channels at ``ch=64`` as multiples of ``ch`` (decoder's last is the output).
ENCODER_MULTIPLIERS = (2, 4, 8, 8, 16)
DECODER_MULTIPLIERS = (8, 8, 4, 2)

MODEL_FORMAT = "inpaintlib-sc-lmser/1"


def _channels(c: float, width: float) -> int:
    return max(1, int(round(c * width)))


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False)
    if not conv.weight.is_meta:  # a network built on the meta device has shapes only
        nn.init.trunc_normal_(conv.weight, std=0.02, a=-0.04, b=0.04)  # TF's truncated normal: ±2σ
    return conv


def _instance_norm(c: int) -> nn.InstanceNorm2d:
    norm = nn.InstanceNorm2d(c, affine=True, eps=1e-5)
    if not norm.weight.is_meta:
        nn.init.normal_(norm.weight, 1.0, 0.02)
        nn.init.zeros_(norm.bias)
    return norm


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` → ``[-1, 1]``, the space SC-Lmser trains in (chapter "Sketch synthesis with SC-Lmser")."""
    return x * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` → ``[0, 1]``, clipping first as the original does at evaluation (chapter
    "Sketch synthesis with SC-Lmser")."""
    return (x.clamp(-1, 1) + 1) / 2


class ResBlockDown(nn.Module):
    """Residual down-block of SC-Lmser's encoder (chapter "Sketch synthesis with SC-Lmser"):
    ``avgpool(conv(LReLU(IN(conv(LReLU(IN(x))))))) + avgpool(conv1×1(x))``, half the size."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = _instance_norm(c_in), _conv(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _instance_norm(c_out), _conv(c_out, c_out, 3, padding=1)
        self.skip = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(fn.leaky_relu(self.norm1(x), 0.2))
        h = self.conv2(fn.leaky_relu(self.norm2(h), 0.2))
        return fn.avg_pool2d(h, 2) + fn.avg_pool2d(self.skip(x), 2)


class ResBlockUp(nn.Module):
    """Residual up-block of SC-Lmser's decoder (chapter "Sketch synthesis with SC-Lmser"):
    ``conv(ReLU(IN(conv(up(ReLU(IN(x))))))) + conv1×1(up(x))``, twice the size (nearest)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1, self.conv1 = _instance_norm(c_in), _conv(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _instance_norm(c_out), _conv(c_out, c_out, 3, padding=1)
        self.skip = _conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = fn.interpolate(fn.relu(self.norm1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(fn.relu(self.norm2(self.conv1(h))))
        return h + self.skip(fn.interpolate(x, scale_factor=2, mode="nearest"))


class SCLmserGenerator(nn.Module):
    """One Lmser encoder–decoder of SC-Lmser (chapter "Sketch synthesis with SC-Lmser").

    Five :class:`ResBlockDown` (``2, 4, 8, 8, 16 × ch`` channels) and five
    :class:`ResBlockUp` (``8, 8, 4, 2 × ch``, then ``out_channels``); decoder level ``k``
    reads the concatenation of the level below and encoder level ``k`` (the "paired neurons"
    of Lmser). Input and output live in ``[-1, 1]`` (the output is linear, not clipped);
    sides must be divisible by 32.
    """

    def __init__(self, in_channels: int, out_channels: int, ch: int = 64, width: float = 1.0):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be positive, got {width}")
        self.in_channels, self.out_channels, self.ch, self.width = int(in_channels), int(out_channels), int(ch), float(width)
        enc = [_channels(m * ch, width) for m in ENCODER_MULTIPLIERS]
        dec = [_channels(m * ch, width) for m in DECODER_MULTIPLIERS] + [self.out_channels]
        self.encoder = nn.ModuleList()
        c = self.in_channels
        for c_out in enc:
            self.encoder.append(ResBlockDown(c, c_out))
            c = c_out
        self.decoder = nn.ModuleList([ResBlockUp(enc[-1], dec[0])])
        for k in range(1, 5):  # d4 … d1: concat(previous decoder output, e_{5-k})
            self.decoder.append(ResBlockUp(dec[k - 1] + enc[4 - k], dec[k]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must have shape B×{self.in_channels}×H×W, got {tuple(x.shape)}")
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"image sides must be divisible by 32 (five halvings), got {tuple(x.shape[-2:])}")
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        h = self.decoder[0](skips[-1])
        for k in range(1, 5):
            h = self.decoder[k](torch.cat([h, skips[4 - k]], dim=1))
        return h


def _check_unit(x: torch.Tensor, channels: int, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape B×{channels}×H×W, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"{name} values must lie in [0, 1], got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x


class SCLmser(nn.Module):
    """The alternating system of SC-Lmser (chapter "Sketch synthesis with SC-Lmser"):
    ``G`` photo (3 ch) → sketch (1 ch) and ``F`` sketch → photo, two
    :class:`SCLmserGenerator` of the same structure, no shared weights (the original's
    ``--share`` option is never used).

    ``G`` and ``F`` work in ``[-1, 1]``. :meth:`photo_to_sketch` and :meth:`sketch_to_photo`
    take and return ``[0, 1]`` images (the output clipped, as at evaluation).
    """

    def __init__(self, width: float = 1.0, ch: int = 64):
        super().__init__()
        self.width, self.ch = float(width), int(ch)
        self.G = SCLmserGenerator(3, 1, ch=ch, width=width)
        self.F = SCLmserGenerator(1, 3, ch=ch, width=width)

    def photo_to_sketch(self, photo: torch.Tensor) -> torch.Tensor:
        """``B×3×H×W`` photo in ``[0, 1]`` → ``B×1×H×W`` sketch in ``[0, 1]``: ``G``."""
        return to_unit(self.G(to_signed(_check_unit(photo, 3, "photo"))))

    def sketch_to_photo(self, sketch: torch.Tensor) -> torch.Tensor:
        """``B×1×H×W`` sketch in ``[0, 1]`` → ``B×3×H×W`` photo in ``[0, 1]``: ``F``."""
        return to_unit(self.F(to_signed(_check_unit(sketch, 1, "sketch"))))

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`photo_to_sketch` (the method's main direction)."""
        return self.photo_to_sketch(photo)

    def config(self) -> dict:
        return {"width": self.width, "ch": self.ch}


class PatchDiscriminator(nn.Module):
    """The conditional pix2pix PatchGAN of SC-Lmser (chapter "Sketch synthesis with SC-Lmser").

    ``D(condition, candidate)`` concatenates the two along channels (``in_channels`` in all,
    4 for photo + sketch) and returns raw logits, one per patch: ``B×1×30×30`` at 256 px.
    Each of the ``n_layers + 2`` 4×4 convolutions follows a 1-pixel zero pad; strides 2 for
    the first ``n_layers`` and 1 for the last two; channels ``ndf·2^k`` capped at ``8·ndf``;
    batch norm on every layer but the first and the last; LReLU(0.2); no biases.
    """

    def __init__(self, in_channels: int = 4, ndf: int = 64, n_layers: int = 3, width: float = 1.0):
        super().__init__()
        self.in_channels = int(in_channels)
        layers: list = []
        c_in = self.in_channels
        for k in range(n_layers + 1):
            stride = 2 if k < n_layers else 1
            c_out = _channels(ndf * min(2 ** k, 8), width)
            layers += [nn.ZeroPad2d(1), _conv(c_in, c_out, 4, stride=stride)]
            if k > 0:
                bn = nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.9)  # TF momentum 0.1 = fast averages
                if not bn.weight.is_meta:
                    nn.init.normal_(bn.weight, 1.0, 0.02)
                layers.append(bn)
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        layers += [nn.ZeroPad2d(1), _conv(c_in, 1, 4, stride=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        x = torch.cat([condition, candidate], dim=1)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"condition and candidate must together have {self.in_channels} channels "
                             f"(B×C×H×W), got {tuple(condition.shape)} and {tuple(candidate.shape)}")
        return self.net(x)


# --------------------------------------------------------------------------- losses

def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss ``E[(D(real) − 1)²] + E[D(fake)²]`` (float32); chapter
    "Sketch synthesis with SC-Lmser"."""
    return (real_scores.float() - 1).pow(2).mean() + fake_scores.float().pow(2).mean()


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss ``E[(D(fake) − 1)²]`` (float32); chapter "Sketch synthesis
    with SC-Lmser"."""
    return (fake_scores.float() - 1).pow(2).mean()


def discriminator_loss(d: nn.Module, condition: torch.Tensor, real: torch.Tensor,
                       fake: torch.Tensor, real_scores: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``L_D = E[(D(c, real) − 1)²] + E[D(c, fake)²]``, the fake detached (only D learns);
    chapter "Sketch synthesis with SC-Lmser".

    ``L_Dy1 = discriminator_loss(Dy, x, y, G(x))``, ``L_Dy2`` with ``G(F(G(x)))``,
    ``L_Dx = discriminator_loss(Dx, y, x, F(y))``. ``real_scores`` reuses ``D(c, real)``.
    """
    if real_scores is None:
        real_scores = d(condition, real)
    return lsgan_d_loss(real_scores, d(condition, fake.detach()))


def translation_loss(d: nn.Module, condition: torch.Tensor, target: torch.Tensor, output: torch.Tensor,
                     weights: Optional[Dict[str, float]] = None) -> Dict[str, torch.Tensor]:
    """A generator's loss: ``10·mean|output − target| + E[(D(condition, output) − 1)²]``
    (chapter "Sketch synthesis with SC-Lmser").

    ``L_G1`` is ``translation_loss(Dy, x, y, G(x))``, ``L_G2`` (the alternating consistency)
    ``translation_loss(Dy, x, y, G(F(G(x))))`` and ``L_F`` ``translation_loss(Dx, y, x, F(y))``.
    Returns ``{"loss", "l1", "adv"}`` (``l1`` and ``adv`` unweighted).
    """
    w = dict(SC_LMSER_LOSS_WEIGHTS, **(weights or {}))
    l1 = (output.float() - target.float()).abs().mean()
    adv = lsgan_g_loss(d(condition, output))
    return {"loss": w["l1"] * l1 + w["adv"] * adv, "l1": l1, "adv": adv}


def alternating_paths(G: nn.Module, F: nn.Module, photo: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The alternating chain in ``[-1, 1]``: ``{"G(x)", "F(G(x))", "G(F(G(x)))"}`` (chapter
    "Sketch synthesis with SC-Lmser")."""
    gx = G(photo)
    fgx = F(gx)
    return {"G(x)": gx, "F(G(x))": fgx, "G(F(G(x)))": G(fgx)}


# --------------------------------------------------------------------------- model file

def save_sc_lmser(model: SCLmser, path: Union[str, os.PathLike], meta: Optional[dict] = None) -> Path:
    """Write ``G`` and ``F`` (and the config) to a model file, atomically (chapter "Sketch
    synthesis with SC-Lmser"). A failed write raises :class:`inpaintlib.io.WriteError`
    naming the file; the previous file stays as it was."""
    from ..io import save_torch

    payload = {"format": MODEL_FORMAT, "config": model.config(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "meta": dict(meta or {})}
    return save_torch(payload, Path(path))


def load_sc_lmser(path: Union[str, os.PathLike]) -> SCLmser:
    """Rebuild an :class:`SCLmser` from :func:`save_sc_lmser`'s file, in eval mode.

    A missing file raises :class:`FileNotFoundError`; anything else wrong — not a PyTorch
    file, another kind of file, a bad config, weights that do not fit — a :class:`ValueError`
    naming the file, raised before any weight is copied."""
    from ..io import load_torch, state_mismatch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SC-Lmser model file not found: {path}")
    payload = load_torch(path, "SC-Lmser model file")
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not an SC-Lmser model file (expected format {MODEL_FORMAT!r})")
    config, state = payload.get("config"), payload.get("state_dict")
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise ValueError(f"{path} is a damaged SC-Lmser model file: it needs a config dict and a state dict")
    try:
        model = SCLmser(**config)
    except Exception as err:  # unknown or invalid arguments
        raise ValueError(f"{path}: its config {config} does not build an SC-Lmser ({type(err).__name__}: {err})") from err
    problems = state_mismatch(model.state_dict(), state)
    if problems:
        raise ValueError(f"{path}: its weights do not fit the SC-Lmser its config builds ({config}): "
                         f"{'; '.join(problems)}. Nothing was loaded")
    model.load_state_dict(state)
    return model.eval()
