from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from robot.commands.doctor import (
    FAIL,
    OK,
    WARN,
    Check,
    check_adapter,
    check_camera,
    check_clock,
    check_config,
    check_disk,
    check_models,
    check_serial,
    format_checklist,
)
from robot.commands.gardenbot import main as cli
from robot.runtime.config import Config, parse_config


def cfg_with(text: str, where: Path | None = None) -> Config:
    from dataclasses import replace

    cfg = parse_config(text)
    return replace(cfg, source=where / "g.toml") if where else cfg


def write_video(path: Path, n: int = 3) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(n):
        w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    return path


def test_clock_in_1970_fails_and_now_is_fine():
    assert check_clock(lambda: datetime(1970, 1, 1)).status == FAIL
    assert "set the time" in check_clock(lambda: datetime(1970, 1, 1)).detail
    assert check_clock(lambda: datetime(2025, 6, 1, 12, 0)).status == OK


@pytest.mark.parametrize(("free", "status"), [(50e9, OK), (500e6, WARN), (50e6, FAIL)])
def test_disk_thresholds(free, status, tmp_path: Path):
    seen = []

    def usage(p: str):
        seen.append(p)
        return SimpleNamespace(free=int(free))

    cfg = cfg_with('[paths]\ndata_dir = "not/yet/made"\n', tmp_path)
    assert check_disk(cfg, usage).status == status
    assert seen == [str(tmp_path)], "a data folder not made yet is checked on its parent's disk"


def test_disk_on_this_machine_reports_gigabytes():
    assert "GB free" in check_disk(Config()).detail


def test_config_check_reports_a_bad_line_and_falls_back_to_defaults(tmp_path: Path):
    p = tmp_path / "g.toml"
    p.write_text("[serial]\nbaudrate = -1\n")
    check, cfg = check_config(p)
    assert check.status == FAIL and f"{p}:2: [serial] baudrate" in check.detail
    assert cfg == Config()
    p.write_text("[serial]\nport = \"emulator\"\n")
    check, cfg = check_config(p)
    assert check.status == OK and cfg.serial.port == "emulator"


