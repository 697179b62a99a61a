"""The per-cell adapter network (torch) and its conversion to and from named numpy arrays.

Each cell's standardised feature z (C values) goes through a residual bottleneck and a linear
classifier: logits = W_cls (z + W_up relu(W_down z + b_down) + b_up) + b_cls. The same weights
run as 1x1 convolutions on the whole grid in the exported graph (robot/learning/learner/export.py).
With C = 256, bottleneck 64 (replay's width: TrainConfig.width) and 5 classes that is 34,373
parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MLP_PARAMS = ("down.w", "down.b", "up.w", "up.b", "cls.w", "cls.b")


class CellAdapter(nn.Module):
    """Residual bottleneck + linear classifier on (N, C) standardised features."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str = "mlp.") -> None:
        super().__init__()
        self.prefix = prefix
        self.params = nn.ParameterDict({
            name.replace(".", "_"): nn.Parameter(torch.tensor(np.asarray(
                arrays[prefix + name], np.float32)))
            for name in MLP_PARAMS
        })

    def p(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "_")]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(F.linear(z, self.p("down.w"), self.p("down.b")))
        h = z + F.linear(hidden, self.p("up.w"), self.p("up.b"))
        return F.linear(h, self.p("cls.w"), self.p("cls.b"))

    def named_arrays(self) -> dict[str, np.ndarray]:
        return {self.prefix + name: self.p(name).detach().numpy().copy() for name in MLP_PARAMS}


def init_mlp_arrays(
    feature_dim: int, num_classes: int, bottleneck_dim: int, rng: np.random.Generator,
    prefix: str = "mlp.",
) -> dict[str, np.ndarray]:
    """Fresh weights from a numpy generator (so a seed fixes them regardless of torch's RNG).

    The up projection starts small, so a fresh adapter begins close to a linear probe.
    """
    c, r, k = feature_dim, bottleneck_dim, num_classes
    bound = np.sqrt(6.0 / c)
    return {
        prefix + "down.w": rng.uniform(-bound, bound, (r, c)).astype(np.float32),
        prefix + "down.b": np.zeros(r, np.float32),
        prefix + "up.w": (rng.standard_normal((c, r)) * 0.1 / np.sqrt(r)).astype(np.float32),
        prefix + "up.b": np.zeros(c, np.float32),
        prefix + "cls.w": (rng.standard_normal((k, c)) * 0.01).astype(np.float32),
        prefix + "cls.b": np.zeros(k, np.float32),
    }


def mlp_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "mlp.") -> dict[str, np.ndarray]:
    return {prefix + name: arrays[prefix + name] for name in MLP_PARAMS}


def parameter_count(feature_dim: int, num_classes: int, bottleneck_dim: int) -> int:
    c, r, k = feature_dim, bottleneck_dim, num_classes
    return 2 * c * r + r + c + k * c + k
