"""A user's own backbone for the bring-your-own-backbone export test: stride 8, 12 features."""

from __future__ import annotations

import torch
from torch import nn


class TinyUserNet(nn.Module):
    gardenbot_mean_rgb = (0.5, 0.5, 0.5)
    gardenbot_std_rgb = (0.25, 0.25, 0.25)

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 12, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(12, 12, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make() -> nn.Module:
    torch.manual_seed(3)
    return TinyUserNet()


def not_a_module() -> int:
    return 42
