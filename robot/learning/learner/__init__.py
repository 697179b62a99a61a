"""The on-device continual learner (torch). Perception never imports this package.

Public API (docs/learner.md):

- :func:`train` — one retrain with a named strategy -> (ExportedAdapter, LearnerState)
- :func:`evaluate` — scores of an exported adapter on labelled cells (onnxruntime)
- :data:`STRATEGIES` — the strategies by name
- :func:`grow_classes` — add a class (e.g. ``pond``) to a learner state
- :func:`export_adapter` — the ONNX graph of a state
"""

from robot.adapter.exported import ExportedAdapter, evaluate
from robot.adapter.state import LearnerState, grow_classes
from robot.learning.config import TrainConfig
from robot.learning.learner.api import train
from robot.learning.learner.export import export_adapter
from robot.learning.learner.strategies import STRATEGIES

__all__ = [
    "STRATEGIES",
    "ExportedAdapter",
    "LearnerState",
    "TrainConfig",
    "evaluate",
    "export_adapter",
    "grow_classes",
    "train",
]
