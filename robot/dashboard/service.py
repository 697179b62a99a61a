"""Starting and stopping the dashboard beside a loop: the web server on its own thread, MQTT on
paho's, and the two loop steps that connect them to the loop.

    service = DashboardService.from_config(cfg, board=board, store=store)
    print(service.start())                    # the URL, with the token for this computer
    owner, snapshot = service.steps(handles)  # put owner before actuation, snapshot last
    ...                                       # the loop runs; snapshot.shutdown() closes it all

Security (docs/dashboard.md): the server listens on ``[web] host`` (127.0.0.1 by default).
Anywhere but this computer the token file written by ``gardenbot config init`` is required;
on this computer a missing file means a fresh token for this run, printed in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.errors import ConfigError, GardenbotError
from robot.dashboard.auth import is_loopback, new_token, read_token_file
from robot.dashboard.commands import CommandQueue
from robot.dashboard.history import History
from robot.dashboard.mqtt import MqttBridge
from robot.dashboard.snapshot import SnapshotHolder
from robot.dashboard.steps import OwnerCommandStep, RobotHandles, SnapshotStep
from robot.dashboard.web import Dashboard, WebContext
from robot.learning.questions import QuestionBoard
from robot.runtime.config import Config, MqttConfig, WebConfig

log = logging.getLogger(__name__)

WEB_THREAD_NICE = 5  # the web thread yields the CPU to the loop when both want it


class WebError(GardenbotError, OSError):
    """The web server cannot start (the port is taken, a bad certificate)."""


class WebServerThread:
    """An aiohttp application served from its own thread and event loop."""

    def __init__(self, app: Any, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.app, self.host, self.port, self.ssl_context = app, host, port, ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 15.0) -> int:
        """Listen; the port actually bound (``port = 0`` picks a free one)."""
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise WebError(f"the web server did not start within {timeout_s} s")
        if self._error is not None:
            raise WebError(f"cannot serve the dashboard on {self.host}:{self.port}: "
                           f"{self._error}") from self._error
        return self.port

    def _serve(self) -> None:
        from aiohttp import web

        # Linux: niceness is per thread; threads started from here inherit it
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WEB_THREAD_NICE)
        loop = asyncio.new_event_loop()
        self._loop = loop
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context,
                               backlog=64)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
        except BaseException as e:  # reported by start() in the caller's thread
            self._error = e
            self._started.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if thread is None:
            return
        self._thread = None
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def resolve_token(web: WebConfig, token_path: Path | None, host: str) -> tuple[str, bool]:
    """(token, from the file?) — the file's token, or a fresh one on this computer only."""
    if token_path is not None and token_path.exists():
        return read_token_file(token_path), True
    if is_loopback(host):
        return new_token(), False
    raise ConfigError(f"[web] host = {host!r} serves the LAN, which needs the token file "
                      f"{token_path or web.token_file}: write it with `gardenbot config init` "
                      "(or keep host = \"127.0.0.1\")")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"[web] tls_cert/tls_key: cannot load {cert} / {key}: {e}") from e
    return ctx


@dataclass(frozen=True)
class DashboardSteps:
    owner: OwnerCommandStep  # between the policy and the actuation step
    questions: Any  # robot.runtime.learning.QuestionStep: with the label steps
    snapshot: SnapshotStep  # last


