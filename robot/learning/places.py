"""A memory of places: what each patch of ground was, in the odometry frame, across seasons.

The garden's layout changes slowly while its look changes with the season: the lawn that autumn
leaves cover was lawn all summer. A :class:`PlaceMap` is a coarse top-down grid in the odometry
frame (which starts over at the dock, where every day starts) holding, per map cell, class votes
from the adapter's confident predictions of earlier seasons. Labelling a new season's frame
projects each of its grid cells onto the ground (the camera model) and into the map (the
odometry pose); a cell whose ground the map knows well enough gets a label with
``source="place"``:

- a single class where one class holds at least ``min_share`` of the votes under it;
- else the set {lawn, path} ("traversable") where those two together do — the class is
  uncertain, traversability is not, and the partial-label loss learns from a set;
- else nothing.

Votes are capped per map cell (``cap``): once a cell holds that many, new votes scale the old
ones down, so a long stay in one place does not outweigh the rest of the garden, and the map
follows a slow change of layout. The current season's votes wait in a pending map until the
season ends (:meth:`PlaceMap.commit`): a frame is labelled from *earlier* seasons only, never from
the very predictions it would teach.

A map is bound to its garden and the backbone whose adapter voted; loading one of another
garden or backbone, or a damaged file, raises :class:`PlaceMapError` (docs/places.md).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot.common.atomic import atomic_write_bytes
from robot.common.classes import UNLABELLED, traversable_ids
from robot.common.errors import GardenbotError
from robot.common.geometry import robot_to_world
from robot.common.samples import MAX_SET_CLASSES, set_mask

FORMAT = 1
SOURCE = "place"


class PlaceMapError(GardenbotError, ValueError):
    """A place map that cannot be used: another garden or backbone, or a damaged file."""


@dataclass(frozen=True)
class PlaceConfig:
    """How the memory of places votes and labels (the defaults are the measured ones)."""

    resolution_m: float = 0.2  # side of a map cell
    extent_m: float = 20.0  # the map covers ±extent_m around the dock
    min_confidence: float = 0.9  # a prediction votes only this sure …
    max_novelty: float = 1.0  # … and of ground this familiar to the adapter
    max_range_m: float = 2.5  # cells seeing ground farther ahead neither vote nor get labels
    cap: float = 20.0  # votes a map cell holds at most (older ones scale down)
    min_votes: float = 3.0  # a map cell under a grid cell must hold this many votes …
    min_share: float = 0.95  # … and the label (class or set) this share of them
    samples: int = 4  # n × n ground points per grid cell

    def __post_init__(self) -> None:
        for name in ("resolution_m", "extent_m", "max_range_m", "cap", "min_votes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"places {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 < self.min_confidence <= 1.0 or not 0.5 < self.min_share <= 1.0:
            raise ValueError("places min_confidence must be in (0, 1] and min_share in (0.5, 1]")
        if self.samples < 1:
            raise ValueError(f"places samples must be >= 1, got {self.samples}")


def grid_index(world_xy: np.ndarray, extent_m: float, resolution_m: float, size: int,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, inside): the cells of a top-down grid of ``size`` × ``size`` cells of
    ``resolution_m`` covering ±``extent_m`` around the dock that world points (..., 2) fall in;
    a NaN or off-grid point is not inside (its i, j are 0)."""
    q = (np.asarray(world_xy, float) + extent_m) / resolution_m
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(q).all(-1) & (q >= 0).all(-1) & (q < size).all(-1)
    q = np.where(inside[..., None], q, 0).astype(np.int64)
    return q[..., 0], q[..., 1], inside


def traversable_set(classes: Sequence[str]) -> tuple[int, ...]:
    """The class ids of the traversable set ({lawn, path}) under a class map; () when a set
    label could not hold them."""
    ids = traversable_ids(tuple(classes))
    return ids if len(ids) > 1 and max(ids) < MAX_SET_CLASSES else ()


