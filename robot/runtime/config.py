"""The robot's configuration: one TOML file (``gardenbot.toml``), validated into frozen dataclasses.

Every key is declared once, with its default, unit and one line of help (robot/common/schema.py),
in the section dataclass of the stage that reads it: ``[camera]`` and ``[perception]`` in
robot/seeing/config.py, ``[robot]`` in robot/common/body.py, ``[policy]`` and ``[watering]`` in
robot/acting/config.py, ``[learner]``, ``[triggers]`` and ``[experience]`` in
robot/learning/config.py, and ``[serial]``, ``[logging]``, ``[paths]``, ``[web]`` and ``[mqtt]``
here (the last two are read by robot/dashboard/, which sits above this module). This module
gathers them into :class:`Config`; the same declarations validate a file, write the commented
default (``gardenbot config init``) and document the keys (docs/config.md). An unknown key or a
bad value is a :class:`ConfigError` that names the file, the line, the section and the key — all
problems at once, so a user fixes a file in one go. tomllib does not report positions, so lines
are found by scanning the text.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from robot.acting.config import PolicyConfig, ProbeConfig, WateringConfig, Zone
from robot.common.atomic import atomic_write_bytes
from robot.common.body import RobotConfig
from robot.common.errors import ConfigError
from robot.common.schema import in_range, non_empty, non_negative, one_of, positive, setting
from robot.learning.config import ExperienceConfig, LearnerConfig, TriggersConfig
from robot.seeing.config import CameraConfig, PerceptionConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_PATH = "gardenbot.toml"


# --- sections read by the runtime itself ----------------------------------------------------------

@dataclass(frozen=True)
class SerialConfig:
    """The link to the microcontroller."""

    port: str = setting("/dev/ttyACM0", "serial port or pyserial URL; \"emulator\" = the "
                        "desktop MCU emulator", check=non_empty)
    baudrate: int = setting(115200, "serial speed", "baud", positive)
    heartbeat_hz: float = setting(10.0, "heartbeats per second (the MCU stops after 300 ms "
                                  "without one; at least two per timeout)", "Hz",
                                  in_range(7, 100))
    ack_timeout_ms: int = setting(100, "wait for an Ack before resending", "ms", positive)
    retries: int = setting(3, "resends of a state-changing command before it fails", "",
                           non_negative)


@dataclass(frozen=True)
class LoggingConfig:
    """Log output."""

    level: str = setting("info", "least severe level logged", check=one_of(
        "debug", "info", "warning", "error"))
    json: bool = setting(False, "one JSON object per line instead of text")
    file: str = setting("", "also append logs to this file; \"\" = stderr only")


@dataclass(frozen=True)
class PathsConfig:
    """Where state lives; relative paths are relative to this file's folder."""

    data_dir: str = setting("data", "replay buffer, adapter store and learner state",
                            check=non_empty)
    recordings_dir: str = setting("recordings", "where `gardenbot record` writes",
                                  check=non_empty)
    defaults_dir: str = setting("", "starting adapter store and replay buffer, copied into an "
                                "empty data_dir; \"\" = the shipped models/default")


def _port(v: int) -> str | None:
    return None if 1 <= v <= 65535 else "must be a TCP port between 1 and 65535"


def _mqtt_topic_part(v: str) -> str | None:
    if not v or any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
        return "must be a non-empty MQTT topic without '+', '#' or a leading/trailing '/'"
    return None


# --- sections read by the dashboard (robot/dashboard/; it sits above the runtime, so its
# sections are declared here, where the file is gathered) ------------------------------------------

@dataclass(frozen=True)
class WebConfig:
    """The owner's dashboard (`gardenbot run --web`; docs/dashboard.md)."""

    host: str = setting("127.0.0.1", "address to listen on; 127.0.0.1 = this computer only, "
                        "0.0.0.0 = the LAN (then the token file must exist)", check=non_empty)
    port: int = setting(8080, "TCP port", check=_port)
    token_file: str = setting("web-token", "file holding the access token (written by "
                              "`gardenbot config init`, mode 0600); relative to this file",
                              check=non_empty)
    tls_cert: str = setting("", "TLS certificate (PEM) for https; \"\" = plain http")
    tls_key: str = setting("", "TLS private key (PEM) matching tls_cert")
    stream_fps: float = setting(10.0, "most frames per second sent to a live view",
                                "frames/s", in_range(0.5, 30))
    max_streams: int = setting(4, "live views served at once; more are refused", "",
                               in_range(1, 64))
    requests_per_s: float = setting(20.0, "requests per second one client may make (a burst "
                                    "of twice that); faster ones wait, then are refused",
                                    "requests/s", in_range(1, 1000))


