"""Architecture figures drawn from the models themselves.

Every method chapter opens its model with one of these figures: the CLmser fold with its
two dualities ("Lmser and its two dualities"), SC-Lmser's G/F/Dx/Dy loop ("Sketch synthesis
with SC-Lmser"), the partial-convolution U-Net with its mask path ("Partial convolution"),
GMCNN's three columns and two critics ("ID-MRF and the multi-column generator") and CTSDG's
cross-coupled streams with Bi-GFF and CFA ("Dual streams").

Nothing in a figure is typed in by hand. :func:`trace` runs one forward pass of the model
(batch 1, a constant image with a square hole, ``torch.no_grad``, eval mode, the model's
training mode restored afterwards) with forward hooks on the modules that make up each
level, and records every level's output shape ``C×H×W``; the drawing functions write those
shapes, the kernels and the parameter counts into the boxes. Build the model at another
``width`` and the labels change with it.

* :func:`architecture_figure` picks the drawing for a model:
  :func:`clmser_figure`, :func:`sc_lmser_figure`, :func:`pconv_figure`,
  :func:`gmcnn_figure`, :func:`ctsdg_figure`.
* Each returns a :class:`matplotlib.figure.Figure` that is not registered with pyplot, so a
  notebook cell that ends with it shows it exactly once.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["trace", "architecture_figure", "clmser_figure", "sc_lmser_figure", "pconv_figure",
           "gmcnn_figure", "ctsdg_figure", "parameter_count"]

Shape = Tuple[int, ...]

# colours: encoder, decoder, mask path, fusion / heads, critics, input/output
ENC, DEC, MASK, FUSE, CRITIC, IO = "#d6e6f5", "#fbe3cc", "#e4e4e4", "#dff0d8", "#f3d9e8", "#f4f4f4"
DPN_C, DCW_C, CROSS_C = "#1f7a6d", "#7b2cbf", "#c0392b"


# ---------------------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------------------
def parameter_count(*modules: nn.Module) -> int:
    """Number of parameters (shared parameters counted once) of one or more modules."""
    seen = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def trace(model: nn.Module, modules: Dict[str, nn.Module], run: Callable[[], object]) -> Dict[str, Shape]:
    """Run ``run()`` once with forward hooks on ``modules`` and return ``{name: C×H×W}``.

    A module that returns a tuple (a partial convolution returns ``(features, mask)``)
    is recorded under ``name`` (the first tensor) and ``name + ".mask"`` (the second).
    ``model`` is put in eval mode under ``torch.no_grad`` and its mode restored after.
    """
    shapes: Dict[str, Shape] = {}

    def hook(name):
        def record(_module, _inputs, out):
            t = _first_tensor(out)
            if t is not None:
                shapes[name] = tuple(int(s) for s in t.shape[1:])
            if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], torch.Tensor):
                shapes[name + ".mask"] = tuple(int(s) for s in out[1].shape[1:])
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    missing = [n for n in modules if n not in shapes]
    if missing:
        raise RuntimeError(f"the forward pass never ran {', '.join(missing)}")
    return shapes


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _probe(model: nn.Module, size: int, channels: int = 3):
    """A constant image (0.5) with a centred square hole, on the model's device."""
    dev = _device(model)
    image = torch.full((1, channels, size, size), 0.5, device=dev)
    hole = torch.zeros(1, 1, size, size, device=dev)
    q = size // 4
    hole[..., q:size - q, q:size - q] = 1.0
    return image, hole


def _chw(s: Shape) -> str:
    return "×".join(str(v) for v in s)


def _hw(s: Shape) -> str:
    return f"{s[-2]}×{s[-1]}"


# ---------------------------------------------------------------------------------------
# drawing helpers
# ---------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    class ArchitectureFigure(Figure):
        """A figure that shows itself as a PNG in IPython whatever the backend state (before a
        notebook's first pyplot figure, the inline backend has not registered its formatter)."""

        def _repr_png_(self) -> bytes:
            import io

            buf = io.BytesIO()
            self.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()

    fig = ArchitectureFigure(figsize=(width, height), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, fc: str, fontsize: float = 8.0,
         ec: str = "#555555", weight: str = "normal", ls: str = "-"):
    """A rounded box centred at (x, y); returns its (left, right, bottom, top)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=fc, ec=ec, lw=0.8, ls=ls))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight=weight, linespacing=1.15)
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def _arrow(ax, start, end, color: str = "#333333", ls: str = "-", lw: float = 0.9, rad: float = 0.0,
           style: str = "-|>", label: Optional[str] = None, label_xy=None, fontsize: float = 7.0,
           ha: str = "center", va: str = "center", label_color: Optional[str] = None):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9, color=color, lw=lw, ls=ls,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1))
    if label:
        if label_xy is None:
            label_xy = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(*label_xy, label, fontsize=fontsize, ha=ha, va=va, color=label_color or color)


def _bar(ax, x: float, y: float, h: float, fc: str, w: float = 0.22, hatch: Optional[str] = None):
    """A layer drawn as a bar centred at (x, y) whose height shows the map's side."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, fc=fc, ec="#555555", lw=0.7, hatch=hatch))