class PlaceMap:
    """Class votes per map cell, committed (earlier seasons) and pending (this season)."""

    def __init__(self, garden: str, backbone_sha256: str, classes: Sequence[str],
                 cfg: PlaceConfig | None = None) -> None:
        self.garden, self.backbone_sha256 = str(garden), str(backbone_sha256)
        self.classes = tuple(classes)
        self.cfg = cfg or PlaceConfig()
        n = math.ceil(2 * self.cfg.extent_m / self.cfg.resolution_m)
        self.size = n
        self.votes = np.zeros((n, n, len(self.classes)), np.float32)  # committed
        self.pending = np.zeros_like(self.votes)
        self.seasons: list[str] = []  # seasons committed, in order (empty: nothing to label from)

    # --- geometry ---------------------------------------------------------------------------

    def index(self, world_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, inside) map indices of world points (..., 2); NaN or off-map is not inside."""
        return grid_index(world_xy, self.cfg.extent_m, self.cfg.resolution_m, self.size)

    def _world(self, pose: Sequence[float], ground: np.ndarray) -> tuple[np.ndarray, ...]:
        """Map indices of a frame's cell ground samples (h, w, S, 2) seen from ``pose``; cells
        beyond ``max_range_m`` count as off the map."""
        near = np.hypot(ground[..., 0], ground[..., 1]) <= self.cfg.max_range_m
        world = robot_to_world(ground, tuple(pose))
        i, j, inside = self.index(world)
        return i, j, inside & near

    # --- voting -----------------------------------------------------------------------------

    def vote(self, pose: Sequence[float], ground: np.ndarray, predicted: np.ndarray,
             confidence: np.ndarray, novelty: np.ndarray | None = None) -> int:
        """Add one frame's confident predictions to the pending votes; the number of grid
        cells that voted. ``ground`` (h, w, S, 2) robot-frame ground samples per cell.

        A cell votes only when the adapter is sure of it and it is not novel: on a new season's
        ground the adapter is confidently wrong (autumn leaves on lawn called "plant"), and the
        memory must not learn that the lawn moved."""
        if not np.isfinite(np.asarray(pose, float)).all():
            return 0
        i, j, inside = self._world(pose, ground)
        sure = (confidence >= self.cfg.min_confidence) & (predicted < len(self.classes))
        if novelty is not None:
            sure &= novelty <= self.cfg.max_novelty
        whole = inside.all(-1) & sure  # a cell votes only where all its ground is on the map
        if not whole.any():
            return 0
        s = ground.shape[-2]
        cls = np.broadcast_to(predicted[..., None], i.shape)
        np.add.at(self.pending, (i[whole], j[whole], cls[whole].astype(np.int64)), 1.0 / s)
        # only the map cells just voted on can be over the cap (the whole map: ~10× slower)
        touched = np.unique(i[whole] * self.size + j[whole])
        flat = self.pending.reshape(-1, self.pending.shape[-1])
        part = flat[touched]
        _cap(part, self.cfg.cap)
        flat[touched] = part
        return int(whole.sum())

    def commit(self, season: str = "") -> None:
        """The season's votes join the memory (the season ended: the robot is back at the
        dock)."""
        self.votes += self.pending
        _cap(self.votes, self.cfg.cap)
        self.pending[:] = 0
        season = season or "unknown"  # the list also says that the memory holds a day now
        if not self.seasons or self.seasons[-1] != season:
            self.seasons.append(season)  # seasons in the order they came; a day adds one once

    @property
    def known_cells(self) -> int:
        return int((self.votes.sum(-1) >= self.cfg.min_votes).sum())

    # --- labelling --------------------------------------------------------------------------

    def labels(self, pose: Sequence[float], ground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the committed memory says about each grid cell seen from ``pose``:
        ``(labels, allowed)`` (h, w) — a class id (allowed 0), a set bitmask (labels 255), or
        nothing (255, 0)."""
        h, w = ground.shape[:2]
        labels = np.full((h, w), UNLABELLED, np.uint8)
        allowed = np.zeros((h, w), np.uint16)
        if not np.isfinite(np.asarray(pose, float)).all():
            return labels, allowed
        i, j, inside = self._world(pose, ground)
        v = self.votes[i, j]  # (h, w, S, K)
        total = v.sum(-1)
        # every sample of the cell must fall on well-known ground: a cell half on the map is
        # an edge case the map cannot vouch for
        known = (inside & (total >= self.cfg.min_votes)).all(-1)
        share = v / np.maximum(total, 1e-9)[..., None]
        # the weakest of the cell's samples decides: one doubtful patch under it, no label
        best = share.min(-2)  # (h, w, K): each class's lowest share over the samples
        cls = best.argmax(-1)
        single = known & (best.max(-1) >= self.cfg.min_share)
        labels[single] = cls[single]
        trav = traversable_set(self.classes)
        if trav:
            trav_share = share[..., list(trav)].sum(-1).min(-1)
            as_set = known & ~single & (trav_share >= self.cfg.min_share)
            allowed[as_set] = set_mask(trav)
        return labels, allowed

    # --- persistence ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        meta = {"format": FORMAT, "garden": self.garden, "backbone_sha256": self.backbone_sha256,
                "classes": list(self.classes), "resolution_m": self.cfg.resolution_m,
                "extent_m": self.cfg.extent_m, "cap": self.cfg.cap, "seasons": self.seasons}
        buf = io.BytesIO()
        np.savez_compressed(buf, votes=self.votes, meta=np.frombuffer(
            json.dumps(meta).encode(), np.uint8))
        return buf.getvalue()

    def save(self, path: str | Path) -> None:
        """Write the committed memory (atomically: a power cut leaves the old map or the new)."""
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, garden: str, backbone_sha256: str, classes: Sequence[str],
             cfg: PlaceConfig | None = None) -> PlaceMap:
        """The map at ``path``, checked to be of ``garden`` and ``backbone_sha256``."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                votes = np.asarray(z["votes"], np.float32)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise PlaceMapError(f"{path}: not a readable place map ({e}); move it away to start "
                                "a new one") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise PlaceMapError(f"{path}: unknown place map format {meta.get('format')!r}"
                                if isinstance(meta, dict) else f"{path}: damaged header")
        if meta.get("garden") != str(garden):
            raise PlaceMapError(f"{path}: a place map of garden {meta.get('garden')!r}, not of "
                                f"{garden!r}; places differ between gardens")
        if meta.get("backbone_sha256") != str(backbone_sha256):
            raise PlaceMapError(f"{path}: a place map of backbone "
                                f"{str(meta.get('backbone_sha256'))[:12]}…, not of "
                                f"{str(backbone_sha256)[:12]}…")
        if tuple(meta.get("classes", ())) != tuple(classes):
            raise PlaceMapError(f"{path}: classes {meta.get('classes')} differ from "
                                f"{list(classes)}")
        base = cfg or PlaceConfig()
        cfg = PlaceConfig(**{**base.__dict__, "resolution_m": float(meta["resolution_m"]),
                             "extent_m": float(meta["extent_m"]), "cap": float(meta["cap"])})
        out = cls(garden, backbone_sha256, classes, cfg)
        if votes.shape != out.votes.shape or not np.isfinite(votes).all() or (votes < 0).any():
            raise PlaceMapError(f"{path}: votes of shape {votes.shape} (expected "
                                f"{out.votes.shape}) or not finite and >= 0: a damaged map")
        out.votes = votes
        out.seasons = [str(s) for s in meta.get("seasons", [])]
        return out


def _cap(votes: np.ndarray, cap: float) -> None:
    """Scale every map cell holding more than ``cap`` votes down to ``cap`` (in place)."""
    total = votes.sum(-1, keepdims=True)
    over = total > cap
    if over.any():
        np.divide(votes * cap, total, out=votes, where=over)


def label_precision(labels: np.ndarray, allowed: np.ndarray, truth: np.ndarray,
                    ) -> tuple[int, int]:
    """(checked, correct) of labels against a frame's true cell classes: a single label is
    right when it is the true class, a set label when the true class is in the set; cells
    without a label or without a true class (255, mixed) are not checked."""
    truth = np.asarray(truth)
    single = (allowed == 0) & (labels != UNLABELLED)
    is_set = allowed != 0
    known = truth != UNLABELLED
    t = np.where(known, truth, 0).astype(np.int64)
    in_set = (allowed.astype(np.int64) >> np.minimum(t, MAX_SET_CLASSES - 1)) & 1
    in_set = in_set.astype(bool) & (t < MAX_SET_CLASSES)
    checked = known & (single | is_set)
    correct = checked & ((single & (labels == truth)) | (is_set & in_set))
    return int(checked.sum()), int(correct.sum())


class DriftedOdometry:
    """Odometry with an added heading error that grows with distance travelled — what unequal
    wheel diameters do — to measure how drift hurts the memory of places (a simulation knob;
    0 leaves the poses as they come)."""

    def __init__(self, heading_bias_deg_per_m: float = 0.0, alternate: bool = False) -> None:
        self.bias = math.radians(heading_bias_deg_per_m)
        # A bias that repeats along a repeated route bends the map and the new day's poses
        # alike, and cancels; one that changes sign each day (tyre pressure, a wet lawn) is the
        # worst case for a memory built on one day and read on the next.
        self.alternate = alternate
        self._last: tuple[float, float, float] | None = None
        self._pose: tuple[float, float, float] | None = None

    def reset(self) -> None:
        """A new day from the dock: the pose starts over on the truth."""
        if self.alternate and (self._last is not None):
            self.bias = -self.bias
        self._last = None
        self._pose = None

    def update(self, pose: Sequence[float]) -> tuple[float, float, float]:
        x, y, th = (float(v) for v in pose)
        if self.bias == 0.0:
            return x, y, th
        if self._last is None or self._pose is None:
            self._last, self._pose = (x, y, th), (x, y, th)
            return self._pose
        lx, ly, lth = self._last
        dx, dy = x - lx, y - ly
        # the step in the robot's frame at the last odometry pose, replayed from the drifted one
        along = math.cos(lth) * dx + math.sin(lth) * dy
        across = -math.sin(lth) * dx + math.cos(lth) * dy
        px, py, pth = self._pose
        pth_new = pth + (th - lth) + self.bias * math.hypot(dx, dy)
        self._pose = (px + math.cos(pth) * along - math.sin(pth) * across,
                      py + math.sin(pth) * along + math.cos(pth) * across, pth_new)
        self._last = (x, y, th)
        return self._pose
