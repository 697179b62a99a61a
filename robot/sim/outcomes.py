"""How the robot drove, judged against an oracle: the same policy on the true cells of the frame.

Cell accuracy is a means; what a garden owner sees is whether the robot drives. For every
frame with a label map the policy is run twice in the same tick — once on what perception saw,
once on the frame's true cells (:func:`truth_cells`, :func:`oracle_cells`) — and the two
decisions are compared (:func:`judge`):

- a *false stop*: the oracle drives (forward speed > 0) where the robot stops or turns on the
  spot;
- a *missed obstacle*: the robot drives where the oracle stops or turns on the spot.

For each false stop it also counts what stopped the robot (:func:`stop_culprits`): the cells
near enough to stop it that block its way and would not block the oracle's, each as "true class
→ what the robot saw" — "lawn → plant" is the season's leaf-covered lawn.

:class:`DriveTally` adds up, per (season, adapter version), these frame verdicts and what the
body did in the closed loop: distance, bumper hits, time stuck, time in beds, waterings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot.acting.config import PolicyConfig
from robot.acting.memory import ObstacleMemory, recall
from robot.acting.policy import (
    GroundGrid,
    blocked_cells,
    drive_command,
    unsure_cells,
    visible_ground,
)
from robot.common.body import RobotConfig
from robot.common.classes import UNLABELLED
from robot.common.geometry import CameraModel
from robot.seeing.labels import cell_class_counts
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
    counts = cell_class_counts(label_map, grid_hw, len(class_names))
    out = np.where(counts.sum(-1) > 0, counts.argmax(-1), UNLABELLED)
    if "obstacle" in class_names:
        k = class_names.index("obstacle")
        cell_pixels = label_map.size // (grid_hw[0] * grid_hw[1])
        out = np.where(counts[..., k] >= OBSTACLE_SHARE * cell_pixels, k, out)
    return out.astype(np.uint8)


def oracle_cells(truth: np.ndarray, like: CellMap) -> CellMap:
    """The cell map perfect eyes would give: true classes, full confidence, nothing novel.

    Cells without a truth (no labelled pixel) get confidence 0, so the policy treats them as
    it treats ground it cannot name.
    """
    known = truth != UNLABELLED
    return CellMap(np.where(known, truth, 0).astype(np.uint8),
                   known.astype(np.float32), np.zeros(truth.shape, np.float32),
                   like.class_names, like.t, ORACLE_VERSION, like.features)


def stop_culprits(seen: CellMap, truth: np.ndarray, oracle: CellMap, near: np.ndarray,
                  policy: PolicyConfig) -> dict[str, int]:
    """What stopped the robot where the oracle drove: the ``near`` cells (those close enough
    to stop or turn it) that block its way but not the oracle's, counted by "true class → what
    the robot saw" — a class name, or "unsure" for a cell it could not vouch for (low
    confidence or novel). ``truth``: :func:`truth_cells`; ``oracle``: :func:`oracle_cells` of
    it. Empty when no cell in view explains the stop (an obstacle remembered out of view, a
    frame too unsure as a whole)."""
    unsure = unsure_cells(seen, policy)
    extra = near & blocked_cells(seen, policy, unsure) & ~blocked_cells(oracle, policy)
    names = seen.class_names

    def name(c: int) -> str:
        return names[c] if c < len(names) else "unlabelled"

    return dict(Counter(
        f"{name(int(truth[y, x]))} → {'unsure' if unsure[y, x] else name(int(seen.classes[y, x]))}"
        for y, x in zip(*np.nonzero(extra), strict=True)))


def culprit_text(cells: Mapping[str, int], k: int = 1) -> str:
    """The ``k`` commonest entries of a :func:`stop_culprits` count with their shares
    ("lawn → plant 61 %, lawn → unsure 20 %"); "-" for none."""
    total = sum(cells.values())
    return ", ".join(f"{name} {round(100 * n / total)} %"
                     for name, n in Counter(cells).most_common(k)) or "-"


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
    drove: int = 0  # of those, frames where the robot drove on
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
    # on false-stop frames, the cells that stopped the robot (:func:`stop_culprits`)
    false_stop_cells: Counter[str] = field(default_factory=Counter)

    def add_verdict(self, v: Verdict) -> None:
        self.frames += 1
        self.drove += v.drove
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

        return {"frames": self.frames,
                "drove_share": r(self.drove / self.frames if self.frames else None),
                "oracle_drove_share": r(self.oracle_drives / self.frames if self.frames
                                        else None),
                "false_stop_rate": r(self.false_stop_rate),
                "missed_obstacle_rate": r(self.missed_obstacle_rate),
                "oracle_drive_frames": self.oracle_drives, "seconds": round(self.seconds, 1),
                "distance_m": round(self.distance_m, 2), "bumps": self.bumps,
                "bumps_per_100m": r(self.bumps_per_100m, 2),
                "stuck_share": r(self.stuck_s / self.seconds if self.seconds else None),
                "still_share": r(self.still_s / self.seconds if self.seconds else None),
                "in_bed_share": r(self.in_bed_s / self.seconds if self.seconds else None),
                "waterings_right": self.waterings_right,
                "waterings_wrong": self.waterings_wrong,
                "reasons": dict(sorted(self.reasons.items())),
                "false_stop_cells": dict(self.false_stop_cells.most_common())}


class Coverage:
    """The lawn area the robot's footprint has passed over, on a top-down grid of the garden.

    ``lawn`` is a bool grid (row = y, col = x) whose cell (r, c) is centred at
    ((c + 0.5) res, (r + 0.5) res); every cell whose centre comes within ``radius_m`` of the
    robot's centre counts as covered.
    """

    def __init__(self, lawn: np.ndarray, res_m: float, radius_m: float) -> None:
        self.lawn, self.res, self.radius = lawn.astype(bool), float(res_m), float(radius_m)
        self.covered = np.zeros_like(self.lawn)
        r = int(np.ceil(radius_m / res_m)) + 1
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        self._offsets = (dy, dx)

    def visit(self, x_m: float, y_m: float) -> None:
        h, w = self.lawn.shape
        cy, cx = int(y_m / self.res), int(x_m / self.res)
        dy, dx = self._offsets
        rows, cols = cy + dy, cx + dx
        near = np.hypot((cols + 0.5) * self.res - x_m, (rows + 0.5) * self.res - y_m) \
            <= self.radius
        near &= (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        self.covered[rows[near], cols[near]] = True

    @property
    def lawn_m2(self) -> float:
        return float(self.lawn.sum()) * self.res ** 2

    @property
    def covered_m2(self) -> float:
        return float((self.covered & self.lawn).sum()) * self.res ** 2


Key = tuple[str, str]  # (season, adapter version)


class Outcomes:
    """Drive tallies per (season, adapter version); ``key`` is the one now driving."""

    def __init__(self) -> None:
        self.tallies: dict[Key, DriveTally] = {}
        self.coverage: dict[Key, Coverage] = {}
        self.key: Key | None = None

    def current(self) -> DriveTally | None:
        if self.key is None:
            return None
        return self.tallies.setdefault(self.key, DriveTally())

    def coverage_of(self, key: Key, make: Any) -> Coverage:
        """The key's coverage grid, made by ``make()`` the first time."""
        if key not in self.coverage:
            self.coverage[key] = make()
        return self.coverage[key]

    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, tally in self.tallies.items():
            s = tally.summary()
            cov = self.coverage.get(key)
            if cov is not None:
                s["lawn_covered_m2"] = round(cov.covered_m2, 2)
                s["lawn_m2"] = round(cov.lawn_m2, 1)
            out[f"{key[0]}|{key[1]}"] = s
        return out