@dataclass(frozen=True)
class MqttConfig:
    """MQTT and Home Assistant discovery (docs/dashboard.md)."""

    enabled: bool = setting(False, "publish state and take commands over MQTT")
    host: str = setting("localhost", "broker host name or address", check=non_empty)
    port: int = setting(1883, "broker port (8883 is usual with TLS)", check=_port)
    username: str = setting("", "user name at the broker; \"\" = none")
    password: str = setting("", "password at the broker (keep this file mode 0600)")
    tls: bool = setting(False, "connect with TLS")
    ca_file: str = setting("", "CA certificate (PEM) to check the broker with; \"\" = the "
                           "system's")
    robot_id: str = setting("", "this robot's name in topics and in Home Assistant; \"\" = "
                            "the host name")
    topic_prefix: str = setting("gardenbot", "topics are <prefix>/<robot_id>/...",
                                check=_mqtt_topic_part)
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix",
                                    check=_mqtt_topic_part)
    publish_period_s: float = setting(5.0, "state is published this often", "s",
                                      in_range(0.2, 3600))
    keepalive_s: int = setting(30, "MQTT keep-alive; the broker declares the robot offline "
                               "after 1.5 times this without a packet", "s", in_range(5, 3600))
    reconnect_min_s: float = setting(1.0, "first wait before reconnecting to a lost broker",
                                     "s", positive)
    reconnect_max_s: float = setting(60.0, "longest wait between reconnect attempts (doubles "
                                     "up to this)", "s", positive)


