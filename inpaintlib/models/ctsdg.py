"""CTSDG: conditional texture and structure dual generation (Guo, Yang, Huang, ICCV 2021).

Taught in the "Dual streams" chapter. This is the official PyTorch model
(``reference/methods.md`` §5.1), written anew around :class:`~inpaintlib.nn.PartialConv2d`.

**Two streams.** A *texture* stream reads the masked RGB image (``[-1, 1]``, hole = 0)
and a *structure* stream reads the masked Canny edge map and the masked gray image
(2 channels). Each has the 256-px partial-convolution encoder (bias-free PConv):

=========  ==========  ========  =====================
level      kernel / s  channels  norm / activation
=========  ==========  ========  =====================
e1         7×7 / 2     64        no BN, ReLU
e2         5×5 / 2     128       BN, ReLU
e3         5×5 / 2     256       BN, ReLU
e4 … eL    3×3 / 2     512       BN, ReLU
=========  ==========  ========  =====================

**Cross-coupled decoders.** The texture decoder starts from the *structure* encoder's
bottleneck and merges the *texture* encoder's skips; the structure decoder starts from
the texture bottleneck with structure skips. Each of the ``L`` decoder levels: bilinear
×2 of the features, nearest ×2 of the mask, concatenation with the skip's features and
masks, multi-channel PConv 3×3 (bias-free), BN, LeakyReLU(0.2). Output channels 512, 512,
512, 256, 128, 64 and 64 at the last level, whose skip is the masked input itself
(64 + 3 channels for texture, 64 + 2 for structure).

**Partial convolutions.** NVIDIA's multi-channel semantics: the mask of a decoder level
is the concatenation of the upsampled decoder mask (one copy per feature channel) and
the skip's mask (one copy per skip channel), and ``sum(M)`` counts known entries over all
of them. The first encoder level takes the mask replicated over the 3 (or 2) input
channels, as the original; the deeper encoder levels use single-channel PConv, which
gives the same numbers because NVIDIA's multi-channel layer outputs ``C_out`` identical
mask copies (``sum(1)/sum(M)`` is then ``C·k²/(C·n) = k²/n``, the same correctly
rounded quotient).

**Projection heads** (the intermediate supervision): the texture head maps the texture
decoder's 64 channels to the *projected image* (Bottleneck → conv1×1 → 3 → tanh), the
structure head maps the structure decoder's output to the *projected edge*
(Bottleneck → conv1×1 → 1 → sigmoid). "Shared trunk" in the notes means the same
architecture: in the official code **each head has its own Bottleneck** (its own
weights), and so does this implementation. Bottleneck: conv3×3 64→16 → BN → ReLU →
conv3×3 16→64 → BN, plus the input, ReLU (bias-free convolutions).

**Fusion.** :class:`~inpaintlib.nn.ctsdg_blocks.BiGFF` fuses the two decoder outputs
(128 channels at full size); ``fusion1`` (conv3×3 stride 2, 128→64, LeakyReLU 0.2) halves
the size; :class:`~inpaintlib.nn.ctsdg_blocks.CFA` aggregates context; ``fusion2``
(concat, conv3×3 128→64, LeakyReLU) and a bilinear ×2 return to full size; the output
layer concatenates the Bi-GFF output (64 + 128 = 192 channels) → conv1×1 → 3 → tanh.

**Initialisation** as the original: every convolution's weight N(0, 0.02), biases 0;
BatchNorm weight N(1, 0.02), bias 0; Bi-GFF's α = β = 0.

**Parameter count** (``layers=7, width=1``): **52,147,789** (weights, biases and BN affine
parameters): texture stream 25,816,704, structure stream 25,812,992, heads, Bi-GFF, fusion
and CFA 518,093. The discriminator has 5,531,729. The tests derive both from the tables.

**Edges and leakage.** ``forward(image, hole)`` computes the structure input itself:
the gray image (``rgb2gray``'s BT.709 weights) and the Canny edges (σ = 2) of the
*clean* ``[0, 1]`` image — the original computed them from the normalised ``[-1, 1]``
tensor cast to ``uint8``, which wraps dark pixels. Canny smooths with a Gaussian, so
edges of the full image near the hole would depend on the hidden pixels; the book's
generators never see hole pixels, so :func:`known_region_edges` runs Canny with
scikit-image's ``mask`` (smoothing normalised over the known pixels only, edges only
inside the eroded known region). The original fed the ground truth's full Canny map and
a gray image taken from the wrapped 8-bit tensor; :func:`original_structure` computes
both that way, and ``forward(image, hole, edge=…, gray=…)`` feeds them to the network
(masked, as the original), which reproduces the original pipeline end to end with
converted weights — at the price of edge pixels next to the hole computed from hidden
content. The training targets (``L_inter``, the edge detector) use the full Canny map of
the ground truth, as the original.

``forward`` returns the prediction in ``[0, 1]`` (``(tanh + 1)/2``); ``return_aux=True``
adds the intermediate outputs, :meth:`CTSDG.forward_all` wraps them in
:class:`CTSDGOutputs`.

**Discriminator** (:class:`CTSDGDiscriminator`): a texture PatchGAN on the RGB image and
a structure PatchGAN on (edge, gray) — for real images the ground truth's Canny edges,
for generated ones the output of a learned :class:`EdgeDetector` — each 5 × conv4×4 with
spectral norm and no bias (64, 128, 256, 512, 1 channels; strides 2, 2, 2, 1, 1;
LeakyReLU 0.2; sigmoid). The two score maps are concatenated along channels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..data.edges import grayscale
from ..nn.ctsdg_blocks import CFA, BiGFF
from ..nn.partial_conv import ConcatMask, PartialConv2d
from ..registry import register_model
from ..tensors import in_export_mode, validate, validate_image
from .pconv_unet import MIN_CHANNELS, encoder_plan

__all__ = ["CTSDG", "CTSDGOutputs", "CTSDGDiscriminator", "CTSDGPatchGAN", "EdgeDetector",
           "Projection", "known_region_edges", "original_structure", "structure_input"]


# ---------------------------------------------------------------------------------------
# the structure input
# ---------------------------------------------------------------------------------------
def known_region_edges(image: torch.Tensor, hole: Optional[torch.Tensor] = None, sigma: float = 2.0) -> torch.Tensor:
    """Canny edges of ``rgb2gray(image)`` computed from the known pixels only: ``B×1×H×W`` of 0/1.

    ``skimage.feature.canny(gray, sigma, mask=known)`` per image: the Gaussian smoothing
    is normalised over the known pixels and edges are only reported inside the known
    region eroded by one pixel, so the result does not depend on the pixels under
    ``hole``. Without a hole (or an all-zero one) it equals
    :func:`inpaintlib.data.edges` (the image border is excluded in both). Runs on the
    CPU (scikit-image); the result has ``image``'s device and dtype.
    """
    from skimage.feature import canny

    validate_image(image)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gray = grayscale(image, "709").detach().to("cpu", torch.float64)[:, 0].numpy()
    if hole is None:
        known = np.ones_like(gray, dtype=bool)
    else:
        validate(image, hole)
        known = hole.detach().to("cpu")[:, 0].numpy() < 0.5
    maps = np.stack([canny(g, sigma=sigma, mask=k) for g, k in zip(gray, known)]) if len(gray) else \
        np.zeros_like(gray, dtype=bool)
    return torch.from_numpy(maps[:, None].astype(np.float32)).to(device=image.device, dtype=image.dtype)


def original_structure(image: torch.Tensor, sigma: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The structure input *as the original CTSDG pipeline computes it*: ``(edge, gray)``,
    each ``B×1×H×W`` in ``[0, 1]``, from the whole (unmasked) image.

    The official data loader normalises the photo to ``[-1, 1]`` and hands that tensor to
    ``utils/canny.py``'s ``image_to_edge``, which converts it to an 8-bit image with
    ``ToPILImage`` — ``round toward zero of 255·x``, kept modulo 256, so a pixel of value
    ``v`` in ``[0, 1]`` becomes ``trunc(255·(2v − 1)) mod 256``: from mid-gray up, 0 … 255
    as ``2v − 1`` would give; below it the product is negative and *wraps* (black becomes
    1, a pixel just under mid-gray about 255) — then takes scikit-image's ``rgb2gray`` of
    those bytes (BT.709 weights on ``byte/255``) as the gray image and
    ``canny(gray, sigma)`` of the whole picture as the edge map.

    Pass both to :meth:`CTSDG.forward` (``edge=…, gray=…``) to feed a converted checkpoint
    exactly what the original fed it at test time: the output then equals the original
    pipeline's (``inpaintlib.convert``'s tests check it). The book's own models never use
    this: the wrapped gray image is an artefact, and edges of the whole image depend on
    the hidden pixels near the hole. Runs on the CPU (scikit-image); results have
    ``image``'s device and dtype.
    """
    from skimage.color import rgb2gray
    from skimage.feature import canny

    validate_image(image)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    signed = image.detach().to("cpu", torch.float32) * 2.0 - 1.0
    # torch's float → uint8 cast (what ToPILImage does): truncate, then modulo 256
    u8 = torch.remainder(torch.trunc(signed * 255.0).to(torch.int64), 256).to(torch.uint8)
    rgb = u8.permute(0, 2, 3, 1).numpy()
    gray = np.stack([rgb2gray(x) for x in rgb]) if len(rgb) else np.zeros(rgb.shape[:3])
    edge = np.stack([canny(g, sigma=sigma) for g in gray]) if len(gray) else np.zeros(gray.shape, dtype=bool)
    as_tensor = lambda a: torch.from_numpy(a[:, None].astype(np.float32)).to(  # noqa: E731
        device=image.device, dtype=image.dtype)
    return as_tensor(edge), as_tensor(gray)


