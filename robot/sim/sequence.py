"""Recordings played one after another as one frame source, time running on across them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from robot.common.errors import RecordingError
from robot.runtime.loop import Segment
from robot.seeing.camera import CameraFrame
from robot.seeing.recording import Frame, Recording

log = logging.getLogger(__name__)

GAP_S = 1.0  # simulated time between the end of one recording and the start of the next


class RecordingSequence:
    """Frames of ``recordings`` in order; ``segment`` says which one the last frame came from.

    Each recording's frame times are shifted so that time never goes back (``offsets[i]`` is
    added to recording i's own times). ``frame_step`` plays every n-th frame; the last
    ``holdout`` share of each recording's played frames is marked ``held_back`` (frames to
    evaluate on, never to learn from). A recording damaged part-way raises RecordingError
    with its name: the simulation stops with a clear message rather than play half a season.
    """

    def __init__(self, recordings: Sequence[Recording | str | Path], frame_step: int = 1,
                 holdout: float = 0.0, max_frames: int | None = None) -> None:
        if frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"holdout must be in [0, 1), got {holdout}")
        self.recordings = [r if isinstance(r, Recording) else Recording(r) for r in recordings]
        if not self.recordings:
            raise RecordingError("no recordings to play")
        self.frame_step = frame_step
        self.holdout = holdout
        self.max_frames = max_frames
        self.name = " + ".join(r.path.name for r in self.recordings)
        self.offsets: list[float] = []
        t = 0.0
        for r in self.recordings:
            start = float(r.frame_times[0]) if len(r) else 0.0
            self.offsets.append(t - start)
            t += r.duration_s + GAP_S
        self.segment: Segment | None = None
        self.played = 0
        self._iter = self._frames()
        self._finished = False

    def frames_played(self, i: int) -> int:
        """How many frames recording ``i`` plays (after ``frame_step`` and ``max_frames``)."""
        n = (len(self.recordings[i]) + self.frame_step - 1) // self.frame_step
        return n if self.max_frames is None else min(n, self.max_frames)

    def _frames(self) -> Iterator[tuple[Segment, Frame, float]]:
        for i, rec in enumerate(self.recordings):
            n = self.frames_played(i)
            held_from = n - round(n * self.holdout)
            frames = rec.frames(step=self.frame_step)
            try:
                for k, frame in enumerate(frames):
                    if k >= n:
                        break
                    seg = Segment(i, rec.path.name, rec.meta.season, k, n, k >= held_from)
                    yield seg, frame, self.offsets[i]
            finally:
                frames.close()

    @property
    def finished(self) -> bool:
        return self._finished

    def read_frame(self) -> CameraFrame | None:
        if self._finished:
            return None
        try:
            seg, f, offset = next(self._iter)
        except StopIteration:
            self._finished = True
            return None
        self.segment = seg
        self.played += 1
        return CameraFrame(self.played - 1, f.t + offset, f.image, f.labels)

    def read(self):  # OpenCV style, as every frame source
        f = self.read_frame()
        return (False, None, float("nan")) if f is None else (True, f.image, f.t)

    def __iter__(self) -> Iterator[CameraFrame]:
        while (f := self.read_frame()) is not None:
            yield f

    def close(self) -> None:
        self._iter.close()
        self._finished = True
