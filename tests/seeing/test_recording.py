from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robot.common.errors import RecordingError
from robot.seeing.recording import Recording, RecordingWriter
from tests.conftest import make_meta, write_small_recording


def test_round_trip_keeps_frames_labels_and_telemetry(small_recording):
    path, frames, labels = small_recording
    rec = Recording(path)
    assert len(rec) == len(frames)
    assert rec.meta.season == "summer"
    assert rec.labelled == tuple(sorted(labels))
    got = list(rec.frames())
    assert [f.index for f in got] == list(range(len(frames)))
    for f, original in zip(got, frames, strict=True):
        # video is lossy: flat colours come back within a few levels
        assert np.abs(f.image.astype(int) - original.astype(int)).mean() < 4
        if f.index in labels:
            np.testing.assert_array_equal(f.labels, labels[f.index])  # labels are lossless
        else:
            assert f.labels is None
    tel = rec.telemetry()
    assert len(tel) == len(frames) and tel[3]["x_m"] == pytest.approx(0.3)


def test_streaming_subsets(small_recording):
    path, _, labels = small_recording
    rec = Recording(path)
    assert [f.index for f in rec.frames(start=2, stop=9, step=3)] == [2, 5, 8]
    assert [f.index for f in rec.frames(labelled_only=True)] == sorted(labels)


def test_meta_round_trip(small_recording):
    rec = Recording(small_recording[0])
    assert rec.meta.camera.height_m == pytest.approx(0.35)
    assert rec.meta.classes[0] == "lawn"
    assert rec.meta.frame_count == 12 and rec.meta.created


def test_missing_meta_names_the_file(tmp_path: Path, small_recording):
    path = small_recording[0]
    (path / "meta.json").unlink()
    with pytest.raises(RecordingError, match=r"meta\.json is missing"):
        Recording(path)


def test_corrupt_meta_names_the_file(small_recording):
    path = small_recording[0]
    (path / "meta.json").write_text("{not json")
    with pytest.raises(RecordingError, match=r"meta\.json: not valid JSON"):
        Recording(path)