def _finish(fig, ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return fig


# ---------------------------------------------------------------------------------------
# CLmser: the fold
# ---------------------------------------------------------------------------------------
def clmser_figure(model, size: int = 256):
    """The CLmser fold (chapter "Lmser and its two dualities").

    Encoder features ``f0 … f6`` run down the left, the decoder's up-block outputs
    ``d5 … d0`` up the right, level by level at the same height: the folded autoencoder.
    Purple links mark DCW (the up-block transposes the encoder's own kernel), green dashed
    arrows DPN (the paired encoder feature mixed into the decoder with weight ``w``); a
    variant without a duality is drawn without its marks.
    """
    n = len(model.enc_kernels)
    modules = {f"f{l}": model.enc_bn[l] for l in range(n)}
    # dec_bn[j] normalises up-block 5 − j
    modules.update({f"d{n - 2 - j}": bn for j, bn in enumerate(model.dec_bn)})
    modules["out"] = model
    image, hole = _probe(model, size)
    shapes = trace(model, modules, lambda: model(image, hole))
    kern = [tuple(k.shape) for k in model.enc_kernels]        # (out, in, 3, 3)

    rows = n                                                  # f0 … f6
    fig, ax = _figure(9.6, 0.62 * (rows + 3))
    xl, xr, w, h = 0.0, 6.0, 2.5, 0.5
    y = lambda r: -float(r)                                    # noqa: E731
    title = (f"{model.variant_name}: DCW {'on' if model.dcw else 'off'}, DPN {'on' if model.dpn else 'off'}"
             f" · {parameter_count(model):,} parameters · {size} px input")
    ax.text((xl + xr) / 2, 2.05, title, ha="center", va="center", fontsize=9, weight="bold")
    _box(ax, xl, 1.0, w, h, f"input {_chw((kern[0][1], size, size))}\nholes set to 0", IO)
    _box(ax, xr, 1.0, w, h, f"output {_chw(shapes['out'])}\ntanh", IO)
    for r in range(rows):
        _box(ax, xl, y(r), w, h, f"f{r}   {_chw(shapes[f'f{r}'])}", ENC)
    for r in range(rows - 1):
        _box(ax, xr, y(r), w, h, f"d{r}   {_chw(shapes[f'd{r}'])}", DEC)
    ax.text(xl - w / 2 - 0.15, y(0) - 0.02, "encoder", rotation=90, ha="right", va="top", fontsize=8, color="#555555")
    ax.text(xr + w / 2 + 0.15, y(0) - 0.02, "decoder", rotation=90, ha="left", va="top", fontsize=8, color="#555555")
    # encoder arrows (down the left) and decoder arrows (up the right)
    prime = "" if model.dcw else "′"
    tops = [1.0] + [y(r) for r in range(rows)]
    for l in range(n):
        o, i = kern[l][0], kern[l][1]
        s = 1 if l == 0 else 2
        _arrow(ax, (xl, tops[l] - h / 2), (xl, tops[l + 1] + h / 2),
               label=f"k{l}: {i}→{o}, 3×3/{s}", label_xy=(xl + 0.12, (tops[l] + tops[l + 1]) / 2), ha="left")
    for l in range(1, n):                                    # up-block l−1 transposes k_l
        src = (xr, y(l) + h / 2) if l < rows - 1 else (xl + w / 2, y(rows - 1))
        dst = (xr, y(l - 1) - h / 2)
        _arrow(ax, src, dst, rad=0.0 if l < rows - 1 else 0.15,
               label=f"k{l}{prime}ᵀ: {kern[l][0]}→{kern[l][1]}, ×2",
               label_xy=((xr - 0.12, (y(l) + y(l - 1)) / 2) if l < rows - 1 else (xr - 1.3, y(rows - 1) + 0.05)),
               ha="right" if l < rows - 1 else "left")
    _arrow(ax, (xr, y(0) + h / 2), (xr, 1.0 - h / 2), label=f"k0{prime}ᵀ: {kern[0][0]}→{kern[0][1]}",
           label_xy=(xr - 0.12, 0.5), ha="right")
    # DCW: the kernel on the left is the kernel on the right
    if model.dcw:
        for l in range(n - 1):         # k6's transpose is the curve at the bottom
            ym = (tops[l] + tops[l + 1]) / 2 if l > 0 else 0.5
            _arrow(ax, (xl + 1.55, ym), (xr - 1.55, ym), color=DCW_C, ls=":", style="<->", lw=0.8)
        ax.text((xl + xr) / 2, 0.62, "DCW: one kernel, used forward and transposed", color=DCW_C,
                fontsize=7, ha="center")
    # DPN: the paired encoder feature enters the decoder
    if model.dpn:
        wgt = model.dpn_weight
        for r in range(1, rows - 1):
            _arrow(ax, (xl + w / 2, y(r) - 0.08), (xr - w / 2, y(r) - 0.08), color=DPN_C, ls="--")
        ax.text((xl + xr) / 2, y(1) - 0.24, f"DPN: d ← (1−w)·d + w·f, w = {wgt:g}", color=DPN_C,
                fontsize=7, ha="center", va="top")
        ax.text((xl + xr) / 2, y(0) - 0.08, "f0 is never merged", color="#777777", fontsize=7, ha="center")
    return _finish(fig, ax, (xl - w / 2 - 0.5, xr + w / 2 + 0.5), (y(rows - 1) - 0.6, 2.35))


# ---------------------------------------------------------------------------------------
# PConv U-Net: features and the mask path
# ---------------------------------------------------------------------------------------
def pconv_figure(model, size: Optional[int] = None):
    """The partial-convolution U-Net with its mask path (chapter "Partial convolution").

    Left: the encoder, one partial convolution per level, each beside the mask it passes
    on (one channel: every channel of a level shares it). Right: the decoder, whose
    multi-channel partial convolutions read the upsampled features *and* masks
    concatenated with the encoder's at that size; the last level reads the input image and
    its mask. ``size`` defaults to ``2·2**layers`` (a 2×2 bottleneck: 256 px for 7 levels).
    """
    L = model.layers
    size = size or 2 * 2 ** L
    modules = {f"e{k}": model.encoder[k] for k in range(L)}
    modules.update({f"d{j}": model.decoder[j] for j in range(L)})
    image, hole = _probe(model, size, model.in_channels)
    shapes = trace(model, modules, lambda: model(image, hole))

    fig, ax = _figure(10.2, 0.56 * (L + 3.2))
    xf, xm, xm2, xd, w, wm, h = 0.0, 2.35, 5.15, 7.5, 2.9, 1.5, 0.46
    y = lambda r: -float(r)                                    # noqa: E731
    title = (f"{type(model).__name__}: partial-convolution U-Net · {L} levels · "
             f"{parameter_count(model):,} parameters · {size} px input")
    ax.text((xf + xd) / 2, 1.85, title, ha="center", va="center", fontsize=9, weight="bold")
    _box(ax, xf, 0.0, w, h, f"image {_chw((model.in_channels, size, size))}, holes = 0", IO)
    _box(ax, xm, 0.0, wm, h, f"valid mask\n1×{size}×{size}", MASK, fontsize=7)
    for k in range(L):
        conv = model.encoder[k].conv
        ks, st = conv.kernel_size[0], conv.stride[0]
        _box(ax, xf, y(k + 1), w, h, f"PConv{k + 1} {ks}×{ks}/{st}   {_chw(shapes[f'e{k}'])}", ENC)
        _box(ax, xm, y(k + 1), wm, h, f"mask {_chw(shapes[f'e{k}.mask'])}", MASK, fontsize=7)
        _arrow(ax, (xf, y(k) - h / 2), (xf, y(k + 1) + h / 2))
        _arrow(ax, (xm, y(k) - h / 2), (xm, y(k + 1) + h / 2), color="#888888")
    for j in range(L):
        conv = model.decoder[j].conv
        ks = conv.kernel_size[0]
        name = f"PConv{2 * L - j}"
        _box(ax, xd, y(j), w, h, f"{name} {ks}×{ks}   {_chw(shapes[f'd{j}'])}", DEC if j else IO)
        _box(ax, xm2, y(j), wm, h, f"mask in {conv.in_channels}×{_hw(shapes[f'd{j}'])}", MASK, fontsize=7)
        _arrow(ax, (xm2 + wm / 2, y(j)), (xd - w / 2, y(j)), color="#888888")
        if j < L - 1:
            _arrow(ax, (xd, y(j + 1) + h / 2), (xd, y(j) - h / 2), label="×2", label_xy=(xd + 0.1, y(j) - 0.5),
                   ha="left")
        # skip: the encoder's features and mask at this size join the decoder's
        _arrow(ax, (xm + wm / 2, y(j)), (xm2 - wm / 2, y(j)), color="#555555", ls="--")
    _arrow(ax, (xf + w / 2, y(L)), (xd - 0.2, y(L - 1) - h / 2), rad=0.12, label="nearest ×2 of features and mask",
           label_xy=((xf + xd) / 2 + 0.6, y(L) + 0.05), ha="left")
    ax.text((xm + xm2) / 2, y(0) + 0.28, "skip: features ⊕ masks", fontsize=7, ha="center", color="#555555")
    ax.text(xd, 0.5, "output = PConv" + str(2 * L) + " (no BN, no activation)", fontsize=7, ha="center",
            color="#555555")
    ax.text(xm, y(L) - 0.45, "encoder masks: 1 channel per level\n(a hole shrinks by the kernel's reach)",
            fontsize=7, ha="center", va="top", color="#555555")
    ax.text(xm2, y(L) - 0.45, "decoder masks: one per input channel\n(multi-channel partial convolution)",
            fontsize=7, ha="center", va="top", color="#555555")
    return _finish(fig, ax, (xf - w / 2 - 0.2, xd + w / 2 + 0.2), (y(L) - 1.15, 2.15))


# ---------------------------------------------------------------------------------------
# GMCNN: three columns, one decoder, two critics
# ---------------------------------------------------------------------------------------
def gmcnn_figure(model, size: int = 256, global_critic=None, local_critic=None, local_size: Optional[int] = None):
    """GMCNN's generator and critics (chapter "ID-MRF and the multi-column generator").

    Each column is a row of bars, one per layer, whose height shows the side of the map it
    produces (the trunk halves it twice, the tail restores it); the number above a bar is
    its output channels where they change, ``d`` below marks dilation. The critics default
    to the model's width, the global one at ``size`` and the local one at ``local_size``
    (``size // 2``, the paper's 128 px box at 256 px).
    """
    from .models.gmcnn import GlobalDiscriminator, LocalDiscriminator, ReflectConv2d, Upsample

    local_size = local_size or size // 2
    if global_critic is None:
        global_critic = GlobalDiscriminator(in_size=size, width=model.width)
    if local_critic is None:
        local_critic = LocalDiscriminator(in_size=local_size, width=model.width)
    modules = {}
    for c, col in enumerate(model.columns):
        for i, layer in enumerate(col.layers):
            modules[f"c{c}.{i}"] = layer
    modules["dec0"], modules["dec1"] = model.decoder[0], model.decoder[1]
    image, hole = _probe(model, size)
    shapes = trace(model, modules, lambda: model(image, hole))
    crit = {}
    for tag, d, s in (("g", global_critic, global_critic.in_size), ("l", local_critic, local_critic.in_size)):
        mods = {f"{tag}{i}": conv for i, conv in enumerate(d.convs)}
        mods[f"{tag}fc"] = d.fc
        img = torch.full((1, 3, s, s), 0.5, device=_device(d))
        crit.update(trace(d, mods, lambda d=d, img=img: d(img)))

    fig, ax = _figure(10.4, 5.6)
    step, x0 = 0.3, 2.3
    rf = model.receptive_fields()
    ax.text(5.2, 5.35, f"GMCNN generator · width ×{model.width:g} · {parameter_count(model):,} parameters · "
            f"{size} px input (masked image ⊕ hole mask, 4 channels)", ha="center", fontsize=9, weight="bold")
    ends = []
    for c, col in enumerate(model.columns):
        yc = 4.3 - 1.35 * c
        k = col.kernel_size
        ax.text(0.05, yc + 0.12, f"column {col.name}", fontsize=8.5, weight="bold", va="center")
        ax.text(0.05, yc - 0.22, f"{k}×{k} kernels\nreceptive field {rf[col.name]} px", fontsize=7, va="center")
        last_c = None
        for i, layer in enumerate(col.layers):
            s = shapes[f"c{c}.{i}"]
            x = x0 + step * i
            bh = 0.95 * s[-1] / size
            if isinstance(layer, Upsample):
                _bar(ax, x, yc, bh, "#ffffff", w=0.2, hatch="////")
                ax.text(x, yc - 0.58, f"↑{layer.scale}", fontsize=6.5, ha="center")
            else:
                _bar(ax, x, yc, bh, ENC if i < len(col.trunk) else DEC, w=0.2)
                d = layer.conv.dilation[0]
                if d > 1:
                    ax.text(x, yc - 0.58, f"d{d}", fontsize=6.5, ha="center")
                if layer.conv.stride[0] > 1:
                    ax.text(x, yc - 0.58, "/2", fontsize=6.5, ha="center")
            if s[0] != last_c:
                ax.text(x, yc + bh / 2 + 0.05, str(s[0]), fontsize=6.5, ha="center", va="bottom")
                last_c = s[0]
        ends.append((x0 + step * (len(col.layers) - 1) + 0.15, yc, shapes[f"c{c}.{len(col.layers) - 1}"]))
    xc = 9.05
    cat = sum(e[2][0] for e in ends)
    _box(ax, xc, 2.95, 1.9, 0.55, f"concat {cat}×{_hw(ends[0][2])}", FUSE)
    for xe, ye, s in ends:
        _arrow(ax, (xe, ye), (xc - 0.95, 2.95 + (ye - 2.95) * 0.15), label=f"{s[0]}", label_xy=(xe + 0.25, ye + 0.12),
               fontsize=6.5, ha="left")
    _box(ax, xc, 2.05, 1.9, 0.55, f"conv 3×3 → {_chw(shapes['dec0'])}\nELU", FUSE, fontsize=7)
    _box(ax, xc, 1.15, 1.9, 0.55, f"conv 3×3 → {_chw(shapes['dec1'])}\nclamp to [−1, 1]", FUSE, fontsize=7)
    _arrow(ax, (xc, 2.95 - 0.28), (xc, 2.05 + 0.28))
    _arrow(ax, (xc, 2.05 - 0.28), (xc, 1.15 + 0.28))
    # critics
    def critic_text(tag, d):
        chans = "·".join(str(crit[f"{tag}{i}"][0]) for i in range(len(d.convs)))
        return (f"{len(d.convs)} × SN conv 5×5/2 → {chans}\n"
                f"last map {_chw(crit[f'{tag}{len(d.convs) - 1}'])} → linear → 1 score")
    yk = 0.05
    _box(ax, 2.6, yk, 4.3, 0.72, f"global critic (whole completed image, {global_critic.in_size}×{global_critic.in_size})\n"
         + critic_text("g", global_critic), CRITIC, fontsize=7)
    _box(ax, 7.2, yk, 4.3, 0.72, f"local critic (the hole's box, resized to {local_critic.in_size}×{local_critic.in_size})\n"
         + critic_text("l", local_critic), CRITIC, fontsize=7)
    _arrow(ax, (xc - 0.5, 1.15 - 0.28), (2.6 + 1.2, yk + 0.36), rad=-0.15, color="#777777",
           label="completed image", label_xy=(6.6, 0.62), ha="center")
    _arrow(ax, (xc, 1.15 - 0.28), (7.2 + 1.0, yk + 0.36), color="#777777")
    ax.text(0.05, yk + 0.62, "bar height = side of the map; number above = channels", fontsize=6.5, color="#555555")
    return _finish(fig, ax, (0.0, 10.4), (-0.45, 5.6))


# ---------------------------------------------------------------------------------------
# CTSDG: two cross-coupled streams, Bi-GFF and CFA
# ---------------------------------------------------------------------------------------
def ctsdg_figure(model, size: Optional[int] = None):
    """CTSDG's generator (chapter "Dual streams").

    Top lane: the texture stream (masked image); bottom lane: the structure stream (edges
    and gray image). Each encodes with partial convolutions; the *texture* decoder starts
    from the *structure* bottleneck and the structure decoder from the texture bottleneck
    (the red cross), each merging its own stream's skips. Bi-GFF fuses the two decoder
    outputs, CFA aggregates context at half size, and the projection heads give the
    intermediate outputs that the losses supervise. ``size`` defaults to ``2·2**layers``.
    """
    L = model.layers
    size = size or 2 * 2 ** L
    mods = {}
    for k in range(L):
        mods[f"te{k}"], mods[f"se{k}"] = model.texture_encoder[k], model.structure_encoder[k]
        mods[f"td{k}"], mods[f"sd{k}"] = model.texture_decoder[k], model.structure_decoder[k]
    mods.update(bigff=model.bigff, fusion1=model.fusion1, cfa=model.cfa, fusion2=model.fusion2,
                out=model.out_conv, thead=model.texture_head, shead=model.structure_head)
    image, hole = _probe(model, size)
    shapes = trace(model, mods, lambda: model(image, hole, return_aux=True))

    fig, ax = _figure(10.6, 5.8)
    yt, ys, step, x0 = 3.55, 1.25, 0.42, 1.55
    ax.text(5.3, 5.6, f"CTSDG generator · {L} levels per stream · width ×{model.width:g} · "
            f"{parameter_count(model):,} parameters · {size} px input", ha="center", fontsize=9, weight="bold")
    _box(ax, 0.55, yt, 0.95, 0.62, f"image\n{_chw((3, size, size))}", IO, fontsize=7)
    _box(ax, 0.55, ys, 0.95, 0.62, f"edge+gray\n{_chw((2, size, size))}", IO, fontsize=7)
    ax.text(x0 - 0.15, yt + 0.72, "texture stream", fontsize=8, weight="bold")
    ax.text(x0 - 0.15, ys - 0.8, "structure stream", fontsize=8, weight="bold")
    xs_enc = [x0 + step * k for k in range(L)]
    xs_dec = [x0 + step * (L + 0.6 + i) for i in range(L)]   # decoder runs deepest level first
    for lane, (yy, e, d) in enumerate(((yt, "te", "td"), (ys, "se", "sd"))):
        for k in range(L):
            s = shapes[f"{e}{k}"]
            _bar(ax, xs_enc[k], yy, 0.9 * s[-1] / size + 0.06, ENC)
            ax.text(xs_enc[k], yy + (0.55 if lane == 0 else -0.55), str(s[0]), fontsize=6.5, ha="center",
                    va="center")
        for i, j in enumerate(reversed(range(L))):
            s = shapes[f"{d}{j}"]
            _bar(ax, xs_dec[i], yy, 0.9 * s[-1] / size + 0.06, DEC)
            ax.text(xs_dec[i], yy + (0.55 if lane == 0 else -0.55), str(s[0]), fontsize=6.5, ha="center",
                    va="center")
            # skip from the same stream's encoder level j (j = 0: the input itself)
            src_x = xs_enc[j - 1] if j > 0 else 1.0
            if j > 0:
                _arrow(ax, (src_x, yy + (0.3 if lane == 0 else -0.3)), (xs_dec[i], yy + (0.3 if lane == 0 else -0.3)),
                       color="#9a9a9a", lw=0.6, rad=-0.35 if lane == 0 else 0.35, style="-")
        ax.text(xs_enc[0] - 0.05, yy - (0.72 if lane == 0 else -0.72), f"{_hw(shapes[f'{e}0'])} → "
                f"{_hw(shapes[f'{e}{L - 1}'])}", fontsize=6.5, ha="left", va="center", color="#555555")
        _arrow(ax, (1.03, yy), (xs_enc[0] - 0.12, yy))
    # the cross: each decoder starts from the other stream's bottleneck
    _arrow(ax, (xs_enc[-1] + 0.12, ys + 0.1), (xs_dec[0] - 0.12, yt - 0.1), color=CROSS_C, lw=1.2)
    _arrow(ax, (xs_enc[-1] + 0.12, yt - 0.1), (xs_dec[0] - 0.12, ys + 0.1), color=CROSS_C, lw=1.2)
    ax.text((xs_enc[-1] + xs_dec[0]) / 2, (yt + ys) / 2, "cross", color=CROSS_C, fontsize=7, ha="center",
            va="center", bbox=dict(fc="white", ec="none", pad=0.5))
    ax.text((xs_enc[0] + xs_dec[-1]) / 2, yt + 1.55, "grey arcs: skips within a stream (features ⊕ masks)",
            fontsize=6.5, ha="center", color="#777777")
    # heads
    xh = xs_dec[-1] + 0.85
    _box(ax, xh, yt + 0.95, 1.55, 0.5, f"projected image\n{_chw(shapes['thead'])}", FUSE, fontsize=6.5)
    _box(ax, xh, ys - 0.95, 1.55, 0.5, f"projected edge\n{_chw(shapes['shead'])}", FUSE, fontsize=6.5)
    _arrow(ax, (xs_dec[-1] + 0.12, yt + 0.05), (xh - 0.4, yt + 0.7), color="#777777", label="head",
           label_xy=(xs_dec[-1] + 0.2, yt + 0.55), ha="left", fontsize=6.5)
    _arrow(ax, (xs_dec[-1] + 0.12, ys - 0.05), (xh - 0.4, ys - 0.7), color="#777777", label="head",
           label_xy=(xs_dec[-1] + 0.2, ys - 0.55), ha="left", fontsize=6.5)
    # fusion
    xb = xh + 1.45
    _box(ax, xb, (yt + ys) / 2, 1.25, 2.0, f"Bi-GFF\n\ngated\nexchange\nα, β\n\n{_chw(shapes['bigff'])}", FUSE,
         fontsize=7)
    _arrow(ax, (xs_dec[-1] + 0.12, yt), (xb - 0.63, yt - 0.25))
    _arrow(ax, (xs_dec[-1] + 0.12, ys), (xb - 0.63, ys + 0.25))
    xf = xb + 1.35
    chain = [(f"fusion1 3×3/2\n{_chw(shapes['fusion1'])}", 3.75), (f"CFA\n{_chw(shapes['cfa'])}", 2.95),
             (f"fusion2 ⊕ → ×2\n{_chw(shapes['fusion2'])}", 2.15), (f"out 1×1 ⊕ Bi-GFF\n{_chw(shapes['out'])}, tanh", 1.25)]
    prev = None
    for text, yy in chain:
        _box(ax, xf, yy, 1.4, 0.55, text, FUSE if "out" not in text else IO, fontsize=6.5)
        if prev is not None:
            _arrow(ax, (xf, prev - 0.28), (xf, yy + 0.28))
        prev = yy
    _arrow(ax, (xb + 0.63, (yt + ys) / 2 + 0.5), (xf - 0.7, 3.75), )
    _arrow(ax, (xb + 0.63, (yt + ys) / 2 - 0.7), (xf - 0.7, 1.25), color="#777777", ls="--")
    ax.text(xf, 0.55, "CFA: region affinity (attention over\nthe map's own patches) + 4 dilations",
            fontsize=6.2, ha="center", va="top", color="#555555")
    return _finish(fig, ax, (0.0, max(10.6, xf + 0.8)), (-0.1, 5.8))


# ---------------------------------------------------------------------------------------
# SC-Lmser: G, F and the two critics
# ---------------------------------------------------------------------------------------
def sc_lmser_figure(model, size: int = 256, dx=None, dy=None):
    """SC-Lmser's alternating loop and one generator's inside (chapter "Sketch synthesis").

    Top: the paths the losses use — G(x), F(y) and the supervised alternating consistency
    G(F(G(x))) — with the critic that judges each (Dy on photo–sketch pairs, Dx on
    sketch–photo pairs). Bottom: G's Lmser encoder–decoder as bars (height = side of the
    map, number = channels) with its concatenated paired levels. The critics default to
    :class:`~inpaintlib.models.sc_lmser.PatchDiscriminator` at the model's width.
    """
    from .models.sc_lmser import PatchDiscriminator

    if dy is None:
        dy = PatchDiscriminator(4, width=model.width)
    if dx is None:
        dx = PatchDiscriminator(4, width=model.width)
    G, Fm = model.G, model.F
    mods = {f"e{i}": b for i, b in enumerate(G.encoder)}
    mods.update({f"d{i}": b for i, b in enumerate(G.decoder)})
    dev = _device(model)
    photo = torch.zeros(1, 3, size, size, device=dev)
    shapes = trace(model, mods, lambda: G(photo))
    fshapes = trace(model, {"Fout": Fm}, lambda: Fm(torch.zeros(1, 1, size, size, device=dev)))
    dconv = {f"c{i}": m for i, m in enumerate(m for m in dy.net if isinstance(m, nn.Conv2d))}
    dshape = trace(dy, dconv, lambda: dy(torch.zeros(1, 3, size, size, device=_device(dy)),
                                         torch.zeros(1, 1, size, size, device=_device(dy))))

    fig, ax = _figure(10.4, 5.9)
    ax.text(5.2, 5.65, f"SC-Lmser · width ×{model.width:g} · G {parameter_count(G):,} and F {parameter_count(Fm):,} "
            f"parameters · {size} px", ha="center", fontsize=9, weight="bold")
    # the loop
    yl = 4.75
    nodes = [(0.75, "x (photo)\n" + _chw((3, size, size)), IO), (3.35, "G(x)\n" + _chw(shapes[f"d{len(G.decoder) - 1}"]), DEC),
             (5.95, "F(G(x))\n" + _chw(fshapes["Fout"]), ENC), (8.75, "G(F(G(x)))\n" + _chw(shapes[f"d{len(G.decoder) - 1}"]), DEC)]
    for x, t, c in nodes:
        _box(ax, x, yl, 1.5, 0.62, t, c, fontsize=7)
    for (xa, _, _), (xb, _, _), name in zip(nodes[:-1], nodes[1:], ("G", "F", "G")):
        _arrow(ax, (xa + 0.76, yl), (xb - 0.76, yl), label=name, label_xy=((xa + xb) / 2, yl + 0.17), fontsize=9,
               label_color="#000000")
    yd = 3.75
    _box(ax, 3.35, yd, 2.2, 0.62, "Dy(x, ·) vs Dy(x, y)\n+ 10·|G(x) − y|₁", CRITIC, fontsize=7)
    _box(ax, 8.75, yd, 2.5, 0.62, "Dy(x, ·) + 10·|G(F(G(x))) − y|₁\nupdates G only (F on the path)", CRITIC,
         fontsize=7)
    _arrow(ax, (3.35, yl - 0.31), (3.35, yd + 0.31), color="#777777")
    _arrow(ax, (8.75, yl - 0.31), (8.75, yd + 0.31), color="#777777")
    y3 = 2.85
    _box(ax, 0.75, y3, 1.5, 0.62, "y (sketch)\n" + _chw((1, size, size)), IO, fontsize=7)
    _box(ax, 5.95, y3, 1.5, 0.62, "F(y)\n" + _chw(fshapes["Fout"]), ENC, fontsize=7)
    _arrow(ax, (0.75 + 0.76, y3), (5.95 - 0.76, y3), label="F", label_xy=(3.35, y3 + 0.17), fontsize=9,
           label_color="#000000")
    _box(ax, 8.75, y3, 2.5, 0.55, "Dx(y, ·) vs Dx(y, x)\n+ 10·|F(y) − x|₁", CRITIC, fontsize=7)
    _arrow(ax, (5.95 + 0.76, y3), (8.75 - 1.25, y3), color="#777777")
    chans = "·".join(str(dshape[f"c{i}"][0]) for i in range(len(dconv)))
    ax.text(0.1, 2.3, f"Dx, Dy: PatchGAN on (condition ⊕ candidate), 4 channels\n4×4 convs → {chans} → "
            f"{_chw(dshape[f'c{len(dconv) - 1}'])} logits (LSGAN)", fontsize=6.8, va="center")
    # G's inside
    yg, step, x0 = 0.75, 0.62, 1.4
    ax.text(0.1, yg + 1.2, f"inside G (F is the same with 1 input and 3 output channels): Lmser with paired levels "
            "concatenated", fontsize=7.5, weight="bold")
    _box(ax, 0.55, yg, 0.75, 0.55, f"x\n{_chw((3, size, size))}", IO, fontsize=6.5)
    ne, nd = len(G.encoder), len(G.decoder)
    xe = [x0 + step * i for i in range(ne)]
    xd = [x0 + step * (ne + 0.4 + i) for i in range(nd)]
    for i in range(ne):
        s = shapes[f"e{i}"]
        _bar(ax, xe[i], yg, 1.0 * s[-1] / size + 0.05, ENC, w=0.3)
        ax.text(xe[i], yg + 0.62, str(s[0]), fontsize=6.5, ha="center")
        ax.text(xe[i], yg - 0.62, f"{s[-1]}²", fontsize=6.2, ha="center", color="#555555")
    for i in range(nd):
        s = shapes[f"d{i}"]
        _bar(ax, xd[i], yg, 1.0 * s[-1] / size + 0.05, DEC, w=0.3)
        ax.text(xd[i], yg + 0.62, str(s[0]), fontsize=6.5, ha="center")
        ax.text(xd[i], yg - 0.62, f"{s[-1]}²", fontsize=6.2, ha="center", color="#555555")
    for k in range(1, nd):              # decoder[k] reads concat(decoder[k−1], encoder[4 − k])
        _arrow(ax, (xe[ne - 1 - k], yg + 0.45), (xd[k] - 0.1, yg + 0.45), color=DPN_C, lw=0.7, rad=-0.18)
    _arrow(ax, (0.95, yg), (xe[0] - 0.16, yg))
    ax.text(xe[0], yg - 0.95, "ResBlockDown ×" + str(ne) + " (avg-pool /2)", fontsize=6.5, ha="left", color="#555555")
    ax.text(xd[0], yg - 0.95, "ResBlockUp ×" + str(nd) + " (nearest ×2); green: paired level ⊕", fontsize=6.5,
            ha="left", color="#555555")
    return _finish(fig, ax, (0.0, 10.4), (-0.45, 5.95))


# ---------------------------------------------------------------------------------------
def architecture_figure(model: nn.Module, **kwargs):
    """The architecture figure of ``model`` (CLmser, SCLmser, PConvUNet, GMCNN or CTSDG);
    keyword arguments go to the drawing function (``size``, critics)."""
    from .models import CTSDG, GMCNN, CLmser, PConvUNet, SCLmser

    for cls, draw in ((CLmser, clmser_figure), (SCLmser, sc_lmser_figure), (PConvUNet, pconv_figure),
                      (GMCNN, gmcnn_figure), (CTSDG, ctsdg_figure)):
        if isinstance(model, cls):
            return draw(model, **kwargs)
    raise TypeError(f"no architecture figure for {type(model).__name__}; known: CLmser, SCLmser, PConvUNet, "
                    "GMCNN, CTSDG")
