"""GMCNN, the generative multi-column network (Wang et al., NeurIPS 2018), and its critics.

Taught in the "ID-MRF and the multi-column generator (GMCNN)" chapter. This is the
PyTorch version of the authors' code (``reference/methods.md`` §4.1), written anew.

**Generator** (:class:`GMCNN`). The input is 4 channels: the masked image in ``[-1, 1]``
(hole pixels zero) and the hole mask (1 = missing). Three columns read the same input;
they differ only in kernel size, so they see the image at different scales:

======  ======  ==============================================================
column  kernel  tail after the shared 12-conv trunk
======  ======  ==============================================================
B1      7×7     bilinear ×4 (align_corners) → 128 ch at full resolution
B2      5×5     nearest ×2 → conv5×5 →64 → conv5×5 →64 → bilinear ×2
B3      3×3     nearest ×2 → conv3×3 →64 → conv3×3 →64 → nearest ×2 → conv3×3 →32
                → conv3×3 →32
======  ======  ==============================================================

The trunk of every column (``k`` = the column's kernel; ``cnum`` = 32):

======  ======  ==========  ===============
conv    stride  channels    dilation
======  ======  ==========  ===============
1       1       32          1
2       2       64          1
3       1       64          1
4       2       128         1
5, 6    1       128         1
7–10    1       128         2, 4, 8, 16
11, 12  1       128         1
======  ======  ==========  ===============

The shared decoder concatenates the three full-resolution outputs (128 + 64 + 32 = 224
channels) → conv3×3 →16 (ELU) → conv3×3 →3 (linear) → clamp to ``[-1, 1]``. Every
convolution pads by reflection (``pad = dilation·(k−1)/2``, so stride-1 layers keep the
size) and is followed by an ELU except the last; there is no normalisation; weights start
from N(0, 0.02) and biases from 0.

**Parameter count** (``cnum=32, width=1``): **12,561,891** — trunks 7,132,576 (B1),
3,639,712 (B2), 1,311,136 (B3); tails 307,328 (B2) and 138,432 (B3); decoder 32,707.
``methods.md`` gives no reference figure; the tests derive it independently from the
tables above.

**Receptive fields** (:meth:`GMCNN.receptive_fields`, computed from the layer list):
a trunk with kernel ``k`` sees ``1 + 142·(k−1)`` pixels (853 / 569 / 285), and the
tails add a few more: **B1 857, B2 589, B3 297** pixels; the decoder adds 4. The
measured field (:func:`gradient_receptive_field` on a large enough input) has exactly
these sizes. All three
exceed a 256-px image: the columns differ less in *how far* they see than in how densely
they sample what they see (:func:`gradient_receptive_field` shows the measured map).

**Reflection padding beyond the border.** ``nn.ReflectionPad2d`` needs ``pad < size``. At
256 px the trunk runs at 64×64 and the widest pad is 48 (7×7, dilation 16), so it
applies; on the quick profile's 64-px crops the trunk runs at 16×16 and a pad of 48 is
larger than the map. :class:`ReflectionPad` then keeps mirroring (the mirror-periodic
extension NumPy's ``np.pad(mode="reflect")`` also gives); where ``pad < size`` it is
exactly ``nn.ReflectionPad2d``.

**Critics** (:class:`GlobalDiscriminator`, :class:`LocalDiscriminator`): 4 × [spectral-norm
conv5×5 stride 2 pad 2 → ELU] with 64, 128, 256, 256 channels, flatten, spectral-norm
linear → one score per image. The global critic sees the whole completed image (256 px);
the local critic sees the hole's bounding box (128 px for the paper's 128×128 rectangles),
cut out and resized by :func:`crop_boxes` from :func:`hole_bounding_boxes`. For free-form
masks there is no single box: as in the original PyTorch code, the local critic then sees
the whole image (build it with ``in_size`` = the image size).

Conventions: ``GMCNN.forward(image, hole)`` takes images in ``[0, 1]`` and the ``hole``
mask, validates them, maps the image to ``[-1, 1]``, zeroes the hole pixels itself
(changing them cannot change the output) and returns the prediction mapped back to
``[0, 1]``. Image sides must be divisible by 4. The critics take ``[0, 1]`` images too.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..registry import register_model
from ..tensors import validate, validate_hole, validate_image

__all__ = [
    "GMCNN",
    "GlobalDiscriminator",
    "LocalDiscriminator",
    "Discriminator",
    "Column",
    "ReflectionPad",
    "ReflectConv2d",
    "Upsample",
    "receptive_field",
    "gradient_receptive_field",
    "crop_boxes",
    "hole_bounding_boxes",
    "COLUMN_KERNELS",
    "TRUNK",
    "MIN_CHANNELS",
]

#: ``width`` never shrinks a layer below this many channels.
MIN_CHANNELS = 4

#: Kernel size of each column: B1 sees coarsely and far, B3 finely.
COLUMN_KERNELS = {"B1": 7, "B2": 5, "B3": 3}

#: The 12-conv trunk shared by the three columns: ``(stride, channels / cnum, dilation)``.
TRUNK = (
    (1, 1, 1),
    (2, 2, 1), (1, 2, 1),
    (2, 4, 1), (1, 4, 1), (1, 4, 1),
    (1, 4, 2), (1, 4, 4), (1, 4, 8), (1, 4, 16),
    (1, 4, 1), (1, 4, 1),
)


def _channels(multiple: float, cnum: int, width: float) -> int:
    return max(MIN_CHANNELS, int(round(multiple * cnum * width)))


# ---------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------
class ReflectionPad(nn.Module):
    """Reflection padding of any width: ``nn.ReflectionPad2d`` where ``pad < size``, and
    repeated mirroring beyond (the mirror-periodic extension, period ``2·(size−1)``).

    Each step reflects by at most ``size − 1`` (what ``F.pad(mode="reflect")`` allows); the
    padded array is symmetric about its new border, so the next step continues the same
    periodic extension. A side of length 1 is replicated (there is nothing to mirror).
    """

    def __init__(self, pad: int):
        super().__init__()
        if pad < 0:
            raise ValueError(f"pad must be non-negative, got {pad}")
        self.pad = int(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        todo_h = todo_w = self.pad
        while todo_h or todo_w:
            h, w = x.shape[-2:]
            if (todo_h and h == 1) or (todo_w and w == 1):  # nothing to mirror: replicate
                return F.pad(x, (todo_w, todo_w, todo_h, todo_h), mode="replicate")
            ph, pw = min(todo_h, h - 1), min(todo_w, w - 1)
            x = F.pad(x, (pw, pw, ph, ph), mode="reflect")
            todo_h, todo_w = todo_h - ph, todo_w - pw
        return x

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class ReflectConv2d(nn.Module):
    """``y = ELU(conv(reflect_pad(x)))``: GMCNN's only convolution (ELU optional).

    ``pad = dilation·(k−1)/2``, so a stride-1 layer keeps the size and a stride-2 layer
    halves an even size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1, elu: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
        self.pad = ReflectionPad(dilation * (kernel_size - 1) // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        self.act = nn.ELU() if elu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad(x)
        if self.dilation > 1 and _DilatedConvCPU.applies(x, self.conv.weight, self.dilation):
            return self.act(_DilatedConvCPU.apply(x, self.conv.weight, self.conv.bias, self.dilation))
        return self.act(self.conv(x))


class _DilatedConvCPU(torch.autograd.Function):
    """A dilated, stride-1, unpadded convolution whose gradients are computed with
    undilated convolutions: the same values as ``F.conv2d``, a faster backward pass on a CPU.

    oneDNN's backward kernels for dilated convolutions run at about half the speed of
    the undilated ones (``benchmarks/results/gmcnn-dilated-cpu.md``). The weight gradient
    is a correlation of the input with the output gradient,
    ``∂W[o, i, a, b] = Σ_{n,y,x} X[n, i, y + d·a, x + d·b] · G[n, o, y, x]``, i.e. a
    convolution of ``Xᵀ`` (channels as the batch) with ``Gᵀ`` as the kernel at stride
    ``d``, which runs on the fast undilated path; the input gradient goes by ``d×d``
    phases where they are large enough (:func:`_dilated_input_grad`). Used by :class:`ReflectConv2d` on CPU tensors in float32/float64
    with gradients on, where the output is at least ``4·d`` pixels on each side (on
    smaller maps, such as the 16×16 trunk of a 64-px image at dilation 8 and 16, the
    strided weight-gradient convolution is no faster); GPUs (cuDNN), autocast,
    ``torch.compile`` and ONNX export take ``F.conv2d``. Differentiable once.
    """

    @staticmethod
    def applies(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> bool:
        span = dilation * (weight.shape[-1] - 1)
        return (x.device.type == "cpu" and torch.is_grad_enabled() and weight.requires_grad
                and min(x.shape[-2], x.shape[-1]) - span >= 4 * dilation
                and x.dtype in (torch.float32, torch.float64) and weight.dtype == x.dtype
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
                and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())

    @staticmethod
    def forward(ctx, x, weight, bias, dilation):
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None
        return F.conv2d(x, weight, bias, 1, 0, dilation)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        d, k = ctx.dilation, weight.shape[-2:]
        grad = grad.contiguous()
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _dilated_input_grad(grad, x, weight, d)
        if ctx.needs_input_grad[1]:
            gw = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), stride=d).transpose(0, 1)
            gw = gw[..., :k[0], :k[1]].contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb, None


