"""The partial-convolution layer (Liu et al., ECCV 2018).

Taught in the "Partial convolution" chapter. The layer convolves only the *known* pixels
of its input, rescales each output by how much of its window was known, and tells the
next layer which outputs it could compute at all. With ``M`` the mask of known pixels
(``valid``: 1 = known, the paper's ``M``; the argument name says which), ``X`` the input
under one sliding window and ``W``, ``b`` the weights and bias::

    y = Wᵀ(X ⊙ M) · sum(1) / sum(M) + b     if sum(M) > 0
    y = 0                                   otherwise (exactly 0, not b)
    m′ = 1 if sum(M) > 0 else 0             (the mask update rule)

``sum(1)`` is the size of the window: ``kh·kw`` in single-channel mode (one mask shared
by every input channel) and ``C_in·kh·kw`` in multi-channel mode (one mask per input
channel; ``sum(M)`` counts the known entries over all input channels of the window).

Choices, and where they differ from NVIDIA's ``PartialConv2d``:

* **One output mask channel.** In multi-channel mode NVIDIA's layer returns ``C_out``
  identical copies of the updated mask. Every output channel sees the same window, so
  this layer returns one channel, ``B×1×H′×W′``, in both modes; it broadcasts against
  ``y`` and ``expand``-s for free when a U-Net concatenates masks.
* **A cheap mask path.** ``sum(M)`` is one 1-channel convolution with a ``kh×kw`` kernel
  of ones (multi-channel mode first sums the mask over channels), instead of NVIDIA's
  ``C_out×C_in×kh×kw`` ones kernel. It runs under ``torch.no_grad()`` and ``X⊙M`` uses a
  detached ``M``: no gradient ever flows into the mask.
* **Masks of a concatenation, without the full tensor.** A U-Net decoder convolves
  ``cat([up(h), skip])``, whose multi-channel mask is one copy of ``h``'s mask per channel
  of ``h`` and one copy of the skip's mask per skip channel. :class:`ConcatMask` holds just
  the single-channel masks and the channel counts: the count ``sum(M)`` is the 1-channel
  convolution of ``Σ_g C_g·m_g`` and ``X⊙M`` multiplies each group by its own mask, so the
  ``B×C×H×W`` mask is never built (nor saved for the backward pass).
* **Exact ratio under mixed precision.** The mask path runs in float32 even inside
  ``torch.autocast``: the window counts are small integers, exact in float32, so
  ``sum(1)/sum(M)`` is the correctly rounded ratio (then cast to the convolution's
  dtype). ``eps`` only guards the division where ``sum(M) = 0`` (it is applied as a
  lower clamp, so any ``0 < eps ≤ 1`` gives the same result); NVIDIA's advice to raise
  it to ``1e-6`` for fp16 does not apply, because nothing here is computed in fp16.
* **No cache.** The mask is recomputed on every call (NVIDIA caches it when the shape
  does not change); the mask path costs a few per cent of the convolution at most.
* **In-place renormalisation.** ``·sum(1)/sum(M) + b·m′`` is applied over the
  convolution's own output by a small autograd function, whose backward allocates only
  the gradient it returns. Forward + backward then costs 1.0–1.3× an ``nn.Conv2d`` of the
  same shape on CPU (``benchmarks/partial_conv.py``; plain autograd ops measured up to
  1.6×). The layer is differentiable once, not twice.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["PartialConv2d", "ConcatMask"]

_IntOrPair = Union[int, tuple[int, int]]


class ConcatMask(NamedTuple):
    """The multi-channel mask of ``torch.cat(groups, dim=1)`` when every channel of group
    ``g`` shares one mask: ``masks[g]`` (``B×1×H×W``, 1 = known) for ``channels[g]``
    channels. Equal to :meth:`full`, ``cat([m.expand(-1, c, -1, -1) …])``, without building it.
    """

    masks: tuple
    channels: tuple

    @classmethod
    def of(cls, *groups: tuple) -> "ConcatMask":
        """``ConcatMask.of((mask_1, C_1), (mask_2, C_2), …)``."""
        return cls(tuple(m for m, _ in groups), tuple(int(c) for _, c in groups))

    @property
    def num_channels(self) -> int:
        return sum(self.channels)

    @property
    def dtype(self) -> torch.dtype:
        return self.masks[0].dtype

    def channel_sum(self, dtype: torch.dtype) -> torch.Tensor:
        """``Σ_c M`` over the channels, ``B×1×H×W`` in ``dtype``: ``Σ_g C_g·m_g``."""
        total = None
        for m, c in zip(self.masks, self.channels):
            term = m.to(dtype) * c
            total = term if total is None else total.add_(term)
        return total

    def full(self) -> torch.Tensor:
        """The ``B×C×H×W`` mask itself (for tests and pictures)."""
        return torch.cat([m.expand(-1, c, -1, -1) for m, c in zip(self.masks, self.channels)], dim=1)


class PartialConv2d(nn.Conv2d):
    """Partial convolution: convolve the known pixels, renormalise, update the mask.

    ``forward(x, valid) -> (y, valid_out)`` with ``valid`` 1 where the input is known:

    * single-channel mode (default): ``valid`` is ``B×1×H×W``, shared by all channels;
    * ``multi_channel=True``: ``valid`` is ``B×C_in×H×W``, one mask per input channel, or
      a :class:`ConcatMask` (one ``B×1×H×W`` mask per group of channels, as a U-Net
      decoder's concatenation has), which gives the same numbers without the full mask.
      With a :class:`ConcatMask`, ``x`` may also be the groups' features unconcatenated
      (a tuple ``(h, skip)``): the same numbers again, with one copy fewer.

    ``valid_out`` is ``B×1×H′×W′`` in both modes (see the module docstring), with the
    dtype of ``valid``. ``y`` is exactly 0 wherever ``valid_out`` is 0. With an all-ones
    mask the layer equals ``nn.Conv2d`` with the same weights (the ratio is exactly 1,
    apart from windows that overlap the zero padding, which are renormalised).

    Only ``padding_mode="zeros"`` and ``groups=1`` are supported (the paper's layer).
    Pass ``check=False`` to ``forward`` to skip the binary check of ``valid`` (a full
    reduction and, on CUDA, a host sync), e.g. for masks a previous layer produced;
    shape checks always run.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: _IntOrPair,
                 stride: _IntOrPair = 1, padding: _IntOrPair = 0, dilation: _IntOrPair = 1,
                 bias: bool = True, multi_channel: bool = False, eps: float = 1e-8):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=padding, dilation=dilation, bias=bias)
        if isinstance(padding, str):
            raise ValueError("PartialConv2d takes an integer padding, not a padding string")
        if not 0.0 < eps <= 1.0:
            raise ValueError(f"eps must be in (0, 1], got {eps}")
        self.multi_channel = bool(multi_channel)
        self.eps = float(eps)
        kh, kw = self.kernel_size
        # sum(1): how many mask entries one output sees.
        self.window_size = (in_channels if self.multi_channel else 1) * kh * kw
        # The mask path's kernel of ones: not a parameter, not saved in state dicts.
        self.register_buffer("mask_kernel", torch.ones(1, 1, kh, kw), persistent=False)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", multi_channel={self.multi_channel}"

    # -- the mask path -------------------------------------------------------------
    def window_count(self, valid: Union[torch.Tensor, ConcatMask]) -> torch.Tensor:
        """``sum(M)`` under every output window, ``B×1×H′×W′`` (no gradient).

        Float32 whatever the input or autocast dtype (float64 for a float64 mask). In
        multi-channel mode the mask is summed over its channels first (for a
        :class:`ConcatMask`, ``Σ_g C_g·m_g``), then convolved with the ``kh×kw`` ones.
        """
        device = valid.masks[0].device if isinstance(valid, ConcatMask) else valid.device
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            dtype = torch.promote_types(valid.dtype, torch.float32)   # float32 (float64 stays)
            ones = self.mask_kernel.to(dtype)
            if isinstance(valid, ConcatMask):
                m = valid.channel_sum(dtype)
            elif self.multi_channel:
                m = valid.to(dtype).sum(dim=1, keepdim=True)
            else:
                m = valid.to(dtype)
            b, _, h, w = m.shape
            if b == 0:
                return F.conv2d(m, ones, None, self.stride, self.padding, self.dilation)
            # The batch as channels of one depthwise convolution: the same sums, and several
            # times faster on CPU than a 1-channel convolution over a batch.
            count = F.conv2d(m.reshape(1, b, h, w), ones.expand(b, 1, -1, -1), None,
                             self.stride, self.padding, self.dilation, groups=b)
            return count.reshape(b, 1, *count.shape[-2:])

    def update_mask(self, valid: torch.Tensor, check: bool = True) -> torch.Tensor:
        """The mask update rule alone: ``m′ = 1 where sum(M) > 0`` (cheap, no features)."""
        self._check_valid(valid, None, check)
        return self.window_count(valid).clamp(max=1.0).to(valid.dtype)

    # -- the layer -----------------------------------------------------------------
    def forward(self, x: torch.Tensor, valid: Union[torch.Tensor, ConcatMask], check: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(y, valid_out)`` for input ``x`` and its mask ``valid`` (1 = known)."""
        self._check_valid(valid, x, check)
        with torch.no_grad():
            count = self.window_count(valid)                  # sum(M), float32 integers
            valid_out = count.clamp(max=1.0)                  # m′ = 1 where sum(M) > 0
            ratio = self.window_size / count.clamp(min=self.eps) * valid_out  # 0 where m′ = 0
        if isinstance(valid, ConcatMask):     # X = cat(groups), each group masked by its own mask
            groups = x if isinstance(x, (tuple, list)) else x.split(list(valid.channels), dim=1)
            raw = self._grouped_conv(groups, valid)                                         # Wᵀ(X⊙M)
        else:
            raw = F.conv2d(x * valid.detach().to(x.dtype), self.weight, None, self.stride, self.padding,
                           self.dilation)                                                   # Wᵀ(X⊙M)
        if torch.is_grad_enabled():
            y = _Renormalise.apply(raw, ratio, valid_out, self.bias)  # ·sum(1)/sum(M) + b·m′
        else:   # inference and export: the same two in-place steps, no autograd function
            y = raw.mul_(ratio)
            if self.bias is not None:
                y = y.addcmul_(self.bias.view(1, -1, 1, 1), valid_out)
        return y, valid_out.to(valid.dtype)

    def _grouped_conv(self, groups: Sequence[torch.Tensor], valid: ConcatMask) -> torch.Tensor:
        """``Wᵀ(X⊙M)`` for ``X = cat(groups)``, each group masked by its own (detached) mask.

        The groups are masked one by one and concatenated once (given unconcatenated, a
        U-Net's level saves writing the concatenation before its masked copy). Where some groups need a gradient and
        others do not (a U-Net's last level, whose skip is the input image), each group
        gets its own convolution with its slice of the weights and the results are
        summed: the backward pass then computes no gradient for the image's channels,
        and the convolutions keep channel counts oneDNN runs fast (64 + 3 is not).
        """
        parts = [g * m.detach().to(g.dtype) for g, m in zip(groups, valid.masks)]
        needs = [p.requires_grad for p in parts]
        if not (torch.is_grad_enabled() and any(needs) and not all(needs)):
            return F.conv2d(torch.cat(parts, dim=1), self.weight, None, self.stride, self.padding, self.dilation)
        raw, start = None, 0
        for p, c in zip(parts, valid.channels):
            r = F.conv2d(p, self.weight[:, start:start + c], None, self.stride, self.padding, self.dilation)
            raw = r if raw is None else raw.add_(r)
            start += c
        return raw

    # -- input checks --------------------------------------------------------------
    def _check_valid(self, valid, x, check: bool) -> None:
        if isinstance(valid, ConcatMask):
            self._check_concat(valid, x, check)
            return
        if not isinstance(valid, torch.Tensor):
            raise TypeError(f"valid must be a torch.Tensor, got {type(valid).__name__}")
        want_c = self.in_channels if self.multi_channel else 1
        mode = "multi-channel" if self.multi_channel else "single-channel"
        if valid.dim() != 4 or valid.shape[1] != want_c:
            raise ValueError(
                f"valid must have shape B×{want_c}×H×W in {mode} mode "
                f"(1 = known pixel), got shape {tuple(valid.shape)}")
        if not valid.is_floating_point():
            raise ValueError(f"valid must be a floating-point tensor of 0s and 1s, got dtype "
                             f"{valid.dtype} (convert it with .float())")
        if x is not None:
            if isinstance(x, (tuple, list)):
                raise TypeError("x as a sequence of feature groups needs valid as a ConcatMask "
                                "(one mask per group); concatenate them or pass ConcatMask.of(...)")
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                raise ValueError(f"x must have shape B×{self.in_channels}×H×W, "
                                 f"got shape {tuple(x.shape)}")
            if x.shape[0] != valid.shape[0] or x.shape[2:] != valid.shape[2:]:
                raise ValueError(f"valid's batch and spatial size must match x's: x is "
                                 f"{tuple(x.shape)}, valid is {tuple(valid.shape)}")
            if x.device != valid.device:
                raise ValueError(f"x is on {x.device} but valid is on {valid.device}")
        if check and valid.numel() and bool((bad := (valid != 0).logical_and_(valid != 1)).any()):
            bad = valid[bad]
            raise ValueError(f"valid must be binary (1 = known, 0 = missing); found {bad.numel()} "
                             f"values that are neither, e.g. {float(bad.flatten()[0]):.4g}")


    def _check_concat(self, valid: ConcatMask, x, check: bool) -> None:
        if not self.multi_channel:
            raise ValueError("a ConcatMask (one mask per group of channels) needs multi_channel=True")
        if valid.num_channels != self.in_channels:
            raise ValueError(f"the ConcatMask's groups have {list(valid.channels)} = {valid.num_channels} channels, "
                             f"the layer takes {self.in_channels}")
        for m in valid.masks:   # each group's mask is a single-channel mask of x's batch and size
            if not isinstance(m, torch.Tensor) or m.dim() != 4 or m.shape[1] != 1 or not m.is_floating_point():
                shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
                raise ValueError(f"each ConcatMask mask must be a floating-point B×1×H×W tensor of 0s and 1s "
                                 f"(1 = known), got {shape}")
            if check and m.numel() and bool(((m != 0) & (m != 1)).any()):
                raise ValueError("valid must be binary (1 = known, 0 = missing); a ConcatMask mask has other values")
            if x is not None and isinstance(x, torch.Tensor) and (
                    m.shape[0] != x.shape[0] or m.shape[2:] != x.shape[2:] or m.device != x.device):
                raise ValueError(f"each ConcatMask mask must match x's batch, size and device: x is "
                                 f"{tuple(x.shape)} on {x.device}, a mask is {tuple(m.shape)} on {m.device}")
        if isinstance(x, (tuple, list)):     # the groups' features, not yet concatenated
            if len(x) != len(valid.channels):
                raise ValueError(f"x has {len(x)} groups of features, the ConcatMask {len(valid.channels)}")
            for i, (g, m, c) in enumerate(zip(x, valid.masks, valid.channels)):
                if not isinstance(g, torch.Tensor) or g.dim() != 4 or g.shape[1] != c:
                    shape = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
                    raise ValueError(f"feature group {i} must have shape B×{c}×H×W, got {shape}")
                if g.shape[0] != m.shape[0] or g.shape[2:] != m.shape[2:] or g.device != m.device:
                    raise ValueError(f"feature group {i} must match its mask's batch, size and device: the "
                                     f"group is {tuple(g.shape)} on {g.device}, the mask {tuple(m.shape)} on {m.device}")
            return
        if x is not None and (not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape B×{self.in_channels}×H×W, got shape {shape}")


class _Renormalise(torch.autograd.Function):
    """``y = raw·ratio + b·m′``, written over ``raw`` (the convolution's fresh output).

    Plain autograd (``raw * ratio + b * m′``) computes the same values but allocates two
    feature-sized temporaries in the forward pass and two in the backward pass; on a CPU,
    where allocating large tensors is slow, that alone made the layer about 1.5–1.9× an
    ``nn.Conv2d`` on the first U-Net layer. Here the forward pass works in place and the
    backward pass allocates only the gradient it returns. ``ratio`` is 0 wherever ``m′``
    is 0, so holes get exactly 0. Not twice differentiable (nothing in the book needs it).
    """

    @staticmethod
    def forward(ctx, raw, ratio, valid_out, bias):
        raw.mul_(ratio)                                  # float32 ratio, rounded once into raw's dtype
        if bias is not None:
            raw.addcmul_(bias.view(1, -1, 1, 1), valid_out)
        ctx.mark_dirty(raw)
        ctx.save_for_backward(ratio, valid_out)
        ctx.has_bias = bias is not None
        return raw

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        ratio, valid_out = ctx.saved_tensors
        grad_raw = grad_bias = None
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = _masked_channel_sum(grad, valid_out)   # the bias reaches only outputs with m′ = 1
        if ctx.needs_input_grad[0]:
            grad_raw = grad * ratio.to(grad.dtype)       # 0 where m′ = 0, since ratio is
        return grad_raw, None, None, grad_bias


def _masked_channel_sum(grad: torch.Tensor, valid_out: torch.Tensor) -> torch.Tensor:
    """``Σ_{b,h,w} grad·m′`` per channel, in at least float32. For a float32/float64
    gradient stored contiguously (or channels-last) it is one batched matrix product, which
    reads ``grad`` once and allocates nothing of its size; otherwise a masked sum."""
    b, c, h, w = grad.shape
    m = valid_out.to(grad.dtype)
    if grad.dtype in (torch.float32, torch.float64) and b:
        if grad.is_contiguous():                                   # B × C × HW  @  B × HW × 1
            return torch.bmm(grad.reshape(b, c, h * w), m.reshape(b, h * w, 1)).sum(dim=(0, 2))
        if grad.is_contiguous(memory_format=torch.channels_last):  # B × 1 × HW  @  B × HW × C
            return torch.bmm(m.reshape(b, 1, h * w), grad.permute(0, 2, 3, 1).reshape(b, h * w, c)).sum(dim=(0, 1))
    return (grad * m).sum(dim=(0, 2, 3), dtype=torch.promote_types(grad.dtype, torch.float32))
