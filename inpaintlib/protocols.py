"""Evaluation protocols: the card printed beside every real-data evaluation, and the
reproduction numbers the book quotes, each with the protocol it was measured under.

Taught in the comparison chapter and the workshop guide ("Reading a results table").

Two tables of PSNR are comparable only when they share data, split, crop and resize,
masks (and which value marks the hole), whether the known pixels are pasted back
(composited) and the metric code. :func:`protocol_card` writes those facts for one of
our evaluations; :data:`PUBLISHED` holds the numbers the chapters quote — **their
numbers, not ours** — with the same facts as far as their sources state them, so
``inpaintlib eval`` can print them side by side and a reader sees where they differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .masks import bucket_label

__all__ = ["Published", "PUBLISHED", "published_for", "published_table", "protocol_card", "evaluate_protocol",
           "METRIC_CODE"]

#: how :func:`inpaintlib.metrics.evaluate` computes its numbers
METRIC_CODE = ("inpaintlib.metrics: PSNR and SSIM per image on [0, 1] (data range 1; SSIM with an 11-px "
               "Gaussian window, sigma 1.5, as scikit-image's gaussian_weights=True), then averaged over the "
               "images of each bucket")


@dataclass(frozen=True)
class Published:
    """A result the book quotes from elsewhere, with its protocol as its source states it."""

    method: str
    source: str
    data: str
    masks: str
    protocol: str
    buckets: Tuple[Tuple[float, float], ...]
    metrics: Dict[str, Tuple[float, ...]] = field(default_factory=dict)
    datasets: Tuple[str, ...] = ()

    def rows(self) -> List[str]:
        """Markdown rows: one per metric, one column per bucket."""
        return [f"| {name} | " + " | ".join(f"{v:g}" for v in values) + " |" for name, values in self.metrics.items()]


_CTSDG_BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6))
_ALL = ((0.0, 1.0),)

PUBLISHED: List[Published] = [
    Published("ctsdg", "CTSDG MindSpore port, README (English, MindSpore 1.6.1): one RTX 3090, 350k + 150k steps",
              "CelebA test split (partition 2), centre 178×178 crop → 256 px",
              "NVIDIA irregular test masks, white = hole, in three hole-ratio buckets",
              "composited output; the port's own PSNR/SSIM code", _CTSDG_BUCKETS,
              {"PSNR": (38.04, 29.39, 24.21), "SSIM": (0.979, 0.922, 0.83)}, ("celeba",)),
    Published("ctsdg", "CTSDG MindSpore port, README (Chinese, MindSpore 1.9.0): one V100, 350k + 150k steps",
              "CelebA test split (partition 2), centre 178×178 crop → 256 px",
              "NVIDIA irregular test masks, white = hole, in three hole-ratio buckets",
              "composited output; the port's own PSNR/SSIM code", _CTSDG_BUCKETS,
              {"PSNR": (37.55, 28.92, 23.72), "SSIM": (0.978, 0.919, 0.823)}, ("celeba",)),
    Published("pconv", "MMagic's reproduction of partial convolution: 500k iterations on 4 GPUs",
              "trained on Places365-Challenge, tested on Places365-val, 256 px",
              "MMagic's free-form test masks (not the NVIDIA set)", "MMagic's metric code, all holes together",
              _ALL, {"PSNR": (22.762,), "SSIM": (0.801,), "L1 (x100)": (8.776,)}, ("places2",)),
    Published("pconv", "MMagic's reproduction of partial convolution: 500k iterations on 4 GPUs",
              "trained on CelebA-HQ, tested on CelebA-val, 256 px",
              "MMagic's free-form test masks (not the NVIDIA set)", "MMagic's metric code, all holes together",
              _ALL, {"PSNR": (25.404,), "SSIM": (0.853,), "L1 (x100)": (5.990,)}, ("celeba_hq", "celeba")),
    Published("gmcnn", "a user's reproduction of the original PyTorch GMCNN code (default settings)",
              "CelebA-HQ, 24k training / 6k test images, 256 px", "the original's rectangles",
              "the user's metric code, all holes together", _ALL, {"PSNR": (24.73,), "SSIM": (0.8787,)},
              ("celeba_hq",)),
]


def published_for(method: str, dataset: Optional[str] = None) -> List[Published]:
    """The quoted results for ``method`` (a reference-model or recipe name, or a model file's
    kind), those measured on ``dataset`` first when it is given."""
    rows = [p for p in PUBLISHED if p.method == method]
    if dataset is not None:
        rows.sort(key=lambda p: dataset not in p.datasets)
    return rows


def protocol_card(*, images: str, masks: str, buckets: Sequence[Sequence[float]], n_per_bucket: Sequence[int],
                  method: str, composited: bool = True, size: int, model_size: Optional[int] = None,
                  strategy: Optional[str] = None, device: str = "cpu", extra: Sequence[str] = ()) -> str:
    """The facts that make one of our evaluations comparable (or not) with another, one per line."""
    per = ", ".join(f"{bucket_label(b)}: {n}" for b, n in zip(buckets, n_per_bucket))
    run = f"{method} on {device}"
    if model_size and model_size != size:
        run += f"; the model was trained at {model_size} px and fills each {size}-px image with the '{strategy}' strategy"
    lines = ["protocol:",
             f"  images:     {images} (evaluated at {size}×{size} px)",
             f"  masks:      {masks} (hole = 1 after reading; per bucket {per})",
             f"  output:     {'composited (known pixels copied from the input)' if composited else 'raw prediction'}",
             f"  metrics:    {METRIC_CODE}",
             f"  run:        {run}"]
    lines += [f"  {e}" for e in extra]
    return "\n".join(lines)


def published_table(rows: Sequence[Published]) -> str:
    """The quoted results as text: each with its source and protocol, then its numbers."""
    out = []
    for p in rows:
        head = " | ".join(bucket_label(b) if b != (0.0, 1.0) else "all holes" for b in p.buckets)
        out += [f"{p.source} — their numbers, not ours",
                f"  data: {p.data}; masks: {p.masks}; {p.protocol}",
                f"| metric | {head} |", "|---" * (len(p.buckets) + 1) + "|", *p.rows(), ""]
    return "\n".join(out).rstrip()


def evaluate_protocol(model, name: str, *, images="sample_bank", masks="free_form", size: int = 128, n: int = 8,
                      buckets: Sequence[Sequence[float]] = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6)),
                      split: str = "test", seed: int = 0, device=None, batch_size: int = 16,
                      invert_masks: bool = False, mask_dir=None, method: Optional[str] = None, strategy: str = "crop"):
    """Evaluate ``model`` (a generator or a baseline callable ``(image, hole) -> pred``) per
    hole-ratio bucket on ``images`` (``"sample_bank"``: the held-out photos; a prepared
    dataset's test split; a folder) with ``masks`` (a generator kind, ``"nvidia"``: the NVIDIA
    test masks, or a folder of PNG masks; ``n`` per bucket), composited.

    Returns ``(table, card, quoted)``: the :func:`inpaintlib.metrics.bucket_table`, the
    :func:`protocol_card` text, and the quoted reproduction numbers for ``method`` (default
    ``name``) with their protocol (``""`` when the book quotes none). Images are read one batch
    at a time; mask ``i`` meets image ``i mod len(images)``.
    """
    import torch

    from .data.sources import eval_masks, open_images
    from .inference import inpaint, model_size
    from .metrics import bucket_table, evaluate
    from .tensors import composite

    images_ds, images_label = open_images(images, size, split=split, seed=seed)
    ms, masks_label = eval_masks(masks, n, size, buckets, seed=seed, invert=invert_masks, root=mask_dir)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    holes = ms.masks if ms.masks.dim() == 4 else ms.masks.unsqueeze(1)
    idx = torch.arange(len(holes)) % len(images_ds)
    trained = model_size(model)
    counts = torch.bincount(ms.bucket_ids, minlength=len(buckets)).tolist()
    card = protocol_card(images=images_label, masks=masks_label, buckets=buckets, n_per_bucket=counts, method=name,
                         size=size, model_size=trained, strategy=strategy, device=str(dev),
                         extra=[f"pairs:      mask i with image i mod {len(images_ds)} (each image meets masks of "
                                f"every bucket)"])
    preds, targets = [], []
    with torch.no_grad():
        for s in range(0, len(holes), batch_size):
            x = torch.stack([images_ds[int(i)] for i in idx[s:s + batch_size]])
            h = holes[s:s + batch_size]
            preds.append(inpaint(model, x.to(dev), h.to(dev), size=trained, strategy=strategy, raw=True).float().cpu())
            targets.append(x)
    image = torch.cat(targets)
    pred = composite(image, torch.cat(preds).clamp(0, 1), holes)
    table = bucket_table(ms.ratios, evaluate(pred, image, holes), buckets, method=name)
    quoted = published_for(method or name, images if isinstance(images, str) else None)
    return table, card, published_table(quoted) if quoted else ""