def _dilated_input_grad(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, d: int) -> torch.Tensor:
    """``∂x`` of ``y = F.conv2d(x, weight, dilation=d)`` (stride 1, no padding).

    Where the output splits into ``d×d`` phases big enough for oneDNN's undilated kernels
    (rows and columns divisible by ``d``, at least 16 per phase — 8 for kernels up to
    5×5), each phase is an undilated convolution of the matching phase of ``x``: the
    ``d²`` phases go through PyTorch's backward kernel as one batch, about 1.4–2× faster
    than the dilated kernel here. Elsewhere PyTorch's own backward."""
    (b, c, H, W), (_, o, h, w), k = x.shape, grad.shape, weight.shape[-1]
    least = 8 if k <= 5 else 16
    if h % d or w % d or h // d < least or w // d < least:
        return torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], [0, 0], [d, d], False,
                                                   [0, 0], 1, [True, False, False])[0]

    def split(t: torch.Tensor) -> torch.Tensor:       # B×C×(n·d)×(m·d) → (d·d·B)×C×n×m
        n, m = t.shape[-2] // d, t.shape[-1] // d
        t = t.reshape(t.shape[0], t.shape[1], n, d, m, d).permute(3, 5, 0, 1, 2, 4)
        return t.reshape(d * d * t.shape[2], t.shape[3], n, m)

    like = x.new_empty(d * d * b, c, H // d, W // d)      # only its shape is read
    g = torch.ops.aten.convolution_backward(split(grad), like, weight, None, [1, 1], [0, 0], [1, 1], False,
                                            [0, 0], 1, [True, False, False])[0]
    g = g.reshape(d, d, b, c, H // d, W // d).permute(2, 3, 4, 0, 5, 1)
    return g.reshape(b, c, H, W)


class Upsample(nn.Module):
    """Integer upsampling: ``"nearest"`` or ``"bilinear"`` (with ``align_corners=True``,
    as in the original code)."""

    def __init__(self, scale: int, mode: str):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.scale, self.mode = int(scale), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] * self.scale, x.shape[-1] * self.scale)
        if self.mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}"


