"""Neural-network building blocks shared by the method chapters.

* :class:`PartialConv2d` — the mask-aware convolution ("Partial convolution" chapter).
* :class:`VGGFeatures` and :func:`load_vgg_state_dict` — VGG16/VGG19 feature stacks with
  torchvision-compatible keys and an explicit, offline-first weights policy
  ("Partial convolution" chapter; reused by "Dual streams").
* :class:`EfficientNetLite0Features` and :func:`perceptual_backbone` — an ImageNet
  backbone that works offline, and the chooser the perceptual/style losses use.
"""
from .partial_conv import PartialConv2d
from .vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG_CONFIGS,
    VGG_ENV_VARS,
    VGG_URLS,
    VGGFeatures,
    find_vgg_weights,
    load_vgg_state_dict,
    vgg_hub_path,
    vgg_layer_names,
)
from .backbones import (
    EFFICIENTNET_LITE0_LAYERS,
    VGG_POOL_ALIASES,
    EfficientNetLite0Features,
    PerceptualBackbone,
    efficientnet_lite0_weights_path,
    perceptual_backbone,
)

__all__ = [
    "PartialConv2d",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG_CONFIGS",
    "VGG_ENV_VARS",
    "VGG_URLS",
    "VGGFeatures",
    "find_vgg_weights",
    "load_vgg_state_dict",
    "vgg_hub_path",
    "vgg_layer_names",
    "EFFICIENTNET_LITE0_LAYERS",
    "VGG_POOL_ALIASES",
    "EfficientNetLite0Features",
    "PerceptualBackbone",
    "efficientnet_lite0_weights_path",
    "perceptual_backbone",
]