def _check_map(name: str, t, image: torch.Tensor, check: bool) -> torch.Tensor:
    """``t`` as a ``B×1×H×W`` map in [0, 1] on ``image``'s device and dtype, or a clear error."""
    if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 1 \
            or t.shape[0] != image.shape[0] or t.shape[-2:] != image.shape[-2:]:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a B×1×H×W map matching the image {tuple(image.shape)}, got {shape}")
    if not t.is_floating_point() or (check and not in_export_mode() and (
            not bool(torch.isfinite(t).all())
            or (t.numel() and (float(t.min()) < 0 or float(t.max()) > 1)))):
        raise ValueError(f"{name} must be a finite floating-point map with values in [0, 1]")
    return t.to(device=image.device, dtype=image.dtype)


def structure_input(image: torch.Tensor, hole: torch.Tensor, edge: Optional[torch.Tensor] = None,
                    sigma: float = 2.0, check: bool = True, *,
                    gray: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The structure stream's input ``[edge ⊙ M, gray ⊙ M]``, ``B×2×H×W`` (``M = 1 − hole``).

    ``edge`` defaults to :func:`known_region_edges` (σ = ``sigma``); ``gray`` defaults to
    the image's luma with scikit-image's ``rgb2gray`` weights (BT.709), in ``[0, 1]``.
    Either can be given as a ``B×1×H×W`` map in ``[0, 1]`` (e.g. from
    :func:`original_structure`); both are masked here. ``check=False`` skips the checks
    that read values (of ``image``, ``hole``, ``edge`` and ``gray``); shapes are always
    checked.
    """
    validate(image, hole, check=check)
    edge = known_region_edges(image, hole, sigma) if edge is None else _check_map("edge", edge, image, check)
    gray = grayscale(image, "709", check=False) if gray is None else _check_map("gray", gray, image, check)
    valid = 1.0 - hole.to(image.dtype)
    return torch.cat([edge, gray], dim=1) * valid


# ---------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------
class _PConvBNAct(nn.Module):
    """Bias-free ``PartialConv2d`` → BatchNorm (optional) → activation."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, bn: bool, act: nn.Module,
                 multi_channel: bool):
        super().__init__()
        self.conv = PartialConv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False,
                                  multi_channel=multi_channel)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.act = act

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, valid = self.conv(x, valid, check=False)
        return self.act(self.bn(y)), valid


