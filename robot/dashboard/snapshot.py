"""What the loop did, as the dashboard and MQTT see it: one immutable :class:`Snapshot` per tick.

The loop thread builds a snapshot from references it already holds (the frame, the cell map)
and a few numbers, and swaps it into the :class:`SnapshotHolder`: an attribute assignment,
atomic in Python, so the loop never takes a lock a web or MQTT thread could hold. Readers get
the latest snapshot and must not modify the arrays in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.seeing.perception import CellMap


@dataclass(frozen=True)
class ZoneView:
    id: int
    x_m: float
    y_m: float
    radius_m: float
    moisture: float | None  # 0..1, the bed's probe
    last_watered: str | None  # ISO local time


@dataclass(frozen=True)
class Snapshot:
    tick: int
    wall_s: float  # unix seconds when it was made
    image: np.ndarray | None  # the frame (BGR), never modified after publishing
    cells: CellMap | None
    truth: np.ndarray | None  # (h, w) true cell labels, when the frame has a label map
    accuracy: float | None
    season: str
    adapter_version: str
    fps: float
    drive_reason: str
    drive_detail: str
    v_mps: float
    omega_radps: float
    owner_stopped: bool
    link: dict[str, Any]  # connected, drives_sent, drives_acked, failures, latched, ...
    battery_v: float | None
    zones: tuple[ZoneView, ...]
    watering: dict[str, Any]  # interval_h, quiet_hours, duration_ms, max_duration_ms
    learner: dict[str, Any]  # state, stage, progress, message, reason, version, ...
    buffer: dict[str, Any]  # cells, classes, seasons, sources (refreshed every few seconds)
    questions_open: int
    class_names: tuple[str, ...] = ()
    # the latest tick whose frame had a label map: (tick, true cells, drive reason), for the
    # false-stop plot (a label map may come with only some frames)
    judged: tuple[int, np.ndarray, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def state_json(self) -> dict[str, Any]:
        """Everything but the arrays: what /api/state and MQTT publish."""
        return {
            "tick": self.tick, "time": self.wall_s, "season": self.season,
            "adapter_version": self.adapter_version, "fps": round(self.fps, 1),
            "accuracy": None if self.accuracy is None else round(self.accuracy, 3),
            "policy": {"reason": self.drive_reason, "detail": self.drive_detail,
                       "v_mps": round(self.v_mps, 3), "omega_radps": round(self.omega_radps, 3),
                       "doing": describe_drive(self.drive_reason, self.drive_detail)},
            "owner_stopped": self.owner_stopped, "link": self.link,
            "battery_v": self.battery_v,
            "zones": [z.__dict__ for z in self.zones], "watering": self.watering,
            "learner": self.learner, "buffer": self.buffer,
            "questions_open": self.questions_open, "classes": list(self.class_names),
            "novelty": None if self.cells is None else round(novel_share(self.cells), 3),
        }


def novel_share(cells: CellMap, threshold: float = 1.0) -> float:
    """Share of the frame's cells the adapter finds unlike its training data."""
    return float((cells.novelty > threshold).mean())


_DOING = {
    "cruise": "driving",
    "slow": "driving slowly: the ground ahead runs out",
    "turn": "turning: straight ahead is blocked",
    "creep": "creeping: unsure of the ground ahead",
    "stop_blocked": "stopped: no open ground ahead",
    "stop_low_confidence": "stopped: unsure of the ground ahead",
    "stop_no_ground": "stopped: sees no ground (camera mounting?)",
    "stop_no_frame": "stopped: no camera frame",
    "stop_owner": "stopped by the owner",
}


def describe_drive(reason: str, detail: str) -> str:
    """"stopped: unsure of the ground ahead (mean confidence 0.41 < 0.60)" for the owner."""
    base = reason.split("+")[0]
    text = _DOING.get(base, base or "waiting")
    if "+caution" in reason:  # the driving watch's speed cap after the bump alarm
        text += ", slowly after bumps"
    elif "+hold" in reason:
        text = "holding still after bumps until the retrain is in"
    return f"{text} ({detail})" if detail else text


class SnapshotHolder:
    """The latest snapshot; written by the loop thread only, read by any thread."""

    def __init__(self) -> None:
        self._latest: Snapshot | None = None
        self.published = 0

    def publish(self, snapshot: Snapshot) -> None:
        self._latest = snapshot  # one reference assignment: atomic, never blocks
        self.published += 1

    @property
    def latest(self) -> Snapshot | None:
        return self._latest
