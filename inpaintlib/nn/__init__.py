"""Neural-network building blocks shared by the method chapters.

* :class:`PartialConv2d` — the mask-aware convolution ("Partial convolution" chapter).
* :class:`VGGFeatures` and :func:`load_vgg_state_dict` — VGG16/VGG19 feature stacks with
  torchvision-compatible keys and an explicit, offline-first weights policy
  ("Partial convolution" chapter; reused by "Dual streams").
* :class:`EfficientNetLite0Features` and :func:`perceptual_backbone` — an ImageNet
  backbone that works offline, and the chooser the perceptual/style losses use.
* :class:`FIDInceptionV3` — the Inception-v3 of the Fréchet Inception Distance, with
  pytorch-fid's weights layout and the same offline-first policy ("Sketch synthesis with
  SC-Lmser").
* :class:`BiGFF` and :class:`CFA` (:class:`RegionAffinity` + :class:`MultiScaleAggregation`) —
  CTSDG's fusion blocks ("Dual streams" chapter).
"""
from .partial_conv import ConcatMask, PartialConv2d
from .ctsdg_blocks import CFA, BiGFF, MultiScaleAggregation, RegionAffinity
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
from .inception import (
    FID_INCEPTION_ENV_VAR,
    FID_INCEPTION_URL,
    FIDInceptionV3,
    find_inception_weights,
    inception_hub_path,
    load_inception_state_dict,
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
    "ConcatMask",
    "BiGFF",
    "CFA",
    "MultiScaleAggregation",
    "RegionAffinity",
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
    "FID_INCEPTION_ENV_VAR",
    "FID_INCEPTION_URL",
    "FIDInceptionV3",
    "find_inception_weights",
    "inception_hub_path",
    "load_inception_state_dict",
]
