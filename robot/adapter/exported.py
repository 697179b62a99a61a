"""An exported adapter: ONNX bytes plus what it was made for, run with onnxruntime (no torch).

The graph takes ``features`` float32 [1, C, h, w] (h, w dynamic) and gives ``logits``
[1, K, h, w] and ``novelty`` [1, 1, h, w] (below 1 for cells that look like the training data,
above 1 for cells unlike anything the adapter was trained on). Whatever the strategy — one
network, a bank of networks with a router, a closed-form linear classifier — the graph looks the
same from outside. The metadata inside the graph names the backbone it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.common.classes import traversable_ids
from robot.common.errors import ModelError
from robot.common.metrics import classification_scores

ADAPTER_FORMAT = "gardenbot-adapter"
ADAPTER_FORMAT_VERSION = 1
INPUT_NAME = "features"
OUTPUT_NAMES = ("logits", "novelty")


@dataclass(frozen=True)
class CellPredictions:
    """Per-cell outputs; arrays have the shape of the input (h, w) grid or (N,) cells."""

    classes: np.ndarray  # uint8 class ids
    confidence: np.ndarray  # float32 softmax probability of the chosen class
    novelty: np.ndarray  # float32, > 1 = unlike the training data
    # float32 probability mass on the traversable classes: what driving needs to know, as
    # sure for a cell torn between lawn and path as for one clearly lawn; None = not computed
    traversable: np.ndarray | None = None


def softmax_outputs(logits_khw: np.ndarray, traversable_ids: Sequence[int] = (),
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, confidence, traversable mass) from logits with the class axis first."""
    z = logits_khw - logits_khw.max(axis=0, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=0, keepdims=True)
    mass = p[list(traversable_ids)].sum(axis=0)
    return (p.argmax(axis=0).astype(np.uint8), p.max(axis=0).astype(np.float32),
            mass.astype(np.float32))


def make_session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # perception shares the CPU with the control loop
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for bad graphs
        raise ModelError(f"adapter graph cannot be loaded by onnxruntime: {e}") from e


@dataclass(frozen=True, eq=False)
class ExportedAdapter:
    """A trained adapter as perception runs it."""

    onnx_bytes: bytes
    classes: tuple[str, ...]
    feature_dim: int
    backbone_sha256: str
    strategy: str
    _session: list[Any] = field(default_factory=list, repr=False)  # lazily built, cached

    @staticmethod
    def from_bytes(onnx_bytes: bytes, name: str = "adapter") -> ExportedAdapter:
        """Read an adapter and the metadata embedded in its graph."""
        session = make_session(onnx_bytes)
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("format") != ADAPTER_FORMAT:
            raise ModelError(f"{name}: not a gardenbot adapter (no '{ADAPTER_FORMAT}' metadata)")
        try:
            format_version = int(meta.get("format_version", -1))
        except ValueError:
            format_version = -1  # not a number: reported as unsupported below
        if format_version != ADAPTER_FORMAT_VERSION:
            raise ModelError(f"{name}: adapter format version {meta.get('format_version')} "
                             "is not supported")
        try:
            adapter = ExportedAdapter(
                onnx_bytes, tuple(json.loads(meta["classes"])), int(meta["feature_dim"]),
                meta["backbone_sha256"], meta.get("strategy", ""))
        except (KeyError, ValueError) as e:
            raise ModelError(f"{name}: bad adapter metadata ({e})") from None
        adapter._session.append(session)
        return adapter

    def check_backbone(self, backbone_sha256: str | None, feature_dim: int | None,
                       name: str = "adapter") -> None:
        """Refuse an adapter made for another backbone."""
        if feature_dim is not None and feature_dim != self.feature_dim:
            raise ModelError(f"{name}: made for {self.feature_dim}-channel features; the "
                             f"backbone gives {feature_dim}")
        if backbone_sha256 is not None and backbone_sha256 != self.backbone_sha256:
            raise ModelError(f"{name}: made for backbone {self.backbone_sha256[:12]}…, not "
                             f"{backbone_sha256[:12]}…")

    def session(self) -> Any:
        if not self._session:
            self._session.append(make_session(self.onnx_bytes))
        return self._session[0]

    def run(self, features_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw graph outputs for a [1, C, h, w] float32 input: logits, novelty."""
        if features_nchw.ndim != 4 or features_nchw.shape[:2] != (1, self.feature_dim):
            raise ModelError(f"adapter input must be [1, {self.feature_dim}, h, w]; "
                             f"got {list(features_nchw.shape)}")
        logits, novelty = self.session().run(
            list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(features_nchw, np.float32)})
        return logits, novelty

    def predict_grid(self, grid_hwc: np.ndarray) -> CellPredictions:
        """Classes, confidences and novelty of one (h, w, C) feature grid."""
        logits, novelty = self.run(np.asarray(grid_hwc, np.float32).transpose(2, 0, 1)[None])
        classes, confidence, traversable = softmax_outputs(logits[0],
                                                            traversable_ids(self.classes))
        return CellPredictions(classes, confidence, novelty[0, 0].astype(np.float32),
                               traversable)

    def predict_cells(
        self, features: np.ndarray, frame_ids: np.ndarray | None = None,
    ) -> CellPredictions:
        """Predict (N, C) cells. Cells sharing a frame id are run as one grid.

        It matters only for graphs with a frame-level router (strategy ``bank``): the router
        looks at a whole frame, so cells of one frame should go together. Without frame ids all
        cells form one grid.
        """
        features = np.asarray(features, np.float32)
        n = features.shape[0]
        classes = np.zeros(n, np.uint8)
        confidence = np.zeros(n, np.float32)
        novelty = np.zeros(n, np.float32)
        if n == 0:
            return CellPredictions(classes, confidence, novelty)
        groups = [np.arange(n)] if frame_ids is None else [
            np.flatnonzero(frame_ids == f) for f in np.unique(frame_ids)]
        for idx in groups:
            logits, nov = self.run(features[idx].T[None, :, :, None])
            c, p, _ = softmax_outputs(logits[0, :, :, 0])
            classes[idx], confidence[idx], novelty[idx] = c, p, nov[0, 0, :, 0]
        return CellPredictions(classes, confidence, novelty)


def evaluate(
    adapter: ExportedAdapter,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seasons: np.ndarray | None = None,
    frame_ids: np.ndarray | None = None,
) -> dict[str, Any]:
    """Scores of ``adapter`` on labelled cells, with onnxruntime exactly as perception runs it.

    Returns accuracy, balanced accuracy, mean IoU, per class (and per season when given); see
    robot.common.metrics. Labels must be ids into ``adapter.classes``.
    """
    labels = np.asarray(labels)
    if labels.size and int(labels.max()) >= len(adapter.classes):
        raise ModelError(f"label {int(labels.max())} is outside the adapter's "
                         f"{len(adapter.classes)} classes")
    pred = adapter.predict_cells(features, frame_ids)
    return classification_scores(labels, pred.classes, adapter.classes, seasons)