def test_unsupported_version_is_refused(small_recording):
    path = small_recording[0]
    d = json.loads((path / "meta.json").read_text())
    d["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(d))
    with pytest.raises(RecordingError, match="format_version 99"):
        Recording(path)


def test_missing_video(small_recording):
    path = small_recording[0]
    (path / "video.mp4").unlink()
    with pytest.raises(RecordingError, match=r"video\.mp4: video file is missing"):
        Recording(path)


def test_truncated_video_is_reported(small_recording):
    path = small_recording[0]
    data = (path / "video.mp4").read_bytes()
    (path / "video.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"video\.mp4"):
        rec = Recording(path)
        list(rec.frames())


def test_video_shorter_than_listed_frames(tmp_path: Path):
    short, long_ = tmp_path / "short", tmp_path / "long"
    write_small_recording(short, n=5)
    write_small_recording(long_, n=12)
    shutil.copy(short / "video.mp4", long_ / "video.mp4")
    with pytest.raises(RecordingError, match="truncated"):
        rec = Recording(long_)
        list(rec.frames())


def test_frames_list_disagreeing_with_meta(small_recording):
    path = small_recording[0]
    lines = (path / "frames.jsonl").read_text().splitlines()
    (path / "frames.jsonl").write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(RecordingError, match=r"frames\.jsonl: 10 frames listed"):
        Recording(path)


def test_corrupt_label_png(small_recording):
    path = small_recording[0]
    (path / "labels" / "000003.png").write_bytes(b"\x89PNG garbage")
    rec = Recording(path)
    with pytest.raises(RecordingError, match=r"000003\.png: label map cannot be decoded"):
        rec.labels(3)


def test_label_outside_class_map(small_recording):
    import cv2

    path = small_recording[0]
    bad = np.full((48, 64), 7, np.uint8)
    cv2.imwrite(str(path / "labels" / "000003.png"), bad)
    with pytest.raises(RecordingError, match="class id 7 is outside the class map"):
        Recording(path).labels(3)


def test_torn_last_telemetry_line_is_skipped(small_recording):
    path = small_recording[0]
    with open(path / "telemetry.jsonl", "a") as f:
        f.write('{"t": 9.9, "x_m"')  # power cut mid-line
    assert len(Recording(path).telemetry()) == 12


def test_corrupt_middle_telemetry_line_is_an_error(small_recording):
    path = small_recording[0]
    lines = (path / "telemetry.jsonl").read_text().splitlines()
    lines[4] = "garbage"
    (path / "telemetry.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=r"telemetry\.jsonl: line 5 is not valid JSON"):
        Recording(path).telemetry()


def test_unclosed_recording_is_readable(tmp_path: Path):
    """A recording whose writer never closed (crash) still lists its frames via frames.jsonl."""
    w = RecordingWriter(tmp_path / "r", make_meta())
    for _ in range(4):
        w.add_frame(np.full((48, 64, 3), 90, np.uint8))
    w._video.release()  # the video is finalised but meta.json is never rewritten
    rec = Recording(tmp_path / "r")
    assert rec.meta.frame_count is None and len(rec) == 4
    w.close()


class _Died(Exception):
    """Stands in for the process dying mid-write."""


def test_torn_write_between_frame_line_and_label_leaves_a_readable_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
):
    """Dying after frames.jsonl but before the label PNG leaves an unlabelled frame, not an
    error."""
    w = RecordingWriter(tmp_path / "r", make_meta())
    lab = np.zeros((48, 64), np.uint8)
    w.add_frame(np.full((48, 64, 3), 90, np.uint8), labels=lab)

    def die(*_: object) -> None:
        raise _Died

    monkeypatch.setattr(w, "_write_labels", die)
    with pytest.raises(_Died):
        w.add_frame(np.full((48, 64, 3), 90, np.uint8), labels=lab)
    w._video.release()  # the video is finalised but meta.json is never rewritten
    rec = Recording(tmp_path / "r")
    assert rec.meta.frame_count is None and len(rec) == 2
    assert rec.labelled == (0,)
    assert [f.labels is None for f in rec.frames()] == [False, True]
    w.close()


def test_unclosed_recording_ignores_a_label_beyond_the_listed_frames(tmp_path: Path, caplog):
    """A label PNG for an unlisted frame (torn write by an older writer) is skipped, with a
    warning."""
    import cv2

    w = RecordingWriter(tmp_path / "r", make_meta())
    for _ in range(3):
        w.add_frame(np.full((48, 64, 3), 90, np.uint8))
    w._video.release()
    (tmp_path / "r" / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "r" / "labels" / "000003.png"), np.zeros((48, 64), np.uint8))
    with caplog.at_level("WARNING"):
        rec = Recording(tmp_path / "r")
    assert len(rec) == 3 and rec.labelled == ()
    assert "000003.png" in caplog.text
    w.close()


def test_closed_recording_with_a_label_beyond_its_frames_is_an_error(small_recording):
    import cv2

    path = small_recording[0]
    cv2.imwrite(str(path / "labels" / "000012.png"), np.zeros((48, 64), np.uint8))
    with pytest.raises(RecordingError, match="label map for frame 12, but there are 12"):
        Recording(path)


def test_writer_refuses_wrong_shapes_and_existing_recording(small_recording, tmp_path: Path):
    with pytest.raises(RecordingError, match="already exists"):
        RecordingWriter(small_recording[0], make_meta())
    with RecordingWriter(tmp_path / "x", make_meta()) as w:
        with pytest.raises(ValueError, match="frame must be uint8"):
            w.add_frame(np.zeros((10, 10, 3), np.uint8))
        with pytest.raises(ValueError, match="outside the class map"):
            w.add_frame(np.zeros((48, 64, 3), np.uint8), labels=np.full((48, 64), 9, np.uint8))
        with pytest.raises(ValueError, match="numeric 't'"):
            w.add_telemetry({"x": 1})


def test_not_a_folder(tmp_path: Path):
    with pytest.raises(RecordingError, match="does not exist"):
        Recording(tmp_path / "nope")


def test_atomic_writes_keep_ordinary_file_permissions(tmp_path: Path):
    import os
    import stat

    from robot.common.atomic import atomic_write_bytes

    target = tmp_path / "card.json"
    atomic_write_bytes(target, b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_bytes(target, b"{ }")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
