"""Standing things in the garden as simple solids: what they look like, where they touch the ground.

Three primitives cover stones, pots, balls, toy blocks and furniture legs: a vertical cylinder,
a spheroid (a sphere squashed or stretched along z) and a box turned about z. Each one can

- intersect a bundle of camera rays (``hit``), giving the ray parameter and the surface normal,
  which is all the renderer needs to draw it standing up with depth ordering and shading;
- say how far a ground point is from its footprint (``footprint_distance``), which is what the
  bumper and the trajectory planner use;
- list points on its surface (``outline_points``) from which the sun's shadow is cast.

World frame: x east, y north, z up, metres. The same classes are used in the robot frame after
``in_frame``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from robot.common.geometry import world_to_robot

Colour = tuple[float, float, float]  # BGR albedo in [0, 1]
Hit = tuple[np.ndarray, np.ndarray, np.ndarray]  # ray parameter, unit normals, 'top' mask


@dataclass(frozen=True)
class Cylinder:
    x_m: float
    y_m: float
    radius_m: float
    z0_m: float
    z1_m: float
    colour: Colour
    top_colour: Colour
    material: str = "plastic"

    def in_frame(self, pose: tuple[float, float, float]) -> Cylinder:
        x, y = world_to_robot(np.array([self.x_m, self.y_m]), pose)
        return replace(self, x_m=float(x), y_m=float(y))

    def footprint_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.z0_m > 1e-6:
            return np.full(np.shape(x), np.inf)
        return np.maximum(np.hypot(x - self.x_m, y - self.y_m) - self.radius_m, 0.0)

    @property
    def bounding_radius_m(self) -> float:
        return self.radius_m

    def corners(self) -> np.ndarray:
        r = self.radius_m
        return _box_corners(self.x_m, self.y_m, r, r, 0.0, self.z0_m, self.z1_m)

    def outline_points(self) -> np.ndarray:
        a = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        ring = np.stack([self.x_m + self.radius_m * np.cos(a),
                         self.y_m + self.radius_m * np.sin(a)], -1)
        return np.concatenate([np.c_[ring, np.full(24, self.z0_m)],
                               np.c_[ring, np.full(24, self.z1_m)]])

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> Hit:
        """Ray parameter t (inf = miss), unit normals, 'top' mask for rays ``origin + t*dirs``."""
        ox, oy, oz = origin[0] - self.x_m, origin[1] - self.y_m, origin[2]
        dx, dy, dz = dirs[..., 0], dirs[..., 1], dirs[..., 2]
        a = dx * dx + dy * dy
        b = 2.0 * (dx * ox + dy * oy)
        c = ox * ox + oy * oy - self.radius_m**2
        disc = b * b - 4.0 * a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            t_side = (-b - np.sqrt(disc)) / (2.0 * a)
        z_side = oz + t_side * dz
        side_ok = (disc > 0) & (t_side > 0) & (z_side >= self.z0_m) & (z_side <= self.z1_m)
        t = np.where(side_ok, t_side, np.inf)
        top = np.zeros(t.shape, bool)
        if oz > self.z1_m:
            with np.errstate(divide="ignore", invalid="ignore"):
                t_top = (self.z1_m - oz) / dz
            tx, ty = ox + t_top * dx, oy + t_top * dy
            top = (dz < 0) & (tx * tx + ty * ty <= self.radius_m**2) & (t_top < t)
            t = np.where(top, t_top, t)
        px, py = ox + t * dx, oy + t * dy
        with np.errstate(invalid="ignore"):
            normals = np.stack([px / self.radius_m, py / self.radius_m, np.zeros_like(px)], -1)
        normals[top] = (0.0, 0.0, 1.0)
        return t, normals, top


@dataclass(frozen=True)
class Spheroid:
    x_m: float
    y_m: float
    z_m: float  # centre height; below radius means half buried
    radius_m: float  # horizontal semi-axis
    half_height_m: float  # vertical semi-axis
    colour: Colour
    material: str = "stone"

    def in_frame(self, pose: tuple[float, float, float]) -> Spheroid:
        x, y = world_to_robot(np.array([self.x_m, self.y_m]), pose)
        return replace(self, x_m=float(x), y_m=float(y))

    @property
    def ground_radius_m(self) -> float:
        """Radius of the circle where the spheroid meets the ground (0 if it floats)."""
        k = self.z_m / self.half_height_m
        return self.radius_m * math.sqrt(max(0.0, 1.0 - k * k)) if abs(k) < 1 else 0.0

    def footprint_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = self.ground_radius_m
        if r <= 0:
            return np.full(np.shape(x), np.inf)
        return np.maximum(np.hypot(x - self.x_m, y - self.y_m) - r, 0.0)

    @property
    def bounding_radius_m(self) -> float:
        return self.radius_m

    def corners(self) -> np.ndarray:
        r = self.radius_m
        return _box_corners(self.x_m, self.y_m, r, r, 0.0, max(self.z_m - self.half_height_m, 0.0),
                            self.z_m + self.half_height_m)

    def outline_points(self) -> np.ndarray:
        a = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        pts = []
        for lat in np.linspace(-0.95, 0.95, 7):
            ring_r = self.radius_m * math.cos(lat * math.pi / 2)
            z = self.z_m + self.half_height_m * math.sin(lat * math.pi / 2)
            if z < 0:
                continue
            pts.append(np.stack([self.x_m + ring_r * np.cos(a), self.y_m + ring_r * np.sin(a),
                                 np.full(24, z)], -1))
        return np.concatenate(pts) if pts else np.zeros((0, 3))

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> Hit:
        k = self.radius_m / self.half_height_m  # scale z so the spheroid becomes a sphere
        ox, oy, oz = origin[0] - self.x_m, origin[1] - self.y_m, (origin[2] - self.z_m) * k
        dx, dy, dz = dirs[..., 0], dirs[..., 1], dirs[..., 2] * k
        a = dx * dx + dy * dy + dz * dz
        b = 2.0 * (dx * ox + dy * oy + dz * oz)
        c = ox * ox + oy * oy + oz * oz - self.radius_m**2
        disc = b * b - 4.0 * a * c
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / (2.0 * a)
        t = np.where((disc > 0) & (t > 0), t, np.inf)
        px, py, pz = ox + t * dx, oy + t * dy, (oz + t * dz) * k
        with np.errstate(invalid="ignore"):
            n = np.stack([px, py, pz], -1)
            n /= np.sqrt(px * px + py * py + pz * pz)[..., None] + 1e-9
        return t, n, n[..., 2] > 0.8


@dataclass(frozen=True)
class Box:
    x_m: float
    y_m: float
    half_x_m: float
    half_y_m: float
    yaw_rad: float
    z0_m: float
    z1_m: float
    colour: Colour
    material: str = "plastic"

    def in_frame(self, pose: tuple[float, float, float]) -> Box:
        x, y = world_to_robot(np.array([self.x_m, self.y_m]), pose)
        return replace(self, x_m=float(x), y_m=float(y), yaw_rad=self.yaw_rad - pose[2])

    def _local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        dx, dy = np.asarray(x) - self.x_m, np.asarray(y) - self.y_m
        return c * dx + s * dy, -s * dx + c * dy

    def footprint_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.z0_m > 1e-6:
            return np.full(np.shape(x), np.inf)
        lx, ly = self._local(x, y)
        qx = np.maximum(np.abs(lx) - self.half_x_m, 0.0)
        qy = np.maximum(np.abs(ly) - self.half_y_m, 0.0)
        return np.hypot(qx, qy)

    @property
    def bounding_radius_m(self) -> float:
        return math.hypot(self.half_x_m, self.half_y_m)

    def corners(self) -> np.ndarray:
        return _box_corners(self.x_m, self.y_m, self.half_x_m, self.half_y_m, self.yaw_rad,
                            self.z0_m, self.z1_m)

    def outline_points(self) -> np.ndarray:
        return self.corners()

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> Hit:
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        ox, oy = self._local(origin[0], origin[1])
        oz = origin[2]
        dx = c * dirs[..., 0] + s * dirs[..., 1]
        dy = -s * dirs[..., 0] + c * dirs[..., 1]
        dz = dirs[..., 2]
        zc, hz = (self.z0_m + self.z1_m) / 2, (self.z1_m - self.z0_m) / 2
        t_near = np.full(dx.shape, -np.inf)
        t_far = np.full(dx.shape, np.inf)
        axis = np.zeros(dx.shape, np.int8)
        sign = np.zeros(dx.shape, np.float64)
        for k, (o, d, half) in enumerate(((ox, dx, self.half_x_m), (oy, dy, self.half_y_m),
                                          (oz - zc, dz, hz))):
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = (-half - o) / d
                t2 = (half - o) / d
            lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
            lo = np.where(d == 0, np.where(abs(o) <= half, -np.inf, np.inf), lo)
            hi = np.where(d == 0, np.where(abs(o) <= half, np.inf, -np.inf), hi)
            better = lo > t_near
            axis = np.where(better, k, axis)
            sign = np.where(better, -np.sign(d), sign)
            t_near = np.maximum(t_near, lo)
            t_far = np.minimum(t_far, hi)
        ok = (t_near <= t_far) & (t_near > 0)
        t = np.where(ok, t_near, np.inf)
        local_n = np.zeros((*dx.shape, 3))
        for k in range(3):
            local_n[..., k] = np.where(axis == k, sign, 0.0)
        n = np.empty_like(local_n)
        n[..., 0] = c * local_n[..., 0] - s * local_n[..., 1]
        n[..., 1] = s * local_n[..., 0] + c * local_n[..., 1]
        n[..., 2] = local_n[..., 2]
        return t, n, local_n[..., 2] > 0.5


Primitive = Cylinder | Spheroid | Box


@dataclass(frozen=True)
class Obstacle:
    """One thing standing in the garden, made of primitives; class ``obstacle`` wherever seen."""

    kind: str  # stone, pot, ball, block, chair, table
    parts: tuple[Primitive, ...]

    @property
    def contacts(self) -> tuple[Primitive, ...]:
        """The parts that stand on the ground: what a bumper can touch."""
        return tuple(p for p in self.parts if np.isfinite(p.footprint_distance(
            np.array(p.x_m), np.array(p.y_m))))

    def footprint_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from ground points to the nearest ground contact of this obstacle (0 inside)."""
        d = np.full(np.shape(x), np.inf)
        for p in self.parts:
            d = np.minimum(d, p.footprint_distance(x, y))
        return d

    @property
    def centre(self) -> tuple[float, float]:
        xs = [p.x_m for p in self.parts]
        ys = [p.y_m for p in self.parts]
        return float(np.mean(xs)), float(np.mean(ys))

    @property
    def bounding_radius_m(self) -> float:
        cx, cy = self.centre
        return max(math.hypot(p.x_m - cx, p.y_m - cy) + p.bounding_radius_m for p in self.parts)


def _box_corners(x: float, y: float, hx: float, hy: float, yaw: float, z0: float,
                 z1: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    pts = []
    for z in (z0, z1):
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            lx, ly = sx * hx, sy * hy
            pts.append((x + c * lx - s * ly, y + s * lx + c * ly, z))
    return np.array(pts)
