from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot.common.errors import CameraError
from robot.seeing.camera import (
    CameraFrame,
    LiveCamera,
    RateLimited,
    RecordingSource,
    VideoFile,
    open_source,
)
from tests.conftest import write_small_recording


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.now += s


class FakeDevice:
    """A USB camera on a desk: it can be unplugged and plugged back in, or send garbage."""

    def __init__(self, clock: FakeClock, frame_dt_s: float = 1 / 30) -> None:
        self.clock = clock
        self.frame_dt_s = frame_dt_s
        self.plugged = True
        self.garbage = 0  # the next this-many reads return a broken picture
        self.opens: list[float] = []  # times at which the software tried to open it
        self.shown = 0

    def factory(self, spec: int | str) -> FakeCapture:
        assert spec == 0
        self.opens.append(self.clock.now)
        return FakeCapture(self)


class FakeCapture:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.opened = device.plugged
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        d = self.device
        d.clock.now += d.frame_dt_s  # a read blocks until the next frame
        if not (self.opened and d.plugged):
            return False, None
        if d.garbage:
            d.garbage -= 1
            return True, np.zeros((0, 0), np.uint8)
        d.shown += 1
        return True, np.full((24, 32, 3), d.shown % 256, np.uint8)

    def release(self) -> None:
        self.opened = False


@pytest.fixture
def cam_setup():
    clock = FakeClock()
    device = FakeDevice(clock)
    cam = LiveCamera(0, 32, 24, 30.0, reconnect_min_s=0.5, reconnect_max_s=4.0,
                     max_failures=3, capture_factory=device.factory, clock=clock,
                     sleep=clock.sleep)
    return clock, device, cam


def drive(cam: LiveCamera, clock: FakeClock, seconds: float) -> list[CameraFrame | None]:
    """Call read_frame like a control loop at 50 Hz for ``seconds``."""
    out, end = [], clock.now + seconds
    while clock.now < end:
        out.append(cam.read_frame())
        clock.now += 0.02
    return out


def test_a_camera_that_disappears_and_comes_back(cam_setup, caplog):
    clock, device, cam = cam_setup
    caplog.set_level(logging.INFO, logger="robot.seeing.camera")
    before = [f for f in drive(cam, clock, 1.0) if f is not None]
    assert len(before) > 10 and cam.connected

    device.plugged = False
    outage = drive(cam, clock, 12.0)
    assert all(f is None for f in outage), "no frame while unplugged, and no exception"
    assert cam.in_outage and not cam.connected
    # reopen attempts back off: 0.5, 0.5, 1, 2, 4, 4, ... seconds apart (capped at 4)
    gaps = np.diff(device.opens[1:])
    assert gaps[0] == pytest.approx(0.5, abs=0.06)
    assert gaps[1] == pytest.approx(1.0, abs=0.06)
    assert gaps[2] == pytest.approx(2.0, abs=0.06)
    assert all(g == pytest.approx(4.0, abs=0.06) for g in gaps[3:])
    assert len(device.opens) < 10, "back-off keeps reopen attempts rare"

    device.plugged = True
    after = [f for f in drive(cam, clock, 5.0) if f is not None]
    assert after, "frames flow again once it is back"
    assert after[0].index == before[-1].index + 1
    assert after[0].t > before[-1].t + 12
    assert not cam.in_outage and cam.stats.outages == 1 and cam.stats.reconnects == 1

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1, "one line per outage, not one per frame or per attempt"
    assert "camera 0: no frames (3 reads fail in a row)" in warnings[0].getMessage()
    assert len(infos) == 1 and "camera 0: back after" in infos[0].getMessage()


def test_two_outages_give_two_warnings_and_backoff_restarts(cam_setup, caplog):
    clock, device, cam = cam_setup
    caplog.set_level(logging.WARNING, logger="robot.seeing.camera")
    first_gaps = []
    for _ in range(2):
        drive(cam, clock, 0.5)
        device.plugged = False
        n = len(device.opens)
        drive(cam, clock, 8.0)
        first_gaps.append(device.opens[n + 1] - device.opens[n])
        device.plugged = True
        drive(cam, clock, 5.0)
        assert cam.connected, "back within the longest back-off (4 s)"
    assert first_gaps == pytest.approx([0.5, 0.5], abs=0.06), "back-off starts short again"
    assert len(caplog.records) == 2
    assert cam.stats.outages == 2 and cam.stats.reconnects == 2