def receptive_field(layers: Sequence[nn.Module]) -> int:
    """Theoretical receptive field, in input pixels, of one output pixel of ``layers``.

    Exact interval arithmetic on an unbounded image: for an output index ``i`` walk the
    layers backwards, turning the interval ``[a, b]`` of indices a map position depends
    on into the interval in the layer's input:

    * convolution (kernel ``k``, dilation ``d``, stride ``s``, pad ``p = d·(k−1)/2``):
      ``[a·s − p, b·s − p + d·(k−1)]``;
    * nearest upsampling by ``u``: ``[⌊a/u⌋, ⌊b/u⌋]``;
    * bilinear upsampling by ``u``: ``[⌊a/u⌋, ⌊b/u⌋ + 1]`` (each output blends two
      neighbours; the largest case).

    The field is the largest ``b − a + 1`` over one period of output positions (the
    product of the upsampling factors). The textbook recursion ``r += d·(k−1)·j`` agrees
    for B1 and B3 but gives 587 for B2 instead of 589: after a nearest upsampling two
    neighbouring pixels may copy the same coarse pixel or two different ones, so a later
    window can straddle one more coarse pixel than the recursion assumes.
    """
    period = 1
    for layer in layers:
        if isinstance(layer, Upsample):
            period *= layer.scale
        elif not isinstance(layer, ReflectConv2d):
            raise TypeError(f"receptive_field does not know layers of type {type(layer).__name__}")
    best = 1
    for i in range(period):
        a = b = i
        for layer in reversed(list(layers)):
            if isinstance(layer, ReflectConv2d):
                span = layer.dilation * (layer.kernel_size - 1)
                a, b = a * layer.stride - span // 2, b * layer.stride - span // 2 + span
            elif layer.mode == "nearest":
                a, b = a // layer.scale, b // layer.scale
            else:
                a, b = a // layer.scale, b // layer.scale + 1
        best = max(best, b - a + 1)
    return best


