"""What the learner keeps between retrains: weights and statistics as named numpy arrays.

A state is everything a strategy needs to continue where the last retrain stopped (adapter
weights, the fixed input normaliser, novelty prototypes, EWC's Fisher information, the bank's
members, SLDA's running statistics, ...). It is saved next to each adapter version, so any
version can be the parent of the next. Numpy only, so the store can read it without torch.

Array names (the strategies add their own under their prefix):

- ``norm.mean``, ``norm.std`` (C,): input standardisation, fixed at the first retrain
- ``mlp.down.w`` (r, C), ``mlp.down.b`` (r,), ``mlp.up.w`` (C, r), ``mlp.up.b`` (C,),
  ``mlp.cls.w`` (K, C), ``mlp.cls.b`` (K,): the residual bottleneck and classifier
- ``linear.w`` (K, C), ``linear.b`` (K,): a closed-form linear classifier (slda, ncm)
- ``proto.centres`` (P, C), ``proto.labels`` (P,), ``proto.scale`` (): novelty prototypes
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from robot.common.errors import ModelError

STATE_FORMAT = "gardenbot-learner-state"
STATE_FORMAT_VERSION = 1
KINDS = ("none", "mlp", "linear", "bank")

# A class added later starts with this logit bias, far below any trained class: the grown
# classifier predicts exactly what its parent did until it has been trained on the new class.
NEW_CLASS_BIAS = -20.0


@dataclass(frozen=True, eq=False)
class LearnerState:
    """Immutable learner state for one backbone and class list."""

    classes: tuple[str, ...]
    feature_dim: int
    backbone_sha256: str
    kind: str = "none"  # "none" (never trained), "mlp", "linear", "bank"
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)  # JSON-able facts

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"unknown learner state kind {self.kind!r}")

    @staticmethod
    def initial(classes: Sequence[str], feature_dim: int, backbone_sha256: str) -> LearnerState:
        """The state before the first retrain."""
        return LearnerState(tuple(classes), int(feature_dim), str(backbone_sha256))

    @property
    def trained(self) -> bool:
        return self.kind != "none"

    def evolve(self, **changes: Any) -> LearnerState:
        return replace(self, **changes)

    def to_bytes(self) -> bytes:
        meta = {
            "format": STATE_FORMAT, "format_version": STATE_FORMAT_VERSION,
            "classes": list(self.classes), "feature_dim": self.feature_dim,
            "backbone_sha256": self.backbone_sha256, "kind": self.kind, "info": dict(self.info),
        }
        out = io.BytesIO()
        np.savez(out, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                 **{k: np.asarray(v) for k, v in self.arrays.items()})
        return out.getvalue()

    @staticmethod
    def from_bytes(data: bytes, name: str = "learner state") -> LearnerState:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["__meta__"].tobytes())
                arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
            if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
                raise ValueError("not a gardenbot learner state")
            if meta.get("format_version") != STATE_FORMAT_VERSION:
                raise ValueError(f"format version {meta.get('format_version')} not supported")
            return LearnerState(tuple(meta["classes"]), int(meta["feature_dim"]),
                                meta["backbone_sha256"], meta["kind"], arrays, meta["info"])
        # a truncated or damaged file: np.load raises BadZipFile, EOFError, ValueError, ...
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ModelError(f"{name}: unreadable ({e})") from None


def grow_classes(state: LearnerState, classes: Sequence[str]) -> LearnerState:
    """The same state with classes appended (e.g. ``pond``): old ids and weights untouched.

    Every classifier gets a row per new class with zero weights and a very low bias, so until
    it is trained on the new class it predicts exactly what it did before; training then goes on
    from there (no retraining from scratch). Running statistics get empty rows.
    """
    classes = tuple(classes)
    old_k = len(state.classes)
    if classes[:old_k] != state.classes:
        raise ModelError(f"class list {list(classes)} must start with {list(state.classes)} "
                         "in the same order (ids of existing classes cannot change)")
    extra = len(classes) - old_k
    if extra == 0:
        return state
    arrays: dict[str, np.ndarray] = {}
    for name, arr in state.arrays.items():
        if name.endswith(("cls.w", "linear.w", ".mean")) and arr.ndim == 2 and (
                arr.shape[0] == old_k and not name.startswith("norm")):
            arr = np.concatenate([arr, np.zeros((extra, arr.shape[1]), arr.dtype)])
        elif name.endswith(("cls.b", "linear.b")) and not name.startswith("ewc"):
            arr = np.concatenate([arr, np.full(extra, NEW_CLASS_BIAS, arr.dtype)])
        elif name.endswith(("cls.b", ".count")) and arr.shape == (old_k,):
            arr = np.concatenate([arr, np.zeros(extra, arr.dtype)])
        arrays[name] = arr
    return state.evolve(classes=classes, arrays=arrays)
