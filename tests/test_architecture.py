"""Architecture figures: every number in a figure comes from the model it draws."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from inpaintlib.architecture import (  # noqa: E402
    architecture_figure, clmser_figure, ctsdg_figure, gmcnn_figure, parameter_count, pconv_figure,
    sc_lmser_figure, trace)
from inpaintlib.models import CTSDG, GMCNN, CLmser, PConvUNet, SCLmser  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def labels(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def text(fig) -> str:
    return "\n".join(labels(fig))


def test_trace_records_shapes_and_restores_the_mode():
    model = PConvUNet(layers=3, width=0.25).train()
    image, hole = torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16)
    shapes = trace(model, {"e0": model.encoder[0], "d0": model.decoder[0]}, lambda: model(image, hole))
    assert shapes["e0"] == (16, 8, 8) and shapes["e0.mask"] == (1, 8, 8)
    assert shapes["d0"] == (3, 16, 16)
    assert model.training, "trace must give the model back in the mode it had"
    with pytest.raises(RuntimeError, match="never ran"):
        trace(model, {"unused": torch.nn.Linear(1, 1)}, lambda: model(image, hole))


@pytest.mark.parametrize("width", [0.25, 0.5])
def test_pconv_figure_labels_come_from_the_layers(width):
    model = PConvUNet(layers=4, width=width)
    open_before = plt.get_fignums()
    fig = pconv_figure(model, size=32)
    t = text(fig)
    for k, block in enumerate(model.encoder):
        c, s = block.conv.out_channels, 32 // 2 ** (k + 1)
        ks = block.conv.kernel_size[0]
        assert f"PConv{k + 1} {ks}×{ks}/2   {c}×{s}×{s}" in t
        assert f"mask 1×{s}×{s}" in t
    for j, block in enumerate(model.decoder):
        assert f"mask in {block.conv.in_channels}×" in t, "the decoder's mask has one channel per input channel"
    assert f"{parameter_count(model):,} parameters" in t
    assert plt.get_fignums() == open_before, "the figure must not be registered with pyplot (a cell would show it twice)"


def test_width_changes_the_labels():
    narrow, wide = pconv_figure(PConvUNet(layers=4, width=0.25), size=32), pconv_figure(PConvUNet(layers=4, width=0.5), size=32)
    assert "PConv1 7×7/2   16×16×16" in text(narrow) and "PConv1 7×7/2   32×16×16" in text(wide)
    assert set(labels(narrow)) != set(labels(wide))
    g1, g2 = GMCNN(width=0.25), GMCNN(width=0.5)
    t1, t2 = text(gmcnn_figure(g1, size=32)), text(gmcnn_figure(g2, size=32))
    for model, t in ((g1, t1), (g2, t2)):
        cat = sum(col.out_channels for col in model.columns)
        assert f"concat {cat}×32×32" in t
    assert t1 != t2


def test_clmser_figure_shows_each_variants_dualities():
    t = text(clmser_figure(CLmser.variant("CLmser", dpn_weight=0.3), size=64))
    assert "DCW on, DPN on" in t and "1,575,280 parameters" in t
    assert "w = 0.3" in t and "DCW: one kernel" in t
    for level, c in enumerate((16, 32, 64, 128, 256, 256, 256)):
        s = 64 // 2 ** level                                   # f0 at stride 1, then halvings
        assert f"f{level}   {c}×{s}×{s}" in t
    cae = text(clmser_figure(CLmser.variant("CAE"), size=64))
    assert "DCW off, DPN off" in cae and "3,147,040 parameters" in cae
    assert "DPN:" not in cae and "DCW:" not in cae and "k1′ᵀ" in cae


def test_gmcnn_figure_reads_columns_and_critics():
    model = GMCNN(width=0.25)
    t = text(gmcnn_figure(model, size=32))
    for name, rf in model.receptive_fields().items():
        assert f"column {name}" in t and f"receptive field {rf} px" in t
    assert "global critic (whole completed image, 32×32)" in t
    assert "local critic (the hole's box, resized to 16×16)" in t


def test_ctsdg_figure_reads_streams_and_fusion():
    model = CTSDG(layers=3, width=0.25)
    t = text(ctsdg_figure(model))
    c64 = model.plan[0][1]
    assert "Bi-GFF" in t and f"{2 * c64}×16×16" in t           # both streams, full size
    assert f"CFA\n{c64}×8×8" in t                                # half size
    assert "projected image\n3×16×16" in t and "projected edge\n1×16×16" in t
    assert f"{parameter_count(model):,} parameters" in t


def test_sc_lmser_figure_reads_both_generators():
    model = SCLmser(width=0.125)
    t = text(sc_lmser_figure(model, size=64))
    assert f"G {parameter_count(model.G):,} and F {parameter_count(model.F):,}" in t
    assert "G(F(G(x)))\n1×64×64" in t and "F(y)\n3×64×64" in t
    enc = [b.conv2.out_channels for b in model.G.encoder]
    assert all(str(c) in labels(sc_lmser_figure(model, size=64)) for c in enc)
    wider = text(sc_lmser_figure(SCLmser(width=0.25), size=64))
    assert wider != t


def test_architecture_figure_dispatches_and_refuses_other_models():
    fig = architecture_figure(CLmser(), size=64)
    assert "DCW on" in text(fig)
    png = fig._repr_png_()       # what a notebook shows, even before its first pyplot figure
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    with pytest.raises(TypeError, match="no architecture figure"):
        architecture_figure(torch.nn.Linear(2, 2))