def test_a_camera_that_opens_but_only_sends_garbage_backs_off_too(cam_setup, caplog):
    clock, device, cam = cam_setup
    caplog.set_level(logging.WARNING, logger="robot.seeing.camera")
    drive(cam, clock, 0.5)
    device.garbage = 10**9  # opens fine every time, every picture broken
    drive(cam, clock, 20.0)
    gaps = np.diff(device.opens[1:])
    assert len(gaps) >= 4
    assert np.all(np.diff(gaps) >= -1e-9), "never shorter again"
    assert max(gaps) > 3.0, "reaches the longest back-off instead of reopening every 0.5 s"
    outage_lines = [r for r in caplog.records if "no frames" in r.getMessage()]
    assert len(outage_lines) == 1 and cam.stats.outages == 1, "one outage, one line"
    assert len(caplog.records) == 2, "plus the first corrupt frame; not one line per reopen"


def test_a_camera_missing_at_start_is_waited_for(cam_setup, caplog):
    clock, device, cam = cam_setup
    device.plugged = False
    assert all(f is None for f in drive(cam, clock, 3.0))
    assert "it cannot be opened" in caplog.text
    device.plugged = True
    assert any(f is not None for f in drive(cam, clock, 3.0))


def test_corrupt_frames_are_dropped_counted_and_logged_once(cam_setup, caplog):
    clock, device, cam = cam_setup
    drive(cam, clock, 0.2)
    device.garbage = 2  # fewer than max_failures: the camera is not considered gone
    got = drive(cam, clock, 0.3)
    assert got[:2] == [None, None] and all(f is not None for f in got[2:])
    assert cam.stats.corrupt == 2 and cam.stats.outages == 0 and cam.connected
    assert caplog.text.count("corrupt frame") == 1

    device.garbage = 50  # a camera sending only garbage counts as gone
    drive(cam, clock, 1.0)
    assert cam.stats.outages == 1


def test_iterating_a_live_camera_sleeps_through_an_outage(cam_setup):
    clock, device, cam = cam_setup
    it = iter(cam)
    next(it)
    device.plugged = False
    for _ in range(5):
        cam.read_frame()
    assert cam.in_outage
    device.plugged = True
    t0 = clock.now
    f = next(it)  # blocks (on the fake clock) until the camera is reopened
    assert f.t >= t0 + 0.4 and cam.stats.reconnects == 1


def test_closed_camera_says_so(cam_setup):
    _, _, cam = cam_setup
    cam.close()
    cam.close()
    with pytest.raises(CameraError, match="closed"):
        cam.read_frame()


def test_gstreamer_pipeline_without_gstreamer_support_is_a_clear_error():
    from robot.seeing.camera import opencv_has_gstreamer

    if opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(CameraError, match="without GStreamer"):
        LiveCamera("libcamerasrc ! videoconvert ! appsink")


def write_video(path: Path, n: int, fps: float = 30.0, fourcc: str = "mp4v") -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (64, 48))
    for i in range(n):
        w.write(np.full((48, 64, 3), (i * 8) % 256, np.uint8))
    w.release()


def test_video_file_plays_to_the_end_with_frame_times(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 12, fps=20)
    with VideoFile(tmp_path / "v.mp4") as src:
        frames = list(src)
        assert src.finished and src.read_frame() is None
        assert src.read() == (False, None, pytest.approx(float("nan"), nan_ok=True))
    assert [f.index for f in frames] == list(range(12))
    assert [f.t for f in frames] == pytest.approx([i / 20 for i in range(12)])
    assert frames[0].image.shape == (48, 64, 3)


def test_truncated_video_ends_early_with_one_warning(tmp_path: Path, caplog):
    write_video(tmp_path / "v.avi", 30, fourcc="MJPG")
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    src = VideoFile(tmp_path / "cut.avi")
    frames = list(src)
    assert 0 < len(frames) < 30 and src.finished
    assert caplog.text.count("truncated or damaged") == 1
    assert f"ended after {len(frames)} of 30 frames" in caplog.text


