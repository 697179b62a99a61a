"""The forward camera's view of a world from a robot pose: a clean image and its label map.

Per frame: the camera's ground grid (fixed in the robot frame) is moved to the pose and used to
remap the ground atlas; rays whose ground point lies outside the garden meet the boundary
instead; then every standing part near the view is ray-cast inside its projected bounding box
and drawn where it is nearer than what is already there (a depth buffer in ray units).
Camera effects (exposure, noise, blur) come afterwards, in ``camera_fx``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from robot.common.classes import UNLABELLED
from robot.common.geometry import CameraModel
from tools.garden.boundary import boundary_hits
from tools.garden.lighting import shade
from tools.garden.noise import periodic_noise, stroke_tile
from tools.garden.objects import Cylinder
from tools.garden.texture import OBSTACLE, RES_M, SNOW
from tools.garden.world import World

SKY_BGR = (235, 205, 170)
_MATERIAL_GRAIN = {"stone": 0.35, "terracotta": 0.12, "plastic": 0.04, "wood": 0.25,
                   "metal": 0.06}


class GardenRenderer:
    """Renders ``world`` through ``camera``; cheap per frame, all set-up done here."""

    def __init__(self, world: World, camera: CameraModel) -> None:
        self.world = world
        self.camera = camera
        v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64) + 0.5
        rays = camera.pixel_rays(u, v)
        self._rays = rays.astype(np.float32)
        rz = rays[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_ground = np.where(rz < -1e-9, -camera.height_m / rz, np.inf)
        self._t_ground = t_ground.astype(np.float32)
        ground = camera.ground_grid()
        self._sees_ground = np.isfinite(ground[..., 0])
        self._sky_possible = not self._sees_ground.all()
        self._gx = np.nan_to_num(ground[..., 0], nan=0.0).astype(np.float32)
        self._gy = np.nan_to_num(ground[..., 1], nan=0.0).astype(np.float32)
        self._grain = periodic_noise(256, 40, np.random.default_rng(7))
        self._detail = _NearDetail(camera, ground)
        g = world.garden
        # a camera whose every ray points down never sees anything above its own height
        ceiling = camera.height_m if rays[..., 2].max() < 0 else np.inf
        self._parts = [p for ob in g.obstacles for p in ob.parts if _bottom(p) < ceiling]
        self._sunlit = [1.0 - world.shadow_at(*_sunward(p, world)) for p in self._parts]
        self._centres = np.array([(p.x_m, p.y_m) for p in self._parts]).reshape(-1, 2)
        self._radii = np.array([p.bounding_radius_m for p in self._parts])
        self._corners = np.array([p.corners() for p in self._parts]).reshape(-1, 8, 3)
        self._half_fov = math.atan2(camera.width / 2, camera.fx)

    def render(self, pose: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """BGR uint8 image (H, W, 3) and class ids (H, W) seen from ``pose`` (x_m, y_m, theta)."""
        w = self.world
        g = w.garden
        x, y, th = pose
        c, s = math.cos(th), math.sin(th)
        cam_xy = (x + c * self.camera.forward_offset_m, y + s * self.camera.forward_offset_m)
        wx = x + c * self._gx - s * self._gy
        wy = y + s * self._gx + c * self._gy
        map_x = wx * (1.0 / RES_M) - 0.5
        map_y = wy * (1.0 / RES_M) - 0.5
        depth = self._t_ground.copy()
        out = (wx < 0) | (wy < 0) | (wx > g.width_m) | (wy > g.height_m)
        if self._sky_possible:
            out |= ~self._sees_ground
        sky = None
        if out.any():
            rays = self._rays[out]
            dirs = np.stack([c * rays[:, 0] - s * rays[:, 1], s * rays[:, 0] + c * rays[:, 1],
                             rays[:, 2]], -1)
            origin = np.array([cam_xy[0], cam_xy[1], self.camera.height_m])
            t, side, along, z = boundary_hits(g, origin, dirs)
            top = g.boundary_height_m
            rows = np.asarray(w.strip_rows, np.float32)[side] + (top - z) * (1.0 / RES_M) - 0.5
            map_x[out] = along * (1.0 / RES_M) - 0.5
            map_y[out] = rows
            depth[out] = t
            above = z > top
            if above.any():
                sky = np.zeros(out.shape, bool)
                sky[out] = above
        fixed, frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)  # faster bilinear remap
        image = cv2.remap(w.atlas, fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        labels = cv2.remap(w.atlas_classes, map_x, map_y, cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REPLICATE)
        self._detail.apply(image, labels, wx, wy)
        if sky is not None:
            image[sky] = SKY_BGR
            labels[sky] = UNLABELLED
            depth[sky] = np.inf
        self._draw_parts(pose, image, labels, depth)
        return image, labels

    def _draw_parts(self, pose, image: np.ndarray, labels: np.ndarray, depth: np.ndarray) -> None:
        cam = self.camera
        origin = cam.position.astype(np.float32)
        th = pose[2]
        c, s = math.cos(th), math.sin(th)
        sun_w = self.world.look.light.sun_direction
        sun_r = np.array([c * sun_w[0] + s * sun_w[1], -s * sun_w[0] + c * sun_w[1], sun_w[2]],
                         np.float32)
        snow = self.world.look.snow_lawn > 0
        candidates = self._candidates(pose)
        for k, box in zip(candidates, self._pixel_boxes(candidates, pose), strict=True):
            if box is None:
                continue
            part, sunlit = self._parts[k], self._sunlit[k]
            local = part.in_frame(pose)
            v0, v1, u0, u1 = box
            rays = self._rays[v0:v1, u0:u1]
            t, normals, top = local.hit(origin, rays)
            near = t < depth[v0:v1, u0:u1]
            if not near.any():
                continue
            n = normals[near].astype(np.float32)
            albedo = np.empty((len(n), 3), np.float32)
            albedo[:] = part.colour
            if isinstance(part, Cylinder):
                albedo[top[near]] = part.top_colour
            hits = origin + t[near][:, None] * rays[near]
            grain = self._grain_at(hits, pose)
            albedo *= (1.0 + _MATERIAL_GRAIN.get(part.material, 0.1) * (grain - 0.5) * 2)[:, None]
            if snow:
                cap = np.clip((n[:, 2] - 0.55) * 4.0, 0, 1)[:, None]
                albedo += (SNOW - albedo) * cap
            lit = shade(albedo, n, sun_r, self.world.look.light, sunlit)
            region = image[v0:v1, u0:u1]
            region[near] = np.clip(lit, 0, 255).astype(np.uint8)
            labels[v0:v1, u0:u1][near] = OBSTACLE
            depth[v0:v1, u0:u1][near] = t[near]

    def _candidates(self, pose) -> np.ndarray:
        """Indices of the parts that may be in view: in front and inside the horizontal FOV."""
        if not len(self._parts):
            return np.zeros(0, int)
        x, y, th = pose
        c, s = math.cos(th), math.sin(th)
        dx = self._centres[:, 0] - x
        dy = self._centres[:, 1] - y
        fx = c * dx + s * dy - self.camera.forward_offset_m
        fy = -s * dx + c * dy
        dist = np.hypot(fx, fy)
        r = self._radii
        ahead = fx + r > 0.0
        angle = np.abs(np.arctan2(fy, fx))
        spread = np.arcsin(np.clip(r / np.maximum(dist, 1e-6), 0.0, 1.0))
        near = dist <= r + 0.05
        return np.nonzero(ahead & ((angle - spread <= self._half_fov + 0.02) | near))[0]

    def _pixel_boxes(self, idx: np.ndarray, pose) -> list[tuple[int, int, int, int] | None]:
        """Image rows/cols (v0, v1, u0, u1) that may show each part, or None if none can."""
        if not len(idx):
            return []
        cam = self.camera
        x, y, th = pose
        c, s = math.cos(th), math.sin(th)
        pts = self._corners[idx]
        dx, dy = pts[..., 0] - x, pts[..., 1] - y
        local = np.stack([c * dx + s * dy, -s * dx + c * dy, pts[..., 2]], -1)
        uv, depth = cam.points_to_pixels(local)
        boxes: list[tuple[int, int, int, int] | None] = []
        for k in range(len(idx)):
            d = depth[k]
            if (d <= 0.02).all():
                boxes.append(None)
                continue
            if (d <= 0.02).any():  # straddles the camera plane: test every pixel
                boxes.append((0, cam.height, 0, cam.width))
                continue
            u, v = uv[k, :, 0], uv[k, :, 1]
            u0, u1 = max(math.floor(u.min()), 0), min(math.ceil(u.max()) + 1, cam.width)
            v0, v1 = max(math.floor(v.min()), 0), min(math.ceil(v.max()) + 1, cam.height)
            boxes.append((v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None)
        return boxes

    def _grain_at(self, hits_robot: np.ndarray, pose) -> np.ndarray:
        """A world-fixed noise value per surface point, so that texture does not swim."""
        x, y, th = pose
        c, s = math.cos(th), math.sin(th)
        wx = x + c * hits_robot[:, 0] - s * hits_robot[:, 1]
        wy = y + s * hits_robot[:, 0] + c * hits_robot[:, 1]
        u = ((wx + 0.7 * wy) * 200).astype(np.int64) % 256
        v = ((hits_robot[:, 2] + 0.3 * wy) * 200).astype(np.int64) % 256
        return self._grain[v, u]


class _NearDetail:
    """Fine ground detail where the camera sees more than the 1 cm texture holds.

    Near the robot a texture pixel covers several image pixels and would look smeared; there a
    world-fixed millimetre pattern (blades for lawn and plants, grit for soil and paths) modulates
    the image, fading out where the texture is sharp enough on its own. One periodic tile per
    class, pre-scaled by that class's depth, is stacked into an atlas so that a single remap
    fetches the right pattern for every pixel.
    """

    RES_M = 0.0025
    TILE = 256
    # modulation depth per class id (lawn, path, soil, plant, obstacle): blades, grit
    DEPTH = ((0.55, 0.0), (0.0, 0.3), (0.0, 0.45), (0.35, 0.0), (0.0, 0.0))

    def __init__(self, camera: CameraModel, ground: np.ndarray) -> None:
        step_v = np.linalg.norm(np.diff(ground, axis=0), axis=-1)
        step_u = np.linalg.norm(np.diff(ground, axis=1), axis=-1)
        footprint = np.sqrt(step_v[:, :-1] * step_u[:-1, :])
        footprint = np.pad(footprint, ((0, 1), (0, 1)), mode="edge")
        weight = np.clip((RES_M / np.nan_to_num(footprint, nan=1.0) - 1.0) / 1.5, 0.0, 1.0)
        rows = np.nonzero(weight.max(1) > 0.02)[0]
        self.v0 = int(rows[0]) if len(rows) else camera.height
        self.weight2 = (2.0 * weight[self.v0 :]).astype(np.float32)
        rng = np.random.default_rng(11)
        blades = stroke_tile(9, (70.0, 90.0, 110.0, 80.0), rng, size=self.TILE)
        grit = (periodic_noise(self.TILE, 90, rng) * 0.5
                + rng.random((self.TILE, self.TILE), dtype=np.float32) * 0.5)
        patterns = (blades - blades.mean(), grit - grit.mean())
        n = self.TILE + 2  # one wrapped pixel on each side keeps bilinear sampling seamless
        atlas = np.zeros((len(self.DEPTH) * n, n), np.float32)
        for k, depth in enumerate(self.DEPTH):
            tile = depth[0] * patterns[0] + depth[1] * patterns[1]
            atlas[k * n : (k + 1) * n] = np.pad(tile, 1, mode="wrap")
        self.atlas = atlas
        # atlas row of each class id's tile (+1 for the wrapped border); unknown ids: last tile
        classes = np.minimum(np.arange(256), len(self.DEPTH) - 1)
        self.row_offset = (classes * n + 1.0).astype(np.float32)

    def apply(self, image: np.ndarray, labels: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> None:
        v0 = self.v0
        if v0 >= image.shape[0]:
            return
        scale = 1.0 / self.RES_M
        tile = float(self.TILE)
        mx = wx[v0:] * scale
        mx -= np.floor(mx * (1.0 / tile)) * tile - 1.0  # np.mod is ten times slower
        my = wy[v0:] * scale
        my -= np.floor(my * (1.0 / tile)) * tile
        my += self.row_offset[labels[v0:]]
        fixed, frac = cv2.convertMaps(mx, my, cv2.CV_16SC2)  # the fast fixed-point remap path
        detail = cv2.remap(self.atlas, fixed, frac, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        detail *= self.weight2
        detail += 1.0
        region = image[v0:]
        region[:] = cv2.multiply(region, cv2.merge((detail, detail, detail)), dtype=cv2.CV_8U)


def _bottom(part) -> float:
    return float(part.z0_m) if hasattr(part, "z0_m") else part.z_m - part.half_height_m


def _sunward(part, world: World) -> tuple[float, float]:
    """A ground point just beside ``part`` on the sun's side: shaded there means shaded here."""
    d = world.look.light.sun_direction
    n = math.hypot(d[0], d[1]) or 1.0
    r = part.bounding_radius_m + 0.05
    return part.x_m + r * d[0] / n, part.y_m + r * d[1] / n
