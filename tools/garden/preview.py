"""A contact sheet of the seasons: one row per season, frames with their label overlay beside.

Every row shows the same gardens from the same robot poses, so a person sees one place change
through the year and can check that the labels sit on what the picture shows.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from robot.common.classes import DEFAULT_CLASSES, SEASONS, UNLABELLED, class_colour
from robot.common.geometry import world_to_robot
from tools.garden.camera_fx import CameraEffects
from tools.garden.generate import default_camera
from tools.garden.layout import make_garden, parse_garden_id
from tools.garden.render import GardenRenderer
from tools.garden.season import season_look
from tools.garden.trajectory import drive
from tools.garden.world import build_world

HEADER_PX = 26
OBSTACLE = DEFAULT_CLASSES.index("obstacle")
PATH = DEFAULT_CLASSES.index("path")
DEFAULT_GARDENS = ("g06", "g02", "g07")
# The close-up shows a pot or a stone: a toy ball or block may wear any colour, magenta too,
# and a magenta thing in the frame reads as the legend's "plant" beside it.
STANDING_KINDS = ("pot", "stone")


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with each pixel tinted by its class colour (unlabelled pixels left as they are)."""
    lut = np.zeros((256, 3), np.uint8)
    for k, name in enumerate(DEFAULT_CLASSES):
        lut[k] = class_colour(name)
    tinted = cv2.addWeighted(image, 1.0 - alpha, lut[labels], alpha, 0.0)
    tinted[labels == UNLABELLED] = image[labels == UNLABELLED]
    # class borders in black so that the fit is easy to judge
    edges = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    tinted[edges] = 0
    return tinted


def preview_poses(
    garden_id: str, count: int, seed: int = 0, standing: bool = False,
) -> list[tuple[float, float, float]]:
    """``count`` poses from a drive through ``garden_id`` that show the most kinds of ground,
    or with ``standing`` the ones where a pot or a stone stands biggest in view (up to 20 %)."""
    garden = make_garden(garden_id)
    rng = np.random.default_rng(np.random.SeedSequence([0x9E7, int(garden.id[1:]), seed]))
    states = drive(garden, season_look("summer", 0, seed), 90.0, 2.0, rng)
    cam = default_camera()
    renderer = GardenRenderer(build_world(garden.id, "summer", 0, seed), cam)
    scored = []
    for i, st in enumerate(states):
        if standing and _boundary_ahead_m(garden, st.pose) < 4.8:
            continue  # the fence would count as the obstacle; we want a pot or a stone
        if standing and _kind_in_view(garden, st.pose, cam) not in STANDING_KINDS:
            continue
        _, labels = renderer.render(st.pose)
        counts = np.bincount(labels.ravel(), minlength=256)[: len(DEFAULT_CLASSES)]
        share = counts / max(counts.sum(), 1)
        if share[OBSTACLE] > (0.2 if standing else 0.15):  # a pot filling the view says little
            continue
        present = share > 0.04
        present[OBSTACLE] = share[OBSTACLE] > 0.015  # a stone far off is still worth showing
        score = present.sum() + 0.5 * present[PATH] + share.min()  # paths show the seasons well
        if standing:
            score = share[OBSTACLE] + 0.01 * present.sum()
        scored.append((float(score), i))
    picks: list[int] = []
    for _score, i in sorted(scored, reverse=True):
        if all(abs(i - j) > 10 for j in picks):  # spread over the drive
            picks.append(i)
        if len(picks) == count:
            break
    return [states[i].pose for i in sorted(picks)]


def _kind_in_view(garden, pose: tuple[float, float, float], cam) -> str | None:
    """The kind of the nearest obstacle in the camera's horizontal field of view."""
    half_fov = math.atan2(cam.width / 2, cam.fx)
    seen = []
    for obstacle in garden.obstacles:
        part = obstacle.parts[0]
        ahead, left = world_to_robot(np.array([part.x_m, part.y_m]), pose)
        if ahead > 0 and abs(math.atan2(left, ahead)) < half_fov:
            seen.append((float(math.hypot(ahead, left)), obstacle.kind))
    return min(seen)[1] if seen else None


def view_titles(ground: list[str], standing: list[str]) -> list[str]:
    """What each frame | labels pair of a row shows, in order (the sheet's header): the
    gardens of the ground views, then those of the standing-obstacle close-ups."""
    return ground + [f"{g}, an obstacle up close" for g in standing]


def _boundary_ahead_m(garden, pose: tuple[float, float, float]) -> float:
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    tx = (garden.width_m - x) / c if c > 1e-9 else (-x / c if c < -1e-9 else math.inf)
    ty = (garden.height_m - y) / s if s > 1e-9 else (-y / s if s < -1e-9 else math.inf)
    return min(tx, ty)


def contact_sheet(gardens: list[str], per_garden: int = 1, seed: int = 0,
                  progress=None) -> np.ndarray:
    """The preview image (BGR uint8): rows = seasons, columns = frame | overlay pairs.

    ``per_garden`` views of each garden chosen for the most kinds of ground, then one view of
    the first garden chosen for a pot or a stone standing in view.
    """
    cam = default_camera()
    ids = [parse_garden_id(g) for g in gardens]
    views = [(g, pose) for g in ids for pose in preview_poses(g, per_garden, seed)]
    standing = [(ids[0], pose) for pose in preview_poses(ids[0], 1, seed, standing=True)]
    titles = view_titles([g for g, _ in views], [g for g, _ in standing])
    views += standing
    rows = []
    for season in SEASONS:
        cells = []
        worlds = {g: build_world(g, season, 0, seed) for g in dict.fromkeys(g for g, _ in views)}
        for g, pose in views:
            world = worlds[g]
            clean, labels = GardenRenderer(world, cam).render(pose)
            fx = CameraEffects(cam.width, cam.height, cam.fx, world.look,
                               np.random.default_rng(seed))
            for _ in range(8):  # let auto-exposure settle on this view
                image = fx.apply(clean, 0.0, 0.0)
            cells += [image, overlay(image, labels)]
            if progress is not None:
                progress(1)
        row = np.hstack(cells)
        _label(row, f"{season}", (6, 22), scale=0.7)
        rows.append(row)
    sheet = np.vstack(rows)
    header = np.full((HEADER_PX, sheet.shape[1], 3), 255, np.uint8)
    x = 8
    for name in DEFAULT_CLASSES:
        cv2.rectangle(header, (x, 6), (x + 14, 20), class_colour(name), -1)
        cv2.putText(header, name, (x + 18, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        x += 30 + 10 * len(name)
    text = "pairs of frame | labels: " + "; ".join(titles)
    cv2.putText(header, text, (x + 20, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([header, sheet])


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