class Column(nn.Module):
    """One column of GMCNN: the 12-conv trunk at kernel ``k``, then the column's tail.

    ``forward`` maps the 4-channel input ``B×4×H×W`` to full-resolution features
    ``B×out_channels×H×W``. ``trunk`` and ``tail`` are :class:`~torch.nn.Sequential`;
    :attr:`layers` lists both in order.
    """

    def __init__(self, name: str, cnum: int = 32, width: float = 1.0, in_channels: int = 4):
        super().__init__()
        if name not in COLUMN_KERNELS:
            raise ValueError(f"column must be one of {sorted(COLUMN_KERNELS)}, got {name!r}")
        self.name = name
        k = self.kernel_size = COLUMN_KERNELS[name]
        c = lambda m: _channels(m, cnum, width)  # noqa: E731
        trunk, cin = [], in_channels
        for stride, mult, dilation in TRUNK:
            trunk.append(ReflectConv2d(cin, c(mult), k, stride=stride, dilation=dilation))
            cin = c(mult)
        if name == "B1":
            tail = [Upsample(4, "bilinear")]
        elif name == "B2":
            tail = [Upsample(2, "nearest"), ReflectConv2d(cin, c(2), 5), ReflectConv2d(c(2), c(2), 5),
                    Upsample(2, "bilinear")]
        else:
            tail = [Upsample(2, "nearest"), ReflectConv2d(cin, c(2), 3), ReflectConv2d(c(2), c(2), 3),
                    Upsample(2, "nearest"), ReflectConv2d(c(2), c(1), 3), ReflectConv2d(c(1), c(1), 3)]
        self.trunk = nn.Sequential(*trunk)
        self.tail = nn.Sequential(*tail)
        convs = [m for m in self.layers if isinstance(m, ReflectConv2d)]
        self.out_channels = convs[-1].conv.out_channels

    @property
    def layers(self) -> list[nn.Module]:
        """Trunk and tail layers, in the order they run."""
        return list(self.trunk) + list(self.tail)

    def receptive_field(self) -> int:
        """Theoretical receptive field of one output pixel (see :func:`receptive_field`)."""
        return receptive_field(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.trunk(x))


