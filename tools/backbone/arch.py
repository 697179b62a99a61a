"""A small dense feature extractor for a Pi-class CPU: depthwise-separable convolutions, stride 16.

Plain ReLU and BatchNorm only (BatchNorm folds into the convolutions at export, ReLU quantises
cleanly), so the same graph runs well in fp32 and in static int8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

# ImageNet-style normalisation of RGB in [0, 1]; folded into the exported graph.
MEAN_RGB = (0.485, 0.456, 0.406)
STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchConfig:
    """Widths per stage; each stage halves the resolution once. Stride = 2 ** (stages + 1)."""

    stem: int = 24
    widths: tuple[int, ...] = (48, 96, 160)
    depths: tuple[int, ...] = (1, 2, 3)
    feature_dim: int = 128
    expand: int = 2

    @property
    def stride(self) -> int:
        return 2 ** (len(self.widths) + 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        return cls(stem=int(d["stem"]), widths=tuple(d["widths"]), depths=tuple(d["depths"]),
                   feature_dim=int(d["feature_dim"]), expand=int(d.get("expand", 2)))


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
            relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1×1 expand → 3×3 depthwise → 1×1 project, with a skip when the shape allows."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            conv_bn(cin, mid, 1),
            conv_bn(mid, mid, 3, stride, groups=mid),
            conv_bn(mid, cout, 1, relu=False),
        )
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class GardenNet(nn.Module):
    """Image (N, 3, H, W), normalised RGB → feature grid (N, C, H/stride, W/stride)."""

    def __init__(self, cfg: ArchConfig = ArchConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = [conv_bn(3, cfg.stem, 3, 2)]
        cin = cfg.stem
        for width, depth in zip(cfg.widths, cfg.depths, strict=True):
            for i in range(depth):
                layers.append(InvertedResidual(cin, width, 2 if i == 0 else 1, cfg.expand))
                cin = width
        self.body = nn.Sequential(*layers)
        # A wider context mix at the output stride: texture alone is ambiguous at 16 px.
        self.context = conv_bn(cin, cin, 5, groups=cin)
        self.head = conv_bn(cin, cfg.feature_dim, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        x = x + self.context(x)
        return self.head(x)


class FramePreprocess(nn.Module):
    """uint8 BGR frames (N, H, W, 3) → normalised float RGB (N, 3, H, W), inside the graph.

    Folding this into the exported model means the robot hands the raw camera frame to
    onnxruntime, and an int8 model quantises its input exactly.
    """

    def __init__(self, mean_rgb: tuple[float, ...] = MEAN_RGB,
                 std_rgb: tuple[float, ...] = STD_RGB) -> None:
        super().__init__()
        mean = torch.tensor(mean_rgb, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(std_rgb, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self.register_buffer("mean", mean)
        self.register_buffer("inv_std", 1.0 / std)

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        x = bgr.permute(0, 3, 1, 2).float().flip(1)
        return (x - self.mean) * self.inv_std


class DeployedBackbone(nn.Module):
    """What ships: raw BGR frames in, feature grid (N, C, h, w) out."""

    def __init__(self, net: nn.Module, mean_rgb: tuple[float, ...] = MEAN_RGB,
                 std_rgb: tuple[float, ...] = STD_RGB) -> None:
        super().__init__()
        self.pre = FramePreprocess(mean_rgb, std_rgb)
        self.net = net

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        return self.net(self.pre(bgr))


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