class OracleEyes:
    """Loop step right after perception: replace what perception saw by the frame's true cells
    (the features stay), so that the robot drives as the oracle would — the reference run of
    `gardenbot bench drive`. A frame without a label map keeps what perception saw."""

    name = "oracle_eyes"

    def run(self, tick: Any) -> None:
        labels = tick.frame.labels if tick.frame is not None else None
        if tick.cells is None or labels is None:
            return
        tick.cells = oracle_cells(truth_cells(labels, tick.cells.grid_hw,
                                              tick.cells.class_names), tick.cells)

    def shutdown(self) -> None:
        pass


class OracleStep:
    """Loop step after the policy: the same policy on the frame's true cells, and the verdict.

    What is judged is the camera policy's own decision (``tick.decision``; a reflex may have
    driven instead), against the same policy on the true cells — with an obstacle memory of
    its own, filled from the true cells at the robot's pose (``state``), when given. Frames
    without a label map get no verdict. Sets ``outcomes.key`` every tick with cells.
    """

    name = "oracle"

    def __init__(self, ground: GroundGrid, policy: PolicyConfig, robot: RobotConfig,
                 outcomes: Outcomes, state: Any = None, camera: CameraModel | None = None,
                 ) -> None:
        self.ground, self.policy, self.robot = ground, policy, robot
        self.outcomes = outcomes
        self.state, self.camera = state, camera  # the robot's pose, for the oracle's memory
        self.memory = ObstacleMemory()
        self._visible = visible_ground(ground, policy.lookahead_m)
        # the cells that can stop or turn the robot: the policy slows below full speed only
        # for a block within the slow-down distance of the bumper, and stops or turns nearer
        self._near = visible_ground(ground, robot.front_m + policy.slow_down_distance_m)

    def run(self, tick: Any) -> None:
        cells = tick.cells
        if cells is None:
            return
        seg = tick.segment
        season = (seg.season or seg.name) if seg is not None else "video"
        self.outcomes.key = (season, cells.adapter_version)
        tally = self.outcomes.current()
        assert tally is not None
        if tick.drive is not None:
            reason = tick.drive.reason.split("+")[0]
            tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
        decided = tick.decision if tick.decision is not None else tick.drive
        labels = tick.frame.labels if tick.frame is not None else None
        if labels is None or decided is None:
            return
        true_ids = truth_cells(labels, cells.grid_hw, cells.class_names)
        truth = oracle_cells(true_ids, cells)
        remembered = None
        if self.state is not None and self.camera is not None:
            remembered = recall(self.memory, truth, self.ground, self._visible, self.policy,
                                self.state.pose, self.camera)
        oracle = drive_command(truth, self.ground, self.policy, self.robot, remembered)
        verdict = judge(decided, oracle)
        tally.add_verdict(verdict)
        if verdict.false_stop:
            tally.false_stop_cells.update(stop_culprits(cells, true_ids, truth, self._near,
                                                        self.policy))

    def shutdown(self) -> None:
        pass