def _init_normal(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------
@register_model("gmcnn")
class GMCNN(nn.Module):
    """The multi-column generator; ``model(image, hole)`` returns the prediction in [0, 1].

    Args:
        cnum: base channel count (32): trunks use ``cnum·(1, 2, 4)``, the decoder's hidden
            layer ``cnum/2``.
        width: channel multiplier for the quick profile (e.g. 0.25); every layer keeps at
            least ``MIN_CHANNELS`` channels.

    ``cnum=32, width=1`` has **12,561,891** parameters (module docstring). Image sides
    must be divisible by 4 (the trunk downsamples twice).
    """

    def __init__(self, cnum: int = 32, width: float = 1.0):
        super().__init__()
        if not isinstance(cnum, int) or cnum < 1:
            raise ValueError(f"cnum must be a positive integer, got {cnum!r}")
        if not (isinstance(width, (int, float)) and width > 0):
            raise ValueError(f"width must be a positive number, got {width!r}")
        self.cnum, self.width = cnum, float(width)
        self.columns = nn.ModuleList(Column(name, cnum, width) for name in COLUMN_KERNELS)
        concat = sum(col.out_channels for col in self.columns)
        hidden = _channels(0.5, cnum, width)
        self.decoder = nn.Sequential(ReflectConv2d(concat, hidden, 3), ReflectConv2d(hidden, 3, 3, elu=False))
        _init_normal(self)

    # -- inputs --------------------------------------------------------------------------
    @staticmethod
    def _check_size(h: int, w: int) -> None:
        if h % 4 or w % 4:
            raise ValueError(f"GMCNN needs image sides divisible by 4 (its trunk downsamples twice); "
                             f"got {h}×{w}. Crop or pad the image")

    def network_input(self, image: torch.Tensor, hole: torch.Tensor, check: bool = True) -> torch.Tensor:
        """The 4-channel input ``[(2·image − 1)·(1 − hole), hole]`` after validation
        (``check=False``: shapes only, see :func:`inpaintlib.tensors.validate`)."""
        validate(image, hole, check=check)
        self._check_size(*image.shape[-2:])
        return torch.cat([(image * 2.0 - 1.0) * (1.0 - hole), hole], dim=1)

    # -- the network on its own input ------------------------------------------------------
    def run_columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three columns' full-resolution features for a 4-channel input ``x``."""
        return [col(x) for col in self.columns]

    def decode(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Shared decoder, *before* the clamp: concat → conv3×3 (ELU) → conv3×3 → 3 channels."""
        return self.decoder(torch.cat(list(features), dim=1))

    # -- public ----------------------------------------------------------------------------
    def forward(self, image: torch.Tensor, hole: torch.Tensor, return_columns: bool = False,
                check: bool = True):
        """Inpaint ``image`` where ``hole`` is 1; returns ``B×3×H×W`` in [0, 1].

        The raw output is clamped to ``[-1, 1]`` (as in the original; the clamp passes no
        gradient where it is active) and mapped to ``[0, 1]``. With
        ``return_columns=True`` returns ``(out, [B1, B2, B3])``, the columns' features.
        ``check=False`` skips the input checks that read values (the recipes' training
        steps, whose data pipeline has checked them).
        """
        columns = self.run_columns(self.network_input(image, hole, check))
        out = (self.decode(columns).clamp(-1.0, 1.0) + 1.0) / 2.0
        return (out, columns) if return_columns else out

    def column_outputs(self, image: torch.Tensor, hole: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"B1": …, "B2": …, "B3": …}``: each column's ``B×C×H×W`` features."""
        cols = self.run_columns(self.network_input(image, hole))
        return {col.name: f for col, f in zip(self.columns, cols)}

    def receptive_fields(self) -> dict[str, int]:
        """Theoretical receptive field of each column's output pixel, in pixels.

        ``{"B1": 857, "B2": 589, "B3": 297}`` (independent of ``width``; see
        :func:`receptive_field`); the decoder's two 3×3 convolutions add 4
        (:meth:`output_receptive_field`). :func:`gradient_receptive_field` measures the
        same sizes on a large enough input.
        """
        return {col.name: col.receptive_field() for col in self.columns}

    def output_receptive_field(self) -> int:
        """Receptive field of one output pixel: the widest column plus the decoder (861)."""
        return max(receptive_field(col.layers + list(self.decoder)) for col in self.columns)

    def extra_repr(self) -> str:
        return f"cnum={self.cnum}, width={self.width}"


def gradient_receptive_field(model: GMCNN, size: int = 64, column: Union[None, int, str] = None,
                             x: Optional[torch.Tensor] = None, seed: int = 0) -> torch.Tensor:
    """The empirical receptive field: ``|∂ output(centre) / ∂ input|``, a ``size×size`` map.

    ``column`` picks what is differentiated at the centre pixel ``(size//2, size//2)``:
    ``None`` the generator's output (before the clamp, summed over RGB), or a column
    (``0``/``"B1"``, ``1``/``"B2"``, ``2``/``"B3"``, summed over its channels). The map
    sums ``|gradient|`` over the 4 input channels. ``x`` is the ``1×4×size×size`` network
    input; by default a seeded random image in ``[-1, 1]`` with no hole (the map depends
    on the input through the ELUs, only a little). Reflection padding folds the part of
    the field beyond the border back into the image.
    """
    if column is not None:
        names = list(COLUMN_KERNELS)
        if isinstance(column, str):
            if column not in names:
                raise ValueError(f"column must be one of {names} or 0–2, got {column!r}")
            column = names.index(column)
        elif column not in (0, 1, 2):
            raise ValueError(f"column must be one of {names} or 0–2, got {column!r}")
    GMCNN._check_size(size, size)
    p = next(model.parameters())
    if x is None:
        g = torch.Generator().manual_seed(seed)
        img = torch.rand(1, 3, size, size, generator=g) * 2.0 - 1.0
        x = torch.cat([img, torch.zeros(1, 1, size, size)], dim=1)
    if tuple(x.shape) != (1, 4, size, size):
        raise ValueError(f"x must have shape 1×4×{size}×{size}, got {tuple(x.shape)}")
    x = x.detach().to(p.device, p.dtype).requires_grad_(True)
    c = size // 2
    with torch.enable_grad():
        if column is None:
            y = model.decode(model.run_columns(x))
        else:
            y = model.columns[column](x)
        (grad,) = torch.autograd.grad(y[0, :, c, c].sum(), x)
    return grad[0].abs().sum(0).detach()


# ---------------------------------------------------------------------------------------
# the critics
# ---------------------------------------------------------------------------------------
class Discriminator(nn.Module):
    """GMCNN's critic: 4 × [SN conv5×5 stride 2 pad 2 → ELU], flatten, SN linear → 1.

    Args:
        in_size: side of the square input image; divisible by 16.
        d_cnum: channels of the first conv (64); then 2×, 4×, 4×.
        width: channel multiplier (at least ``MIN_CHANNELS`` per layer).
        spectral_norm: wrap every weight in
            :func:`torch.nn.utils.parametrizations.spectral_norm` (one power iteration per
            training-mode forward).

    Input ``B×3×in_size×in_size`` in ``[0, 1]`` (mapped to ``[-1, 1]`` inside); output
    ``B×1`` raw scores. The linear layer reads ``(in_size/16)²·4·d_cnum`` features.
    Weights start from N(0, 0.02), biases from 0 (under spectral norm only the direction
    of the initial weights matters).
    """

    def __init__(self, in_size: int, d_cnum: int = 64, width: float = 1.0, spectral_norm: bool = True):
        super().__init__()
        if not isinstance(in_size, int) or in_size < 16 or in_size % 16:
            raise ValueError(f"in_size must be a positive multiple of 16 (four stride-2 convs), got {in_size!r}")
        if not isinstance(d_cnum, int) or d_cnum < 1:
            raise ValueError(f"d_cnum must be a positive integer, got {d_cnum!r}")
        if not (isinstance(width, (int, float)) and width > 0):
            raise ValueError(f"width must be a positive number, got {width!r}")
        self.in_size, self.d_cnum, self.width, self.spectral_norm = in_size, d_cnum, float(width), spectral_norm
        chans = [3] + [_channels(m, d_cnum, width) for m in (1, 2, 4, 4)]
        convs = [nn.Conv2d(chans[i], chans[i + 1], 5, stride=2, padding=2) for i in range(4)]
        fc = nn.Linear((in_size // 16) ** 2 * chans[-1], 1)
        for m in convs + [fc]:
            _init_normal(m)
        if spectral_norm:
            convs = [_spectral_norm(m) for m in convs]
            fc = _spectral_norm(fc)
        self.convs = nn.ModuleList(convs)
        self.act = nn.ELU()
        self.fc = fc

    def forward(self, image: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Scores ``B×1`` for images ``B×3×in_size×in_size`` in ``[0, 1]`` (``check=False``:
        shape checks only, for the generator's output inside a training step)."""
        validate_image(image, check=check)
        if tuple(image.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f"{type(self).__name__}(in_size={self.in_size}) takes "
                             f"{self.in_size}×{self.in_size} images, got {tuple(image.shape[-2:])}")
        x = image * 2.0 - 1.0
        for conv in self.convs:
            x = self.act(conv(x))
        return self.fc(x.flatten(1))

    def extra_repr(self) -> str:
        return f"in_size={self.in_size}, d_cnum={self.d_cnum}, width={self.width}"


class GlobalDiscriminator(Discriminator):
    """The global critic: scores the whole completed image (256 px in the paper).

    ``in_size=256, d_cnum=64, width=1``: 2,733,441 parameters (fc input 16·16·256).
    """

    def __init__(self, in_size: int = 256, d_cnum: int = 64, width: float = 1.0, spectral_norm: bool = True):
        super().__init__(in_size, d_cnum, width, spectral_norm)


class LocalDiscriminator(Discriminator):
    """The local critic: scores the hole's bounding box, resized to ``in_size`` (128).

    Feed it ``crop_boxes(completed, hole_bounding_boxes(hole), in_size)``. For free-form
    masks build it with ``in_size`` = the image size and feed it the whole image, as the
    original PyTorch code does. ``in_size=128, width=1``: 2,684,289 parameters.
    """

    def __init__(self, in_size: int = 128, d_cnum: int = 64, width: float = 1.0, spectral_norm: bool = True):
        super().__init__(in_size, d_cnum, width, spectral_norm)


# ---------------------------------------------------------------------------------------
# the local critic's input
# ---------------------------------------------------------------------------------------
def hole_bounding_boxes(hole: torch.Tensor, empty: str = "error", check: bool = True) -> torch.Tensor:
    """Bounding box of each sample's hole: ``B×4`` long ``(top, left, height, width)``.

    Vectorised: a row (column) belongs to the box when any of its pixels is a hole. A
    sample with no hole has no box: ``empty="error"`` raises a ``ValueError`` naming it,
    ``empty="full"`` returns the whole image ``(0, 0, H, W)`` for it. ``check=False``
    (a training step) reads no values on the host: the mask is not checked and an empty
    hole gets the whole image, as with ``empty="full"``.
    """
    validate_hole(hole, check=check)
    if empty not in ("error", "full"):
        raise ValueError(f"empty must be 'error' or 'full', got {empty!r}")
    b, _, h, w = hole.shape
    rows = (hole.amax(dim=(1, 3)) > 0).to(torch.uint8)   # B×H
    cols = (hole.amax(dim=(1, 2)) > 0).to(torch.uint8)   # B×W
    has = rows.amax(dim=1) > 0
    if check and not bool(has.all()):
        if empty == "error":
            bad = torch.nonzero(~has).flatten().tolist()
            raise ValueError(f"hole_bounding_boxes: sample(s) {bad} have no hole pixel, so no bounding box; "
                             "pass empty='full' to use the whole image for them")
    top, left = rows.argmax(dim=1), cols.argmax(dim=1)    # first 1 (argmax returns the first maximum)
    bottom = h - 1 - rows.flip(1).argmax(dim=1)
    right = w - 1 - cols.flip(1).argmax(dim=1)
    boxes = torch.stack([top, left, bottom - top + 1, right - left + 1], dim=1)
    full = torch.tensor([0, 0, h, w], device=boxes.device)
    return torch.where(has[:, None], boxes, full)


def _source_positions(start: torch.Tensor, length: torch.Tensor, out: int):
    """Per-sample bilinear taps along one axis, as ``F.interpolate(align_corners=False)``
    computes them for a crop of ``length`` pixels starting at ``start`` (``B`` each)."""
    scale = length.to(torch.float32) / out                                       # B
    src = (torch.arange(out, device=start.device, dtype=torch.float32) + 0.5) * scale[:, None] - 0.5
    src = src.clamp(min=0.0)                                                     # B×out
    i0 = src.floor().long()
    last = (length - 1)[:, None]
    i0 = torch.minimum(i0, last)
    i1 = torch.minimum(i0 + 1, last)
    frac = (src - i0.to(torch.float32)).clamp(0.0, 1.0)
    return start[:, None] + i0, start[:, None] + i1, frac


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: Union[int, Sequence[int]],
               check: bool = True) -> torch.Tensor:
    """Cut one box per sample out of ``images`` (``B×C×H×W``) and resize it to ``size``.

    ``boxes`` is ``B×4`` integer ``(top, left, height, width)``, e.g. from
    :func:`hole_bounding_boxes`; every box must lie inside the image. The result equals
    ``F.interpolate(images[b:b+1, :, t:t+h, l:l+w], size, mode="bilinear",
    align_corners=False)`` for every ``b`` (no antialiasing), computed for the whole batch
    at once by gathering rows then columns; a box already of the target size is copied
    exactly. Differentiable with respect to ``images``. ``check=False`` trusts the boxes'
    values (whole numbers, inside the image), e.g. from :func:`hole_bounding_boxes`.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a B×C×H×W tensor, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    b, c, h, w = images.shape
    out_h, out_w = (size, size) if isinstance(size, int) else tuple(size)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    if not isinstance(boxes, torch.Tensor) or tuple(boxes.shape) != (b, 4):
        raise ValueError(f"boxes must be a {b}×4 tensor (top, left, height, width), got "
                         f"{tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__}")
    if check and boxes.is_floating_point():
        if not bool((boxes == boxes.round()).all()):
            raise ValueError("boxes must hold whole pixel numbers")
    boxes = boxes.to(device=images.device, dtype=torch.long)
    top, left, bh, bw = boxes.unbind(1)
    bad = (bh < 1) | (bw < 1) | (top < 0) | (left < 0) | (top + bh > h) | (left + bw > w)
    if check and bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"box {boxes[i].tolist()} of sample {i} (top, left, height, width) is empty or "
                         f"leaves the {h}×{w} image")
    y0, y1, fy = _source_positions(top, bh, out_h)
    x0, x1, fx = _source_positions(left, bw, out_w)
    fy = fy.to(images.dtype)[:, None, :, None]                                   # B×1×out_h×1
    fx = fx.to(images.dtype)[:, None, None, :]                                   # B×1×1×out_w
    rows = lambda i: images.gather(2, i[:, None, :, None].expand(b, c, out_h, w))  # noqa: E731
    r = rows(y0) * (1 - fy) + rows(y1) * fy                                      # B×C×out_h×W
    cols = lambda i: r.gather(3, i[:, None, None, :].expand(b, c, out_h, out_w))   # noqa: E731
    return cols(x0) * (1 - fx) + cols(x1) * fx
