"""CLmser: the convolutional Lmser of Huang, Tu and Xu (Neural Processing Letters 2020), and
its three ablations. Taught in the "Lmser and its two dualities" chapter.

Lmser (Xu, 1991) folds an autoencoder along its middle so that encoder layer *i* and decoder
layer *i* become one bidirectional layer. The fold gives two built-in dualities:

* **DCW, duality in connection weights**: the decoder reuses the encoder's weights, transposed.
  Here: up-block *i* runs ``conv_transpose2d`` with the encoder's kernel ``k_{i+1}`` itself
  (one :class:`~torch.nn.Parameter` used by both paths, so its gradient is the sum of both).
* **DPN, duality in paired neurons**: a decoder neuron and its paired encoder neuron share
  their activity. Here: the input of each up-block is ``(1 − w)·decoder + w·encoder`` with
  ``w = dpn_weight`` (0.5, the released code's equal average) of the paired feature maps.

The released architecture (``reference/methods.md`` §1.1):

=====  ========  ==========================  =======================  ==================
level  kernel    encoder (conv, BN, ReLU)    feature at 256 px        DPN partner of
=====  ========  ==========================  =======================  ==================
0      k0 3→16   stride 1                    f0: 16×256×256           never merged
1      k1 16→32  stride 2                    f1: 32×128×128           up-block 0's input
2      k2 32→64  stride 2                    f2: 64×64×64             up-block 1's input
3      k3 64→128 stride 2                    f3: 128×32×32            up-block 2's input
4      k4 →256   stride 2                    f4: 256×16×16            up-block 3's input
5      k5 →256   stride 2                    f5: 256×8×8              up-block 4's input
6      k6 →256   stride 2                    f6: 256×4×4              up-block 5 (itself)
=====  ========  ==========================  =======================  ==================

Every kernel is 3×3, padding 1, **no bias**, Xavier-uniform initialised, stored raw as
``(out, in, 3, 3)``. Up-block *i* (``i = 5 … 0``) is ``conv_transpose2d`` with ``k_{i+1}``
(stride 2, padding 1, ``output_padding`` so the size doubles exactly), BatchNorm over
``k_{i+1}``'s input channels (its own BN, not the encoder's) and ReLU. The output block is
``conv_transpose2d`` with ``k0`` (16 → 3, stride 1, padding 1), no BN, then Tanh. Without
DCW every decoder kernel, ``k0``'s included, is an independent parameter of the same shape.

Parameter counts (BN affine included, running statistics are buffers): **1,575,280** with
DCW (1,571,760 kernel weights + 3,520 BN), **3,147,040** without.

The four variants of the released code (:data:`VARIANTS`): ``CLmser`` (DCW + DPN),
``CLmser_n`` (DCW only), ``CLmser_w`` (DPN only) and ``CAE`` (neither: a plain
convolutional autoencoder).

Conventions: ``forward(image, hole)`` validates its input, maps the image to ``[-1, 1]``,
sets the hole pixels to 0 there (grey: the released code multiplies the normalised image by
the mask), runs the network on those 3 channels (no mask channel) and returns
``(tanh + 1) / 2`` in ``[0, 1]``. :meth:`CLmser.predict_raw` returns the Tanh output in
``[-1, 1]``, on which the original trains with MSE against the whole image.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register_model
from ..tensors import validate

__all__ = ["CLmser", "VARIANTS", "CHANNELS", "STRIDES", "SIZE_MULTIPLE", "DCW_PARAMETERS", "PARAMETERS"]

#: Channels of the input and of the seven encoder features f0 … f6.
CHANNELS = (3, 16, 32, 64, 128, 256, 256, 256)
#: Strides of the seven encoder convolutions.
STRIDES = (1, 2, 2, 2, 2, 2, 2)
#: Image sides must be multiples of this (six stride-2 levels).
SIZE_MULTIPLE = 64
#: Parameter count with DCW (``CLmser``, ``CLmser_n``) and without (``CLmser_w``, ``CAE``).
DCW_PARAMETERS = 1_575_280
PARAMETERS = 3_147_040

#: The released code's four models: name → (dcw, dpn).
VARIANTS = {
    "CLmser": (True, True),
    "CLmser_n": (True, False),
    "CLmser_w": (False, True),
    "CAE": (False, False),
}

_LEVELS = len(STRIDES)  # 7 kernels k0 … k6


def _kernel(c_out: int, c_in: int) -> nn.Parameter:
    w = torch.empty(c_out, c_in, 3, 3)
    nn.init.xavier_uniform_(w)
    return nn.Parameter(w)


@register_model("clmser")
class CLmser(nn.Module):
    """CLmser and its ablations (the "Lmser and its two dualities" chapter).

    Args:
        dcw: duality in connection weights: the decoder transposes the encoder's own
            kernels (one parameter per level) instead of learning its own.
        dpn: duality in paired neurons: each up-block's input mixes the decoder's activation
            with the paired encoder feature, ``(1 − w)·decoder + w·encoder``.
        dpn_weight: ``w`` above, in ``[0, 1]``; 0.5 is the released code's average. It can
            be changed after construction (``model.dpn_weight = 0.3``), e.g. to probe a
            trained model; ``w = 0`` makes DPN a no-op.

    Attributes:
        enc_kernels: ``ParameterList`` of the seven encoder kernels ``k0 … k6``.
        dec_kernels: the decoder's own kernels (``None`` with DCW, where
            :meth:`decoder_kernel` returns the encoder's).
        enc_bn: BatchNorm of each encoder level; ``dec_bn[j]``: BatchNorm of up-block
            ``5 − j`` (over ``k_{6−j}``'s input channels).

    Use :meth:`variant` for the released presets (:data:`VARIANTS`).
    """

    def __init__(self, dcw: bool = True, dpn: bool = True, dpn_weight: float = 0.5):
        super().__init__()
        for name, flag in (("dcw", dcw), ("dpn", dpn)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.dcw, self.dpn = dcw, dpn
        self.dpn_weight = dpn_weight
        pairs = list(zip(CHANNELS[1:], CHANNELS[:-1]))  # (out, in) of k0 … k6
        self.enc_kernels = nn.ParameterList([_kernel(o, i) for o, i in pairs])
        self.enc_bn = nn.ModuleList([nn.BatchNorm2d(o) for o, _ in pairs])
        self.dec_kernels = None if dcw else nn.ParameterList([_kernel(o, i) for o, i in pairs])
        # up-block i = 5 … 0 normalises the in-channels of k_{i+1}: 256, 256, 128, 64, 32, 16
        self.dec_bn = nn.ModuleList([nn.BatchNorm2d(CHANNELS[i + 1]) for i in range(_LEVELS - 2, -1, -1)])

    # -- presets and settings ---------------------------------------------------------
    @classmethod
    def variant(cls, name: str, dpn_weight: float = 0.5) -> "CLmser":
        """Build one of the released models by name: ``"CLmser"``, ``"CLmser_n"`` (no DPN),
        ``"CLmser_w"`` (no DCW) or ``"CAE"`` (neither)."""
        if name not in VARIANTS:
            raise ValueError(f"unknown CLmser variant {name!r}; known variants: {', '.join(VARIANTS)}")
        dcw, dpn = VARIANTS[name]
        return cls(dcw=dcw, dpn=dpn, dpn_weight=dpn_weight)

    @property
    def variant_name(self) -> str:
        """The name of this model's (dcw, dpn) combination in :data:`VARIANTS`."""
        return next(n for n, flags in VARIANTS.items() if flags == (self.dcw, self.dpn))

    @property
    def dpn_weight(self) -> float:
        """DPN's mixing weight ``w`` of the encoder feature (0.5 = the paper's average)."""
        return self._dpn_weight

    @dpn_weight.setter
    def dpn_weight(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"dpn_weight must be a number in [0, 1], got {value!r}")
        self._dpn_weight = float(value)

    def config(self) -> dict:
        """The constructor arguments (what :func:`inpaintlib.registry.save_model` stores)."""
        return {"dcw": self.dcw, "dpn": self.dpn, "dpn_weight": self.dpn_weight}

    def extra_repr(self) -> str:
        return f"variant={self.variant_name}, dcw={self.dcw}, dpn={self.dpn}, dpn_weight={self.dpn_weight:g}"

    # -- the kernels --------------------------------------------------------------------
    def decoder_kernel(self, level: int) -> nn.Parameter:
        """The kernel the decoder transposes for level ``level`` (0 … 6): with DCW the
        encoder's ``k_level`` itself (the same object), otherwise the decoder's own."""
        return (self.enc_kernels if self.dcw else self.dec_kernels)[level]

    def kernels(self) -> Dict[str, nn.Parameter]:
        """Every distinct conv kernel by layer name, in forward order: ``"enc0" … "enc6"``,
        then (without DCW) ``"dec6" … "dec0"``. With DCW the decoder's kernels *are*
        ``enc1 … enc6`` and ``enc0``, so they are not listed twice."""
        out = {f"enc{i}": k for i, k in enumerate(self.enc_kernels)}
        if not self.dcw:
            out.update({f"dec{i}": self.dec_kernels[i] for i in range(_LEVELS - 1, -1, -1)})
        return out

    def gradient_norms(self) -> Dict[str, float]:
        """The L2 norm of each kernel's ``.grad`` (after a backward pass), by layer name as in
        :meth:`kernels`; NaN for a kernel without a gradient. With DCW a shared kernel's
        gradient is the sum of what reaches it through the encoder and the decoder."""
        return {n: float(k.grad.norm()) if k.grad is not None else float("nan") for n, k in self.kernels().items()}

    # -- the network --------------------------------------------------------------------
    def _check_size(self, h: int, w: int) -> None:
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE or h == 0 or w == 0:
            raise ValueError(
                f"CLmser needs image sides that are positive multiples of {SIZE_MULTIPLE} (six stride-2 "
                f"levels, each halving the size exactly); got {h}×{w}. Crop or resize the image")

    def encode(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The encoder features ``[f0, …, f6]`` of a network input ``x`` (``B×3×H×W`` in
        ``[-1, 1]``, holes already 0): conv (no bias) → BN → ReLU per level."""
        if x.dim() != 4 or x.shape[1] != CHANNELS[0]:
            raise ValueError(f"encode takes B×3×H×W network inputs, got shape {tuple(x.shape)}")
        self._check_size(*x.shape[-2:])
        feats = []
        for k, bn, s in zip(self.enc_kernels, self.enc_bn, STRIDES):
            x = F.relu(bn(F.conv2d(x, k, stride=s, padding=1)))
            feats.append(x)
        return feats

    def up_block(self, i: int, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Up-block ``i`` (5 … 0): the transpose of encoder level ``i + 1`` — ``conv_transpose2d``
        with ``k_{i+1}`` (stride 2, padding 1, ``output_padding`` making the output exactly
        ``size``), then its own BN and ReLU."""
        h, w = x.shape[-2:]
        pad = (size[0] - (2 * h - 1), size[1] - (2 * w - 1))  # (h−1)·2 − 2·1 + 3 + p = target
        y = F.conv_transpose2d(x, self.decoder_kernel(i + 1), stride=2, padding=1, output_padding=pad)
        return F.relu(self.dec_bn[_LEVELS - 2 - i](y))

    def merge(self, decoder: torch.Tensor, encoder: torch.Tensor) -> torch.Tensor:
        """DPN: ``(1 − w)·decoder + w·encoder`` with ``w = dpn_weight``; the decoder activation
        unchanged without DPN."""
        if not self.dpn:
            return decoder
        w = self.dpn_weight
        return (1.0 - w) * decoder + w * encoder

    def decode(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """From the encoder features ``[f0, …, f6]`` to the Tanh output in ``[-1, 1]``.

        Up-block ``i`` = 5 … 0 takes ``merge(d, f_{i+1})`` (``d`` = the previous up-block's
        output; ``f6`` itself for up-block 5) and returns a map of ``f_i``'s size. ``f0`` is
        never merged: the output block transposes ``k0`` on ``d0`` alone.
        """
        d = feats[-1]
        for i in range(_LEVELS - 2, -1, -1):
            d = self.up_block(i, self.merge(d, feats[i + 1]), feats[i].shape[-2:])
        return torch.tanh(F.conv_transpose2d(d, self.decoder_kernel(0), stride=1, padding=1))

    def network_input(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Validate ``(image, hole)`` (values too unless ``check=False``) and return what the
        network sees: the image in ``[-1, 1]`` with the hole pixels set to 0."""
        validate(image, hole, check=check)
        self._check_size(*image.shape[-2:])
        return (image * 2.0 - 1.0) * (1.0 - hole)

    def predict_raw(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """The Tanh output in ``[-1, 1]`` (what the original's MSE loss compares with the
        ground truth mapped to ``[-1, 1]``)."""
        return self.decode(self.encode(self.network_input(image, hole, check)))

    def forward(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Inpaint: ``image`` ``B×3×H×W`` in ``[0, 1]``, ``hole`` ``B×1×H×W`` (1 = missing),
        sides multiples of 64. Returns the raw prediction in ``[0, 1]`` for every pixel;
        :func:`inpaintlib.tensors.composite` pastes the known ones back. ``check=False``
        skips the input checks that read values (a recipe's training step)."""
        return (self.predict_raw(image, hole, check) + 1.0) / 2.0
