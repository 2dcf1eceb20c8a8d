"""The fusion blocks of CTSDG: Bi-GFF and CFA (region affinity + multi-scale aggregation).

Taught in the "Dual streams" chapter (CTSDG, Guo, Yang and Huang, ICCV 2021; method
notes §5.1). Both blocks sit at the end of the generator, after the texture and the
structure decoders:

**Bi-GFF** (:class:`BiGFF`, bidirectional gated feature fusion) lets each stream take
what it needs from the other through a learned, per-pixel, per-channel gate::

    G_s→t = σ(conv3×3([F_t, F_s])),        G_t→s = σ(conv3×3([F_t, F_s]))
    F_t′  = F_t + α · (G_s→t ⊙ F_s)
    F_s′  = F_s + β · (G_t→s ⊙ F_t′)          (the already-updated F_t′, as the code does)

``α`` and ``β`` are scalar parameters initialised to 0, so the block starts as the
identity and learns how much to mix. Output: ``[F_t′, F_s′]`` (2·C channels).

**CFA** (:class:`CFA`, contextual feature aggregation) = :class:`RegionAffinity`
followed by :class:`MultiScaleAggregation`:

* *Region affinity learning* (RAL) rebuilds every location from the patches of the whole
  feature map that resemble it (a contextual attention). The query map is the input
  bilinearly downsampled ×½ (``h×w``); every 3×3 patch of it (zero padding 1) is a
  query ``q_p`` and, L2-normalised (norm clamped at ``1e-4``), a key ``k_l``. The scores
  ``s_{l,p} = ⟨k_l, q_p⟩`` go through a softmax over the ``L = h·w`` keys with scale 10
  and are clamped at ``1e-8``: ``A_{l,p}``. The output at query ``p`` pastes the 4×4
  patches ``b_l`` of the *full-resolution* input (stride 2, zero padding 1) weighted by
  ``A_{l,p}`` — a transposed convolution with stride 2, padding 1 — and divides by 4,
  the number of overlapping 4×4 patches that cover each output pixel. There is no hole
  masking and no exclusion of the self-match, as in the original code.
* *Multi-scale feature aggregation* (MSFA): four 3×3 convolutions with dilations
  1, 2, 4, 8 (each + ReLU), mixed by pixel-wise weights
  ``w = softmax_k(ReLU(conv1×1(ReLU(conv3×3(x)))))`` over the four branches:
  ``out = Σ_k w_k ⊙ branch_k``.

**Vectorised over the batch.** The original loops over the samples, running one
convolution per sample with that sample's patches as filters. Here the scores of the
whole batch are one batched matrix product ``S = Kᵀ Q`` (``B×L×L``) of
``F.unfold``-ed patches, and the reconstruction is ``F.fold(Bg · A)`` (``fold`` sums
overlapping patches exactly as the transposed convolution does). The tests compare it
with a per-sample reference written the original way.

**Memory.** The attention is ``L×L`` per image. In the 256-px generator CFA runs on
the 128×128 map after ``fusion1``, so the query map is 64×64 and ``L = 4,096``: the
attention holds 4,096 × 4,096 = 16.8 M values, **64 MiB in float32 per image, 384 MiB
at batch 6** — and the scores before the softmax and the softmax output each need that
much again, and backward keeps the softmax output. ``chunk=n`` processes the queries
``n`` at a time (the softmax runs over keys, so each chunk of queries is complete on
its own and the results are the same); when gradients are needed each chunk runs
under :func:`torch.utils.checkpoint.checkpoint`, so only one chunk's attention exists
at a time in the forward *and* the backward pass (recomputed there). With
``chunk=512`` at batch 6 the attention needs ``6·4096·512·4 B = 48 MiB`` per tensor.
Measured on the CPU (``benchmarks/ctsdg.py``, peak resident memory of region affinity alone
at batch 6): forward 1.37 GiB unchunked, 0.50 GiB with ``chunk=512``; forward + backward
1.61 GiB unchunked, 0.87–0.97 GiB chunked, at about 1.4–1.5× the time (the recomputation).

RAL runs in float32 even under autocast: a softmax with scale 10 over 4,096 scores is
sensitive to bf16's 8-bit mantissa, and its cost is small next to the convolutions.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..tensors import in_export_mode


def _paste_patches(cols: torch.Tensor, size: tuple[int, int], rate: int) -> torch.Tensor:
    """Sum the ``2r×2r`` patches ``cols`` (``B×(C·4r²)×L``, stride ``r``) back into a
    ``B×C×H×W`` map: ``F.fold``. Under :func:`inpaintlib.tensors.export_mode` the same sum
    is written as the transposed convolution it is (input channel ``(c, i, j)`` adds to
    output channel ``c`` at offset ``(i, j)``), because the ONNX exporters cannot translate
    ``fold``; that form costs ``C·4r²`` times more arithmetic, so eager mode keeps ``fold``."""
    k = 2 * rate
    if not in_export_mode():
        return F.fold(cols, size, k, stride=rate, padding=rate // 2)
    c = cols.shape[1] // (k * k)
    h = (size[0] + 2 * (rate // 2) - k) // rate + 1
    w = (size[1] + 2 * (rate // 2) - k) // rate + 1
    eye = torch.eye(c * k * k, dtype=cols.dtype, device=cols.device).view(c * k * k, c, k, k)
    return F.conv_transpose2d(cols.reshape(cols.shape[0], c * k * k, h, w), eye, stride=rate, padding=rate // 2)

__all__ = ["BiGFF", "RegionAffinity", "MultiScaleAggregation", "CFA", "attention_bytes"]


def attention_bytes(batch: int, height: int, width: int, rate: int = 2, dtype_bytes: int = 4) -> int:
    """Bytes of one ``B×L×L`` attention tensor of :class:`RegionAffinity` for CFA inputs of
    ``height×width`` (``L = (height/rate)·(width/rate)``).

    ``attention_bytes(6, 128, 128)`` is 402,653,184 (384 MiB): the 256-px generator at
    batch 6, whose CFA input is 128×128.
    """
    L = (height // rate) * (width // rate)
    return int(batch) * L * L * int(dtype_bytes)


class BiGFF(nn.Module):
    """Bidirectional gated feature fusion (CTSDG; "Dual streams" chapter).

    ``forward(texture, structure) -> B×2C×H×W`` (``[F_t′, F_s′]``, see the module
    docstring); with ``return_gates=True`` returns ``(fused, (G_s→t, G_t→s))``.
    ``alpha`` and ``beta`` start at 0, so a new block returns ``[F_t, F_s]`` exactly.
    """

    def __init__(self, channels: int = 64):
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.channels = channels
        self.gate_s2t = nn.Conv2d(2 * channels, channels, 3, padding=1)   # structure → texture
        self.gate_t2s = nn.Conv2d(2 * channels, channels, 3, padding=1)   # texture → structure
        self.alpha = nn.Parameter(torch.zeros(1))                         # scales structure → texture
        self.beta = nn.Parameter(torch.zeros(1))                          # scales texture → structure

    def forward(self, texture: torch.Tensor, structure: torch.Tensor, return_gates: bool = False):
        """Fuse the two streams' features (both ``B×C×H×W``)."""
        if texture.shape != structure.shape or texture.dim() != 4 or texture.shape[1] != self.channels:
            raise ValueError(f"BiGFF({self.channels}) needs two B×{self.channels}×H×W tensors of the same "
                             f"shape, got {tuple(texture.shape)} and {tuple(structure.shape)}")
        both = torch.cat([texture, structure], dim=1)
        g_s2t = torch.sigmoid(self.gate_s2t(both))
        g_t2s = torch.sigmoid(self.gate_t2s(both))
        texture = texture + self.alpha * (g_s2t * structure)      # F_t′
        structure = structure + self.beta * (g_t2s * texture)     # F_s′ uses F_t′
        fused = torch.cat([texture, structure], dim=1)
        return (fused, (g_s2t, g_t2s)) if return_gates else fused

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class RegionAffinity(nn.Module):
    """Region affinity learning: CFA's contextual attention (CTSDG; "Dual streams" chapter).

    Args:
        kernel_size: side of the query/key patches on the ×½ map (3; odd).
        rate: downsampling of the query map (2; even); the pasted patches are
            ``2·rate`` pixels wide at full resolution, with stride ``rate``.
        softmax_scale: the softmax temperature's inverse (10).
        chunk: default number of queries processed at a time (``None`` = all at once);
            see the module docstring. Results do not depend on it.

    ``forward(x)`` maps ``B×C×H×W`` (``H, W`` divisible by ``rate``) to the same shape;
    ``forward(x, return_attention=True)`` also returns the attention ``B×L×L`` with
    keys along dim 1 and queries along dim 2 (each column sums to 1 up to the
    ``1e-8`` clamp). :meth:`attention_at` gives the attention of one query location
    cheaply, as an ``h×w`` map over the keys.
    """

    def __init__(self, kernel_size: int = 3, rate: int = 2, softmax_scale: float = 10.0,
                 chunk: Optional[int] = None):
        super().__init__()
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        if not isinstance(rate, int) or rate < 2 or rate % 2:
            raise ValueError(f"rate must be an even integer ≥ 2, got {rate!r}")
        self.kernel_size, self.rate, self.softmax_scale = kernel_size, rate, float(softmax_scale)
        self.chunk = self._check_chunk(chunk)

    @staticmethod
    def _check_chunk(chunk):
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
            raise ValueError(f"chunk must be a positive integer or None, got {chunk!r}")
        return chunk

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f"RegionAffinity takes B×C×H×W features, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if x.shape[-2] % self.rate or x.shape[-1] % self.rate:
            raise ValueError(f"RegionAffinity(rate={self.rate}) needs H and W divisible by {self.rate}, "
                             f"got {tuple(x.shape[-2:])}")

    def patches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """``(keys, queries, background, (h, w))`` for features ``x`` (float32).

        ``queries``: ``B×(C·k²)×L`` patches of the ×½ map; ``keys``: the same, each
        column L2-normalised (norm ≥ 1e-4); ``background``: ``B×(C·(2·rate)²)×L`` patches
        of ``x`` (stride ``rate``, zero padding ``rate/2``) — patch ``l`` sits at the same
        place as key ``l``.
        """
        x = x.float()
        fg = F.interpolate(x, scale_factor=1.0 / self.rate, mode="bilinear", align_corners=True)
        h, w = fg.shape[-2:]
        queries = F.unfold(fg, self.kernel_size, padding=self.kernel_size // 2)
        keys = queries / queries.norm(dim=1, keepdim=True).clamp_min(1e-4)
        background = F.unfold(x, 2 * self.rate, stride=self.rate, padding=self.rate // 2)
        if background.shape[-1] != h * w:  # pragma: no cover - guarded by _check
            raise RuntimeError(f"{background.shape[-1]} background patches for {h * w} keys")
        return keys, queries, background, (h, w)

    def _scores_to_attention(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores * self.softmax_scale, dim=1).clamp_min(1e-8)

    def _chunk_forward(self, keys, queries, background):
        attention = self._scores_to_attention(torch.bmm(keys.transpose(1, 2), queries))   # B×L×n
        return torch.bmm(background, attention), attention

    def forward(self, x: torch.Tensor, return_attention: bool = False, chunk: Optional[int] = None):
        """Rebuild ``x`` from its own patches; see the class docstring."""
        self._check(x)
        chunk = self._check_chunk(chunk) or self.chunk
        H, W = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):
            keys, queries, background, _ = self.patches(x)
            L = queries.shape[-1]
            step = L if chunk is None else min(chunk, L)
            columns, attn = [], []
            for start in range(0, L, step):
                q = queries[..., start:start + step]
                if step < L and torch.is_grad_enabled() and not return_attention:
                    # recompute this chunk's attention in backward instead of keeping it
                    cols = checkpoint(lambda k, q_, b: self._chunk_forward(k, q_, b)[0], keys, q, background,
                                      use_reentrant=False)
                else:
                    cols, a = self._chunk_forward(keys, q, background)
                    if return_attention:
                        attn.append(a)
                columns.append(cols)
            cols = columns[0] if len(columns) == 1 else torch.cat(columns, dim=2)
            out = _paste_patches(cols, (H, W), self.rate) / 4.0
        out = out.to(x.dtype)
        if return_attention:
            return out, (attn[0] if len(attn) == 1 else torch.cat(attn, dim=2))
        return out

    @torch.no_grad()
    def attention_at(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """The attention of the query at ``(row, col)`` of the ×½ map over all keys,
        ``B×h×w`` (it sums to 1 up to the clamp). Costs one column of the scores."""
        self._check(x)
        keys, queries, _, (h, w) = self.patches(x)
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"(row, col) must lie in the {h}×{w} query map, got ({row}, {col})")
        q = queries[..., row * w + col: row * w + col + 1]
        return self._scores_to_attention(torch.bmm(keys.transpose(1, 2), q)).reshape(-1, h, w)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, rate={self.rate}, softmax_scale={self.softmax_scale}, "
                f"chunk={self.chunk}")


