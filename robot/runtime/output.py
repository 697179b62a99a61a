"""Loop steps that show or keep what happened: a status line, an annotated video, a window,
and a recording of the camera and telemetry (``gardenbot record``, ``gardenbot run --record``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from robot.acting.config import PolicyConfig
from robot.common.classes import DEFAULT_CLASSES
from robot.common.errors import RecordingError
from robot.common.geometry import CameraModel
from robot.runtime.loop import Tick
from robot.seeing.overlay import render_overlay
from robot.seeing.recording import RecordingMeta, RecordingWriter
from robot.seeing.video import video_writer

log = logging.getLogger(__name__)


class RateMeter:
    """Ticks per second over the last ``window_s`` seconds of wall time."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> float:
        self._times.append(now)
        return self.rate(now)

    def rate(self, now: float) -> float:
        """The rate at ``now``: 0 once no tick came for ``window_s``."""
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)


def rate_text(tick: Tick, fps: float, source: str) -> str:
    """``30.0 fps``, or ``no frames from camera 0`` while none arrive: without a camera the
    loop keeps ticking (and stopping the robot), which must not read as frames coming."""
    if fps == 0.0 and tick.frame is None:
        return f"no frames from {source}"
    return f"{fps:4.1f} fps"


class StatusLine:
    """A one-line status on ``stream`` (stderr): rewritten in place on a terminal, else one
    line per ``period_s``. ``describe(tick, fps)`` says what goes in it; ``fps`` counts the
    ticks that had a frame (0 when none came for 2 s), not the loop's rate."""

    name = "status"

    def __init__(self, describe: Callable[[Tick, float], str], stream: TextIO | None = None,
                 period_s: float | None = None, tty: bool | None = None) -> None:
        self.describe = describe
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.period_s = period_s if period_s is not None else (0.1 if self.tty else 1.0)
        self.meter = RateMeter()
        self.fps = 0.0
        self.lines = 0
        self._next = 0.0
        self._width = 0

    def run(self, tick: Tick) -> None:
        now = time.monotonic()
        if tick.frame is not None:
            self.meter.tick(now)
        self.fps = self.meter.rate(now)
        if now < self._next:
            return
        self._next = now + self.period_s
        self.show(self.describe(tick, self.fps))

    def show(self, text: str) -> None:
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.lines += 1

    def shutdown(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


class OverlayStep:
    """The annotated frame (robot/seeing/overlay.py) to a video file and/or a window.

    ``--show`` without a display (or with an OpenCV built without GUI support, like the pip
    "headless" wheel) logs one warning and carries on without a window.
    """

    name = "overlay"

    def __init__(self, out: Path | None, show: bool, fps: float,
                 caption: Callable[[Tick], str],
                 min_confidence: float = PolicyConfig.min_confidence) -> None:
        self.out = out
        self.show = show and _has_display()
        if show and not self.show:
            log.warning("--show: no display here (DISPLAY is not set); running without a "
                        "window")
        self.fps = fps
        self.caption = caption
        self.min_confidence = min_confidence
        self.frames = 0
        self._writer: Any = None
        self._window = "gardenbot"

    def run(self, tick: Tick) -> None:
        if tick.frame is None or tick.cells is None or not (self.out or self.show):
            return
        image = render_overlay(tick.frame.image, tick.cells, self.caption(tick),
                               self.min_confidence)
        if self.out is not None:
            self._write(image)
        if self.show:
            self._display(image)

    def _write(self, image: np.ndarray) -> None:

        if self._writer is None:
            assert self.out is not None
            self.out.parent.mkdir(parents=True, exist_ok=True)
            h, w = image.shape[:2]
            self._writer = video_writer(str(self.out), "mp4v", self.fps, (w, h))
            if not self._writer.isOpened():
                raise RecordingError(f"{self.out}: OpenCV cannot write an mp4v video here")
        self._writer.write(image)
        self.frames += 1

    def _display(self, image: np.ndarray) -> None:
        import cv2

        try:
            cv2.imshow(self._window, image)
            cv2.waitKey(1)
        except cv2.error as e:
            log.warning("--show: OpenCV cannot open a window (%s); running without one",
                        str(e).strip().splitlines()[-1])
            self.show = False

    def shutdown(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self.show:
            import cv2

            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self._window)
            self.show = False


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class RecorderStep:
    """Camera frames and telemetry records → a recording folder (docs/recording.md).

    The writer opens at the first frame (its size is the recording's); the telemetry step
    passes no records before the first frame. ``meta.extra`` records the watering zones (so that a
    replay can water) and how the robot was set up.
    """

    name = "recorder"

    def __init__(self, path: Path, camera: Callable[[int, int], CameraModel], fps: float,
                 season: str | None = None, extra: dict[str, Any] | None = None,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        if (self.path / "meta.json").exists() and not overwrite:
            raise RecordingError(f"{self.path}: a recording already exists here (choose "
                                 "another --out)")
        self.camera = camera
        self.fps = fps
        self.season = season
        self.extra = extra or {}
        self.overwrite = overwrite
        self.writer: RecordingWriter | None = None

    @property
    def frames(self) -> int:
        return self.writer.frame_count if self.writer is not None else 0

    def run(self, tick: Tick) -> None:
        if tick.frame is not None:
            if self.writer is None:
                self._open(tick.frame.image)
            assert self.writer is not None
            self.writer.add_frame(tick.frame.image, tick.frame.t)
        if self.writer is not None:
            for rec in tick.records:
                self.writer.add_telemetry(rec)

    def _open(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        meta = RecordingMeta(
            fps=self.fps, width=w, height=h, camera=self.camera(w, h), classes=DEFAULT_CLASSES,
            season=self.season, source={"kind": "robot", "robot_id": socket.gethostname()},
            extra=self.extra)
        self.writer = RecordingWriter(self.path, meta, overwrite=self.overwrite)
        log.info("recording to %s (%dx%d at %.1f frames/s)", self.path, w, h, self.fps)

    def shutdown(self) -> None:
        if self.writer is not None:
            self.writer.close()
