"""Export a learner state to the ONNX graph perception runs (see robot/adapter/exported.py).

Input ``features`` [1, C, h, w] with dynamic h, w; outputs ``logits`` [1, K, h, w] and
``novelty`` [1, 1, h, w]. The per-cell layers become 1x1 convolutions; the standardisation,
the novelty prototypes and, for ``bank``, every member and the router are constants in the
graph, so perception sees one graph whatever the strategy.

torch 2.13's default exporter (dynamo) needs the onnxscript package; the TorchScript exporter
(``dynamo=False``) needs nothing more and handles these few ops, so it is used here. It warns
that it is deprecated; that warning is silenced. ``external_data=False`` keeps the weights
inside the one .onnx file.
"""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

from robot.adapter.exported import (
    ADAPTER_FORMAT,
    ADAPTER_FORMAT_VERSION,
    INPUT_NAME,
    OUTPUT_NAMES,
    ExportedAdapter,
)
from robot.adapter.state import LearnerState
from robot.common.errors import ModelError
from robot.learning.learner.model import MLP_PARAMS

OPSET = 17


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, np.float32))


def _conv_weight(w: np.ndarray) -> torch.Tensor:
    return _t(w)[:, :, None, None]


class _MlpHead(nn.Module):
    def __init__(self, state: LearnerState, prefix: str) -> None:
        super().__init__()
        a = state.arrays
        for name in MLP_PARAMS:
            value = a[prefix + name]
            t = _conv_weight(value) if name.endswith(".w") else _t(value)
            self.register_buffer(name.replace(".", "_"), t)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(F.conv2d(z, self.down_w, self.down_b))
        return F.conv2d(z + F.conv2d(hidden, self.up_w, self.up_b), self.cls_w, self.cls_b)


class _LinearHead(nn.Module):
    def __init__(self, state: LearnerState) -> None:
        super().__init__()
        self.register_buffer("w", _conv_weight(state.arrays["linear.w"]))
        self.register_buffer("b", _t(state.arrays["linear.b"]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, self.w, self.b)


class _BankHead(nn.Module):
    """All members run; the router picks the member whose domain prototypes the frame's cells
    are closest to on average (cosine similarity), and only its logits come out."""

    def __init__(self, state: LearnerState) -> None:
        super().__init__()
        n = len(state.info["bank_domains"])
        self.members = nn.ModuleList([_MlpHead(state, f"bank{i}.") for i in range(n)])
        for i in range(n):
            self.register_buffer(f"router{i}", _conv_weight(state.arrays[f"bank{i}.router"]))

    def forward(self, z: torch.Tensor, z_unit: torch.Tensor) -> torch.Tensor:
        if len(self.members) == 1:
            return self.members[0](z)
        scores = torch.stack([
            F.conv2d(z_unit, getattr(self, f"router{i}")).amax(dim=1).mean()
            for i in range(len(self.members))
        ])
        logits = torch.stack([m(z) for m in self.members])  # [D, 1, K, h, w]
        return torch.index_select(logits, 0, scores.argmax().reshape(1))[0]


class AdapterGraph(nn.Module):
    """The whole exported graph: standardise, classify, score novelty."""

    def __init__(self, state: LearnerState) -> None:
        super().__init__()
        a = state.arrays
        self.register_buffer("mean", _t(a["norm.mean"]).reshape(1, -1, 1, 1))
        self.register_buffer("inv_std", (1.0 / _t(a["norm.std"])).reshape(1, -1, 1, 1))
        self.register_buffer("centres", _conv_weight(a["proto.centres"]))
        self.register_buffer("inv_scale", 1.0 / _t(a["proto.scale"]).reshape(()))
        self.kind = state.kind
        if state.kind == "mlp":
            self.head: nn.Module = _MlpHead(state, "mlp.")
        elif state.kind == "linear":
            self.head = _LinearHead(state)
        elif state.kind == "bank":
            self.head = _BankHead(state)
        else:
            raise ModelError(f"cannot export a learner state of kind {state.kind!r}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (x - self.mean) * self.inv_std
        z_unit = z / (torch.linalg.vector_norm(z, dim=1, keepdim=True) + 1e-6)
        logits = self.head(z, z_unit) if self.kind == "bank" else self.head(z)
        similarity = F.conv2d(z_unit, self.centres).amax(dim=1, keepdim=True)
        return logits, (1.0 - similarity) * self.inv_scale


def export_adapter(state: LearnerState) -> ExportedAdapter:
    """The ONNX adapter of a trained state, with its metadata embedded in the graph."""
    graph = AdapterGraph(state).eval()
    example = torch.zeros(1, state.feature_dim, 3, 4)
    buf = io.BytesIO()
    dynamic = {"features": {2: "h", 3: "w"}, "logits": {2: "h", 3: "w"},
               "novelty": {2: "h", 3: "w"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*will be removed.*")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph, (example,), buf, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, external_data=False,
        )
    model = onnx.load_model_from_string(buf.getvalue())
    meta = {
        "format": ADAPTER_FORMAT, "format_version": str(ADAPTER_FORMAT_VERSION),
        "classes": json.dumps(list(state.classes)), "feature_dim": str(state.feature_dim),
        "backbone_sha256": state.backbone_sha256, "strategy": str(state.info.get("strategy", "")),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "gardenbot"
    onnx_bytes = model.SerializeToString()
    return ExportedAdapter(onnx_bytes, state.classes, state.feature_dim, state.backbone_sha256,
                           str(state.info.get("strategy", "")))
