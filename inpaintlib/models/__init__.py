"""Generators (and their critics) of the method chapters; importing this package
registers the generators by name.

* ``"pconv"``: :class:`~inpaintlib.models.pconv_unet.PConvUNet` ("Partial convolution" chapter)
* ``"plain_unet"``: :class:`~inpaintlib.models.pconv_unet.PlainUNet`, its plain-convolution
  twin (the same chapter's baseline)
* ``"gmcnn"``: :class:`~inpaintlib.models.gmcnn.GMCNN`, with
  :class:`~inpaintlib.models.gmcnn.GlobalDiscriminator` and
  :class:`~inpaintlib.models.gmcnn.LocalDiscriminator` ("ID-MRF and the multi-column
  generator (GMCNN)" chapter)
"""
from .pconv_unet import PConvUNet, PlainUNet
from .gmcnn import GMCNN, GlobalDiscriminator, LocalDiscriminator

__all__ = ["PConvUNet", "PlainUNet", "GMCNN", "GlobalDiscriminator", "LocalDiscriminator"]
