"""Crash-safe writes (robot/common/atomic.py)."""

from __future__ import annotations

import os

from robot.common.atomic import atomic_write_bytes


def test_an_atomic_write_works_where_chmod_is_refused(tmp_path, monkeypatch):
    def no_chmod(fd, mode):  # as on vfat
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", no_chmod)
    atomic_write_bytes(tmp_path / "f", b"new")
    atomic_write_bytes(tmp_path / "f", b"newer")
    assert (tmp_path / "f").read_bytes() == b"newer"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
