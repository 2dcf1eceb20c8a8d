"""Generators of the method chapters; importing this package registers them by name.

* ``"pconv"``: :class:`~inpaintlib.models.pconv_unet.PConvUNet` ("Partial convolution" chapter)
* ``"plain_unet"``: :class:`~inpaintlib.models.pconv_unet.PlainUNet`, its plain-convolution
  twin (the same chapter's baseline)
"""
from .pconv_unet import PConvUNet, PlainUNet

__all__ = ["PConvUNet", "PlainUNet"]
