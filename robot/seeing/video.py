"""Every video file and camera is opened through here, so OpenCV's back-ends stay quiet.

FFmpeg, inside OpenCV, prints its own lines on stderr — "moov atom not found" for a truncated
or random-bytes file — above the clear error the project raises for the same file. OpenCV's
FFmpeg back-end reads ``OPENCV_FFMPEG_LOGLEVEL`` once, when it opens its first file or writer,
so the level is set before anything is opened. A level the user set (e.g. 32, info, to debug
a camera) is kept. OpenCV's own log (cv2.utils.logging) is limited to errors: its video
back-ends warn on every failed open, once per reopen attempt of an unplugged camera.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

FFMPEG_LOGLEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


def quiet_video_backends() -> Any:
    """Silence FFmpeg (unless the user chose a level) and OpenCV's warnings; returns cv2."""
    os.environ.setdefault(FFMPEG_LOGLEVEL_ENV, FFMPEG_QUIET)
    import cv2

    with contextlib.suppress(AttributeError):  # builds without cv2.utils.logging
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2


def video_capture(source: int | str, api: int | None = None) -> Any:
    """``cv2.VideoCapture(source[, api])`` with the back-ends quiet."""
    cv2 = quiet_video_backends()
    return cv2.VideoCapture(source) if api is None else cv2.VideoCapture(source, api)


def video_writer(path: str, fourcc: str, fps: float, size: tuple[int, int]) -> Any:
    """``cv2.VideoWriter`` with the back-ends quiet (the first writer can load FFmpeg too)."""
    cv2 = quiet_video_backends()
    return cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, size)
