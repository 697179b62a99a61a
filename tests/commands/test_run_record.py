"""`gardenbot run` and `gardenbot record` with a recording as camera and the MCU emulator as
port; clean shutdown on SIGTERM; the MCU's failsafe when the host dies; config errors."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.board import emulator_process, wait_until
from robot.commands.gardenbot import main as cli
from robot.common.errors import ConfigError
from robot.learning.config import BufferConfig, PublishConfig, TrainConfig, TriggerConfig
from robot.runtime.config import Config, parse_config
from robot.runtime.settings import learner_settings
from robot.seeing.recording import Recording
from tests.tiny_robot import tiny_config, write_painted_recording

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_painted_recording(tmp_path_factory.mktemp("drive") / "rec", frames=40)


def test_run_drives_learns_records_and_logs_json(drive, tiny_backbone_card, tiny_defaults,
                                                 tmp_path, capsys):
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(drive),
                      extra="[policy]\nmin_confidence = 0.0\n")
    code = cli(["run", "--config", str(cfg), "--frames", "25", "--record",
                str(tmp_path / "rec"), "--annotate", "0.5", "--log-json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    end = [r for r in lines if r["message"].startswith("gardenbot run ended")]
    assert end and end[0]["drives_acked"] == end[0]["drives_sent"] >= 20
    assert any(r["message"].startswith("status:") for r in lines), "status goes to the log"
    data = tmp_path / "data"
    assert (data / "adapters" / "current.json").is_file(), "seeded from the defaults"
    from robot.learning.replay_buffer import ReplayBuffer

    buf = ReplayBuffer.load(data / "replay_buffer.gbrb")
    assert buf.total_seen > ReplayBuffer.load(tiny_defaults / "replay_buffer.gbrb").total_seen, \
        "labels collected during the run were saved at shutdown"
    rec = Recording(tmp_path / "rec")
    assert len(rec) >= 20 and rec.telemetry()[-1].keys() >= {"x_m", "bumper", "soil_moisture"}


def test_each_run_is_a_day_that_joins_the_memory_of_places_and_a_damaged_one_is_set_aside(
        drive, tiny_backbone_card, tiny_defaults, tmp_path, caplog):
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(drive),
                      extra='[experience]\ngarden = "back-lawn"\n')
    places = tmp_path / "data" / "places"
    assert cli(["run", "--config", str(cfg), "--frames", "10"]) == 0
    first = np.load(places / "back-lawn.npz")["votes"].sum()
    assert cli(["run", "--config", str(cfg), "--frames", "10"]) == 0
    assert np.load(places / "back-lawn.npz")["votes"].sum() > first, "the second day joined"

    (places / "back-lawn.npz").write_bytes(b"torn by a power cut")
    with caplog.at_level("WARNING"):
        assert cli(["run", "--config", str(cfg), "--frames", "10"]) == 0
    assert "cannot be used" in caplog.text
    aside = list(places.glob("back-lawn.npz.unusable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"torn by a power cut", "nothing lost"
    assert np.load(places / "back-lawn.npz")["votes"].sum() > 0, "a new memory was started"


def test_a_garden_name_that_is_no_file_name_is_a_config_error():
    with pytest.raises(ConfigError, match="garden"):
        parse_config('[experience]\ngarden = "../etc"\n')


def test_record_writes_a_recording_that_simulate_replays(drive, tiny_backbone_card,
                                                         tiny_defaults, tmp_path, capsys):
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(drive),
                      extra='[[watering.zones]]\nid = 2\nx_m = 1.0\ny_m = 0.5\n')
    out = tmp_path / "mine"
    assert cli(["record", "--config", str(cfg), "--out", str(out), "--seconds", "2",
                "--season", "spring"]) == 0
    assert "recorded" in capsys.readouterr().out
    rec = Recording(out)
    assert 10 <= len(rec) <= 25 and rec.meta.season == "spring"
    tel = rec.telemetry()
    assert len(tel) >= 20 and all(b["t"] > a["t"] for a, b in itertools.pairwise(tel))
    assert rec.meta.extra["zones"] == [{"id": 2, "x_m": 1.0, "y_m": 0.5, "radius_m": 0.3}]
    assert cli(["record", "--config", str(cfg), "--out", str(out), "--seconds", "1"]) == 1
    assert "already exists" in capsys.readouterr().err
    code = cli(["simulate", "--recording", str(out), "--card", str(tiny_backbone_card),
                "--defaults", str(tiny_defaults), "--config", str(cfg), "--speed", "0",
                "--press-after", "-1"])
    assert code == 0
    assert "no label maps in the input" in capsys.readouterr().out


def _start_host(cfg: Path, port: str, extra: list[str] = ()) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "robot.commands.gardenbot", "run", "--config", str(cfg),
         "--port", port, *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)


@pytest.mark.slow
def test_the_failsafe_stops_the_motors_when_the_host_is_killed(tiny_backbone_card,
                                                               tiny_defaults, tmp_path):
    long_drive = write_painted_recording(tmp_path / "long", frames=300)
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(long_drive),
                      extra="[policy]\nmin_confidence = 0.0\n")
    with emulator_process() as mcu:
        host = _start_host(cfg, mcu.port)
        try:
            assert wait_until(lambda: mcu.request(cmd="state")["state"]["motor_left_mmps"] > 0,
                              30), "the host drives"
            host.kill()  # kill -9: no goodbye, no Stop
            killed = time.monotonic()
            host.wait(5)
            assert wait_until(lambda: mcu.request(cmd="state")["state"]["motor_left_mmps"] == 0
                              and mcu.request(cmd="state")["state"]["motor_right_mmps"] == 0,
                              2.0)
            stopped_after_s = time.monotonic() - killed
            state = mcu.request(cmd="state")["state"]
        finally:
            if host.poll() is None:
                host.kill()
    assert state["failsafe_count"] == 1 and state["estop_latched"]
    # the MCU's own measure: it fired at the first tick at or past the 300 ms timeout
    assert 300 <= state["failsafe_age_ms"] <= 400
    assert stopped_after_s < 2.0


@pytest.mark.slow
def test_sigterm_stops_the_motors_and_exits_cleanly(tiny_backbone_card, tiny_defaults,
                                                    tmp_path):
    long_drive = write_painted_recording(tmp_path / "long", frames=300)
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(long_drive),
                      extra="[policy]\nmin_confidence = 0.0\n")
    with emulator_process() as mcu:
        host = _start_host(cfg, mcu.port)
        try:
            assert wait_until(lambda: mcu.request(cmd="state")["state"]["motor_left_mmps"] > 0,
                              30)
            host.send_signal(signal.SIGTERM)
            out, _ = host.communicate(timeout=15)
        finally:
            if host.poll() is None:
                host.kill()
        state = mcu.request(cmd="state")["state"]
        received = mcu.request(cmd="received")["received"]
    assert host.returncode == 0, out
    assert "ended (SIGTERM)" in out
    assert not state["motor_left_mmps"] and not state["motor_right_mmps"]
    assert received[-1]["type"] == "Stop", "the host said goodbye with a Stop"


def test_config_errors_name_the_key_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nmax_sped_mps = 0.3\n[triggers]\nschedule = "at noon"\n')
    assert cli(["run", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml:2: [policy] max_sped_mps: unknown key (did you mean 'max_speed_mps'?)" \
        in err
    assert "bad.toml:4: [triggers] schedule: cannot read schedule 'at noon'" in err
    assert cli(["run", "--config", str(tmp_path / "none.toml")]) == 1
    assert "config file does not exist" in capsys.readouterr().err
    assert cli(["record", "--config", str(bad)]) == 1


def test_missing_port_is_a_clear_error(drive, tiny_backbone_card, tiny_defaults, tmp_path,
                                       capsys):
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(drive),
                      port=str(tmp_path / "ttyNONE"))
    assert cli(["run", "--config", str(cfg), "--frames", "3"]) == 1
    assert "no link to the MCU on" in capsys.readouterr().err


def test_the_learner_settings_come_from_the_config_with_the_learners_defaults():
    s = learner_settings(Config())
    assert s.buffer == BufferConfig() and s.train == TrainConfig()
    assert s.publish == PublishConfig() and s.triggers == TriggerConfig() and s.drift_alarm
    cfg = parse_config('[learner]\nstrategy = "ewc"\nbuffer_bytes = 1_000_000\n'
                       'min_new_samples = 50\npublish_margin = 0.05\nnice = 5\n'
                       '[triggers]\nschedule = "every 6 h"\nbutton_pin = 17\n'
                       'drift_novelty = 0\ndrift_hold_s = 30\n')
    s = learner_settings(cfg)
    assert (s.train.strategy, s.buffer.capacity_bytes, s.publish.margin,
            s.process.nice_increment) == ("ewc", 1_000_000, 0.05, 5)
    assert (s.triggers.schedule, s.triggers.min_new_samples, s.triggers.button_pin,
            s.triggers.drift_sustain_s) == ("every 6 h", 50, "GPIO17", 30.0)
    assert not s.drift_alarm


def test_the_status_line_says_no_frames_while_the_loop_ticks_without_a_camera(monkeypatch,
                                                                               capsys):
    from types import SimpleNamespace

    from robot.commands.run import _status_step
    from robot.runtime import output
    from robot.runtime.loop import Tick

    clock = itertools.count()  # the loop ticks at 30 Hz, on a fake clock
    monkeypatch.setattr(output, "time", SimpleNamespace(monotonic=lambda: next(clock) / 30))
    link = SimpleNamespace(counters=SimpleNamespace(drives_sent=90, drives_acked=90,
                                                    waters_acked=0))
    memory = SimpleNamespace(buffer=[], new_cells=0)
    status = _status_step(Config(), False, link, memory, SimpleNamespace(state="idle"),
                          "camera 0")
    for i in range(90):  # three seconds without a frame
        status.run(Tick(i, 0.0))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("no frames from camera 0 |") for line in lines)
    for i in range(90, 180):  # then frames come
        status.run(Tick(i, 0.0, frame=SimpleNamespace()))
    assert capsys.readouterr().err.splitlines()[-1].startswith("30.0 fps |")


def test_run_with_web_serves_the_dashboard_and_takes_the_owners_stop(tiny_backbone_card,
                                                                    tiny_defaults, tmp_path):
    import threading
    import urllib.request

    from robot.dashboard.auth import write_token_file
    from tests.dashboard.robot_loop import free_port

    drive = write_painted_recording(tmp_path / "long", frames=150)  # 15 s at 10 frames/s
    cfg = tiny_config(tmp_path, tiny_backbone_card, tiny_defaults, camera=str(drive),
                      extra="[policy]\nmin_confidence = 0.0\n")
    write_token_file(tmp_path / "web-token")
    token = (tmp_path / "web-token").read_text().strip()
    port = free_port()
    seen: dict[str, object] = {}

    def call(path: str, body: bytes | None = None) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def state() -> dict | None:
        try:
            return call("/api/state")
        except OSError:
            return None

    def owner() -> None:  # the phone, while the loop runs in the main thread (signals)
        seen["up"] = wait_until(lambda: (state() or {}).get("tick") is not None, 20)
        seen["stop"] = call("/api/command", b'{"kind": "stop"}')["result"]
        seen["stopped"] = wait_until(lambda: (state() or {}).get("policy", {}).get("reason")
                                     == "stop_owner", 5)

    phone = threading.Thread(target=owner, daemon=True)
    phone.start()
    code = cli(["run", "--config", str(cfg), "--seconds", "10", "--web", "--web-port",
                str(port)])
    phone.join(10)
    assert code == 0
    assert seen == {"up": True, "stop": "stopped", "stopped": True}
    assert state() is None, "the dashboard closes with the loop"