class _Bottleneck(nn.Module):
    """Residual block of the projection heads: conv3×3 c→p, BN, ReLU, conv3×3 p→c, BN, + x, ReLU."""

    def __init__(self, channels: int, planes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class Projection(nn.Module):
    """A projection head: its own Bottleneck, then conv1×1 → ``out_channels`` and
    ``tanh`` (projected image, in ``[-1, 1]``) or ``sigmoid`` (projected edge)
    ("Dual streams" chapter)."""

    def __init__(self, channels: int, planes: int, out_channels: int, activation: str):
        super().__init__()
        if activation not in ("tanh", "sigmoid"):
            raise ValueError(f"activation must be 'tanh' or 'sigmoid', got {activation!r}")
        self.trunk = _Bottleneck(channels, planes)
        self.out = nn.Conv2d(channels, out_channels, 1)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.trunk(x))
        return torch.tanh(y) if self.activation == "tanh" else torch.sigmoid(y)


def _init_weights(module: nn.Module, std: float = 0.02) -> None:
    """The original's init: conv weights N(0, std), biases 0; BatchNorm weight N(1, std), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def _up_features(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False)


def _up_mask(t: torch.Tensor) -> torch.Tensor:
    return F.interpolate(t, scale_factor=2.0, mode="nearest")


@dataclass
class CTSDGOutputs:
    """Everything one CTSDG forward pass produces ("Dual streams" chapter).

    Images are ``B×C×H×W`` in ``[0, 1]``. ``output``: the prediction (not composited);
    ``projected_image`` / ``projected_edge``: the heads' intermediate outputs;
    ``edge_input``, ``gray_input``: the (masked) structure input; ``gate_s2t``,
    ``gate_t2s``: Bi-GFF's gates ``B×64×H×W``; ``attention`` (``B×L×L``, keys × queries)
    and ``branch_weights`` (``B×4×H/2×W/2``): CFA's internals, present only when asked for.
    """

    output: torch.Tensor
    projected_image: torch.Tensor
    projected_edge: torch.Tensor
    edge_input: torch.Tensor
    gray_input: torch.Tensor
    gate_s2t: torch.Tensor
    gate_t2s: torch.Tensor
    attention: Optional[torch.Tensor] = None
    branch_weights: Optional[torch.Tensor] = None


# ---------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------
@register_model("ctsdg")
class CTSDG(nn.Module):
    """The CTSDG generator; ``model(image, hole)`` returns the prediction in ``[0, 1]``.

    Args:
        layers: encoder levels per stream (7 at 256 px; 5 for the quick profile's 64 px).
            Image sides must be divisible by ``2**layers``.
        width: channel multiplier for every layer (never below ``MIN_CHANNELS``).
        sigma: σ of the Canny edges computed when no ``edge`` is passed (2).
        cfa_chunk: queries per chunk in CFA's attention (memory only, see
            :mod:`inpaintlib.nn.ctsdg_blocks`).
        freeze_bn: start with every BatchNorm of the generator in eval mode (fine-tuning).

    ``forward(image, hole, edge=None, return_aux=False)``: validates the inputs, zeroes
    the hole, builds the structure input (:func:`structure_input`) and returns the
    prediction ``B×3×H×W``; with ``return_aux=True`` returns ``(prediction, aux)``, a
    dict with the :class:`CTSDGOutputs` fields (attention included when
    ``return_attention=True``). ``layers=7, width=1`` has 52,147,789 parameters.
    """

    def __init__(self, layers: int = 7, width: float = 1.0, sigma: float = 2.0,
                 cfa_chunk: Optional[int] = None, freeze_bn: bool = False):
        super().__init__()
        self.layers, self.width, self.sigma = layers, float(width), float(sigma)
        self.plan = encoder_plan(layers, 64, width)
        c = [k for _, k in self.plan]
        c64 = c[0]
        planes = max(MIN_CHANNELS, int(round(16 * width)))
        self.texture_encoder = self._encoder(3)
        self.structure_encoder = self._encoder(2)
        self.texture_decoder = self._decoder(3)
        self.structure_decoder = self._decoder(2)
        self.texture_head = Projection(c64, planes, 3, "tanh")
        self.structure_head = Projection(c64, planes, 1, "sigmoid")
        self.bigff = BiGFF(c64)
        self.fusion1 = nn.Conv2d(2 * c64, c64, 3, stride=2, padding=1)
        self.cfa = CFA(c64, chunk=cfa_chunk)
        self.fusion2 = nn.Conv2d(2 * c64, c64, 3, padding=1)
        self.out_conv = nn.Conv2d(3 * c64, 3, 1)
        _init_weights(self)
        self._bn_frozen = False
        self.freeze_bn(freeze_bn)

    def _encoder(self, in_channels: int) -> nn.ModuleList:
        chans = [in_channels] + [k for _, k in self.plan]
        return nn.ModuleList(
            _PConvBNAct(chans[i], chans[i + 1], kern, 2, bn=i > 0, act=nn.ReLU(inplace=True),
                        multi_channel=i == 0)
            for i, (kern, _) in enumerate(self.plan))

    def _decoder(self, in_channels: int) -> nn.ModuleList:
        # decoder[j] produces level j (0 = full size) from up(level j+1) ⊕ skip j
        c = [k for _, k in self.plan]
        skip = [in_channels] + c[:-1]
        out = [c[0]] + c[:-1]
        return nn.ModuleList(
            _PConvBNAct(c[j] + skip[j], out[j], 3, 1, bn=True, act=nn.LeakyReLU(0.2, inplace=True),
                        multi_channel=True)
            for j in range(self.layers))

    # -- inputs ------------------------------------------------------------------------
    def _check_size(self, hole: torch.Tensor) -> None:
        h, w = hole.shape[-2:]
        step = 2 ** self.layers
        if h % step or w % step:
            raise ValueError(f"CTSDG(layers={self.layers}) needs image sides divisible by 2**{self.layers} = "
                             f"{step}; got {h}×{w}. Crop or pad the image, or build the model with fewer layers")

    # -- the two streams ---------------------------------------------------------------
    @staticmethod
    def _encode(encoder: nn.ModuleList, x: torch.Tensor, valid: torch.Tensor) -> list:
        levels = [(x, valid.expand(-1, x.shape[1], -1, -1))]
        for block in encoder:
            levels.append(block(*levels[-1]))
        return levels

    @staticmethod
    def _decode(decoder: nn.ModuleList, start: tuple, skips: list) -> torch.Tensor:
        h, v = start
        for j in reversed(range(len(decoder))):
            h, v = _up_features(h), _up_mask(v)
            skip_h, skip_v = skips[j]
            # the concatenation [h, skip] and its mask, one copy per channel, built by the layer
            h, v = decoder[j]((h, skip_h), ConcatMask.of((v[:, :1], h.shape[1]), (skip_v[:, :1], skip_h.shape[1])))
        return h

    def forward(self, image: torch.Tensor, hole: torch.Tensor, edge: Optional[torch.Tensor] = None,
                return_aux: bool = False, return_attention: bool = False, check: bool = True, *,
                gray: Optional[torch.Tensor] = None):
        """Inpaint ``image`` where ``hole`` is 1; see the class docstring. ``check=False``
        skips the input checks that read values (a recipe's training step). ``edge`` and
        ``gray`` (``B×1×H×W`` in ``[0, 1]``) replace the structure input's computed edge
        map and gray image; :func:`original_structure` gives the original pipeline's."""
        validate(image, hole, check=check)
        self._check_size(hole)
        hole = hole.to(image.dtype)
        valid = 1.0 - hole
        x_t = (image * 2.0 - 1.0) * valid                       # texture input, [-1, 1], hole = 0
        x_s = structure_input(image, hole, edge, self.sigma, check=check, gray=gray)    # [edge, gray] ⊙ M
        tex = self._encode(self.texture_encoder, x_t, valid)
        struct = self._encode(self.structure_encoder, x_s, valid)
        f_t = self._decode(self.texture_decoder, struct[-1], tex)      # structure bottleneck, texture skips
        f_s = self._decode(self.structure_decoder, tex[-1], struct)    # texture bottleneck, structure skips

        fused, (g_s2t, g_t2s) = self.bigff(f_t, f_s, return_gates=True)
        y = F.leaky_relu(self.fusion1(fused), 0.2)
        if return_attention:
            att, cfa_aux = self.cfa(y, return_aux=True)
        else:
            att, cfa_aux = self.cfa(y), {}
        y = F.leaky_relu(self.fusion2(torch.cat([y, att], dim=1)), 0.2)
        y = torch.tanh(self.out_conv(torch.cat([_up_features(y), fused], dim=1)))
        out = (y + 1.0) / 2.0
        if not return_aux:
            return out
        aux = {"projected_image": (self.texture_head(f_t) + 1.0) / 2.0,
               "projected_edge": self.structure_head(f_s),
               "edge_input": x_s[:, :1], "gray_input": x_s[:, 1:],
               "gate_s2t": g_s2t, "gate_t2s": g_t2s, **cfa_aux}
        return out, aux

    def forward_all(self, image: torch.Tensor, hole: torch.Tensor, edge: Optional[torch.Tensor] = None,
                    return_attention: bool = False, *, gray: Optional[torch.Tensor] = None) -> CTSDGOutputs:
        """One forward pass returning every intermediate output as :class:`CTSDGOutputs`."""
        out, aux = self.forward(image, hole, edge, return_aux=True, return_attention=return_attention, gray=gray)
        return CTSDGOutputs(output=out, **aux)

    # -- fine-tuning: every BatchNorm frozen ---------------------------------------------
    def batchnorms(self) -> list[nn.BatchNorm2d]:
        """Every BatchNorm layer of the generator (encoders, decoders and heads)."""
        return [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def freeze_bn(self, flag: bool = True) -> "CTSDG":
        """Keep **all** BatchNorm layers in eval mode (running statistics fixed), as the
        original's fine-tuning stage (``freeze_ec_bn``) does — not only the encoders'.
        Their affine weight and bias still train. Returns the model."""
        self._bn_frozen = bool(flag)
        return self.train(self.training)

    @property
    def bn_frozen(self) -> bool:
        """Whether :meth:`freeze_bn` is in effect."""
        return self._bn_frozen

    def train(self, mode: bool = True) -> "CTSDG":
        """``nn.Module.train``, but frozen BatchNorm layers stay in eval mode."""
        super().train(mode)
        if self._bn_frozen:
            for bn in self.batchnorms():
                bn.eval()
        return self

    def extra_repr(self) -> str:
        return f"layers={self.layers}, width={self.width}, sigma={self.sigma}"


# ---------------------------------------------------------------------------------------
# the discriminator
# ---------------------------------------------------------------------------------------
class CTSDGPatchGAN(nn.Module):
    """CTSDG's 70×70 PatchGAN branch: 5 × spectral-norm conv4×4 (no bias), channels
    64, 128, 256, 512, 1, strides 2, 2, 2, 1, 1, padding 1, LeakyReLU(0.2) between,
    sigmoid at the end ("Dual streams" chapter). ``B×C×H×W → B×1×(H/8−2)×(W/8−2)``
    probabilities."""

    def __init__(self, in_channels: int, width: float = 1.0):
        super().__init__()
        chans = [in_channels] + [max(MIN_CHANNELS, int(round(c * width))) for c in (64, 128, 256, 512)] + [1]
        strides = (2, 2, 2, 1, 1)
        convs = []
        for i, s in enumerate(strides):
            conv = nn.Conv2d(chans[i], chans[i + 1], 4, stride=s, padding=1, bias=False)
            nn.init.normal_(conv.weight, 0.0, 0.02)
            convs.append(_spectral_norm(conv))
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch probabilities (sigmoid of the last conv)."""
        for conv in self.convs[:-1]:
            x = F.leaky_relu(conv(x), 0.2)
        return torch.sigmoid(self.convs[-1](x))


class EdgeDetector(nn.Module):
    """The discriminator's learned edge detector ("Dual streams" chapter):
    conv3×3 3→16, BN, ReLU; a residual block (conv3×3, BN, ReLU, conv3×3, BN) + ReLU;
    conv1×1 → 1, sigmoid. Input: an RGB image in ``[-1, 1]``; output ``B×1×H×W`` in
    ``(0, 1)``. PyTorch's default initialisation (the original sets none)."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.residual = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.out = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Edge probabilities for images in ``[-1, 1]``."""
        y = self.stem(x)
        return torch.sigmoid(self.out(F.relu(self.residual(y) + y)))


class CTSDGDiscriminator(nn.Module):
    """CTSDG's two-branch discriminator with its edge detector ("Dual streams" chapter).

    ``forward(image, gray, edge=None) -> (scores, predicted_edge)``:

    * ``image``: ``B×3×H×W`` in ``[0, 1]`` (mapped to ``[-1, 1]``, what the original's
      discriminator saw); ``gray``: the ground truth's gray image ``B×1×H×W`` in ``[0, 1]``.
    * ``edge``: for *real* images the Canny edges of the ground truth; leave it ``None``
      for *generated* images, whose structure branch then reads the edge detector's output.
    * ``scores``: ``B×2×h×w`` patch probabilities, texture then structure branch;
      ``predicted_edge``: the edge detector's map of ``image`` (computed in both cases —
      the losses use it for real and generated images).

    Args:
        width: channel multiplier of the two PatchGANs (the edge detector keeps 16 channels).
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)
        self.texture_branch = CTSDGPatchGAN(3, width)
        self.structure_branch = CTSDGPatchGAN(2, width)
        self.edge_detector = EdgeDetector()

    def forward(self, image: torch.Tensor, gray: torch.Tensor, edge: Optional[torch.Tensor] = None,
                check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Score ``image`` with both branches; see the class docstring (``check=False``:
        shape checks only)."""
        validate_image(image, check=check)
        for name, t in (("gray", gray), ("edge", edge)):
            if t is not None and (not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 1
                                  or t.shape[0] != image.shape[0] or t.shape[-2:] != image.shape[-2:]):
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{name} must be B×1×H×W matching the image {tuple(image.shape)}, got {shape}")
        x = image * 2.0 - 1.0
        predicted = self.edge_detector(x)
        structure = torch.cat([predicted if edge is None else edge.to(x.dtype), gray.to(x.dtype)], dim=1)
        scores = torch.cat([self.texture_branch(x), self.structure_branch(structure)], dim=1)
        return scores, predicted

    def extra_repr(self) -> str:
        return f"width={self.width}"
