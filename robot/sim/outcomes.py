"""How the robot drove, judged against an oracle: the same policy on the true cells of the frame.

Cell accuracy is a means; what a garden owner sees is whether the robot drives. For every
frame with a label map the policy is run twice in the same tick — once on what perception saw,
once on the frame's true cells (:func:`truth_cells`, :func:`oracle_cells`) — and the two
decisions are compared (:func:`judge`):

- a *false stop*: the oracle drives (forward speed > 0) where the robot stops or turns on the
  spot;
- a *missed obstacle*: the robot drives where the oracle stops or turns on the spot.

:class:`DriveTally` adds up, per (season, adapter version), these frame verdicts and what the
body did in the closed loop: distance, bumper hits, time stuck, time in beds, waterings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.common.classes import UNLABELLED
from robot.seeing.perception import CellMap

OBSTACLE_SHARE = 0.2  # a cell with this much obstacle in it is an obstacle, whatever else
ORACLE_VERSION = "oracle"


def truth_cells(label_map: np.ndarray, grid_hw: tuple[int, int],
                class_names: tuple[str, ...]) -> np.ndarray:
    """(h, w) uint8: the true class of each cell, for the oracle's policy.

    Unlike :func:`robot.seeing.labels.cell_labels` (training labels: mixed cells are left
    out), every cell gets a class: the majority of its labelled pixels — except that a cell
    with an obstacle in ``OBSTACLE_SHARE`` of it is an obstacle, because a robot must not drive
    into a cell that is a fifth stone. A cell with no labelled pixel is ``UNLABELLED``.
    """
    h, w = grid_hw
    H, W = label_map.shape
    if H % h or W % w:
        raise ValueError(f"label map {H}x{W} does not divide into a {h}x{w} grid")
    sy, sx = H // h, W // w
    blocks = label_map.reshape(h, sy, w, sx).transpose(0, 2, 1, 3).reshape(h, w, sy * sx)
    counts = np.stack([(blocks == k).sum(-1) for k in range(len(class_names))], axis=-1)
    out = np.where(counts.sum(-1) > 0, counts.argmax(-1), UNLABELLED)
    if "obstacle" in class_names:
        k = class_names.index("obstacle")
        out = np.where(counts[..., k] >= OBSTACLE_SHARE * sy * sx, k, out)
    return out.astype(np.uint8)


def oracle_cells(truth: np.ndarray, like: CellMap) -> CellMap:
    """The cell map perfect eyes would give: true classes, full confidence, nothing novel.

    Cells without a truth (no labelled pixel) get confidence 0, so the policy treats them as
    it treats ground it cannot name.
    """
    known = truth != UNLABELLED
    return CellMap(np.where(known, truth, 0).astype(np.uint8),
                   known.astype(np.float32), np.zeros(truth.shape, np.float32),
                   like.class_names, like.t, ORACLE_VERSION)


def drives(cmd: Any) -> bool:
    """Whether a drive command moves the robot forward (a turn on the spot does not)."""
    return cmd is not None and cmd.v_mps > 0.0


@dataclass(frozen=True)
class Verdict:
    drove: bool
    oracle_drove: bool

    @property
    def false_stop(self) -> bool:
        return self.oracle_drove and not self.drove

    @property
    def missed_obstacle(self) -> bool:
        return self.drove and not self.oracle_drove


def judge(cmd: Any, oracle_cmd: Any) -> Verdict:
    return Verdict(drives(cmd), drives(oracle_cmd))


@dataclass
class DriveTally:
    """What happened while one adapter version drove in one season."""

    frames: int = 0  # frames with an oracle verdict
    false_stops: int = 0
    oracle_drives: int = 0  # frames where the oracle drove (the false-stop denominator)
    missed_obstacles: int = 0
    oracle_stops: int = 0  # frames where the oracle stopped (the missed-obstacle denominator)
    seconds: float = 0.0  # simulated time driven by this version (closed loop)
    distance_m: float = 0.0
    bumps: int = 0  # bumper closings (a new contact, not every tick in contact)
    stuck_s: float = 0.0  # time the robot did not move although it was commanded to
    still_s: float = 0.0  # time the robot stood still (commanded so or not)
    in_bed_s: float = 0.0
    waterings_right: int = 0  # the zone watered is the zone of the bed nearest the robot
    waterings_wrong: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add_verdict(self, v: Verdict) -> None:
        self.frames += 1
        self.oracle_drives += v.oracle_drove
        self.oracle_stops += not v.oracle_drove
        self.false_stops += v.false_stop
        self.missed_obstacles += v.missed_obstacle

    @property
    def false_stop_rate(self) -> float | None:
        return self.false_stops / self.oracle_drives if self.oracle_drives else None

    @property
    def missed_obstacle_rate(self) -> float | None:
        return self.missed_obstacles / self.oracle_stops if self.oracle_stops else None

    @property
    def bumps_per_100m(self) -> float | None:
        return 100.0 * self.bumps / self.distance_m if self.distance_m > 0 else None

    def summary(self) -> dict[str, Any]:
        def r(x: float | None, n: int = 3) -> float | None:
            return None if x is None else round(x, n)

        return {"frames": self.frames, "false_stop_rate": r(self.false_stop_rate),
                "missed_obstacle_rate": r(self.missed_obstacle_rate),
                "oracle_drive_frames": self.oracle_drives, "seconds": round(self.seconds, 1),
                "distance_m": round(self.distance_m, 2), "bumps": self.bumps,
                "bumps_per_100m": r(self.bumps_per_100m, 2),
                "stuck_share": r(self.stuck_s / self.seconds if self.seconds else None),
                "still_share": r(self.still_s / self.seconds if self.seconds else None),
                "in_bed_share": r(self.in_bed_s / self.seconds if self.seconds else None),
                "waterings_right": self.waterings_right,
                "waterings_wrong": self.waterings_wrong,
                "reasons": dict(sorted(self.reasons.items()))}