def test_unreadable_video_is_a_camera_error(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 10)
    data = (tmp_path / "v.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the MP4 index is lost
    with pytest.raises(CameraError, match="cut.mp4: cannot be opened as a video"):
        VideoFile(tmp_path / "cut.mp4")
    with pytest.raises(CameraError, match="does not exist"):
        VideoFile(tmp_path / "missing.mp4")


def test_looping_video_keeps_time_increasing(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 4, fps=10)
    src = VideoFile(tmp_path / "v.mp4", loop=True)
    frames = [src.read_frame() for _ in range(10)]
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert not src.finished


def test_recording_source_gives_recorded_times_and_labels(tmp_path: Path):
    _, labels = write_small_recording(tmp_path / "rec", n=7, label_every=3)
    src = RecordingSource(tmp_path / "rec")
    frames = list(src)
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(7)])
    assert [f.index for f in frames if f.labels is not None] == sorted(labels)
    np.testing.assert_array_equal(frames[3].labels, labels[3])
    assert src.meta.season == "summer"


def test_drop_mode_subsamples_by_frame_time(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 30, fps=30)
    src = RateLimited(VideoFile(tmp_path / "v.mp4"), target_fps=10, mode="drop")
    frames = list(src)
    assert [f.index for f in frames] == list(range(0, 30, 3))
    assert src.stats.rate_dropped == 20


def test_drop_mode_keeps_the_average_rate_for_uneven_ratios(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 60, fps=30)
    frames = list(RateLimited(VideoFile(tmp_path / "v.mp4"), target_fps=20, mode="drop"))
    assert len(frames) == 40


def test_pace_mode_spaces_frames_in_wall_time_and_never_bursts(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 6, fps=30)
    clock = FakeClock()
    src = RateLimited(VideoFile(tmp_path / "v.mp4"), target_fps=5, mode="pace", clock=clock,
                      sleep=clock.sleep)
    out = []
    for i, _ in enumerate(src):
        out.append(clock.now)
        if i == 2:
            clock.now += 1.0  # the consumer stalled for a second
    gaps = np.diff(out)
    assert gaps[:2] == pytest.approx([0.2, 0.2])
    assert gaps[2] == pytest.approx(1.0), "after a stall the next frame comes at once"
    assert gaps[3:] == pytest.approx([0.2, 0.2]), "…and then at the target rate, no burst"


def test_open_source_picks_the_kind_from_the_spec(tmp_path: Path):
    write_video(tmp_path / "v.mp4", 3)
    write_small_recording(tmp_path / "rec", n=3)
    assert isinstance(open_source(str(tmp_path / "v.mp4")), VideoFile)
    assert isinstance(open_source(str(tmp_path / "rec")), RecordingSource)
    assert isinstance(open_source("0"), LiveCamera)
    with pytest.raises(CameraError, match="is not a camera index"):
        open_source(str(tmp_path / "nothing-here"))


def _without_ffmpeg_settings() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}


def test_a_random_bytes_video_gets_the_projects_error_and_no_ffmpeg_lines(tmp_path: Path):
    # In a fresh process: OpenCV's FFmpeg back-end reads its log level once, at its first file.
    import subprocess
    import sys

    video = tmp_path / "random.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, np.uint8).tobytes())
    config = tmp_path / "g.toml"
    config.write_text(f'[camera]\nsource = "{video}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "robot.commands.gardenbot", "doctor", "--config", str(config),
         "--skip", "serial", "--skip", "models", "--skip", "disk", "--skip", "clock"],
        capture_output=True, text=True, env=_without_ffmpeg_settings(), timeout=60)
    assert done.returncode == 1
    assert "cannot be opened as a video" in done.stdout
    assert "moov atom" not in done.stderr and "mov,mp4" not in done.stderr, done.stderr


def test_a_truncated_recording_video_gets_the_projects_error_and_no_ffmpeg_lines(
        tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "rec"
    write_small_recording(path)
    video = path / "video.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # cut before the index (moov) at the end
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from robot.seeing.recording import Recording\n"
         "try:\n    Recording(sys.argv[1])\nexcept Exception as e:\n    print(e)",
         str(path)], capture_output=True, text=True, env=_without_ffmpeg_settings(), timeout=60)
    assert "cannot be decoded" in done.stdout
    assert "moov atom" not in done.stderr and "mov,mp4" not in done.stderr, done.stderr