class MultiScaleAggregation(nn.Module):
    """Multi-scale feature aggregation, CFA's second half (CTSDG; "Dual streams" chapter).

    Four 3×3 convolutions with dilations 1, 2, 4, 8 (+ ReLU), mixed per pixel by softmax
    weights over the branches. ``forward(x)`` keeps the shape; with
    ``return_weights=True`` returns ``(out, weights)``, ``weights`` ``B×4×H×W`` summing
    to 1 over dim 1.
    """

    def __init__(self, channels: int = 64, dilations: Sequence[int] = (1, 2, 4, 8)):
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.dilations = tuple(int(d) for d in dilations)
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be positive integers, got {dilations!r}")
        self.branches = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d)
                                      for d in self.dilations)
        self.weight_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.weight_out = nn.Conv2d(channels, len(self.dilations), 1)

    def branch_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel-wise weights of the branches, ``B×K×H×W``, summing to 1 over the K branches."""
        logits = F.relu(self.weight_out(F.relu(self.weight_conv(x))))
        return torch.softmax(logits, dim=1)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """``Σ_k w_k ⊙ ReLU(conv_k(x))``; see the class docstring."""
        weights = self.branch_weights(x)
        out = sum(weights[:, k:k + 1] * F.relu(branch(x)) for k, branch in enumerate(self.branches))
        return (out, weights) if return_weights else out


class CFA(nn.Module):
    """Contextual feature aggregation: :class:`RegionAffinity` then
    :class:`MultiScaleAggregation` (CTSDG; "Dual streams" chapter).

    ``forward(x) -> B×C×H×W``; with ``return_aux=True`` returns ``(out, aux)`` where
    ``aux = {"attention": B×L×L, "branch_weights": B×4×H×W}``. ``chunk`` is passed to
    :class:`RegionAffinity` (memory, not results).
    """

    def __init__(self, channels: int = 64, kernel_size: int = 3, rate: int = 2, softmax_scale: float = 10.0,
                 dilations: Sequence[int] = (1, 2, 4, 8), chunk: Optional[int] = None):
        super().__init__()
        self.ral = RegionAffinity(kernel_size, rate, softmax_scale, chunk)
        self.msfa = MultiScaleAggregation(channels, dilations)

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        """Attention over the map's own patches, then multi-scale aggregation."""
        if not return_aux:
            return self.msfa(self.ral(x))
        rebuilt, attention = self.ral(x, return_attention=True)
        out, weights = self.msfa(rebuilt, return_weights=True)
        return out, {"attention": attention, "branch_weights": weights}
