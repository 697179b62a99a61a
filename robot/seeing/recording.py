"""The recording format: what the robot writes live and what the desktop simulation replays.

A recording is a folder (format described in docs/recording.md)::

    meta.json        format version, fps, resolution, camera, class map, season, source
    video.mp4        the camera frames (BGR), readable and writable by OpenCV
    frames.jsonl     one line per frame: {"i": index, "t": seconds}
    labels/NNNNNN.png  optional per-frame label maps: one channel, class id, 255 = unlabelled
    telemetry.jsonl  timestamped robot state: odometry and pose, bumper, slip, moisture, ...

The reader streams frames and never holds the whole video; every problem it finds is a
:class:`RecordingError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robot.common.atomic import atomic_write_json
from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.errors import RecordingError
from robot.common.geometry import CameraModel
from robot.seeing.video import video_capture, video_writer

log = logging.getLogger(__name__)

FORMAT_NAME = "gardenbot-recording"
FORMAT_VERSION = 1

META_FILE = "meta.json"
VIDEO_FILE = "video.mp4"
FRAMES_FILE = "frames.jsonl"
TELEMETRY_FILE = "telemetry.jsonl"
LABELS_DIR = "labels"
_LABEL_NAME = re.compile(r"^(\d{6,})\.png$")


@dataclass(frozen=True)
class RecordingMeta:
    fps: float
    width: int
    height: int
    camera: CameraModel
    classes: tuple[str, ...] = DEFAULT_CLASSES
    season: str | None = None
    source: dict[str, Any] = field(default_factory=lambda: {"kind": "robot", "robot_id": None})
    frame_count: int | None = None  # None while the recording is still being written
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "camera": self.camera.to_dict(),
            "classes": list(self.classes),
            "season": self.season,
            "source": self.source,
            "created": self.created,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = META_FILE) -> RecordingMeta:
        if d.get("format") != FORMAT_NAME:
            raise RecordingError(f"{where}: not a gardenbot recording (format={d.get('format')!r})")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise RecordingError(
                f"{where}: format_version {version!r} is not supported (this reader reads "
                f"{FORMAT_VERSION})"
            )
        try:
            meta = cls(
                fps=float(d["fps"]),
                width=int(d["width"]),
                height=int(d["height"]),
                camera=CameraModel.from_dict(d["camera"]),
                classes=tuple(str(c) for c in d["classes"]),
                season=d.get("season"),
                source=dict(d.get("source") or {}),
                frame_count=None if d.get("frame_count") is None else int(d["frame_count"]),
                created=str(d.get("created", "")),
                extra=dict(d.get("extra") or {}),
                format_version=int(version),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RecordingError(f"{where}: missing or invalid field: {e!r}") from e
        if not (meta.fps > 0 and meta.width > 0 and meta.height > 0):
            raise RecordingError(f"{where}: fps, width and height must be positive")
        if not meta.classes or len(meta.classes) >= UNLABELLED:
            raise RecordingError(f"{where}: class map must hold 1..254 classes")
        return meta


@dataclass(frozen=True)
class Frame:
    index: int
    t: float
    image: np.ndarray  # (H, W, 3) uint8 BGR
    labels: np.ndarray | None  # (H, W) uint8 class ids, 255 = unlabelled; None if not labelled


class Recording:
    """A recording folder opened for reading. Cheap to open; frames are decoded on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise RecordingError(f"{self.path}: recording folder does not exist")
        self.meta = _read_meta(self.path / META_FILE)
        self.frame_times = _read_frame_times(self.path / FRAMES_FILE)
        count = self.meta.frame_count
        if count is None:
            log.warning("%s: frame_count missing (recording not closed); trusting %s",
                        self.path / META_FILE, FRAMES_FILE)
            count = len(self.frame_times)
        elif len(self.frame_times) != count:
            raise RecordingError(
                f"{self.path / FRAMES_FILE}: {len(self.frame_times)} frames listed but meta.json "
                f"says {count}"
            )
        self._count = count
        self._check_video()
        self.labelled: tuple[int, ...] = self._find_labels()

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"Recording({str(self.path)!r}, {len(self)} frames, season={self.meta.season!r})"

    @property
    def duration_s(self) -> float:
        return float(self.frame_times[-1] - self.frame_times[0]) if self._count else 0.0

    def _check_video(self) -> None:
        video = self.path / VIDEO_FILE
        if not video.is_file():
            raise RecordingError(f"{video}: video file is missing")
        cap = video_capture(str(video))
        try:
            if not cap.isOpened():
                raise RecordingError(f"{video}: cannot be decoded (truncated or not a video)")
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if (w, h) != (self.meta.width, self.meta.height):
                raise RecordingError(
                    f"{video}: resolution {w}x{h} differs from meta.json "
                    f"{self.meta.width}x{self.meta.height}"
                )
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if n > 0 and n < self._count:
                raise RecordingError(
                    f"{video}: truncated: the container holds {n} frames, {self._count} expected"
                )
        finally:
            cap.release()

    def _find_labels(self) -> tuple[int, ...]:
        folder = self.path / LABELS_DIR
        if not folder.is_dir():
            return ()
        found = []
        for p in folder.iterdir():
            m = _LABEL_NAME.match(p.name)
            if not m:
                continue
            i = int(m.group(1))
            if i >= self._count:
                if self.meta.frame_count is None:
                    # An unclosed recording (crash) may hold a label whose frames.jsonl line
                    # never landed (writers older than the frame-line-first order).
                    log.warning("%s: label map for frame %d beyond the %d listed frames of an "
                                "unclosed recording; ignored", p, i, self._count)
                    continue
                raise RecordingError(f"{p}: label map for frame {i}, but there are {self._count}")
            found.append(i)
        return tuple(sorted(found))

    def labels(self, index: int) -> np.ndarray | None:
        """The label map of frame ``index``, or None if that frame is not labelled."""
        p = self.path / LABELS_DIR / f"{index:06d}.png"
        if not p.is_file():
            return None
        lab = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if lab is None:
            raise RecordingError(f"{p}: label map cannot be decoded (corrupt PNG)")
        if lab.dtype != np.uint8 or lab.shape != (self.meta.height, self.meta.width):
            raise RecordingError(
                f"{p}: label map must be one uint8 channel of {self.meta.height}x"
                f"{self.meta.width}, got {lab.dtype} {lab.shape}"
            )
        bad = (lab != UNLABELLED) & (lab >= len(self.meta.classes))
        if bad.any():
            raise RecordingError(
                f"{p}: class id {int(lab[bad][0])} is outside the class map "
                f"({len(self.meta.classes)} classes)"
            )
        return lab

    def frames(
        self, start: int = 0, stop: int | None = None, step: int = 1, labelled_only: bool = False,
    ) -> Iterator[Frame]:
        """Stream frames ``start:stop:step`` in order, decoding one at a time."""
        stop = self._count if stop is None else min(stop, self._count)
        if not (start >= 0 and step >= 1):
            raise ValueError("start must be >= 0 and step >= 1")
        wanted = set(self.labelled) if labelled_only else None
        video = self.path / VIDEO_FILE
        cap = video_capture(str(video))
        if not cap.isOpened():
            raise RecordingError(f"{video}: cannot be decoded (truncated or not a video)")
        try:
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            for i in range(start, stop):
                take = (i - start) % step == 0 and (wanted is None or i in wanted)
                ok = cap.grab()
                if not ok:
                    raise RecordingError(
                        f"{video}: truncated or corrupt: frame {i} of {self._count} cannot be "
                        "decoded"
                    )
                if not take:
                    continue
                ok, image = cap.retrieve()
                if not ok or image is None:
                    raise RecordingError(f"{video}: frame {i} cannot be decoded (corrupt)")
                yield Frame(i, float(self.frame_times[i]), image, self.labels(i))
        finally:
            cap.release()

    def telemetry(self) -> list[dict[str, Any]]:
        """All telemetry records, in time order (a few KB per minute: fine to hold)."""
        return list(iter_jsonl(self.path / TELEMETRY_FILE, required=("t",), allow_missing=True))


