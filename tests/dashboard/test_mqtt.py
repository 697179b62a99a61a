"""MQTT against a real Mosquitto broker: Home Assistant discovery, availability, commands, and a
broker that vanishes and comes back while the loop runs on."""

from __future__ import annotations

import json
import socket

import pytest

from robot.dashboard.service import DashboardService
from robot.runtime.config import MqttConfig
from tests.dashboard.mosquitto import PASSWORD, USER, Broker, Listener
from tests.dashboard.robot_loop import start_robot, stop_robot

BASE = "gardenbot/testbot"


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.kill()


def _mqtt(broker: Broker, **over) -> MqttConfig:
    return MqttConfig(enabled=True, host="127.0.0.1", port=broker.port, username=USER,
                      password=PASSWORD, robot_id="testbot", publish_period_s=0.3,
                      keepalive_s=5, reconnect_min_s=1.0, reconnect_max_s=2.0, **over)


@pytest.fixture
def setup(broker):
    listener = Listener(broker.port, ["homeassistant/#", f"{BASE}/#"])
    robot = start_robot(lambda cfg: DashboardService(cfg.web, cfg.mqtt, "x" * 32,
                                                     host="127.0.0.1", port=0),
                        mqtt=_mqtt(broker))
    yield robot, listener
    stop_robot(robot)
    listener.close()


def test_the_robot_appears_in_home_assistant_with_sensors_and_buttons(setup):
    _robot, listener = setup
    listener.wait(lambda: listener.on(f"{BASE}/availability") == [b"online"]
                  and listener.on(f"{BASE}/state"))
    configs = {t: json.loads(p) for t, p, retained in listener.messages
               if t.startswith("homeassistant/")}
    fps = configs["homeassistant/sensor/testbot/fps/config"]
    assert fps["state_topic"] == f"{BASE}/state"
    assert fps["availability_topic"] == f"{BASE}/availability"
    assert fps["device"]["identifiers"] == ["gardenbot_testbot"]
    assert fps["unique_id"] == "gardenbot_testbot_fps"
    for zone in (1, 2):  # the policy's zones: a moisture sensor and a water button each
        button = configs[f"homeassistant/button/testbot/water_{zone}/config"]
        assert button["command_topic"] == f"{BASE}/command/water"
        assert button["payload_press"] == str(zone)
        assert configs[f"homeassistant/sensor/testbot/moisture_{zone}/config"][
            "device_class"] == "moisture"
    for kind in ("retrain", "stop", "resume"):
        assert configs[f"homeassistant/button/testbot/{kind}/config"]["command_topic"] == \
            f"{BASE}/command/{kind}"
    state = json.loads(listener.on(f"{BASE}/state")[-1])
    assert state["fps"] > 0 and state["season"] == "summer" and state["stopped"] == "OFF"
    # every template reads a key the state has
    for cfg in configs.values():
        if "value_template" in cfg:
            key = cfg["value_template"].split("value_json.")[1].split()[0]
            assert key in state, key


def test_a_retrain_command_reaches_the_learner_and_a_water_command_in_quiet_hours_is_refused(
        setup):
    robot, listener = setup
    listener.wait(lambda: robot.service.mqtt.connected.is_set())
    listener.publish(f"{BASE}/command/retrain", "PRESS")
    listener.wait(lambda: listener.on(f"{BASE}/command/result"))
    assert robot.learner.requests == ["owner"]
    assert json.loads(listener.on(f"{BASE}/command/result")[0]) == {
        "command": "retrain", "ok": True, "result": "retrain started"}

    robot.local_time[0] = robot.local_time[0].replace(hour=23, minute=15)
    robot.policy.watering = robot.policy.watering.__class__(quiet_hours="22:00-07:00")
    listener.publish(f"{BASE}/command/water", "1")
    listener.wait(lambda: len(listener.on(f"{BASE}/command/result")) >= 2)
    result = json.loads(listener.on(f"{BASE}/command/result")[1])
    assert result["command"] == "water" and not result["ok"]
    assert "quiet hours" in result["error"]
    assert robot.emulator.state().waters == ()


def test_the_last_will_says_offline_when_the_robot_vanishes_and_it_comes_back(setup):
    robot, listener = setup
    listener.wait(lambda: robot.service.mqtt.connected.is_set())
    # the connection breaks without a goodbye (as when the robot's Wi-Fi drops)
    robot.service.mqtt._client.socket().shutdown(socket.SHUT_RDWR)
    listener.wait(lambda: b"offline" in listener.on(f"{BASE}/availability"))
    listener.wait(lambda: listener.on(f"{BASE}/availability")[-1] == b"online", 15)
    assert robot.service.mqtt.connects == 2


def test_a_broker_that_vanishes_and_comes_back_never_stops_the_loop(setup, broker):
    robot, listener = setup
    listener.wait(lambda: robot.service.mqtt.connected.is_set())
    listener.close()
    broker.pause()  # gone without closing the connection
    robot.wait_ticks(90, timeout_s=6)  # 3 s of ticks at 30/s
    broker.kill()
    robot.wait_ticks(60, timeout_s=4)
    broker.start()  # the same port
    back = Listener(broker.port, [f"{BASE}/availability", f"{BASE}/state"])
    try:
        back.wait(lambda: back.on(f"{BASE}/state"), 20)  # reconnected and publishing again
        assert back.on(f"{BASE}/availability")[-1] == b"online"
        assert robot.service.mqtt.connects >= 2
    finally:
        back.close()


def test_a_wrong_password_is_refused_by_the_broker(broker):
    robot = start_robot(lambda cfg: DashboardService(cfg.web, cfg.mqtt, "x" * 32,
                                                     host="127.0.0.1", port=0),
                        mqtt=_mqtt(broker).__class__(**{**_mqtt(broker).__dict__,
                                                        "password": "wrong"}))
    try:
        robot.wait_ticks(60)
        assert not robot.service.mqtt.connected.is_set()
        assert robot.service.mqtt.connects == 0
    finally:
        stop_robot(robot)
