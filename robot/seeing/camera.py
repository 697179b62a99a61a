"""Frame sources: a live camera, a video file, a recording folder, and a frame-rate limiter.

Every source answers ``read_frame()`` with a :class:`CameraFrame` or None, ``read()`` with
OpenCV's ``(ok, image, t)``, iterates over its frames, and closes safely twice.

A live camera never raises once constructed: a failed read, a corrupt frame or an unplugged
camera returns "no frame" while the source reopens the device with exponential back-off. Each
outage is logged once when it starts (WARNING) and once when it ends (INFO), never per frame.
The device is reached only through a capture factory (OpenCV by default), so tests inject a
fake one — there is no camera on a CI machine.
"""

from __future__ import annotations

import abc
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from robot.common.errors import CameraError, RecordingError
from robot.seeing.video import video_capture

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraFrame:
    index: int  # the source's frame number (dropped frames leave gaps)
    t: float  # seconds: recorded time, video position, or time.monotonic() for a live camera
    image: np.ndarray  # (H, W, 3) uint8 BGR
    labels: np.ndarray | None = None  # (H, W) class ids from a recording; 255 = unlabelled


class FrameSource(Protocol):
    name: str

    @property
    def finished(self) -> bool:
        """True once a finite source (file, recording) has no more frames. Live: never."""

    def read_frame(self) -> CameraFrame | None:
        """The next frame, or None: no frame now (live outage) or the end (see ``finished``)."""

    def read(self) -> tuple[bool, np.ndarray | None, float]: ...

    def __iter__(self) -> Iterator[CameraFrame]: ...

    def close(self) -> None: ...


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a live camera uses; fakes implement the same."""

    def isOpened(self) -> bool: ...  # OpenCV's name

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[int | str], Capture]


@dataclass
class SourceStats:
    frames: int = 0  # delivered
    corrupt: int = 0  # read but unusable (empty, wrong shape or type)
    failed_reads: int = 0
    outages: int = 0
    reconnects: int = 0
    rate_dropped: int = 0  # skipped by a RateLimited wrapper


class _Source(abc.ABC):
    """Shared plumbing: ``read()``, iteration, context manager. Subclasses give read_frame()."""

    name = "source"
    stats: SourceStats
    _finished = False  # a finite source sets it at its end; a live camera never does

    @property
    def finished(self) -> bool:
        return self._finished

    @abc.abstractmethod
    def read_frame(self) -> CameraFrame | None:
        """The next frame, or None when there is none now (or none ever again: ``finished``)."""

    def read(self) -> tuple[bool, np.ndarray | None, float]:
        f = self.read_frame()
        if f is None:
            return False, None, math.nan
        return True, f.image, f.t

    def __iter__(self) -> Iterator[CameraFrame]:
        while True:
            f = self.read_frame()
            if f is not None:
                yield f
            elif self.finished:
                return
            else:
                self._wait()

    def _wait(self) -> None:
        time.sleep(0.01)

    def close(self) -> None:  # noqa: B027 - sources without a device have nothing to release
        pass

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def usable_image(img: Any) -> bool:
    """A frame we can hand to perception: a non-empty (H, W, 3) uint8 array."""
    return (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
            and img.shape[2] == 3 and img.shape[0] > 0 and img.shape[1] > 0)


# --- live camera ---------------------------------------------------------------------------------

def is_gstreamer_pipeline(spec: int | str) -> bool:
    return isinstance(spec, str) and "!" in spec


def opencv_has_gstreamer() -> bool:
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1]
    return False


def opencv_capture(spec: int | str) -> Capture:
    """Open a camera index, a device path or a GStreamer pipeline with OpenCV.

    OpenCV's back-ends would print a warning for every failed open (one line per reopen
    attempt while a camera is unplugged); video.py keeps them quiet, and the camera's own log
    line per outage says it once."""
    import cv2

    if is_gstreamer_pipeline(spec):
        return video_capture(str(spec), cv2.CAP_GSTREAMER)
    return video_capture(spec)


class LiveCamera(_Source):
    """A camera that may disappear: reads never raise, reopening backs off exponentially.

    ``spec`` is a camera index (``0``), a device path (``/dev/video0``) or a GStreamer pipeline
    string, e.g. a Raspberry Pi CSI camera through libcamera::

        libcamerasrc ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! appsink

    ``max_failures`` consecutive failed or corrupt reads count as the camera being gone.
    """

    def __init__(
        self, spec: int | str, width: int = 320, height: int = 240, fps: float = 30.0,
        reconnect_min_s: float = 0.5, reconnect_max_s: float = 10.0, max_failures: int = 5,
        capture_factory: CaptureFactory | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capture_factory is None:
            if is_gstreamer_pipeline(spec) and not opencv_has_gstreamer():
                raise CameraError(
                    "this OpenCV is built without GStreamer, so the camera pipeline "
                    f"{spec!r} cannot run; install an OpenCV with GStreamer (on a Pi: "
                    "apt install python3-opencv) or use a camera index"
                )
            capture_factory = opencv_capture
        self.spec = spec
        self.name = f"camera {spec}"
        self.size = (width, height)
        self.fps = fps
        self.backoff = (reconnect_min_s, reconnect_max_s)
        self.max_failures = max_failures
        self._factory = capture_factory
        self._clock = clock
        self._sleep = sleep
        self._cap: Capture | None = None
        self._failures = 0
        self._corrupt_streak = 0
        self._delay_s = reconnect_min_s
        self._next_attempt = -math.inf
        self._outage_since: float | None = None
        self.outage_reason: str | None = None  # why the current outage began
        self._attempts = 0
        self._index = 0
        self._closed = False
        self.stats = SourceStats()

    @property
    def connected(self) -> bool:
        return self._cap is not None

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def read_frame(self) -> CameraFrame | None:
        if self._closed:
            raise CameraError(f"{self.name}: source is closed")
        if self._cap is None and not self._try_open():
            return None
        assert self._cap is not None
        try:
            ok, img = self._cap.read()
        except Exception as e:  # a driver error surfaces as cv2.error or worse; never crash
            log.debug("%s: read raised %r", self.name, e)
            ok, img = False, None
        now = self._clock()
        if not ok:
            self.stats.failed_reads += 1
            return self._failed(now, "reads fail")
        if not usable_image(img):
            self.stats.corrupt += 1
            self._corrupt_streak += 1
            if self._corrupt_streak == 1:
                log.warning("%s: corrupt frame (%s) dropped; further ones counted quietly",
                            self.name, _describe(img))
            return self._failed(now, "frames are corrupt")
        if self._corrupt_streak > 1:
            log.info("%s: good frames again after %d corrupt ones", self.name,
                     self._corrupt_streak)
        self._corrupt_streak = 0
        self._failures = 0
        if self._outage_since is not None:
            self._end_outage(now)
        self.stats.frames += 1
        self._index += 1
        return CameraFrame(self._index - 1, now, img)

    def _failed(self, now: float, why: str) -> None:
        self._failures += 1
        if self._failures >= self.max_failures:
            self._drop_capture()
            again = self._outage_since is not None  # it reopened but still delivers nothing
            if not again:
                self._attempts = 0
            self._start_outage(now, f"{self._failures} {why} in a row")
            self._next_attempt = now + self._delay_s
            if again:  # back off like a camera that does not open at all
                self._delay_s = min(self._delay_s * 2, self.backoff[1])
        return None

    def _try_open(self) -> bool:
        now = self._clock()
        if now < self._next_attempt:
            return False
        self._attempts += 1
        try:
            cap = self._factory(self.spec)
            opened = bool(cap.isOpened())
        except Exception as e:  # a missing device may raise instead of returning closed
            log.debug("%s: open raised %r", self.name, e)
            cap, opened = None, False
        if not opened:
            if cap is not None:
                cap.release()
            self._start_outage(now, "it cannot be opened")
            self._next_attempt = now + self._delay_s
            self._delay_s = min(self._delay_s * 2, self.backoff[1])
            return False
        w, h = self.size
        import cv2

        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        if self.fps > 0:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap
        self._failures = 0
        if self._outage_since is not None:
            self.stats.reconnects += 1
        return True

    def _start_outage(self, now: float, why: str) -> None:
        if self._outage_since is not None:
            return  # already reported: one line per outage
        self._outage_since = now
        self.outage_reason = why
        self.stats.outages += 1
        log.warning("%s: no frames (%s); reopening it every %.1f s … %.1f s until it is back",
                    self.name, why, *self.backoff)

    def _end_outage(self, now: float) -> None:
        assert self._outage_since is not None
        log.info("%s: back after %.1f s (%d reopen attempts)", self.name,
                 now - self._outage_since, self._attempts)
        self._outage_since = None
        self.outage_reason = None
        self._attempts = 0
        self._delay_s = self.backoff[0]

    def _drop_capture(self) -> None:
        if self._cap is not None:
            try:
                self._cap.release()
            except Exception as e:  # releasing a vanished device may fail; it is gone anyway
                log.debug("%s: release raised %r", self.name, e)
            self._cap = None

    def _wait(self) -> None:
        # Iterating (not the control loop, which calls read_frame) sleeps through an outage.
        self._sleep(max(0.005, min(self._next_attempt - self._clock(), 0.1)))

    def close(self) -> None:
        self._drop_capture()
        self._closed = True


def _describe(img: Any) -> str:
    if isinstance(img, np.ndarray):
        return f"{img.dtype} {img.shape}"
    return type(img).__name__


# --- files ---------------------------------------------------------------------------------------

class VideoFile(_Source):
    """A video file played frame by frame; ``t`` is the frame's position in the video.

    A truncated or damaged file ends early with one warning saying how far it got; a file that
    cannot be opened at all is a CameraError. ``loop=True`` starts over at the end (``t`` keeps
    increasing), for demos.
    """

    def __init__(self, path: str | os.PathLike[str], loop: bool = False) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.loop = loop
        self.stats = SourceStats()
        if not self.path.is_file():
            raise CameraError(f"{self.path}: video file does not exist")
        self._cap = self._open()
        fps = float(self._cap.get(_cv2().CAP_PROP_FPS))
        if not (fps > 0 and math.isfinite(fps)):
            log.warning("%s: video has no frame rate; assuming 30 frames/s", self.path)
            fps = 30.0
        self.fps = fps
        count = int(self._cap.get(_cv2().CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self._pos = 0  # frame number within the current pass
        self._index = 0
        self._t0 = 0.0
        self._finished = False

    def _open(self) -> Any:
        cap = video_capture(str(self.path))
        if not cap.isOpened():
            raise CameraError(f"{self.path}: cannot be opened as a video (truncated, damaged or "
                              "not a video)")
        return cap

    def read_frame(self) -> CameraFrame | None:
        if self._finished:
            return None
        if self._cap is None:
            raise CameraError(f"{self.path}: source is closed")
        while True:
            try:
                ok, img = self._cap.read()
            except Exception as e:  # FFmpeg may raise through cv2 on a damaged stream
                log.debug("%s: read raised %r", self.path, e)
                ok, img = False, None
            if ok and usable_image(img):
                break
            if ok:  # decodable container, unusable picture: skip it
                self.stats.corrupt += 1
                self._pos += 1
                continue
            if self.frame_count is not None and self._pos < self.frame_count:
                log.warning("%s: video ended after %d of %d frames (truncated or damaged)",
                            self.path, self._pos, self.frame_count)
            if not self.loop or self._pos == 0:
                self._finished = True
                return None
            self._t0 += self._pos / self.fps
            self._pos = 0
            self._cap.release()
            self._cap = self._open()
        t = self._t0 + self._pos / self.fps
        self._pos += 1
        self._index += 1
        self.stats.frames += 1
        return CameraFrame(self._index - 1, t, img)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class RecordingSource(_Source):
    """A recording folder's frames with their recorded times and label maps.

    A video that turns out damaged part-way ends the stream with one warning (the frames before
    it were good); a recording that cannot be opened is a RecordingError from the reader.
    """

    def __init__(
        self, recording: Any, start: int = 0, stop: int | None = None,
        labelled_only: bool = False,
    ) -> None:
        from robot.seeing.recording import Recording

        self.recording = recording if isinstance(recording, Recording) else Recording(recording)
        self.name = str(self.recording.path)
        self.stats = SourceStats()
        self._frames = self.recording.frames(start, stop, labelled_only=labelled_only)
        self._finished = False

    @property
    def meta(self) -> Any:
        return self.recording.meta

    def read_frame(self) -> CameraFrame | None:
        if self._finished:
            return None
        try:
            f = next(self._frames)
        except StopIteration:
            self._finished = True
            return None
        except RecordingError as e:
            log.warning("%s; stopping after %d frames", e, self.stats.frames)
            self._finished = True
            return None
        self.stats.frames += 1
        return CameraFrame(f.index, f.t, f.image, f.labels)

    def close(self) -> None:
        self._frames.close()
        self._finished = True


# --- frame rate ----------------------------------------------------------------------------------

class RateLimited(_Source):
    """At most ``target_fps`` frames from another source.

    ``mode="drop"`` skips frames whose own time ``t`` comes too soon after the last one kept:
    for a live camera faster than perception, or to subsample a file deterministically.
    ``mode="pace"`` keeps every frame but sleeps so that they come out no faster than
    ``target_fps`` in wall time: to play a file or recording in real time.
    """

    def __init__(
        self, source: FrameSource, target_fps: float, mode: str = "drop",
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not target_fps > 0:
            raise ValueError(f"target_fps must be > 0, got {target_fps}")
        if mode not in ("drop", "pace"):
            raise ValueError(f"mode must be 'drop' or 'pace', got {mode!r}")
        self.source = source
        self.name = source.name
        self.period_s = 1.0 / target_fps
        self.mode = mode
        self._clock = clock
        self._sleep = sleep
        self._next_t: float | None = None
        self._next_wall: float | None = None
        self.stats = getattr(source, "stats", SourceStats())

    @property
    def finished(self) -> bool:
        return self.source.finished

    def read_frame(self) -> CameraFrame | None:
        if self.mode == "pace":
            return self._paced()
        tol = min(1e-3, 0.01 * self.period_s)  # frame times are rounded in recordings
        while True:
            f = self.source.read_frame()
            if f is None:
                return None
            if self._next_t is None or f.t >= self._next_t - tol:
                behind = self._next_t is None or f.t > self._next_t + self.period_s
                self._next_t = (f.t if behind else self._next_t) + self.period_s
                return f
            self.stats.rate_dropped += 1

    def _paced(self) -> CameraFrame | None:
        f = self.source.read_frame()
        if f is None:
            return None
        now = self._clock()
        if self._next_wall is not None and now < self._next_wall:
            self._sleep(self._next_wall - now)
            now = self._next_wall
        # never burst to catch up after a slow frame: schedule from when this one went out
        late = self._next_wall is None or now > self._next_wall + self.period_s
        self._next_wall = (now if late else self._next_wall) + self.period_s
        return f

    def _wait(self) -> None:
        wait = getattr(self.source, "_wait", None)
        if wait is not None:
            wait()
        else:
            super()._wait()

    def close(self) -> None:
        self.source.close()


# --- choosing a source ---------------------------------------------------------------------------

def open_source(
    spec: str | int, width: int = 320, height: int = 240, fps: float = 30.0,
    reconnect_min_s: float = 0.5, reconnect_max_s: float = 10.0, loop: bool = False,
) -> FrameSource:
    """The source a config's ``camera.source`` names.

    A whole number is a camera index; text with ``!`` a GStreamer pipeline; ``/dev/…`` a camera
    device; a folder a recording; any other path a video file.
    """
    text = str(spec).strip()
    if text.isdigit() or text.startswith("/dev/") or is_gstreamer_pipeline(text):
        device: int | str = int(text) if text.isdigit() else text
        return LiveCamera(device, width, height, fps, reconnect_min_s, reconnect_max_s)
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        return RecordingSource(path)
    if path.is_file():
        return VideoFile(path, loop=loop)
    raise CameraError(f"camera source {text!r} is not a camera index, /dev device, GStreamer "
                      "pipeline, video file or recording folder")


def _cv2() -> Any:
    import cv2

    return cv2
