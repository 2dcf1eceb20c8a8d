"""Generators (and their critics) of the method chapters; importing this package
registers the generators by name.

* ``"clmser"``: :class:`~inpaintlib.models.lmser.CLmser` and its ablations CLmser_n, CLmser_w
  and CAE (``CLmser.variant(name)``) ("Lmser and its two dualities" chapter)
* ``"pconv"``: :class:`~inpaintlib.models.pconv_unet.PConvUNet` ("Partial convolution" chapter)
* ``"plain_unet"``: :class:`~inpaintlib.models.pconv_unet.PlainUNet`, its plain-convolution
  twin (the same chapter's baseline)
* ``"gmcnn"``: :class:`~inpaintlib.models.gmcnn.GMCNN`, with
  :class:`~inpaintlib.models.gmcnn.GlobalDiscriminator` and
  :class:`~inpaintlib.models.gmcnn.LocalDiscriminator` ("ID-MRF and the multi-column
  generator (GMCNN)" chapter)
* ``"ctsdg"``: :class:`~inpaintlib.models.ctsdg.CTSDG`, with
  :class:`~inpaintlib.models.ctsdg.CTSDGDiscriminator` ("Dual streams" chapter)

Not registered (photo ↔ sketch, not inpainting): :class:`~inpaintlib.models.sc_lmser.SCLmser`
with :class:`~inpaintlib.models.sc_lmser.PatchDiscriminator` ("Sketch synthesis with SC-Lmser").
"""
from .lmser import CLmser
from .pconv_unet import PConvUNet, PlainUNet
from .gmcnn import GMCNN, GlobalDiscriminator, LocalDiscriminator
from .ctsdg import CTSDG, CTSDGDiscriminator
from .sc_lmser import PatchDiscriminator, SCLmser, SCLmserGenerator

__all__ = ["CLmser", "PConvUNet", "PlainUNet", "GMCNN", "GlobalDiscriminator", "LocalDiscriminator",
           "SCLmser", "SCLmserGenerator", "PatchDiscriminator", "CTSDG", "CTSDGDiscriminator"]