@dataclass(frozen=True)
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    watering: WateringConfig = field(default_factory=WateringConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    serial: SerialConfig = field(default_factory=SerialConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    triggers: TriggersConfig = field(default_factory=TriggersConfig)
    experience: ExperienceConfig = field(default_factory=ExperienceConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    # The file it came from (None for defaults); relative paths resolve against its folder.
    source: Path | None = field(default=None, compare=False)

    def resolve(self, path: str) -> Path:
        """A path from this config as an absolute Path (``~`` expanded)."""
        p = Path(os.path.expanduser(path))
        if p.is_absolute():
            return p
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / p).resolve()


SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(Config) if f.default_factory is not MISSING
}
ARRAYS_OF_TABLES: dict[tuple[str, str], type] = {("watering", "zones"): Zone}


# --- loading and validation ----------------------------------------------------------------------

def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; every problem is a ConfigError naming key and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist (write one with `gardenbot "
                          "config init`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    cfg = parse_config(text, str(path))
    return _with_source(cfg, path.resolve())


def parse_config(text: str, where: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message already carries "(at line N, column M)"
        raise ConfigError(f"{where}: not valid TOML: {e}") from e
    problems: list[str] = []
    sections: dict[str, Any] = {}
    locate = _Locator(text, where)
    for name, value in data.items():
        if name not in SECTIONS:
            problems.append(locate.message((), name, f"unknown section [{name}]"
                                           + _suggest(name, SECTIONS)))
            continue
        if not isinstance(value, dict):
            problems.append(locate.message((), name, f"[{name}] must be a table"))
            continue
        sections[name] = _build(SECTIONS[name], value, (name,), locate, problems)
    if not problems:
        _cross_checks(sections, locate, problems)
    if problems:
        raise ConfigError("\n".join(problems))
    return Config(**{k: v for k, v in sections.items() if v is not None})


def _build(cls: type, table: dict[str, Any], where: tuple[str, ...], locate: _Locator,
           problems: list[str], index: int | None = None) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in known:
            problems.append(locate.message(where, key, "unknown key" + _suggest(key, known),
                                           index))
            continue
        f = known[key]
        if (where[-1], key) in ARRAYS_OF_TABLES:
            values[key] = _build_array(ARRAYS_OF_TABLES[(where[-1], key)], raw, (*where, key),
                                       locate, problems)
            continue
        value, problem = _typed(raw, hints[key])
        if problem is None and f.metadata.get("check") is not None:
            problem = f.metadata["check"](value)
            if problem:
                problem = f"{problem}, got {_show(value)}"
        if problem:
            problems.append(locate.message(where, key, problem, index))
        else:
            values[key] = value
    return cls(**values)  # a bad or unknown key is reported and left at its default


def _build_array(item_cls: type, raw: Any, where: tuple[str, ...], locate: _Locator,
                 problems: list[str]) -> tuple[Any, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        problems.append(locate.message(where[:-1], where[-1], f"must be a list of tables "
                                       f"([[{'.'.join(where)}]] blocks)"))
        return ()
    built = []
    for i, item in enumerate(raw):
        missing = [f.name for f in fields(item_cls)
                   if f.metadata.get("required") and f.name not in item]
        for key in missing:
            problems.append(locate.message(where, "", f"entry {i + 1} lacks {key!r}", i))
        built.append(_build(item_cls, item, where, locate, problems, index=i))
    return tuple(built)


def _typed(raw: Any, typ: Any) -> tuple[Any, str | None]:
    """The value converted to ``typ`` (int → float is allowed), or what is wrong with it."""
    if typ is bool:
        return raw, None if isinstance(raw, bool) else f"must be true or false, got {_show(raw)}"
    if typ is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
        return raw, None if ok else f"must be a whole number, got {_show(raw)}"
    if typ is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return raw, f"must be a number, got {_show(raw)}"
        if not math.isfinite(raw):
            return raw, f"must be a finite number, got {_show(raw)}"
        return float(raw), None
    if typ is str:
        return raw, None if isinstance(raw, str) else f"must be a string, got {_show(raw)}"
    raise TypeError(f"config schema uses an unsupported type {typ!r}")  # a bug in this file


def _show(v: Any) -> str:
    return repr(v) if isinstance(v, str) else (str(v).lower() if isinstance(v, bool) else str(v))


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _cross_checks(s: dict[str, Any], locate: _Locator, problems: list[str]) -> None:
    """Rules between keys; each problem points at the key a user would change."""
    pol = s.get("policy") or PolicyConfig()
    if pol.stop_distance_m >= pol.slow_down_distance_m:
        problems.append(locate.message(("policy",), "stop_distance_m", f"must be less than "
                                       f"slow_down_distance_m ({pol.slow_down_distance_m})"))
    if pol.slow_down_distance_m > pol.lookahead_m:
        problems.append(locate.message(("policy",), "slow_down_distance_m", f"must not exceed "
                                       f"lookahead_m ({pol.lookahead_m})"))
    cam = s.get("camera") or CameraConfig()
    if cam.reconnect_min_s > cam.reconnect_max_s:
        problems.append(locate.message(("camera",), "reconnect_min_s", f"must not exceed "
                                       f"reconnect_max_s ({cam.reconnect_max_s})"))
    wat = s.get("watering") or WateringConfig()
    if wat.duration_ms > wat.max_duration_ms:
        problems.append(locate.message(("watering",), "duration_ms", f"must not exceed "
                                       f"max_duration_ms ({wat.max_duration_ms})"))
    mq = s.get("mqtt") or MqttConfig()
    if mq.reconnect_min_s > mq.reconnect_max_s:
        problems.append(locate.message(("mqtt",), "reconnect_min_s", f"must not exceed "
                                       f"reconnect_max_s ({mq.reconnect_max_s})"))
    web = s.get("web") or WebConfig()
    if bool(web.tls_cert) != bool(web.tls_key):
        problems.append(locate.message(("web",), "tls_cert" if not web.tls_cert else "tls_key",
                                       "tls_cert and tls_key go together"))
    seen: set[int] = set()
    for i, z in enumerate(wat.zones):
        if z.id in seen:
            problems.append(locate.message(("watering", "zones"), "id",
                                           f"zone id {z.id} is used twice", i))
        seen.add(z.id)


class _Locator:
    """Finds the line of a key in the TOML text (tomllib gives values, not positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        # (line number, table path, array index or None, key or None)
        self.entries: list[tuple[int, tuple[str, ...], int | None, str | None]] = []
        table: tuple[str, ...] = ()
        index: int | None = None
        counts: dict[tuple[str, ...], int] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            m = self._HEADER.match(line)
            if m:
                table = tuple(p.strip().strip('"') for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    index = counts.get(table, -1) + 1
                    counts[table] = index
                else:
                    index = None
                self.entries.append((n, table, index, None))
                continue
            km = re.match(r"^\s*([A-Za-z0-9_.\"-]+)\s*=", line)
            if km:
                parts = tuple(p.strip().strip('"') for p in km.group(1).split("."))
                self.entries.append((n, table + parts[:-1], index, parts[-1]))

    def line_of(self, table: tuple[str, ...], key: str, index: int | None = None) -> int | None:
        for n, t, i, k in self.entries:
            if t == table and i == index and k == key:
                return n
        for n, t, _, k in self.entries:  # a sub-table such as [camera.extra]
            if k is None and key and t == (*table, key):
                return n
        for n, t, i, k in self.entries:  # the table's header (e.g. a [[zones]] entry)
            if k is None and t == table and i == index:
                return n
        return None

    def message(self, table: tuple[str, ...], key: str, problem: str,
                index: int | None = None) -> str:
        line = self.line_of(table, key, index)
        at = f"{self.where}:{line}" if line else self.where
        if not table:
            return f"{at}: {problem}"
        section = ".".join(table) + (f"[{index + 1}]" if index is not None else "")
        return f"{at}: [{section}] {key + ': ' if key else ''}{problem}"


def _with_source(cfg: Config, source: Path) -> Config:
    return replace(cfg, source=source)


# --- writing -------------------------------------------------------------------------------------

HEADER = """\
# gardenbot configuration.
# Every key is shown with its default value; delete a line to keep the default.
# Check a file with `gardenbot config check gardenbot.toml`; every key: docs/config.md.
"""

ZONE_EXAMPLE = """\
# Watering zones, one table each (world coordinates in metres), for example:
# [[watering.zones]]
# id = 1
# x_m = 2.0
# y_m = 0.5
# radius_m = 0.4
"""


def render_config(cfg: Config | None = None) -> str:
    """The config as commented TOML; ``render_config()`` is the default file."""
    cfg = cfg if cfg is not None else Config()
    out = [HEADER]
    for name in SECTIONS:
        section = getattr(cfg, name)
        out.append(f"\n[{name}]\n# {_doc_line(type(section))}\n")
        arrays = []
        for f in fields(section):
            if (name, f.name) in ARRAYS_OF_TABLES:
                arrays.append(f)
                continue
            out.append(f"# {_help_line(f)}\n{f.name} = {toml_value(getattr(section, f.name))}\n")
        for f in arrays:
            items = getattr(section, f.name)
            if not items:
                out.append("\n" + ZONE_EXAMPLE)
            for item in items:
                out.append(f"\n[[{name}.{f.name}]]\n")
                for g in fields(item):
                    out.append(f"{g.name} = {toml_value(getattr(item, g.name))}"
                               f"  # {_help_line(g)}\n")
    return "".join(out)


def _doc_line(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


def _help_line(f: Any) -> str:
    unit = f.metadata.get("unit")
    return f.metadata["help"] + (f" [{unit}]" if unit else "")


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:_}" if abs(v) >= 1_000_000 else str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        # JSON string escapes are a subset of TOML basic-string escapes.
        return json.dumps(v, ensure_ascii=False)
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def write_default_config(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path}: already exists (use --force to replace it)")
    atomic_write_bytes(path, render_config().encode("utf-8"))
    return path


def schema() -> list[tuple[str, str, Any, str, str]]:
    """(section, key, default, unit, help) for every key, in file order (for docs and tests)."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in fields(cls):
            if (name, f.name) in ARRAYS_OF_TABLES:
                for g in fields(ARRAYS_OF_TABLES[(name, f.name)]):
                    rows.append((f"{name}.{f.name}", g.name, g.default, g.metadata["unit"],
                                 g.metadata["help"]))
                continue
            rows.append((name, f.name, f.default, f.metadata["unit"], f.metadata["help"]))
    return rows


def render_markdown() -> str:
    """The key reference of docs/config.md: one table per section, from the declarations."""
    out = []
    for name, cls in SECTIONS.items():
        out.append(f"### [{name}]\n\n{_doc_line(cls)}\n\n| key | default | unit | meaning |\n"
                   "|---|---|---|---|\n")
        for f in fields(cls):
            if (name, f.name) in ARRAYS_OF_TABLES:
                continue
            out.append(_md_row(f))
        for (sec, key), item in ARRAYS_OF_TABLES.items():
            if sec == name:
                out.append(f"\n`[[{sec}.{key}]]` — {_doc_line(item)} One table per entry; "
                           "`id`, `x_m` and `y_m` are required.\n\n"
                           "| key | default | unit | meaning |\n|---|---|---|---|\n")
                out.extend(_md_row(g) for g in fields(item))
        out.append("\n")
    return "".join(out).rstrip() + "\n"


def _md_row(f: Any) -> str:
    default = "(required)" if f.metadata.get("required") else f"`{toml_value(f.default)}`"
    meaning = f.metadata["help"].replace("|", "\\|")
    return f"| `{f.name}` | {default} | {f.metadata['unit']} | {meaning} |\n"
