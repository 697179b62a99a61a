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
    # stages (1 = the first after the stem, at stride 4) whose maps are also averaged over each
    # output cell and put before the head's channels: local colour and texture that the deep
    # stage abstracts away (docs/backbone.md, "Why this shape")
    taps: tuple[int, ...] = ()

    @property
    def stride(self) -> int:
        return 2 ** (len(self.widths) + 1)

    @property
    def output_dim(self) -> int:
        return self.feature_dim + sum(self.widths[t - 1] for t in self.taps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        return cls(stem=int(d["stem"]), widths=tuple(d["widths"]), depths=tuple(d["depths"]),
                   feature_dim=int(d["feature_dim"]), expand=int(d.get("expand", 2)),
                   taps=tuple(int(t) for t in d.get("taps", ())))


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
        if any(not 1 <= t < len(cfg.widths) for t in cfg.taps):
            raise ValueError(f"taps {cfg.taps} must name stages 1..{len(cfg.widths) - 1}")
        self.cfg = cfg
        self.feature_dim = cfg.output_dim
        layers: list[nn.Module] = [conv_bn(3, cfg.stem, 3, 2)]
        cin = cfg.stem
        self.stage_ends: list[int] = []  # index in body of each stage's last block
        for width, depth in zip(cfg.widths, cfg.depths, strict=True):
            for i in range(depth):
                layers.append(InvertedResidual(cin, width, 2 if i == 0 else 1, cfg.expand))
                cin = width
            self.stage_ends.append(len(layers) - 1)
        self.body = nn.Sequential(*layers)
        self.tap_at = {self.stage_ends[t - 1]: 2 ** (len(cfg.widths) - t) for t in cfg.taps}
        # A wider context mix at the output stride: texture alone is ambiguous at 16 px.
        self.context = conv_bn(cin, cin, 5, groups=cin)
        self.head = conv_bn(cin, cfg.feature_dim, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tapped = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.tap_at:
                tapped.append(nn.functional.avg_pool2d(x, self.tap_at[i]))
        x = x + self.context(x)
        return torch.cat([*tapped, self.head(x)], 1) if tapped else self.head(x)


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


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _triangle(x: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """Soft one-hot of ``x`` (N, 1, H, W) over bins at ``centres``: (N, len(centres), H, W)."""
    return torch.relu(1.0 - (x - centres.view(1, -1, 1, 1)).abs() / width)


class CellColourStats(nn.Module):
    """Fixed (not learned) colour and texture statistics of every stride×stride cell.

    Per cell: mean and std of R, G, B and two opponent chroma channels (red–green,
    yellow–blue), a soft 5×5 chroma histogram, a 5-bin lightness histogram, and gradient
    energy. A linear probe on these alone is the hand-crafted baseline's equal; next to the
    self-supervised channels they give the adapter the colour detail that colour-robust
    pretraining deliberately discards, and the adapter learns per season how far to trust it.
    Computed on the frame averaged over 2×2 pixels (means are unchanged; the histograms and
    gradients see a slightly smoother image): at full resolution these elementwise passes
    cost more than half the learned net. Built from 1×1/3×3 convolutions, ReLU and average
    pooling only; it is left in float in the int8 model (quantising elementwise ops costs
    more than it saves).
    """

    CHROMA = (-0.4, -0.2, 0.0, 0.2, 0.4)
    LIGHT = (0.1, 0.3, 0.5, 0.7, 0.9)

    def __init__(self, stride: int, histograms: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.histograms = histograms
        # rgb -> (r, g, b, A = r - g, B = (r + g) / 2 - b, L = mean)
        m = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [0.5, 0.5, -1],
                          [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float32)
        self.register_buffer("mix", m.view(6, 3, 1, 1))
        self.register_buffer("chroma", torch.tensor(self.CHROMA))
        self.register_buffer("light", torch.tensor(self.LIGHT))
        grad = torch.tensor([[[0, 0, 0], [-1, 0, 1], [0, 0, 0]],
                             [[0, -1, 0], [0, 0, 0], [0, 1, 0]],
                             [[0, 1, 0], [1, -4, 1], [0, 1, 0]]], dtype=torch.float32) / 2
        self.register_buffer("grad", grad.view(3, 1, 3, 3))

    @property
    def channels(self) -> int:
        hist = len(self.CHROMA) ** 2 + len(self.LIGHT) if self.histograms else 0
        return 10 + hist + 3

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.avg_pool2d
        s = self.stride // 2
        x = nn.functional.conv2d(pool(rgb01, 2), self.mix)
        colour, light = x[:, :5], x[:, 5:6]
        mean = pool(colour, s)
        std = torch.sqrt(torch.relu(pool(colour * colour, s) - mean * mean) + 1e-6)
        grads = nn.functional.conv2d(nn.functional.pad(light, (1, 1, 1, 1), mode="replicate"),
                                     self.grad).abs()
        if not self.histograms:
            return torch.cat([mean, std, pool(grads, s)], 1)
        a = _triangle(x[:, 3:4], self.chroma, 0.2)
        b = _triangle(x[:, 4:5], self.chroma, 0.2)
        hist_ab = (a.unsqueeze(2) * b.unsqueeze(1)).flatten(1, 2)  # (N, n*n, H, W)
        hist_l = _triangle(light, self.light, 0.2)
        return torch.cat([mean, std, pool(hist_ab, s), pool(hist_l, s), pool(grads, s)], 1)


class DeployedBackbone(nn.Module):
    """What ships: raw BGR frames in, feature grid (N, C, h, w) out.

    With ``colour_stats`` (the stride) the grid is the net's features followed by the fixed
    per-cell colour statistics (:class:`CellColourStats`, with or without its histograms) —
    the card lists which channels are which.
    """

    def __init__(self, net: nn.Module, mean_rgb: tuple[float, ...] = MEAN_RGB,
                 std_rgb: tuple[float, ...] = STD_RGB, colour_stats: int | None = None,
                 colour_histograms: bool = True) -> None:
        super().__init__()
        self.pre = FramePreprocess(mean_rgb, std_rgb)
        self.net = net
        self.colour = (CellColourStats(colour_stats, colour_histograms) if colour_stats
                       else None)

    def forward(self, bgr: torch.Tensor) -> torch.Tensor:
        features = self.net(self.pre(bgr))
        if self.colour is None:
            return features
        rgb01 = bgr.permute(0, 3, 1, 2).float().flip(1) / 255.0
        return torch.cat([features, self.colour(rgb01)], 1)
