"""The partial-convolution U-Net (Liu et al., ECCV 2018) and its plain-convolution twin.

Taught in the "Partial convolution" chapter. :class:`PConvUNet` is the paper's network:
a U-Net in which every convolution is a :class:`~inpaintlib.nn.partial_conv.PartialConv2d`,
so the mask of known pixels travels with the features and shrinks level by level
(:meth:`PConvUNet.valid_masks` shows it). :class:`PlainUNet` is the same topology with
ordinary convolutions that see the masked image plus the hole mask as a fourth channel:
the chapter's "why not plain convolution?" baseline, trained under the same budget.

Architecture (``layers=7``, ``width=1``: the 256-px variant of the re-implementations;
``layers=8`` adds one more 3×3/512 level and is the paper's 512-px network):

=========  ======  ========  ======================================================
level       kernel  channels  encoder: stride 2, BN (not level 1), ReLU
=========  ======  ========  ======================================================
1           7×7     64        no BN, so it has a bias
2           5×5     128
3           5×5     256
4 … L       3×3     512
=========  ======  ========  ======================================================

Decoder, from the bottleneck up: nearest ×2 upsampling of features *and* mask, concat
with the encoder's features *and* masks at that size (multi-channel PConv 3×3, stride 1),
BN, LeakyReLU(0.2); its output channels are those of the encoder level it merges with
(512, 512, 512, 256, 128, 64 for ``layers=7``). The last layer concatenates the (masked)
input image and its mask (64 + 3 channels), outputs 3 channels and has no BN and no
activation. Convolutions followed by BN have no bias (BN's shift replaces it); the two
without BN (first and last) have one. naoto0804's re-implementation drops the first
layer's bias too; NVIDIA never published its network.

Parameter counts (weights, biases and BN affine parameters; BN running statistics are
buffers): **25,779,860** for ``layers=7`` and **32,859,796** for ``layers=8``;
``PlainUNet``: 25,783,023 for ``layers=7`` (its first and last layers see one more input
channel, the hole mask). ``methods.md`` gives no reference count; a figure of about
32.8 M for the 512-px network is consistent with ``layers=8`` but unverified against the
paper. The tests derive these counts independently from the layer table.

Conventions: ``forward(image, hole)`` takes images in ``[0, 1]`` and the ``hole`` mask
(1 = missing), validates them, zeroes the hole pixels itself (changing them cannot change
the output), works in ``[-1, 1]`` inside and maps the prediction back with
``(y + 1) / 2``. There is no output activation: in training mode the prediction is *not*
clamped, so gradients flow everywhere; in eval mode it is clamped to ``[0, 1]``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.partial_conv import ConcatMask, PartialConv2d
from ..registry import register_model
from ..tensors import validate, validate_hole

__all__ = ["PConvUNet", "PlainUNet", "encoder_plan", "MIN_CHANNELS", "NORMALIZATIONS", "UPSAMPLING",
           "IMAGENET_MEAN", "IMAGENET_STD"]

#: ``width`` never shrinks a layer below this many channels.
MIN_CHANNELS = 4

#: Input/output mappings :class:`PConvUNet` offers (its ``normalization`` argument).
NORMALIZATIONS = ("minus_one_one", "imagenet")
#: ImageNet's per-channel mean and std (RGB), as naoto0804's re-implementation uses them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (kernel, channels as a multiple of base_channels) of the first encoder levels;
# every deeper level is 3×3 with 8×base_channels.
_ENCODER_TABLE = ((7, 1), (5, 2), (5, 4))
_DEEP_LEVEL = (3, 8)


def encoder_plan(layers: int = 7, base_channels: int = 64, width: float = 1.0) -> list[tuple[int, int]]:
    """``(kernel, out_channels)`` of each encoder level, after the ``width`` multiplier.

    ``encoder_plan(7)`` is ``[(7, 64), (5, 128), (5, 256), (3, 512), (3, 512), (3, 512),
    (3, 512)]``; channels are ``max(MIN_CHANNELS, round(c·width))``.
    """
    if not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers!r}")
    if not isinstance(base_channels, int) or base_channels < 1:
        raise ValueError(f"base_channels must be a positive integer, got {base_channels!r}")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width!r}")
    table = [_ENCODER_TABLE[i] if i < len(_ENCODER_TABLE) else _DEEP_LEVEL for i in range(layers)]
    return [(k, max(MIN_CHANNELS, int(round(m * base_channels * width)))) for k, m in table]


class _UNetBase(nn.Module):
    """What both U-Nets share: input checks, ``[-1, 1]`` mapping, encoder-BN freezing."""

    def __init__(self, layers: int, in_channels: int, base_channels: int, width: float):
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        self.layers = layers
        self.in_channels = in_channels
        self.plan = encoder_plan(layers, base_channels, width)
        self._encoder_bn_frozen = False

    # -- inputs and outputs --------------------------------------------------------
    def _check_input(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> None:
        """Shapes always; values (range, binary, finite) unless ``check=False``."""
        if self.in_channels == 3:
            validate(image, hole, check=check)
        else:  # the same checks for other channel counts (e.g. grayscale)
            validate_hole(hole, check=check)
            if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != self.in_channels:
                shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
                raise ValueError(f"image must have shape B×{self.in_channels}×H×W, got {shape}")
            if not image.is_floating_point() or (check and not bool(torch.isfinite(image).all())):
                raise ValueError("image must be a finite floating-point tensor")
            if check and image.numel() and (float(image.min()) < 0 or float(image.max()) > 1):
                raise ValueError("image values must lie in [0, 1]")
            if image.shape[0] != hole.shape[0] or image.shape[-2:] != hole.shape[-2:]:
                raise ValueError(f"image {tuple(image.shape)} and hole {tuple(hole.shape)} "
                                 "differ in batch or spatial size")
        self._check_size(hole)

    def _check_size(self, hole: torch.Tensor) -> None:
        h, w = hole.shape[-2:]
        step = 2 ** self.layers
        if h % step or w % step:
            raise ValueError(
                f"{type(self).__name__}(layers={self.layers}) needs image sides divisible by "
                f"2**{self.layers} = {step}; got {h}×{w}. Crop or pad the image, or build the "
                f"model with fewer layers")

    def _to_output(self, y: torch.Tensor) -> torch.Tensor:
        out = (y + 1.0) / 2.0
        return out if self.training else out.clamp(0.0, 1.0)

    # -- fine-tuning: frozen encoder BN ----------------------------------------------
    def encoder_batchnorms(self) -> list[nn.BatchNorm2d]:
        """The BatchNorm layers of the encoder (the ones stage-2 fine-tuning freezes)."""
        return [m for m in self.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def freeze_encoder_bn(self, flag: bool = True) -> "_UNetBase":
        """Freeze (``flag=True``) or unfreeze the encoder's BatchNorm layers.

        Frozen BN layers stay in eval mode, so they normalise with their running
        statistics and never update them, even after ``model.train()``; their affine
        weight and bias still train (as in naoto0804's re-implementation). Used for the
        paper's stage-2 fine-tuning at lr 5e-5. Returns the model.
        """
        self._encoder_bn_frozen = bool(flag)
        return self.train(self.training)

    @property
    def encoder_bn_frozen(self) -> bool:
        """Whether :meth:`freeze_encoder_bn` is in effect."""
        return self._encoder_bn_frozen

    def train(self, mode: bool = True) -> "_UNetBase":
        """``nn.Module.train``, but frozen encoder BN layers stay in eval mode."""
        super().train(mode)
        if self._encoder_bn_frozen:
            for bn in self.encoder_batchnorms():
                bn.eval()
        return self


class PConvBlock(nn.Module):
    """One U-Net level: ``PartialConv2d`` → BatchNorm (optional) → activation (optional).

    ``forward(x, valid) -> (y, valid_out)``; ``valid`` is trusted to be binary (the
    U-Net validates the hole once at its input).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 bn: bool, activation: Optional[nn.Module], multi_channel: bool):
        super().__init__()
        self.conv = PartialConv2d(in_channels, out_channels, kernel_size, stride=stride,
                                  padding=kernel_size // 2, bias=not bn, multi_channel=multi_channel)
        self.bn = nn.BatchNorm2d(out_channels) if bn else nn.Identity()
        self.act = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, valid = self.conv(x, valid, check=False)
        return self.act(self.bn(y)), valid


def _up(t: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    return F.interpolate(t, scale_factor=2.0, mode=mode)


#: How :class:`PConvUNet`'s decoder may upsample its features (its ``upsampling`` argument).
UPSAMPLING = ("nearest", "bilinear")


@register_model("pconv")
class PConvUNet(_UNetBase):
    """The partial-convolution U-Net; ``model(image, hole)`` returns the prediction in [0, 1].

    Args:
        layers: encoder levels (7: the 256-px network; 8: the paper's 512-px network;
            fewer for small images). Image sides must be divisible by ``2**layers``.
        in_channels: image channels (3).
        base_channels: channels of the first level (64); deeper levels use 2×, 4×, 8×.
        width: channel multiplier for the quick profile (channels never drop below
            ``MIN_CHANNELS``).
        freeze_encoder_bn: start with the encoder's BN frozen (stage-2 fine-tuning).
        normalization: how the image enters the network and the prediction leaves it.
            ``"minus_one_one"`` (default): ``2·image − 1`` in, ``(y + 1)/2`` out.
            ``"imagenet"``: ``(image − mean)/std`` in and ``y·std + mean`` out with
            ImageNet's mean and std (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`), the
            convention of naoto0804's re-implementation, whose released weights
            :func:`inpaintlib.convert.convert_pconv` turns into this class. Either way
            the hole pixels are zeroed *after* the mapping.
        upsampling: how the decoder enlarges its *features* ×2: ``"nearest"`` (default,
            the paper's) or ``"bilinear"`` (half-pixel centres, ``align_corners=False``),
            naoto0804's ``upsampling_mode`` option. Masks are always upsampled by nearest
            neighbour, as in that code. The weights do not record the choice: a network
            trained one way must run the same way.

    ``layers=7, width=1`` has 25,779,860 parameters; ``layers=8`` 32,859,796 (module
    docstring). The encoder uses single-channel PConv (every channel of a level shares
    one mask); the decoder uses multi-channel PConv over the concatenated masks of the
    upsampled decoder features and the encoder skip.
    """

    def __init__(self, layers: int = 7, in_channels: int = 3, base_channels: int = 64,
                 width: float = 1.0, freeze_encoder_bn: bool = False,
                 normalization: str = "minus_one_one", upsampling: str = "nearest"):
        super().__init__(layers, in_channels, base_channels, width)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
        self.upsampling = upsampling
        if normalization == "imagenet" and in_channels != 3:
            raise ValueError(f"normalization='imagenet' needs 3 input channels, got {in_channels}")
        self.normalization = normalization
        if normalization == "imagenet":  # config, not weights: kept out of the state dict
            self.register_buffer("norm_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("norm_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        chans = [in_channels] + [c for _, c in self.plan]
        self.encoder = nn.ModuleList(
            PConvBlock(chans[i], chans[i + 1], k, stride=2, bn=i > 0,
                       activation=nn.ReLU(inplace=True), multi_channel=False)
            for i, (k, _) in enumerate(self.plan))
        # decoder[j] produces level j (level 0 = the output image) from up(level j+1) ⊕ skip j.
        self.decoder = nn.ModuleList(
            PConvBlock(chans[j + 1] + chans[j], chans[j], 3, stride=1, bn=j > 0,
                       activation=nn.LeakyReLU(0.2, inplace=True) if j > 0 else None,
                       multi_channel=True)
            for j in range(layers))
        self.freeze_encoder_bn(freeze_encoder_bn)

    def _encode(self, image: torch.Tensor, hole: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        valid = 1.0 - hole
        if self.normalization == "imagenet":
            x = (image - self.norm_mean) / self.norm_std * valid
        else:
            x = (image * 2.0 - 1.0) * valid      # to [-1, 1]; hole pixels zeroed
        levels = [(x, valid)]
        for block in self.encoder:
            levels.append(block(*levels[-1]))
        return levels

    def _to_output(self, y: torch.Tensor) -> torch.Tensor:
        if self.normalization != "imagenet":
            return super()._to_output(y)
        out = y * self.norm_std + self.norm_mean
        return out if self.training else out.clamp(0.0, 1.0)

    def forward(self, image: torch.Tensor, hole: torch.Tensor, return_intermediates: bool = False,
                check: bool = True):
        """Inpaint ``image`` where ``hole`` is 1; returns ``B×3×H×W`` in [0, 1].

        With ``return_intermediates=True`` returns ``(out, {"encoder": [...], "decoder":
        [...]})``: lists of ``(features, valid)`` per level, the encoder from the first
        level to the bottleneck, the decoder in the order it runs (deepest first, the
        last entry being the output layer's raw ``[-1, 1]`` prediction and mask).
        ``check=False`` skips the input checks that read values (a recipe's training step).
        """
        self._check_input(image, hole, check)
        levels = self._encode(image, hole)
        h, v = levels[-1]
        decoded = []
        for j in reversed(range(self.layers)):
            h, v = _up(h, self.upsampling), _up(v)
            skip_h, skip_v = levels[j]
            # the concatenation [h, skip] and its mask, one copy per channel, built by the layer
            h, v = self.decoder[j]((h, skip_h), ConcatMask.of((v, h.shape[1]), (skip_v, skip_h.shape[1])))
            decoded.append((h, v))
        out = self._to_output(h)
        if return_intermediates:
            return out, {"encoder": levels[1:], "decoder": decoded}
        return out

    def encoder_features(self, image: torch.Tensor, hole: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(features, valid)`` after each encoder level, first to bottleneck."""
        self._check_input(image, hole)
        return self._encode(image, hole)[1:]

    @torch.no_grad()
    def valid_masks(self, hole: torch.Tensor) -> list[torch.Tensor]:
        """The valid mask (1 = known) after each encoder level, first to bottleneck.

        Runs the mask path only (one small convolution per level, no features), so it is
        cheap enough for an interactive stepper: each level's mask is ``B×1×H/2ᵏ×W/2ᵏ``
        and its holes shrink until, for a small hole, the mask is all ones.
        """
        validate_hole(hole)
        self._check_size(hole)
        valid, out = 1.0 - hole, []
        for block in self.encoder:
            valid = block.conv.update_mask(valid, check=False)
            out.append(valid)
        return out


class ConvBlock(nn.Module):
    """One level of :class:`PlainUNet`: ``Conv2d`` → BatchNorm (optional) → activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 bn: bool, activation: Optional[nn.Module]):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(out_channels) if bn else nn.Identity()
        self.act = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


@register_model("plain_unet")
class PlainUNet(_UNetBase):
    """:class:`PConvUNet`'s topology with ordinary convolutions (the chapter's baseline).

    The network sees the masked image (hole pixels zeroed, in ``[-1, 1]``) with the hole
    mask as an extra channel, at the input and again at the last layer's concat; no mask
    travels through it. Same arguments, same forward contract, same encoder-BN freezing
    as :class:`PConvUNet`; ``layers=7, width=1`` has 25,783,023 parameters.
    """

    def __init__(self, layers: int = 7, in_channels: int = 3, base_channels: int = 64,
                 width: float = 1.0, freeze_encoder_bn: bool = False):
        super().__init__(layers, in_channels, base_channels, width)
        chans = [in_channels + 1] + [c for _, c in self.plan]
        self.encoder = nn.ModuleList(
            ConvBlock(chans[i], chans[i + 1], k, stride=2, bn=i > 0, activation=nn.ReLU(inplace=True))
            for i, (k, _) in enumerate(self.plan))
        self.decoder = nn.ModuleList(
            ConvBlock(chans[j + 1] + chans[j], chans[j] if j > 0 else in_channels, 3, stride=1, bn=j > 0,
                      activation=nn.LeakyReLU(0.2, inplace=True) if j > 0 else None)
            for j in range(layers))
        self.freeze_encoder_bn(freeze_encoder_bn)

    def forward(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Inpaint ``image`` where ``hole`` is 1; returns ``B×3×H×W`` in [0, 1]
        (``check=False``: shape checks only)."""
        self._check_input(image, hole, check)
        x = torch.cat([(image * 2.0 - 1.0) * (1.0 - hole), hole], dim=1)
        levels = [x]
        for block in self.encoder:
            levels.append(block(levels[-1]))
        h = levels[-1]
        for j in reversed(range(self.layers)):
            h = self.decoder[j](torch.cat([_up(h), levels[j]], dim=1))
        return self._to_output(h)