class DashboardService:
    def __init__(self, web_cfg: WebConfig, mqtt_cfg: MqttConfig, token: str, *,
                 board: QuestionBoard | None = None, store: Any = None,
                 config_path: Path | None = None, ssl_context: ssl.SSLContext | None = None,
                 host: str | None = None, port: int | None = None) -> None:
        self.web_cfg, self.mqtt_cfg = web_cfg, mqtt_cfg
        self.host = host if host is not None else web_cfg.host
        self.port = port if port is not None else web_cfg.port
        self.token = token
        self.board = board
        self.holder = SnapshotHolder()
        self.commands = CommandQueue()
        self.history = History()
        self.ctx = WebContext(self.holder, self.commands, self.history, token, board=board,
                              store=store, config_path=config_path,
                              stream_fps=web_cfg.stream_fps, max_streams=web_cfg.max_streams,
                              requests_per_s=web_cfg.requests_per_s,
                              secure_cookie=ssl_context is not None)
        self.dashboard = Dashboard(self.ctx)
        self.server = WebServerThread(self.dashboard.app, self.host, self.port, ssl_context)
        self.mqtt: MqttBridge | None = None
        self.url = ""
        self._handles: RobotHandles | None = None
        self._closed = False

    @classmethod
    def from_config(cls, cfg: Config, *, board: QuestionBoard | None = None, store: Any = None,
                    host: str | None = None, port: int | None = None) -> DashboardService:
        """The service as ``cfg`` says; ``host``/``port`` override ``[web]`` (--web-port)."""
        web = cfg.web
        host = host if host is not None else web.host
        # Without a config file (`gardenbot simulate` on the defaults) there is no token file.
        token_path = cfg.resolve(web.token_file) if cfg.source is not None else None
        token, _ = resolve_token(web, token_path, host)
        ctx = tls_context(cfg.resolve(web.tls_cert), cfg.resolve(web.tls_key)) \
            if web.tls_cert else None
        return cls(web, cfg.mqtt, token, board=board, store=store, config_path=cfg.source,
                   ssl_context=ctx, host=host, port=port)

    def start(self) -> str:
        """Start serving; the URL to open (with the token, which signs the browser in)."""
        port = self.server.start()
        scheme = "https" if self.server.ssl_context is not None else "http"
        shown = self.host
        if shown in ("0.0.0.0", "::", ""):
            shown = socket.gethostname()
        elif ":" in shown:
            shown = f"[{shown}]"
        self.url = f"{scheme}://{shown}:{port}/live?token={self.token}"
        if self.mqtt_cfg.enabled:
            from robot import __version__

            self.mqtt = MqttBridge(self.mqtt_cfg, self.holder, self.commands, self._zone_ids,
                                   __version__)
            self.mqtt.start()
        return self.url

    def _zone_ids(self) -> list[int]:
        h = self._handles
        return [z.id for z in h.policy.zones] if h is not None else []

    def steps(self, robot: RobotHandles, ask_every_s: float = 20.0) -> DashboardSteps:
        """The loop's steps: owner commands (between policy and actuation), the robot's
        questions (with the other label steps, before the learner) and the snapshot (last)."""
        from robot.runtime.learning import CellOrigin, QuestionStep

        self._handles = robot
        self.ctx.store = robot.store
        self.history.oracle_stops = oracle_stops(robot)
        if robot.board is None:
            robot.board = QuestionBoard(robot.memory.buffer.classes)
        self.board = self.ctx.board = robot.board
        owner = OwnerCommandStep(self.commands, robot)
        describe = robot.describe or (lambda tick: CellOrigin(robot.season(tick), "", 0.0))
        questions = QuestionStep(robot.board, robot.memory, describe, robot.min_confidence,
                                 ask_every_s=ask_every_s)
        return DashboardSteps(owner, questions,
                              SnapshotStep(self.holder, robot, owner, on_shutdown=self.close))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.mqtt is not None:
            self.mqtt.close()
        self.server.close()


def oracle_stops(robot: RobotHandles) -> Callable[[np.ndarray, tuple[str, ...]], bool]:
    """Would the policy stop on the true cells? (For false stops, where truth is known.)"""
    from robot.acting.policy import drive_command
    from robot.common.classes import UNLABELLED
    from robot.seeing.perception import CellMap

    pol = robot.policy

    def stops(truth: np.ndarray, names: tuple[str, ...]) -> bool:
        known = truth != UNLABELLED
        cells = CellMap(np.where(known, truth, 0).astype(np.uint8), known.astype(np.float32),
                        np.zeros(truth.shape, np.float32), names, 0.0, "truth")
        return drive_command(cells, pol.ground, pol.policy, pol.robot).is_stop

    return stops
