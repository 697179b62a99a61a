"""The forward camera's pinhole model over flat ground, shared by the renderer and the robot.

Robot frame: x forward, y left, z up, origin on the ground between the wheels. The camera sits
``forward_offset_m`` ahead of the origin at ``height_m``, looking forward and pitched down by
``pitch_deg``. Image coordinates: u to the right, v down, pixel centres at integer + 0.5.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    width: int = 320
    height: int = 240
    fx: float = 228.5
    fy: float = 228.5
    cx: float = 160.0
    cy: float = 120.0
    height_m: float = 0.35
    pitch_deg: float = 32.0
    forward_offset_m: float = 0.10

    @classmethod
    def from_fov(
        cls, width: int, height: int, hfov_deg: float, height_m: float, pitch_deg: float,
        forward_offset_m: float = 0.10,
    ) -> CameraModel:
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(width, height, f, f, width / 2, height / 2, height_m, pitch_deg,
                   forward_offset_m)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CameraModel:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera seen at another resolution (e.g. a backbone input size)."""
        sx, sy = width / self.width, height / self.height
        return CameraModel(width, height, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy,
                           self.height_m, self.pitch_deg, self.forward_offset_m)

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Camera right, down and optical axes expressed in the robot frame."""
        p = math.radians(self.pitch_deg)
        right = np.array([0.0, -1.0, 0.0])
        down = np.array([-math.sin(p), 0.0, -math.cos(p)])
        forward = np.array([math.cos(p), 0.0, -math.sin(p)])
        return right, down, forward

    @property
    def position(self) -> np.ndarray:
        return np.array([self.forward_offset_m, 0.0, self.height_m])

    def pixel_rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unnormalised ray directions (..., 3) in the robot frame through pixels (u, v)."""
        right, down, forward = self._axes()
        xc = (np.asarray(u, float) - self.cx) / self.fx
        yc = (np.asarray(v, float) - self.cy) / self.fy
        return xc[..., None] * right + yc[..., None] * down + forward

    def pixels_to_ground(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Ground points (..., 2) in the robot frame seen at (u, v); NaN above the horizon."""
        rays = self.pixel_rays(u, v)
        rz = rays[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(rz < -1e-9, -self.height_m / rz, np.nan)
        pts = self.position[:2] + t[..., None] * rays[..., :2]
        return pts

    def ground_grid(self) -> np.ndarray:
        """Ground point (H, W, 2) under the centre of every pixel; NaN above the horizon."""
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(float) + 0.5
        return self.pixels_to_ground(u, v)

    def points_to_pixels(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project 3-D robot-frame points (..., 3) to pixels (u, v) and depth along the axis.

        Returns ``uv`` (..., 2) and ``depth`` (...); points behind the camera get depth ≤ 0.
        """
        right, down, forward = self._axes()
        q = np.asarray(pts, float) - self.position
        depth = q @ forward
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * (q @ right) / depth + self.cx
            v = self.fy * (q @ down) / depth + self.cy
        return np.stack([u, v], axis=-1), depth

    def ground_to_pixels(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project ground points (..., 2) to pixels; see :meth:`points_to_pixels`."""
        xy = np.asarray(xy, float)
        pts = np.concatenate([xy, np.zeros((*xy.shape[:-1], 1))], axis=-1)
        return self.points_to_pixels(pts)


def robot_to_world(xy: np.ndarray, pose: tuple[float, float, float]) -> np.ndarray:
    """Robot-frame ground points (..., 2) to the world frame of pose (x, y, theta)."""
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    xy = np.asarray(xy, float)
    return np.stack([x + c * xy[..., 0] - s * xy[..., 1], y + s * xy[..., 0] + c * xy[..., 1]],
                    axis=-1)


def world_to_robot(xy: np.ndarray, pose: tuple[float, float, float]) -> np.ndarray:
    """World ground points (..., 2) into the robot frame of pose (x, y, theta)."""
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    xy = np.asarray(xy, float)
    dx, dy = xy[..., 0] - x, xy[..., 1] - y
    return np.stack([c * dx + s * dy, -s * dx + c * dy], axis=-1)


def equal_area_circle(outline: np.ndarray) -> tuple[float, float, float] | None:
    """A polygon as the circle of equal area around its centroid (x, y, radius), or None when
    the outline has no area. Watering zones are circles; gardens draw beds as polygons."""
    pts = np.asarray(outline, float)
    if pts.ndim != 2 or len(pts) < 3:
        return None
    x, y = pts[:, 0], pts[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = abs(cross.sum()) / 2
    if area <= 0:
        return None
    cx = float(((x + np.roll(x, -1)) * cross).sum() / (3 * cross.sum()))
    cy = float(((y + np.roll(y, -1)) * cross).sum() / (3 * cross.sum()))
    return cx, cy, math.sqrt(area / math.pi)
