"""A synthetic garden that answers the robot: drive it, look through its camera, water its beds.

``LiveGarden`` is the world of the closed-loop simulation. The robot's wheel speeds move it
(``step``) with the same body physics as the recordings' drive (``motion.py``): an exact arc
per interval, a contact cuts the arc short (bumper, stall), wet mud makes the wheels slip.
``view`` renders the camera at the current pose with the generator's renderer and camera effects,
so a frame looks like a frame of a synthetic recording; its label map uses the recordings' class
ids. Beds dry and get watered with the telemetry generator's soil model (``telemetry.py``).

What blocks the robot: the obstacles' ground contacts and the garden boundary, exactly what
closes the recordings' bumper (``Garden.obstacle_distance``). Beds do not block. The generator
paints every bed, the "raised" shape included, as flat soil at ground level (no height, no
edge in the renderer or the contact model), and its drive keeps out of beds only by planning
(the clearance map), not by physics. A real robot can roll onto soil, and should not: so
driving into a bed is possible, and ``in_bed`` tells the outcome metrics that it happened.
Hoses lie flat on the lawn (the camera labels them obstacle); the robot rolls over them.

Coordinates: the garden frame of the recordings (x east, y north, metres, theta from +x,
counter-clockwise). Everything random is seeded by (garden, seed), and the camera noise also by
season; the layout, the dock and the evaluation poses never depend on the season.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from firmware_bridge.constants import N_ZONES
from robot.acting.config import Zone
from robot.common.classes import SEASONS
from robot.common.geometry import CameraModel, equal_area_circle
from tools.garden.camera_fx import CameraEffects
from tools.garden.generate import default_camera
from tools.garden.layout import PLAN_RES_M, Garden, make_garden, parse_garden_id
from tools.garden.motion import (
    ROBOT_RADIUS_M,
    WHEEL_BASE_M,
    advance,
    contact_gap,
    dyadic_checks,
    mud_slip,
    touching,
)
from tools.garden.render import GardenRenderer
from tools.garden.season import SeasonLook, season_look
from tools.garden.telemetry import DRYING_TAU_S, M_DRY, M_SAT, START_MOISTURE, WATERING_RATE
from tools.garden.trajectory import clearance_map, path_map
from tools.garden.world import World, build_world_for

Pose = tuple[float, float, float]

CHECK_SPACING_M = 0.01  # contact tested along the arc at least this often (no jumping through)
DOCK_CLEARANCE_M = 0.35  # the dock keeps this much room to beds, hoses and obstacles
EVAL_CLEARANCE_M = 0.1  # evaluation views may stand close to things (they are the hard ones)
_ENTROPY = 0x11FE
_CELL_SLACK_M = PLAN_RES_M * 0.7072  # a point is this close to the centre of its grid cell


@dataclass(frozen=True)
class StepResult:
    pose: tuple[float, float, float]  # x_m, y_m, theta_rad after the step, garden frame
    moved_m: float  # how far the robot centre moved (along its arc)
    wheel_left_m: float  # wheel travel this step as the encoders count it (slip spins count)
    wheel_right_m: float
    bumper: bool  # touching an obstacle or the boundary
    stall: bool  # pushed into contact: the wheels are blocked
    slip: float  # 0..1: share of the wheel travel that did not move the robot


class LiveGarden:
    """One garden in one season, driven by the robot's own wheel commands."""

    radius_m = ROBOT_RADIUS_M  # the simulated robot: a round body, its axle through the centre

    def __init__(self, garden_id: str, season: str, *, seed: int = 0,
                 camera: CameraModel | None = None) -> None:
        self.garden_id = parse_garden_id(garden_id)
        look = season_look(season, 0, seed)  # a ValueError naming the seasons
        if not (isinstance(seed, int) and seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self.camera = camera or default_camera()
        self.garden: Garden = make_garden(self.garden_id)
        self._index = int(self.garden_id[1:])
        g = self.garden
        self._plan = clearance_map(g)  # beds, hoses, obstacles, fence: where the dock may not be
        self._contact = _contact_grid(g)  # exact distance to what blocks, at cell centres
        self._beds = [np.asarray(b.outline, np.float32).reshape(-1, 1, 2) for b in g.beds]
        self._bed_boxes = [(*c.min((0, 1)), *c.max((0, 1))) for c in self._beds]
        dock_rng, soil_rng = (np.random.default_rng(s) for s in
                              np.random.SeedSequence([_ENTROPY, self._index, seed]).spawn(2))
        self.start_pose: Pose = self._free_pose(dock_rng, DOCK_CLEARANCE_M)
        self._pose = self.start_pose
        self.t = 0.0
        lo, hi = START_MOISTURE[look.season]
        self._probes = [(i, p.id) for i, b in enumerate(g.beds) for p in b.probes]
        self._moisture = {pid: float(soil_rng.uniform(lo, hi)) for _, pid in self._probes}
        self.watered_s = [0.0] * N_ZONES  # pump seconds per zone since the start
        self._v = self._omega = 0.0  # the body's motion over the last step (motion blur)
        self.set_look(look)

    # -- the season ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{self.garden_id} {self.season}"

    def set_season(self, season: str) -> None:
        """A new look of the same garden: layout, pose, time and soil moisture carry over."""
        self.set_look(season_look(season, 0, self.seed))

    def set_look(self, look: SeasonLook) -> None:
        """Any look (``season.look_on_day`` gives one per day of the year); the rest carries
        over as with ``set_season``."""
        self.season = look.season
        self.look = look
        self.world: World = build_world_for(self.garden, look, self.seed)
        self._renderer = GardenRenderer(self.world, self.camera)
        self._fx = self._camera_effects(0, self.seed)
        self._settled = False

    def _camera_effects(self, purpose: int, seed: int) -> CameraEffects:
        cam = self.camera
        rng = np.random.default_rng(np.random.SeedSequence(
            [_ENTROPY, self._index, purpose, seed, SEASONS.index(self.season)]))
        return CameraEffects(cam.width, cam.height, cam.fx, self.look, rng)

    # -- driving -------------------------------------------------------------------------
    @property
    def pose(self) -> Pose:
        return self._pose

    def place(self, pose: Pose | None = None) -> None:
        """Put the robot at ``pose`` (default: the dock), standing still; time runs on.

        A pose where the footprint overlaps an obstacle or the fence is a ValueError.
        """
        x, y, th = pose if pose is not None else self.start_pose
        g = self.garden
        if not (0 <= x <= g.width_m and 0 <= y <= g.height_m) or contact_gap(g, x, y) < 0:
            raise ValueError(f"the robot does not fit at ({x:.3f}, {y:.3f}) in garden {g.id}")
        self._pose = (float(x), float(y), _wrap(float(th)))
        self._v = self._omega = 0.0

    def step(self, v_left_mps: float, v_right_mps: float, dt: float) -> StepResult:
        """Drive both wheels at constant speeds for ``dt`` seconds (soil dries meanwhile)."""
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        if not (math.isfinite(v_left_mps) and math.isfinite(v_right_mps)):
            raise ValueError(f"wheel speeds must be finite, got {v_left_mps!r}, {v_right_mps!r}")
        x, y, _ = self._pose
        dl, dr = v_left_mps * dt, v_right_mps * dt
        slip = mud_slip(self.garden, self.look.wetness, x, y)
        path = (1.0 - slip) * abs(dl + dr) / 2  # the centre's travel along the full arc
        far = self._contact_at(x, y) - _CELL_SLACK_M > ROBOT_RADIUS_M + path + 1e-3
        pose, frac = advance(self.garden, self._pose, dl, dr, slip, far=far,
                             checks=dyadic_checks(path, CHECK_SPACING_M))
        wl, wr = frac * dl, frac * dr
        moved = (1.0 - slip) * (wl + wr) / 2
        self._v = moved / dt
        self._omega = (1.0 - slip) * (wr - wl) / WHEEL_BASE_M / dt
        self._pose = (pose[0], pose[1], _wrap(pose[2]))
        self.t += dt
        self._dry(dt)
        return StepResult(self._pose, abs(moved), wl, wr, touching(self.garden, *pose[:2]),
                          frac < 1.0, slip)

    def _contact_at(self, x: float, y: float) -> float:
        h, w = self._contact.shape
        return float(self._contact[min(max(int(y / PLAN_RES_M), 0), h - 1),
                                   min(max(int(x / PLAN_RES_M), 0), w - 1)])

    # -- the camera ----------------------------------------------------------------------
    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """The camera frame at the current pose (BGR uint8, camera effects on) and its labels.

        The auto-exposure keeps its state from view to view, as a running camera does; the first
        view after the start or a season change starts settled (the camera was on at the dock).
        """
        clean, labels = self._renderer.render(self._pose)
        if not self._settled:
            self._fx.settle(clean)
            self._settled = True
        return self._fx.apply(clean, self._v, self._omega), labels

    def eval_poses(self, n: int, seed: int = 1) -> list[Pose]:
        """``n`` free poses on lawn or path with random headings; the same in every season."""
        rng = np.random.default_rng(np.random.SeedSequence([_ENTROPY, 0xE7A1, self._index, seed]))
        return [self._free_pose(rng, EVAL_CLEARANCE_M) for _ in range(n)]

    def eval_views(self, n: int, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
        """``n`` (image, labels) from ``eval_poses(n, seed)``, the robot standing still.

        The camera effects are seeded by ``seed`` (and the season) and settled per view, so that
        the views do not depend on where the robot has driven or on earlier calls.
        """
        fx = self._camera_effects(1, seed)
        out = []
        for pose in self.eval_poses(n, seed):
            clean, labels = self._renderer.render(pose)
            fx.settle(clean)
            out.append((fx.apply(clean, 0.0, 0.0), labels))
        return out

    # -- beds and watering ---------------------------------------------------------------
    def in_bed(self, x_m: float, y_m: float) -> bool:
        return self._bed_at(x_m, y_m) is not None

    def zone_at(self, x_m: float, y_m: float) -> int | None:
        """The pump zone whose bed is at (x, y); None on lawn, path, or a bed past N_ZONES."""
        i = self._bed_at(x_m, y_m)
        return i if i is not None and i < N_ZONES else None

    def _bed_at(self, x: float, y: float) -> int | None:
        for i, (c, (x0, y0, x1, y1)) in enumerate(zip(self._beds, self._bed_boxes, strict=True)):
            if x0 <= x <= x1 and y0 <= y <= y1 and \
                    cv2.pointPolygonTest(c, (float(x), float(y)), False) >= 0:
                return i
        return None

    def zones(self) -> list[Zone]:
        """The pump zones as circles, as ``robot.sim.world.zones_of`` reads a recording's beds:
        bed ``i`` is zone ``i``, a circle of the bed's area around its centroid."""
        out = []
        for i, bed in enumerate(self.garden.beds[:N_ZONES]):
            circle = equal_area_circle(bed.outline)
            if circle is not None:
                out.append(Zone(i, *circle))
        return out

    def moisture_permille(self) -> list[int | None]:
        """Per pump zone, the mean of its probes (0..1000); None for a zone without a bed."""
        values: list[list[float]] = [[] for _ in range(N_ZONES)]
        for bed, pid in self._probes:
            if bed < N_ZONES:
                values[bed].append(self._moisture[pid])
        return [round(1000 * min(max(float(np.mean(v)), 0.0), 1.0)) if v else None
                for v in values]

    def water(self, zone: int, seconds: float) -> None:
        """The pump ran on ``zone`` for ``seconds``; its bed's probes rise (nothing if no bed)."""
        if not (isinstance(zone, int) and 0 <= zone < N_ZONES):
            raise ValueError(f"zone must be a pump zone 0..{N_ZONES - 1}, got {zone!r}")
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self.watered_s[zone] += seconds
        for bed, pid in self._probes:
            if bed == zone:
                m = self._moisture[pid]
                self._moisture[pid] = M_SAT - (M_SAT - m) * math.exp(
                    -seconds * WATERING_RATE / (M_SAT - M_DRY))

    def _dry(self, dt: float) -> None:
        k = math.exp(-dt / DRYING_TAU_S[self.season])
        for pid, m in self._moisture.items():
            self._moisture[pid] = M_DRY + (m - M_DRY) * k

    # -- the ground ----------------------------------------------------------------------
    def lawn_mask(self) -> tuple[np.ndarray, float]:
        """Lawn cells (row = y, col = x) at PLAN_RES_M, the same in every season.

        Lawn is what is neither path, patio, bed nor under an obstacle's foot; hoses lie on
        lawn and count as lawn. Cell (r, c) is centred at ((c + 0.5) res, (r + 0.5) res).
        """
        lawn = (~path_map(self.garden)).astype(np.uint8)
        for c in self._beds:
            cv2.fillPoly(lawn, [np.round(c.reshape(-1, 2) / PLAN_RES_M - 0.5).astype(np.int32)], 0)
        # cell centres are inside the fence, so a zero contact distance is an obstacle's foot
        return lawn.astype(bool) & (self._contact > 0), PLAN_RES_M

    def _free_pose(self, rng: np.random.Generator, clearance_m: float) -> Pose:
        g = self.garden
        h, w = self._plan.shape
        for _ in range(10_000):
            x = float(rng.uniform(0.5, g.width_m - 0.5))
            y = float(rng.uniform(0.5, g.height_m - 0.5))
            heading = float(rng.uniform(-math.pi, math.pi))
            clear = self._plan[min(int(y / PLAN_RES_M), h - 1), min(int(x / PLAN_RES_M), w - 1)]
            if clear > ROBOT_RADIUS_M + clearance_m and not touching(g, x, y):
                return x, y, heading
        raise RuntimeError(f"garden {g.id}: no free place for the robot")


def _cell_centres(garden: Garden) -> tuple[np.ndarray, np.ndarray]:
    h = math.ceil(garden.height_m / PLAN_RES_M)
    w = math.ceil(garden.width_m / PLAN_RES_M)
    ys, xs = np.mgrid[0:h, 0:w]
    return (xs + 0.5) * PLAN_RES_M, (ys + 0.5) * PLAN_RES_M


def _contact_grid(garden: Garden) -> np.ndarray:
    """Distance from each PLAN_RES_M cell centre to the nearest obstacle contact or the fence."""
    return garden.obstacle_distance(*_cell_centres(garden)).astype(np.float32)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