class RecordingWriter:
    """Writes a recording as frames arrive; safe to stop at any time.

    meta.json is written at open (frame_count unset) and again at close; frames.jsonl and
    telemetry.jsonl are appended line by line, so a power cut loses at most the last line.
    """

    def __init__(
        self, path: str | os.PathLike[str], meta: RecordingMeta, overwrite: bool = False,
        fourcc: str = "mp4v",
    ) -> None:
        self.path = Path(path)
        if (self.path / META_FILE).exists() and not overwrite:
            raise RecordingError(f"{self.path}: a recording already exists here")
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in (VIDEO_FILE, FRAMES_FILE, TELEMETRY_FILE):
            (self.path / stale).unlink(missing_ok=True)
        if (self.path / LABELS_DIR).is_dir():
            for p in (self.path / LABELS_DIR).glob("*.png"):
                p.unlink()
        created = meta.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.meta = replace(meta, frame_count=None, created=created)
        atomic_write_json(self.path / META_FILE, self.meta.to_dict())
        size = (meta.width, meta.height)
        self._video = video_writer(str(self.path / VIDEO_FILE), fourcc, meta.fps, size)
        if not self._video.isOpened():
            raise RecordingError(f"{self.path / VIDEO_FILE}: OpenCV cannot write {fourcc} video")
        self._frames = open(self.path / FRAMES_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._telemetry = open(self.path / TELEMETRY_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._count = 0
        self._last_t = -math.inf
        self._closed = False

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def frame_count(self) -> int:
        return self._count

    def add_frame(
        self, image: np.ndarray, t: float | None = None, labels: np.ndarray | None = None,
    ) -> int:
        """Append one BGR frame (and optionally its label map); returns its index."""
        self._check_open()
        h, w = self.meta.height, self.meta.width
        if image.dtype != np.uint8 or image.shape != (h, w, 3):
            raise ValueError(f"frame must be uint8 ({h}, {w}, 3), got {image.dtype} {image.shape}")
        t = self._count / self.meta.fps if t is None else float(t)
        if not t >= self._last_t:
            raise ValueError(f"frame time {t} goes backwards (last {self._last_t})")
        i = self._count
        # Check and encode the labels before anything is written, so a bad label map
        # leaves no half-added frame behind.
        png = None if labels is None else self._encode_labels(i, labels)
        self._video.write(image)
        self._frames.write(json.dumps({"i": i, "t": round(t, 6)}) + "\n")
        self._frames.flush()
        self._count += 1
        self._last_t = t
        # The label PNG goes after the frames.jsonl line: a crash in between leaves a listed
        # frame without labels (allowed: labels are sparse), never a label for an unlisted one.
        if png is not None:
            self._write_labels(i, png)
        return i

    def _encode_labels(self, i: int, labels: np.ndarray) -> bytes:
        h, w = self.meta.height, self.meta.width
        if labels.dtype != np.uint8 or labels.shape != (h, w):
            raise ValueError(f"labels must be uint8 ({h}, {w}), got {labels.dtype} {labels.shape}")
        bad = (labels != UNLABELLED) & (labels >= len(self.meta.classes))
        if bad.any():
            raise ValueError(f"label id {int(labels[bad][0])} is outside the class map")
        ok, png = cv2.imencode(".png", labels)
        if not ok:
            raise RecordingError(f"{self.path / LABELS_DIR}: cannot encode label map {i}")
        return png.tobytes()

    def _write_labels(self, i: int, png: bytes) -> None:
        folder = self.path / LABELS_DIR
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{i:06d}.png.tmp"
        tmp.write_bytes(png)
        os.replace(tmp, folder / f"{i:06d}.png")

    def add_telemetry(self, record: dict[str, Any]) -> None:
        """Append one telemetry record; it must carry a time ``t`` in seconds."""
        self._check_open()
        if not isinstance(record.get("t"), (int, float)):
            raise ValueError("telemetry record needs a numeric 't' (seconds)")
        self._telemetry.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._telemetry.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._video.release()
        for f in (self._frames, self._telemetry):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        self.meta = replace(self.meta, frame_count=self._count)
        atomic_write_json(self.path / META_FILE, self.meta.to_dict())

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(f"{self.path}: recording writer is closed")


def iter_jsonl(
    path: Path, required: tuple[str, ...] = (), allow_missing: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield JSON objects from a JSON-lines file whose ``t`` never decreases.

    A last line cut short by a power cut (no newline, not JSON) is skipped with a warning;
    any other bad line is an error naming the file and line.
    """
    if not path.is_file():
        if allow_missing:
            return
        raise RecordingError(f"{path}: file is missing")
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    torn_tail = bool(lines) and lines[-1] != b""
    last_t = -math.inf
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if torn_tail and n == len(lines):
                log.warning("%s: line %d cut short (power cut?); ignored", path, n)
                return
            raise RecordingError(f"{path}: line {n} is not valid JSON: {e}") from e
        if not isinstance(obj, dict):
            raise RecordingError(f"{path}: line {n} is not a JSON object")
        for key in required:
            if key not in obj:
                raise RecordingError(f"{path}: line {n} lacks {key!r}")
        t = obj.get("t")
        if t is not None:
            if not isinstance(t, (int, float)) or not math.isfinite(t):
                raise RecordingError(f"{path}: line {n}: 't' must be a finite number")
            if t < last_t:
                raise RecordingError(f"{path}: line {n}: time goes backwards ({t} < {last_t})")
            last_t = t
        yield obj


def _read_meta(path: Path) -> RecordingMeta:
    if not path.is_file():
        raise RecordingError(f"{path}: meta.json is missing (not a recording folder?)")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordingError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(d, dict):
        raise RecordingError(f"{path}: must hold a JSON object")
    return RecordingMeta.from_dict(d, where=str(path))


def _read_frame_times(path: Path) -> np.ndarray:
    times = []
    for n, obj in enumerate(iter_jsonl(path, required=("i", "t")), start=0):
        if obj["i"] != n:
            raise RecordingError(f"{path}: frame {n} is listed as {obj['i']!r}")
        times.append(float(obj["t"]))
    return np.asarray(times, dtype=np.float64)
