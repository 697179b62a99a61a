"""Procedural garden layouts: lawn, paths, soil beds with plants, obstacles, a fence around it.

A garden is fixed by its id (``g00`` ... ``g99``): the same id gives the same layout every year
and every season, so a season change is the only thing that changes. Which gardens train and
which are held out for testing is fixed here (``TRAIN_GARDENS`` / ``TEST_GARDENS``).

World frame: x east, y north, metres; the garden is the rectangle [0, width] x [0, height], its
boundary (fence, hedge or wall) stands on the rectangle's edges.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from tools.garden.objects import Box, Cylinder, Obstacle, Spheroid

GARDEN_IDS: tuple[str, ...] = tuple(f"g{i:02d}" for i in range(8))
TRAIN_GARDENS: tuple[str, ...] = GARDEN_IDS[:6]
TEST_GARDENS: tuple[str, ...] = GARDEN_IDS[6:]
_GARDEN_ID = re.compile(r"^g(\d{2})$")
_LAYOUT_ENTROPY = 0x6A7D  # changing it gives every garden a new layout

PATH_MATERIALS = ("paving", "gravel")
BOUNDARY_KINDS = ("fence", "hedge", "wall")
PLAN_RES_M = 0.05  # resolution of the occupancy grids used for placing things and planning

Point = tuple[float, float]


@dataclass(frozen=True)
class GardenPath:
    points: tuple[Point, ...]  # polyline centre, metres
    width_m: float
    material: str  # paving | gravel


@dataclass(frozen=True)
class Patio:
    x0_m: float
    y0_m: float
    x1_m: float
    y1_m: float
    material: str


@dataclass(frozen=True)
class Plant:
    x_m: float
    y_m: float
    radius_m: float  # full summer size
    kind: int  # which flower colour / leaf shape
    seed: int  # shape of its outline


@dataclass(frozen=True)
class Probe:
    id: str
    zone: str
    x_m: float
    y_m: float


@dataclass(frozen=True)
class Bed:
    """A soil bed; it is also the watering zone ``id`` with one or two moisture probes."""

    id: str
    outline: tuple[Point, ...]  # polygon, metres
    plants: tuple[Plant, ...]
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Hose:
    points: tuple[Point, ...]
    width_m: float
    colour: tuple[float, float, float]


@dataclass(frozen=True)
class MudPatch:
    x_m: float
    y_m: float
    radius_m: float


@dataclass(frozen=True)
class Garden:
    id: str
    width_m: float
    height_m: float
    boundary: str  # fence | hedge | wall
    boundary_height_m: float
    paths: tuple[GardenPath, ...]
    patios: tuple[Patio, ...]
    beds: tuple[Bed, ...]
    obstacles: tuple[Obstacle, ...]
    hoses: tuple[Hose, ...]
    mud: tuple[MudPatch, ...]

    @property
    def role(self) -> str:
        return garden_role(self.id)

    @property
    def path_material(self) -> str:
        return (self.paths or self.patios)[0].material

    def boundary_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from points inside the garden to the nearest boundary (fence) line."""
        return np.minimum(np.minimum(x, self.width_m - np.asarray(x)),
                          np.minimum(y, self.height_m - np.asarray(y)))

    def obstacle_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the nearest standing thing a bumper can touch: obstacles and the fence."""
        return np.minimum(self.boundary_distance(x, y), self._footprints.distance(x, y))

    @functools.cached_property
    def _footprints(self) -> Footprints:
        return Footprints.of([p for ob in self.obstacles for p in ob.contacts])


@dataclass(frozen=True)
class Footprints:
    """Ground contacts of all obstacles as arrays: discs and turned rectangles."""

    discs: np.ndarray  # (n, 3): x, y, radius
    rects: np.ndarray  # (m, 5): x, y, half_x, half_y, yaw

    @classmethod
    def of(cls, parts: list) -> Footprints:
        discs, rects = [], []
        for p in parts:
            if isinstance(p, Box):
                rects.append((p.x_m, p.y_m, p.half_x_m, p.half_y_m, p.yaw_rad))
            elif isinstance(p, Spheroid):
                discs.append((p.x_m, p.y_m, p.ground_radius_m))
            else:
                discs.append((p.x_m, p.y_m, p.radius_m))
        return cls(np.array(discs, float).reshape(-1, 3), np.array(rects, float).reshape(-1, 5))

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from points to the nearest footprint (0 inside one; inf if there are none)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        d = np.full(np.shape(x), np.inf)
        if len(self.discs):
            cx, cy, r = (self.discs[:, k].reshape((-1,) + (1,) * x.ndim) for k in range(3))
            d = np.minimum(d, np.maximum(np.hypot(x - cx, y - cy) - r, 0.0).min(0))
        if len(self.rects):
            cx, cy, hx, hy, yaw = (self.rects[:, k].reshape((-1,) + (1,) * x.ndim)
                                   for k in range(5))
            c, s = np.cos(yaw), np.sin(yaw)
            lx, ly = c * (x - cx) + s * (y - cy), -s * (x - cx) + c * (y - cy)
            qx, qy = np.maximum(np.abs(lx) - hx, 0.0), np.maximum(np.abs(ly) - hy, 0.0)
            d = np.minimum(d, np.hypot(qx, qy).min(0))
        return d


def parse_garden_id(text: str) -> str:
    """``g03``, ``G3`` or ``3`` -> ``g03``; anything else is a ValueError naming the form."""
    t = str(text).strip().lower()
    if t.isdigit():
        t = f"g{int(t):02d}"
    elif re.fullmatch(r"g\d", t):
        t = f"g0{t[1]}"
    if not _GARDEN_ID.match(t):
        raise ValueError(f"garden {text!r} is not a garden id: use g00..g99 "
                         f"(g00..g05 train, g06..g07 held out)")
    return t


def garden_role(garden_id: str) -> str:
    if garden_id in TRAIN_GARDENS:
        return "train"
    if garden_id in TEST_GARDENS:
        return "test"
    return "extra"


def make_garden(garden_id: str) -> Garden:
    """The layout of garden ``garden_id`` (deterministic)."""
    gid = parse_garden_id(garden_id)
    index = int(gid[1:])
    rng = np.random.default_rng(np.random.SeedSequence([_LAYOUT_ENTROPY, index]))
    width = round(float(rng.uniform(9.0, 14.0)), 1)
    height = round(float(rng.uniform(7.0, 10.0)), 1)
    boundary = BOUNDARY_KINDS[index % 3]
    boundary_h = round(float(rng.uniform(1.0, 1.8)), 2)
    material = PATH_MATERIALS[index % 2]
    board = _Board(width, height)
    paths, patios = _make_paths(index, width, height, material, rng)
    for p in paths:
        board.mark_path(p, pad_m=0.35)
    for pt in patios:
        board.mark_rect(pt.x0_m, pt.y0_m, pt.x1_m, pt.y1_m, pad_m=0.35)
    beds = _make_beds(width, height, board, rng)
    mud = _make_mud(width, height, board, rng)
    hoses = _make_hoses(width, height, board, rng)
    obstacles = _make_obstacles(index, width, height, board, patios, rng)
    return Garden(gid, width, height, boundary, boundary_h, tuple(paths), tuple(patios),
                  tuple(beds), tuple(obstacles), tuple(hoses), tuple(mud))


class _Board:
    """Occupancy grid used while placing things so that they do not overlap."""

    def __init__(self, width: float, height: float) -> None:
        self.w, self.h = width, height
        self.grid = np.zeros((math.ceil(height / PLAN_RES_M), math.ceil(width / PLAN_RES_M)),
                             np.uint8)

    def _px(self, pts: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(pts) / PLAN_RES_M).astype(np.int32)

    def mark_path(self, p: GardenPath, pad_m: float) -> None:
        thick = max(1, round((p.width_m + 2 * pad_m) / PLAN_RES_M))
        cv2.polylines(self.grid, [self._px(p.points)], False, 1, thick)

    def mark_rect(self, x0: float, y0: float, x1: float, y1: float, pad_m: float) -> None:
        a = self._px([x0 - pad_m, y0 - pad_m])
        b = self._px([x1 + pad_m, y1 + pad_m])
        cv2.rectangle(self.grid, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, -1)

    def mark_poly(self, poly: np.ndarray, pad_m: float) -> None:
        cv2.fillPoly(self.grid, [self._px(poly)], 1)
        if pad_m > 0:
            thick = max(1, round(2 * pad_m / PLAN_RES_M))
            cv2.polylines(self.grid, [self._px(poly)], True, 1, thick)

    def mark_disc(self, x: float, y: float, r: float) -> None:
        centre = tuple(int(v) for v in self._px([x, y]))
        cv2.circle(self.grid, centre, max(1, round(r / PLAN_RES_M)), 1, -1)

    def poly_free(self, poly: np.ndarray) -> bool:
        m = np.zeros_like(self.grid)
        cv2.fillPoly(m, [self._px(poly)], 1)
        return not (m & self.grid).any()

    def disc_free(self, x: float, y: float, r: float) -> bool:
        m = np.zeros_like(self.grid)
        cv2.circle(m, tuple(int(v) for v in self._px([x, y])), max(1, round(r / PLAN_RES_M)), 1, -1)
        return not (m & self.grid).any()


def _make_paths(
    index: int, w: float, h: float, material: str, rng: np.random.Generator,
) -> tuple[list[GardenPath], list[Patio]]:
    pattern = ("cross", "loop", "patio", "ell", "diagonal")[(index + int(rng.integers(0, 2))) % 5]
    width = round(float(rng.uniform(0.7, 1.2)), 2)
    paths: list[GardenPath] = []
    patios: list[Patio] = []
    if pattern == "cross":
        y0 = float(rng.uniform(0.35, 0.65)) * h
        y1 = y0 + float(rng.uniform(-1.0, 1.0))
        xm = float(rng.uniform(0.4, 0.6)) * w
        paths.append(GardenPath(((-0.5, y0), (xm, y0), (xm + 1.0, y1), (w + 0.5, y1)), width,
                                material))
    elif pattern == "loop":
        d = float(rng.uniform(1.6, 2.4))
        pts = ((d, d), (w - d, d), (w - d, h - d), (d, h - d), (d, d))
        paths.append(GardenPath(pts, width, material))
        paths.append(GardenPath(((w / 2, -0.5), (w / 2, d)), width, material))
    elif pattern == "patio":
        pw, ph = float(rng.uniform(2.6, 3.8)), float(rng.uniform(2.0, 2.8))
        patios.append(Patio(0.0, h - ph, pw, h, material))
        y = h - ph / 2
        paths.append(GardenPath(((pw, y), (w * 0.6, y), (w * 0.6, -0.5)), width, material))
    elif pattern == "ell":
        x0 = float(rng.uniform(0.25, 0.45)) * w
        y1 = float(rng.uniform(0.45, 0.7)) * h
        paths.append(GardenPath(((x0, -0.5), (x0, y1), (w + 0.5, y1)), width, material))
    else:  # diagonal with a bend
        paths.append(GardenPath(((-0.5, 0.25 * h), (0.45 * w, 0.4 * h), (0.6 * w, 0.75 * h),
                                 (w + 0.5, 0.8 * h)), width, material))
    return paths, patios


def _make_beds(w: float, h: float, board: _Board, rng: np.random.Generator) -> list[Bed]:
    beds: list[Bed] = []
    want = int(rng.integers(4, 7))
    tries = 0
    while len(beds) < want and tries < 400:
        tries += 1
        shape = rng.choice(["border", "border", "island", "raised"])
        poly = _bed_polygon(str(shape), w, h, rng)
        if poly is None or not board.poly_free(poly):
            continue
        board.mark_poly(poly, pad_m=0.6)
        zone = f"z{len(beds)}"
        plants = _plant_bed(poly, rng)
        probes = _place_probes(zone, poly, rng)
        beds.append(Bed(zone, tuple((round(float(x), 3), round(float(y), 3)) for x, y in poly),
                        plants, probes))
    return beds


def _bed_polygon(shape: str, w: float, h: float, rng: np.random.Generator) -> np.ndarray | None:
    if shape == "border":
        side = int(rng.integers(0, 4))
        along = w if side in (0, 2) else h
        length = float(rng.uniform(0.35, 0.7)) * along
        start = float(rng.uniform(0.05, 0.95 * along - length))
        depth = float(rng.uniform(0.7, 1.3))
        s = np.linspace(start, start + length, 24)
        wave = depth * (1 + 0.18 * np.sin(s * rng.uniform(1.0, 2.5) + rng.uniform(0, 6)))
        inner = np.stack([s, wave], -1)
        outer = np.stack([s[::-1], np.full(24, 0.02)], -1)
        local = np.concatenate([outer, inner])
        if side == 0:  # south edge, y = 0
            return local
        if side == 2:  # north edge
            return np.stack([local[:, 0], h - local[:, 1]], -1)
        if side == 1:  # east edge
            return np.stack([w - local[:, 1], local[:, 0]], -1)
        return np.stack([local[:, 1], local[:, 0]], -1)
    cx, cy = float(rng.uniform(1.5, w - 1.5)), float(rng.uniform(1.5, h - 1.5))
    if shape == "island":
        rx, ry = float(rng.uniform(0.8, 1.8)), float(rng.uniform(0.6, 1.2))
        a = np.linspace(0, 2 * math.pi, 40, endpoint=False)
        wob = (1 + 0.15 * np.sin(2 * a + rng.uniform(0, 6))
               + 0.08 * np.sin(3 * a + rng.uniform(0, 6)))
        rot = float(rng.uniform(0, math.pi))
        x, y = rx * wob * np.cos(a), ry * wob * np.sin(a)
        return np.stack([cx + math.cos(rot) * x - math.sin(rot) * y,
                         cy + math.sin(rot) * x + math.cos(rot) * y], -1)
    bw, bh = float(rng.uniform(1.2, 2.4)), float(rng.uniform(0.8, 1.2))
    if rng.random() < 0.5:
        bw, bh = bh, bw
    return np.array([(cx - bw / 2, cy - bh / 2), (cx + bw / 2, cy - bh / 2),
                     (cx + bw / 2, cy + bh / 2), (cx - bw / 2, cy + bh / 2)])


def _inside(poly: np.ndarray, x: float, y: float, margin: float = 0.0) -> bool:
    c = poly.astype(np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(c, (float(x), float(y)), True) >= margin


def _plant_bed(poly: np.ndarray, rng: np.random.Generator) -> tuple[Plant, ...]:
    spacing = float(rng.uniform(0.32, 0.5))
    kinds = rng.choice(6, size=int(rng.integers(1, 4)), replace=False)
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    plants = []
    for gy in np.arange(y0 + spacing / 2, y1, spacing):
        for gx in np.arange(x0 + spacing / 2, x1, spacing):
            x = gx + float(rng.uniform(-0.25, 0.25)) * spacing
            y = gy + float(rng.uniform(-0.25, 0.25)) * spacing
            if rng.random() < 0.2 or not _inside(poly, x, y, margin=0.12):
                continue
            r = spacing * float(rng.uniform(0.38, 0.55))
            plants.append(Plant(round(x, 3), round(y, 3), round(r, 3),
                                int(kinds[int(rng.integers(0, len(kinds)))]),
                                int(rng.integers(0, 2**31 - 1))))
    return tuple(plants)


def _place_probes(zone: str, poly: np.ndarray, rng: np.random.Generator) -> tuple[Probe, ...]:
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    area = cv2.contourArea(poly.astype(np.float32))
    n = 2 if area > 2.0 else 1
    probes: list[Probe] = []
    for _ in range(200):
        if len(probes) == n:
            break
        x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if _inside(poly, x, y, margin=0.15):
            probes.append(Probe(f"{zone}p{len(probes)}", zone, round(x, 3), round(y, 3)))
    return tuple(probes)


# What each canonical garden keeps lying around: stones, pots, toys, furniture, in changing mixes.
_OBSTACLE_SETS = (
    ("stone", "stone", "pot", "pot", "ball", "chair"),
    ("pot", "pot", "pot", "block", "table", "stone"),
    ("ball", "ball", "block", "block", "stone", "chair"),
    ("stone", "stone", "stone", "pot", "table", "ball"),
    ("pot", "ball", "block", "chair", "chair", "stone"),
    ("stone", "pot", "pot", "ball", "block", "table"),
    ("stone", "stone", "pot", "ball", "block", "chair"),
    ("pot", "pot", "ball", "stone", "table", "block"),
)

_STONE = ((0.56, 0.58, 0.6), (0.45, 0.5, 0.55), (0.62, 0.6, 0.55), (0.4, 0.42, 0.42))
_TERRACOTTA = ((0.22, 0.38, 0.72), (0.25, 0.42, 0.66), (0.3, 0.35, 0.5))
_TOY = ((0.1, 0.1, 0.85), (0.8, 0.35, 0.1), (0.1, 0.8, 0.95), (0.6, 0.1, 0.6), (0.2, 0.65, 0.2))
_FURNITURE = (((0.85, 0.85, 0.85), "plastic"), ((0.15, 0.15, 0.17), "metal"),
              ((0.25, 0.4, 0.55), "wood"))
_POT_SOIL = (0.12, 0.16, 0.2)


def _make_obstacle(kind: str, x: float, y: float, rng: np.random.Generator) -> Obstacle:
    if kind == "stone":
        r = float(rng.uniform(0.12, 0.3))
        c = r * float(rng.uniform(0.45, 0.8))
        col = _STONE[int(rng.integers(0, len(_STONE)))]
        return Obstacle(kind, (Spheroid(x, y, -0.2 * c, r, c, col, "stone"),))
    if kind == "pot":
        r = float(rng.uniform(0.12, 0.24))
        hgt = float(rng.uniform(0.2, 0.42))
        col = _TERRACOTTA[int(rng.integers(0, len(_TERRACOTTA)))]
        return Obstacle(kind, (Cylinder(x, y, r, 0.0, hgt, col, _POT_SOIL, "terracotta"),))
    if kind == "ball":
        r = float(rng.uniform(0.08, 0.15))
        col = _TOY[int(rng.integers(0, len(_TOY)))]
        return Obstacle(kind, (Spheroid(x, y, r, r, r, col, "plastic"),))
    if kind == "block":
        hx, hy = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.08, 0.2))
        col = _TOY[int(rng.integers(0, len(_TOY)))]
        return Obstacle(kind, (Box(x, y, hx, hy, float(rng.uniform(0, math.pi)), 0.0,
                                   float(rng.uniform(0.08, 0.25)), col, "plastic"),))
    col, mat = _FURNITURE[int(rng.integers(0, len(_FURNITURE)))]
    if kind == "chair":
        hx = hy = float(rng.uniform(0.2, 0.25))
        leg_h, top_h, leg_r = 0.44, 0.04, float(rng.uniform(0.015, 0.025))
    else:  # table
        hx, hy = float(rng.uniform(0.4, 0.7)), float(rng.uniform(0.3, 0.45))
        leg_h, top_h, leg_r = 0.71, 0.04, float(rng.uniform(0.02, 0.03))
    yaw = float(rng.uniform(0, math.pi))
    c, s = math.cos(yaw), math.sin(yaw)
    parts: list = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        lx, ly = sx * (hx - leg_r), sy * (hy - leg_r)
        parts.append(Cylinder(x + c * lx - s * ly, y + s * lx + c * ly, leg_r, 0.0, leg_h, col,
                              col, mat))
    parts.append(Box(x, y, hx, hy, yaw, leg_h, leg_h + top_h, col, mat))
    return Obstacle(kind, tuple(parts))


def _make_obstacles(
    index: int, w: float, h: float, board: _Board, patios: list[Patio],
    rng: np.random.Generator,
) -> list[Obstacle]:
    kinds = list(_OBSTACLE_SETS[index % len(_OBSTACLE_SETS)])
    extra = rng.choice(["stone", "pot", "ball", "block"], size=int(rng.integers(1, 4)))
    kinds += [str(k) for k in extra]
    out: list[Obstacle] = []
    for kind in kinds:
        for _ in range(400):
            if kind in ("table", "chair") and patios and rng.random() < 0.7:
                pt = patios[0]
                x = float(rng.uniform(pt.x0_m + 0.8, pt.x1_m - 0.8))
                y = float(rng.uniform(pt.y0_m + 0.8, pt.y1_m - 0.8))
                on_patio = True
            else:
                x, y = float(rng.uniform(0.8, w - 0.8)), float(rng.uniform(0.8, h - 0.8))
                on_patio = False
            ob = _make_obstacle(kind, x, y, rng)
            r = ob.bounding_radius_m
            if min(x, y, w - x, h - y) < r + 0.5:
                continue
            if not on_patio and not board.disc_free(x, y, r + 0.1):
                continue
            board.mark_disc(x, y, r + 0.7)
            out.append(ob)
            break
    return out


def _make_hoses(w: float, h: float, board: _Board, rng: np.random.Generator) -> list[Hose]:
    colours = ((0.15, 0.55, 0.15), (0.1, 0.45, 0.9), (0.1, 0.75, 0.85))
    hoses: list[Hose] = []
    for _ in range(int(rng.integers(0, 3))):
        for _attempt in range(50):
            x, y = float(rng.uniform(1, w - 1)), float(rng.uniform(1, h - 1))
            heading = float(rng.uniform(0, 2 * math.pi))
            pts = [(x, y)]
            turn = 0.0
            for _k in range(int(rng.integers(25, 60))):
                turn = 0.8 * turn + float(rng.normal(0, 0.25))
                heading += turn
                x += 0.08 * math.cos(heading)
                y += 0.08 * math.sin(heading)
                pts.append((x, y))
            arr = np.array(pts)
            if arr.min() < 0.7 or (arr[:, 0].max() > w - 0.7) or (arr[:, 1].max() > h - 0.7):
                continue
            m = np.zeros_like(board.grid)
            cv2.polylines(m, [board._px(arr)], False, 1, 3)
            if (m & board.grid).any():
                continue
            cv2.polylines(board.grid, [board._px(arr)], False, 1, 12)
            hoses.append(Hose(tuple((round(a, 3), round(b, 3)) for a, b in pts),
                              round(float(rng.uniform(0.018, 0.026)), 3),
                              colours[int(rng.integers(0, len(colours)))]))
            break
    return hoses


def _make_mud(w: float, h: float, board: _Board, rng: np.random.Generator) -> list[MudPatch]:
    out = []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(50):
            x, y = float(rng.uniform(1, w - 1)), float(rng.uniform(1, h - 1))
            r = float(rng.uniform(0.4, 0.9))
            if board.disc_free(x, y, r * 0.5):
                out.append(MudPatch(round(x, 3), round(y, 3), round(r, 3)))
                break
    return out
