"""MQTT with Home Assistant discovery (paho-mqtt), beside the loop.

Topics, with ``base = <topic_prefix>/<robot_id>``:

- ``base/availability`` — ``online`` / ``offline``, retained; the broker publishes ``offline``
  itself (the last will) when the robot vanishes without saying goodbye;
- ``base/state`` — one JSON object every ``publish_period_s`` (fps, season, adapter, what the
  policy does, link, battery, buffer, learner, moisture per zone …);
- ``base/command/<kind>`` — retrain, stop, resume, water (payload: the zone id, or JSON
  ``{"zone": 1, "duration_ms": 4000}``), rollback (payload: the version);
- ``base/command/result`` — the answer to each command: ``{"command", "ok", "result"|"error"}``;
- ``<discovery_prefix>/<component>/<robot_id>/<object>/config`` — Home Assistant discovery,
  retained: the robot appears as one device with sensors and buttons, no YAML.

The client runs on paho's network thread (``loop_start``), connects asynchronously and
reconnects with back-off (``reconnect_min_s`` doubling up to ``reconnect_max_s``); a publisher
thread reads snapshots and publishes. Neither ever makes the loop wait: commands go through the
bounded queue, and their answers come back through a queue this module's own thread empties.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from robot.common.errors import GardenbotError
from robot.dashboard.commands import CommandQueue, CommandRefused, OwnerCommand, QueueFull
from robot.dashboard.snapshot import Snapshot, SnapshotHolder, describe_drive
from robot.runtime.config import MqttConfig

log = logging.getLogger(__name__)

COMMANDS = ("retrain", "stop", "resume", "water", "rollback")


def robot_name(cfg: MqttConfig) -> str:
    name = cfg.robot_id or socket.gethostname()
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def device_info(robot_id: str, sw_version: str) -> dict[str, Any]:
    return {"identifiers": [f"gardenbot_{robot_id}"], "name": f"gardenbot {robot_id}",
            "manufacturer": "gardenbot", "model": "garden robot", "sw_version": sw_version}


def discovery_payloads(cfg: MqttConfig, robot_id: str, zone_ids: Sequence[int],
                       sw_version: str) -> dict[str, dict[str, Any]]:
    """Discovery topic → config payload for every entity (Home Assistant's MQTT discovery)."""
    base = f"{cfg.topic_prefix}/{robot_id}"
    device = device_info(robot_id, sw_version)
    common = {"availability_topic": f"{base}/availability", "device": device}
    out: dict[str, dict[str, Any]] = {}

    def entity(component: str, obj: str, name: str, **extra: Any) -> None:
        topic = f"{cfg.discovery_prefix}/{component}/{robot_id}/{obj}/config"
        out[topic] = {"name": name, "unique_id": f"gardenbot_{robot_id}_{obj}",
                      "object_id": f"gardenbot_{robot_id}_{obj}", **common, **extra}

    def sensor(obj: str, name: str, **extra: Any) -> None:
        entity("sensor", obj, name, state_topic=f"{base}/state",
               value_template=f"{{{{ value_json.{obj} }}}}", **extra)

    sensor("fps", "Loop rate", unit_of_measurement="fps", state_class="measurement",
           icon="mdi:speedometer")
    sensor("season", "Season", icon="mdi:leaf")
    sensor("adapter", "Adapter version", icon="mdi:brain")
    sensor("doing", "Doing", icon="mdi:robot-mower")
    sensor("link", "Link to the MCU", icon="mdi:serial-port")
    sensor("battery_v", "Battery", device_class="voltage", unit_of_measurement="V",
           state_class="measurement")
    sensor("buffer_cells", "Replay buffer", unit_of_measurement="cells",
           state_class="measurement", icon="mdi:database")
    sensor("learner", "Learner", icon="mdi:school")
    sensor("questions", "Open questions", state_class="measurement", icon="mdi:help-circle")
    entity("binary_sensor", "stopped", "Stopped by the owner", state_topic=f"{base}/state",
           value_template="{{ value_json.stopped }}", payload_on="ON", payload_off="OFF")
    for z in zone_ids:
        sensor(f"moisture_{z}", f"Zone {z} moisture", device_class="moisture",
               unit_of_measurement="%", state_class="measurement")
        sensor(f"last_watered_{z}", f"Zone {z} last watered", device_class="timestamp")
        entity("button", f"water_{z}", f"Water zone {z} now",
               command_topic=f"{base}/command/water", payload_press=str(z), icon="mdi:water")
    for kind, name, icon in (("retrain", "Retrain now", "mdi:school"),
                             ("stop", "Stop", "mdi:stop"), ("resume", "Resume", "mdi:play")):
        entity("button", kind, name, command_topic=f"{base}/command/{kind}",
               payload_press="PRESS", icon=icon)
    return out


def mqtt_state(snap: Snapshot, tz_offset: str = "") -> dict[str, Any]:
    """The flat JSON the discovery templates read."""
    link = snap.link
    out: dict[str, Any] = {
        "fps": round(snap.fps, 1), "season": snap.season or "unknown",
        "adapter": snap.adapter_version,
        "doing": describe_drive(snap.drive_reason, snap.drive_detail)[:250],
        "link": ("connected" if link.get("connected") else "down")
        + (f", {link['failures']} failures" if link.get("failures") else ""),
        "battery_v": snap.battery_v, "buffer_cells": snap.buffer.get("cells"),
        "learner": snap.learner.get("state", "idle"), "questions": snap.questions_open,
        "stopped": "ON" if snap.owner_stopped else "OFF",
    }
    for z in snap.zones:
        out[f"moisture_{z.id}"] = None if z.moisture is None else round(100 * z.moisture, 1)
        out[f"last_watered_{z.id}"] = (z.last_watered + tz_offset) if z.last_watered else None
    return out


def parse_command(kind: str, payload: bytes) -> OwnerCommand:
    """A message on ``base/command/<kind>`` as an owner command; CommandRefused if malformed."""
    if kind not in COMMANDS:
        raise CommandRefused(f"unknown command topic {kind!r} (one of {', '.join(COMMANDS)})")
    text = payload.decode("utf-8", "replace").strip()
    try:
        if kind == "water":
            data = json.loads(text) if text.startswith("{") else {"zone": text}
            ms = data.get("duration_ms")
            return OwnerCommand("water", {"zone": int(data["zone"]),
                                          "duration_ms": None if ms is None else int(ms)}, "mqtt")
        if kind == "rollback":
            return OwnerCommand("rollback", {"version": int(text.lstrip("v"))}, "mqtt")
    except (ValueError, KeyError, TypeError) as e:
        raise CommandRefused(f"{kind}: cannot read the payload {text[:40]!r} ({e})") from None
    return OwnerCommand(kind, {}, "mqtt")


class MqttBridge:
    """State out, commands in, for one robot. ``start()`` returns at once; ``close()`` says
    goodbye (``offline``) when it can and stops both threads."""

    def __init__(self, cfg: MqttConfig, holder: SnapshotHolder, commands: CommandQueue,
                 zone_ids: Callable[[], Sequence[int]], sw_version: str) -> None:
        self.cfg = cfg
        self.holder = holder
        self.commands = commands
        self.zone_ids = zone_ids
        self.sw_version = sw_version
        self.robot_id = robot_name(cfg)
        self.base = f"{cfg.topic_prefix}/{self.robot_id}"
        self.connected = threading.Event()
        self.connects = 0  # successful connections (a reconnect counts again)
        self.published = 0
        self._results: queue.SimpleQueue[tuple[str, bool, str]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._announced_zones: tuple[int, ...] = ()

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"gardenbot-{self.robot_id}", clean_session=True)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password or None)
        if self.cfg.tls:
            c.tls_set(ca_certs=self.cfg.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        c.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        c.reconnect_delay_set(max(1, round(self.cfg.reconnect_min_s)),
                              max(1, round(self.cfg.reconnect_max_s)))
        c.max_queued_messages_set(200)  # while the broker is away, not an ever-growing queue
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._client = c
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="mqtt-publish",
                                        daemon=True)
        self._thread.start()
        log.info("MQTT: connecting to %s:%d as %s", self.cfg.host, self.cfg.port, self.base)

    # --- paho's thread ---------------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT: the broker refused the connection: %s", reason)
            return
        self.connects += 1
        client.subscribe(f"{self.base}/command/+", qos=1)
        self._announce(client)
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        self.connected.set()
        log.info("MQTT: connected to %s:%d (connection %d)", self.cfg.host, self.cfg.port,
                 self.connects)

    def _announce(self, client: Any) -> None:
        self._announced_zones = tuple(self.zone_ids())
        for topic, payload in discovery_payloads(self.cfg, self.robot_id, self._announced_zones,
                                                 self.sw_version).items():
            client.publish(topic, json.dumps(payload), qos=1, retain=True)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any = None) -> None:
        if self.connected.is_set():
            log.warning("MQTT: lost the broker (%s); reconnecting with back-off", reason)
        self.connected.clear()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        kind = msg.topic.rsplit("/", 1)[-1]
        if kind == "result":
            return
        try:
            future = self.commands.put(parse_command(kind, msg.payload))
        except (CommandRefused, QueueFull) as e:
            self._results.put((kind, False, str(e)))
            return
        future.add_done_callback(lambda f, kind=kind: self._done(kind, f))

    def _done(self, kind: str, future: Future[str]) -> None:
        # Runs on whichever thread answered (the loop's): only a non-blocking put here.
        if future.cancelled():
            self._results.put((kind, False, "cancelled"))
            return
        e = future.exception()
        self._results.put((kind, e is None, str(e) if e is not None else future.result()))

    # --- the publisher thread --------------------------------------------------------------

    def _publisher(self) -> None:
        next_state = 0.0
        while not self._stop.is_set():
            wait = max(0.0, next_state - time.monotonic())
            try:
                kind, ok, text = self._results.get(timeout=min(wait, 0.5))
                self._publish(f"{self.base}/command/result",
                              json.dumps({"command": kind, "ok": ok,
                                          "result" if ok else "error": text}))
                continue
            except queue.Empty:
                pass
            if time.monotonic() < next_state:
                continue
            next_state = time.monotonic() + self.cfg.publish_period_s
            snap = self.holder.latest
            if snap is None or not self.connected.is_set():
                continue
            if tuple(self.zone_ids()) != self._announced_zones:
                self._announce(self._client)
            self._publish(f"{self.base}/state", json.dumps(mqtt_state(snap, _utc_offset())))

    def _publish(self, topic: str, payload: str) -> None:
        try:
            info = self._client.publish(topic, payload, qos=0)
            if info.rc == 0:
                self.published += 1
        except (OSError, ValueError, GardenbotError) as e:  # never let a publish end the thread
            log.debug("MQTT publish to %s failed: %s", topic, e)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        c = self._client
        if c is None:
            return
        self._client = None
        if self.connected.is_set():
            info = c.publish(f"{self.base}/availability", "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        c.disconnect()
        c.loop_stop()
        self.connected.clear()


def _utc_offset() -> str:
    off = time.strftime("%z")  # "+0100"
    return f"{off[:3]}:{off[3:]}" if len(off) == 5 else ""
