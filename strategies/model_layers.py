"""Convolution layers of named production architectures, the shapes users actually run.

The 'models' size class (strategies.sizes) draws one of these for its op, keeps its kernel, stride, padding and
dilation, and cuts its channels to the budget. Each entry is the published configuration of one layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from convfuzz.strategies.case import Padding


@dataclass(frozen=True)
class ModelLayer:
    """One layer: the op, its channels and groups, and its window. `padding` is per-dim symmetric pads, or 'same'
    or 'valid'."""

    name: str
    op: str
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str = "valid"
    dilation: tuple[int, ...] | None = None

    @property
    def depthwise(self) -> bool:
        """One input channel per group (groups == in_channels > 1)."""
        return self.groups == self.in_channels > 1

    def padding_spec(self) -> Padding:
        """The layer's padding as a case carries it."""
        if isinstance(self.padding, str):
            return Padding("same" if self.padding == "same" else "valid")
        return Padding("symmetric", tuple((p, p) for p in self.padding))

    def dilations(self) -> tuple[int, ...]:
        """The dilation per dim (1 where the layer has none)."""
        return self.dilation or (1,) * len(self.kernel)


MODEL_LAYERS: tuple[ModelLayer, ...] = (
    # 1-D: speech and sequence models.
    ModelLayer("wav2vec2 feature encoder, first layer", "conv1d", 1, 512, 1, (10,), (5,)),
    ModelLayer("wav2vec2 feature encoder", "conv1d", 512, 512, 1, (3,), (2,)),
    ModelLayer("Conformer depthwise conv", "conv1d", 144, 144, 144, (31,), (1,), (15,)),
    ModelLayer("Mamba causal depthwise conv", "conv1d", 1536, 1536, 1536, (4,), (1,), (3,)),
    ModelLayer("WaveNet dilated conv", "conv1d", 64, 128, 1, (2,), (1,), (0,), (16,)),
    ModelLayer("HiFi-GAN residual block", "conv1d", 512, 512, 1, (3,), (1,), (5,), (5,)),
    # 2-D: vision backbones.
    ModelLayer("ResNet stem", "conv2d", 3, 64, 1, (7, 7), (2, 2), (3, 3)),
    ModelLayer("ResNet 3x3", "conv2d", 64, 64, 1, (3, 3), (1, 1), (1, 1)),
    ModelLayer("ResNet downsampling 1x1", "conv2d", 256, 512, 1, (1, 1), (2, 2)),
    ModelLayer("ResNeXt grouped 3x3", "conv2d", 128, 128, 32, (3, 3), (1, 1), (1, 1)),
    ModelLayer("MobileNetV2 depthwise stride 2", "conv2d", 96, 96, 96, (3, 3), (2, 2), (1, 1)),
    ModelLayer("EfficientNet depthwise 5x5", "conv2d", 240, 240, 240, (5, 5), (2, 2), (2, 2)),
    ModelLayer("ConvNeXt stem", "conv2d", 3, 96, 1, (4, 4), (4, 4)),
    ModelLayer("ConvNeXt depthwise 7x7", "conv2d", 96, 96, 96, (7, 7), (1, 1), (3, 3)),
    ModelLayer("RepLKNet depthwise 31x31", "conv2d", 128, 128, 128, (31, 31), (1, 1), (15, 15)),
    ModelLayer("ViT patch embedding", "conv2d", 3, 768, 1, (16, 16), (16, 16)),
    ModelLayer("DeepLab atrous 3x3", "conv2d", 256, 256, 1, (3, 3), (1, 1), (12, 12), (12, 12)),
    # 3-D: video and medical volumes.
    ModelLayer("3-D U-Net 3x3x3", "conv3d", 32, 32, 1, (3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ModelLayer("I3D stem", "conv3d", 3, 64, 1, (7, 7, 7), (2, 2, 2), (3, 3, 3)),
    ModelLayer("R(2+1)D temporal conv", "conv3d", 64, 64, 1, (3, 1, 1), (1, 1, 1), (1, 0, 0)),
    ModelLayer("X3D channelwise 3x3x3", "conv3d", 54, 54, 54, (3, 3, 3), (1, 1, 1), (1, 1, 1)),
    # Transposed: decoders and upsamplers.
    ModelLayer("HiFi-GAN upsampling", "conv_transpose1d", 512, 256, 1, (16,), (8,), (4,)),
    ModelLayer("U-Net up-convolution", "conv_transpose2d", 128, 64, 1, (2, 2), (2, 2)),
    ModelLayer("DCGAN generator", "conv_transpose2d", 512, 256, 1, (4, 4), (2, 2), (1, 1)),
    ModelLayer("FCN upsampling", "conv_transpose2d", 21, 21, 1, (16, 16), (8, 8), (4, 4)),
    ModelLayer("3-D U-Net up-convolution", "conv_transpose3d", 64, 32, 1, (2, 2, 2), (2, 2, 2)),
)


def layers_of(op: str) -> tuple[ModelLayer, ...]:
    """The table's layers of `op`."""
    return tuple(layer for layer in MODEL_LAYERS if layer.op == op)