def test_no_config_file_is_a_warning(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check, cfg = check_config(None)
    assert check.status == WARN and cfg == Config()


def test_camera_from_a_video_file_gives_a_frame(tmp_path: Path):
    video = write_video(tmp_path / "v.mp4")
    check = check_camera(cfg_with(f'[camera]\nsource = "{video}"\n'))
    assert check.status == OK and "got a 64x48 frame" in check.detail
    assert "resized" in check.detail, "config says 320x240"


def test_missing_camera_fails_with_a_hint(tmp_path: Path):
    check = check_camera(cfg_with(f'[camera]\nsource = "{tmp_path / "none.mp4"}"\n'))
    assert check.status == FAIL and "is not a camera index" in check.detail
    gone = check_camera(cfg_with('[camera]\nsource = "/dev/video99"\n'), timeout_s=0.3)
    assert gone.status == FAIL and "no frame within" in gone.detail


def test_the_camera_check_reports_why_and_its_own_deadline_not_the_cameras_retries(caplog):
    caplog.set_level("DEBUG")
    gone = check_camera(cfg_with('[camera]\nsource = "/dev/video99"\n'), timeout_s=0.3)
    assert gone.status == FAIL
    assert "no frame within 0.3 s (it cannot be opened)" in gone.detail
    assert not [r for r in caplog.records if "until it is back" in r.getMessage()], \
        "the camera's 'reopening every 0.5 s … 10 s until it is back' is not what doctor does"


def test_a_desktop_without_camera_or_board_is_pointed_to_the_emulator_and_simulate():
    desktop = format_checklist([Check("camera", FAIL, "camera 0: no frame within 5 s"),
                                Check("serial", FAIL, "/dev/ttyACM0 does not exist")])
    assert "--port emulator" in desktop and "gardenbot simulate" in desktop
    robot = format_checklist([Check("camera", OK, "got a frame"), Check("serial", OK, "opens")])
    assert "--port emulator" not in robot and "simulate" not in robot


def test_serial_emulator_missing_port_and_a_real_pty():
    assert check_serial(cfg_with('[serial]\nport = "emulator"\n')).status == OK
    missing = check_serial(cfg_with('[serial]\nport = "/dev/ttyACM99"\n'))
    assert missing.status == FAIL and "is the board plugged in" in missing.detail
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        assert check_serial(cfg_with(f'[serial]\nport = "{name}"\n')).status == OK
    finally:
        os.close(master)
        os.close(slave)
    assert check_serial(cfg_with('[serial]\nport = "loop://"\n')).status == OK


def test_serial_permission_denied_names_the_fix():
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    check = check_serial(cfg_with('[serial]\nport = "loop://"\n'), opener=denied)
    assert check.status == FAIL and "dialout" in check.detail


def test_models_ok_tampered_and_missing(tiny_backbone_card: Path, tmp_path: Path):
    cfg = cfg_with(f'[perception]\nmodel_card = "{tiny_backbone_card}"\nvariant = "fp32"\n')
    checks = check_models(cfg)
    assert [c.status for c in checks] == [OK, OK]
    copy = tmp_path / "m"
    copy.mkdir()
    for p in tiny_backbone_card.parent.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    data = bytearray((copy / "backbone.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "backbone.onnx").write_bytes(bytes(data))
    bad = check_models(cfg_with(f'[perception]\nmodel_card = "{copy / "backbone.json"}"\n'
                                'variant = "fp32"\n'))
    assert bad[1].status == FAIL and "does not match its card" in bad[1].detail
    int8 = check_models(cfg_with(f'[perception]\nmodel_card = "{tiny_backbone_card}"\n'))
    assert int8[-1].status == FAIL and "asks for 'int8'" in int8[-1].detail
    none = check_models(cfg_with(f'[perception]\nmodel_card = "{tmp_path / "x.json"}"\n'))
    assert none[0].status == FAIL and "missing" in none[0].detail


def test_adapter_check_reads_the_data_folder_or_the_starting_adapter(
        tiny_backbone_card: Path, tiny_defaults: Path, tmp_path: Path):
    import shutil

    base = f'[perception]\nmodel_card = "{tiny_backbone_card}"\nvariant = "fp32"\n'
    fresh = cfg_with(base + f'[paths]\ndata_dir = "data"\ndefaults_dir = "{tiny_defaults}"\n',
                     tmp_path)
    check = check_adapter(fresh)
    assert check.status == OK and "starting adapter" in check.detail and "version 1" in \
        check.detail
    shutil.copytree(tiny_defaults, tmp_path / "data")
    assert "data folder" in check_adapter(fresh).detail
    none = cfg_with(base + f'[paths]\ndefaults_dir = "{tmp_path / "nothing"}"\n'
                    f'data_dir = "{tmp_path / "empty"}"\n')
    check = check_adapter(none)
    assert check.status == FAIL and "gardenbot defaults" in check.detail
    meta = tmp_path / "data" / "adapters" / "v000001" / "meta.json"
    meta.write_text(meta.read_text().replace('"feature_dim": 16', '"feature_dim": 32'))
    check = check_adapter(fresh)
    assert check.status == FAIL and "made for 32-channel features" in check.detail


def test_checklist_says_ready_or_what_failed():
    from robot.commands.doctor import Check

    text = format_checklist([Check("clock", OK, "fine"), Check("disk", WARN, "low")])
    assert "[ ok ] clock" in text and "[warn] disk" in text and text.endswith("ready, 1 warning")
    assert format_checklist([Check("x", FAIL, "no")]).endswith("1 check failed")


def test_doctor_command_exit_codes(tiny_backbone_card: Path, tiny_defaults: Path,
                                   tmp_path: Path, capsys):
    video = write_video(tmp_path / "v.mp4")
    good = tmp_path / "good.toml"
    good.write_text(f'[camera]\nsource = "{video}"\n[serial]\nport = "emulator"\n'
                    f'[perception]\nmodel_card = "{tiny_backbone_card}"\nvariant = "fp32"\n'
                    f'[paths]\ndefaults_dir = "{tiny_defaults}"\n')
    assert cli(["doctor", "--config", str(good), "--skip", "disk"]) == 0
    out = capsys.readouterr().out
    assert "[ ok ] camera" in out and "ready" in out
    assert cli(["doctor", "--config", str(good), "--skip", "disk", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"config", "camera", "serial", "clock"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[serial]\nport = "/dev/ttyACM99"\n')
    assert cli(["doctor", "--config", str(bad), "--skip", "camera", "--skip", "disk"]) == 1
    assert "[FAIL] serial" in capsys.readouterr().out
