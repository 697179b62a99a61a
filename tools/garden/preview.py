"""A contact sheet of the seasons: one row per season, frames with their label overlay beside.

Every row shows the same gardens from the same robot poses, so a person sees one place change
through the year and can check that the labels sit on what the picture shows.
"""

from __future__ import annotations

import cv2
import numpy as np

from robot.classes import DEFAULT_CLASSES, SEASONS, UNLABELLED, class_colour
from tools.garden.camera_fx import CameraEffects
from tools.garden.generate import default_camera
from tools.garden.layout import make_garden, parse_garden_id
from tools.garden.render import GardenRenderer
from tools.garden.season import season_look
from tools.garden.trajectory import drive
from tools.garden.world import build_world

HEADER_PX = 26
OBSTACLE = DEFAULT_CLASSES.index("obstacle")


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


def preview_poses(garden_id: str, count: int, seed: int = 0) -> list[tuple[float, float, float]]:
    """``count`` poses from a drive through ``garden_id`` that show the most kinds of ground."""
    garden = make_garden(garden_id)
    rng = np.random.default_rng(np.random.SeedSequence([0x9E7, int(garden.id[1:]), seed]))
    states = drive(garden, season_look("summer", 0, seed), 90.0, 2.0, rng)
    renderer = GardenRenderer(build_world(garden.id, "summer", 0, seed), default_camera())
    scored = []
    for i, st in enumerate(states):
        _, labels = renderer.render(st.pose)
        counts = np.bincount(labels.ravel(), minlength=256)[: len(DEFAULT_CLASSES)]
        share = counts / max(counts.sum(), 1)
        if share[OBSTACLE] > 0.15:  # a pot filling the view says little about the season
            continue
        scored.append((float((share > 0.04).sum() + share.min()), i))
    picks: list[int] = []
    for _score, i in sorted(scored, reverse=True):
        if all(abs(i - j) > 10 for j in picks):  # spread over the drive
            picks.append(i)
        if len(picks) == count:
            break
    return [states[i].pose for i in sorted(picks)]


def contact_sheet(gardens: list[str], per_garden: int = 1, seed: int = 0,
                  progress=None) -> np.ndarray:
    """The preview image (BGR uint8): rows = seasons, columns = frame | overlay pairs."""
    cam = default_camera()
    views = [(parse_garden_id(g), pose) for g in gardens for pose in preview_poses(g, per_garden,
                                                                                   seed)]
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
    text = "gardens " + ", ".join(dict.fromkeys(g for g, _ in views)) + \
        "   (each frame, then its labels)"
    cv2.putText(header, text, (x + 20, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([header, sheet])


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
