"""The dashboard's web app (aiohttp): four pages, a live MJPEG view and a small JSON API.

Pages: ``/live``, ``/learning``, ``/questions``, ``/garden`` (plain HTML + static/app.js, no
build step). API: ``GET /api/state``, ``/api/history``, ``/api/adapters``, ``/api/questions``,
``/api/questions/{id}.jpg``, ``/stream.mjpg``, ``/frame.jpg``; ``POST /api/command``,
``/api/questions/{id}/answer``, ``/api/watering``. Authentication and CSRF: auth.py.

Nothing here waits on the loop or makes the loop wait: snapshots are read from the holder,
commands go into the bounded queue and their answer is awaited here (at most
``COMMAND_WAIT_S``). A live view sends at most ``stream_fps`` frames per second and only the
newest frame: a client that reads slowly skips frames, one that stops reading is dropped after
``WRITE_TIMEOUT_S``. Requests beyond a client's rate wait their turn (which slows a flooding
client down to its rate) and are refused when the wait would be long or too many wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from robot.common.atomic import atomic_write_bytes
from robot.common.errors import ConfigError, GardenbotError
from robot.dashboard.auth import RateLimiter, csrf_token, same_secret
from robot.dashboard.commands import (
    CommandQueue,
    CommandRefused,
    OwnerCommand,
    QueueFull,
    edit_watering,
    watering_changes,
)
from robot.dashboard.history import History
from robot.dashboard.render import live_jpeg, outline_region
from robot.dashboard.snapshot import SnapshotHolder
from robot.learning.questions import QuestionBoard, QuestionError

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGES = ("live", "learning", "questions", "garden")
COOKIE = "gardenbot_session"
CSRF_HEADER = "X-Gardenbot-CSRF"
COMMAND_WAIT_S = 5.0  # how long a request waits for the loop to carry its command out
WRITE_TIMEOUT_S = 10.0  # a live view that takes longer to accept one frame is dropped
STREAM_SNDBUF = 64 * 1024  # bytes the kernel may hold for one live view
MAX_WAIT_S = 2.0  # a request that would wait longer than this for its turn is refused
MAX_WAITING = 64  # requests waiting for their turn at once; more are refused
HISTORY_PERIOD_S = 1.0


@dataclass
class WebContext:
    """What the app serves from and acts on."""

    holder: SnapshotHolder
    commands: CommandQueue
    history: History
    token: str
    board: QuestionBoard | None = None
    store: Any = None  # robot.adapter.store.AdapterStore
    config_path: Path | None = None
    stream_fps: float = 10.0
    max_streams: int = 4
    requests_per_s: float = 20.0
    secure_cookie: bool = False


class Dashboard:
    """The aiohttp application and its per-app state (live views, caches)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.csrf = csrf_token(ctx.token)
        self.limiter = RateLimiter(ctx.requests_per_s, 2 * ctx.requests_per_s)
        self.streams = 0
        self.waiting = 0
        self.refused = 0
        self._jpeg: tuple[int, bytes | None] = (-1, None)
        self._adapters: tuple[Any, list[dict[str, Any]]] | None = None
        self._closing = False
        self.app = web.Application(middlewares=[self._limit, self._auth])
        r = self.app.router
        r.add_get("/", self._root)
        r.add_get("/login", self._login)
        for page in PAGES:
            r.add_get(f"/{page}", self._page)
        r.add_static("/static/", STATIC, show_index=False)
        r.add_get("/stream.mjpg", self._stream)
        r.add_get("/frame.jpg", self._frame)
        r.add_get("/api/state", self._state)
        r.add_get("/api/history", self._history)
        r.add_get("/api/adapters", self._adapters_list)
        r.add_get("/api/questions", self._questions)
        r.add_get("/api/questions/{qid}.jpg", self._question_image)
        r.add_post("/api/command", self._command)
        r.add_post("/api/questions/{qid}/answer", self._answer)
        r.add_post("/api/watering", self._watering)
        self.app.on_startup.append(self._start_history)
        self.app.on_shutdown.append(self._stop)

    # --- middlewares -----------------------------------------------------------------------

    @web.middleware
    async def _limit(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)
        delay = self.limiter.delay(request.remote or "?")
        if delay > 0:
            if delay > MAX_WAIT_S or self.waiting >= MAX_WAITING:
                self.refused += 1
                return web.json_response({"error": "too many requests; slow down"}, status=429,
                                         headers={"Retry-After": str(max(1, round(delay)))})
            self.waiting += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self.waiting -= 1
        return await handler(request)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/static/") or request.path == "/login":
            return await handler(request)
        given = request.query.get("token")
        if given is not None and request.method == "GET":
            if not same_secret(given, self.ctx.token):
                return _refuse(request, "wrong token")
            return self._logged_in(request.path if request.path != "/" else "/live")
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            if not same_secret(bearer[7:].strip(), self.ctx.token):
                return _refuse(request, "wrong token")
            return await handler(request)  # not a browser session: no CSRF to guard against
        if not same_secret(request.cookies.get(COOKIE), self.ctx.token):
            return _refuse(request, "not signed in: open the link with ?token=… that "
                           "`gardenbot run --web` printed")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin.split("://", 1)[-1] != request.host:
                return web.json_response({"error": "cross-site request refused"}, status=403)
            if not same_secret(request.headers.get(CSRF_HEADER), self.csrf):
                return web.json_response({"error": f"missing or wrong {CSRF_HEADER} header"},
                                         status=403)
        return await handler(request)

    def _logged_in(self, path: str) -> web.Response:
        resp = web.Response(status=303, headers={"Location": path})
        resp.set_cookie(COOKIE, self.ctx.token, httponly=True, samesite="Strict",
                        secure=self.ctx.secure_cookie, path="/")
        return resp

    # --- pages -----------------------------------------------------------------------------

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/live")

    async def _login(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if token is None or not same_secret(token, self.ctx.token):
            return _refuse(request, "wrong token" if token else "no token given")
        return self._logged_in("/live")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        name = request.path.strip("/")
        html = (STATIC / f"{name}.html").read_text(encoding="utf-8")
        return web.Response(text=html.replace("{{csrf}}", self.csrf), content_type="text/html",
                            headers={"Cache-Control": "no-store",
                                     "Content-Security-Policy": "default-src 'self'; "
                                     "img-src 'self' data:; frame-ancestors 'none'",
                                     "X-Content-Type-Options": "nosniff"})

    # --- live view -------------------------------------------------------------------------

    def _latest_jpeg(self) -> bytes | None:
        snap = self.ctx.holder.latest
        if snap is None:
            return None
        if self._jpeg[0] != snap.tick:  # one rendering per tick, whatever the viewers
            self._jpeg = (snap.tick, live_jpeg(snap))
        return self._jpeg[1]

    async def _frame(self, request: web.Request) -> web.StreamResponse:
        data = self._latest_jpeg()
        if data is None:
            return web.json_response({"error": "no frame yet"}, status=503)
        return web.Response(body=data, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self.streams >= self.ctx.max_streams:
            return web.json_response({"error": f"{self.streams} live views are open already"},
                                     status=503)
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:  # a small kernel buffer: a stalled client is noticed in a second
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF)
        resp = web.StreamResponse(headers={
            "Content-Type": "multipart/x-mixed-replace; boundary=frame",
            "Cache-Control": "no-store"})
        await resp.prepare(request)
        self.streams += 1
        last = -1
        period = 1.0 / self.ctx.stream_fps
        taken = time.monotonic()  # when the client last took everything sent
        try:
            while not self._closing and transport is not None and not transport.is_closing():
                await asyncio.sleep(period)
                if transport.get_write_buffer_size() > 0:  # the last frame is still waiting
                    if time.monotonic() - taken > WRITE_TIMEOUT_S:
                        raise TimeoutError("not reading")
                    continue  # skip frames rather than queue them
                taken = time.monotonic()
                snap = self.ctx.holder.latest
                if snap is None or snap.tick == last:
                    continue
                last = snap.tick
                data = self._latest_jpeg()
                if data is not None:
                    await resp.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
        except (TimeoutError, ConnectionError):
            log.info("live view to %s dropped (not reading)", request.remote)
            if transport is not None:
                transport.abort()
        finally:
            self.streams -= 1
        return resp

    # --- reading ---------------------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.StreamResponse:
        snap = self.ctx.holder.latest
        state = snap.state_json() if snap is not None else {"tick": None}
        if snap is not None:
            state["commands"] = snap.extra.get("commands", [])
        state["web"] = {"live_views": self.streams, "refused": self.refused}
        return web.json_response(state, headers={"Cache-Control": "no-store"})

    async def _history(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"bin_s": self.ctx.history.bin_s,
                                  "bins": self.ctx.history.as_json()})

    async def _adapters_list(self, request: web.Request) -> web.StreamResponse:
        store = self.ctx.store
        if store is None:
            return web.json_response({"current": None, "versions": []})
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, self._read_adapters, store)
        return web.json_response(data)

    def _read_adapters(self, store: Any) -> dict[str, Any]:
        key = (store.pointer_stamp(), tuple(store.version_numbers()))
        if self._adapters is None or self._adapters[0] != key:
            rows = []
            for info in store.versions():
                m, val = info.meta, info.meta.get("validation") or {}
                scores = val.get("scores") or {}
                rows.append({
                    "version": info.version, "error": info.error,
                    "created": m.get("created"), "strategy": m.get("strategy"),
                    "reason": m.get("reason"), "parent": m.get("parent"),
                    "score": val.get("score"), "parent_score": val.get("parent_score"),
                    "per_class": {k: v.get("accuracy") for k, v in
                                  (scores.get("per_class") or {}).items()},
                    "per_season": {k: v.get("balanced_accuracy", v.get("accuracy")) for k, v in
                                   (scores.get("per_season") or {}).items()},
                    "data_counts": m.get("data_counts"),
                })
            self._adapters = (key, rows)
        return {"current": store.current_version(), "versions": self._adapters[1]}

    async def _questions(self, request: web.Request) -> web.StreamResponse:
        board = self.ctx.board
        if board is None:
            return web.json_response({"classes": [], "questions": []})
        return web.json_response({
            "classes": list(board.classes), "asked": board.asked, "answered": board.answered,
            "questions": [{"id": q.id, "why": q.why, "cells": q.cells, "season": q.season,
                           "created": q.created_s, "usefulness": round(q.usefulness, 3)}
                          for q in board.ranked()]})  # most useful first

    async def _question_image(self, request: web.Request) -> web.StreamResponse:
        if self.ctx.board is None:
            raise web.HTTPNotFound()
        try:
            q = self.ctx.board.get(request.match_info["qid"])
        except QuestionError as e:
            return web.json_response({"error": str(e)}, status=404)
        return web.Response(body=outline_region(q.jpeg, q.region), content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=3600"})

    # --- changing things -------------------------------------------------------------------

    async def _command(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        try:
            cmd = OwnerCommand(str(body.get("kind")), _command_args(body), origin="web")
        except (CommandRefused, KeyError, TypeError, ValueError) as e:
            return web.json_response({"error": f"bad command: {e}"}, status=400)
        return await self._run(cmd)

    async def _run(self, cmd: OwnerCommand) -> web.StreamResponse:
        try:
            future = self.ctx.commands.put(cmd)
        except QueueFull as e:
            return web.json_response({"error": str(e)}, status=503)
        return await answer_of(future)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        board = self.ctx.board
        if board is None:
            raise web.HTTPNotFound()
        body = await _json_body(request)
        try:
            answer = board.answer(request.match_info["qid"], str(body.get("class")))
        except QuestionError as e:
            return web.json_response({"error": str(e)}, status=404 if "no open" in str(e)
                                     else 400)
        return web.json_response({"result": f"{len(answer.cells)} cells labelled "
                                            f"{answer.class_name}; they go to the replay buffer"})

    async def _watering(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        loop = asyncio.get_running_loop()
        try:
            changes, saved = await loop.run_in_executor(None, self._save_watering, body)
        except GardenbotError as e:
            return web.json_response({"error": str(e)}, status=400)
        resp = await self._run(OwnerCommand("watering", {"changes": changes}, origin="web"))
        if resp.status == 200:
            where = f"saved to {self.ctx.config_path}" if saved else \
                "applied for this run (no config file to save to: start with --config)"
            return web.json_response({"result": where, "changes": changes})
        return resp

    def _save_watering(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        from robot.runtime.config import parse_config

        changes = watering_changes(body)
        path = self.ctx.config_path
        if path is None:
            parse_config(edit_watering("", changes), "the settings")  # validates only
            return changes, False
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the config ({e})") from e
        new = edit_watering(text, changes)
        parse_config(new, str(path))  # every problem, with its line, before anything is saved
        try:
            atomic_write_bytes(path, new.encode("utf-8"))
        except OSError as e:
            raise ConfigError(f"{path}: cannot save the config ({e}); nothing changed") from e
        return changes, True

    # --- lifecycle -------------------------------------------------------------------------

    async def _start_history(self, app: web.Application) -> None:
        async def sample() -> None:
            failed = False
            while True:
                try:
                    self.ctx.history.sample(self.ctx.holder.latest, time.time())
                except Exception:  # a bad sample must not end the plots (logged once)
                    if not failed:
                        log.exception("dashboard history: a sample failed")
                    failed = True
                await asyncio.sleep(HISTORY_PERIOD_S)

        self._history_task = asyncio.get_running_loop().create_task(sample())

    async def _stop(self, app: web.Application) -> None:
        self._closing = True
        self._history_task.cancel()


async def answer_of(future: Future[str]) -> web.Response:
    """The loop's answer to a command as an HTTP response (200, 409 refused, 503 no answer)."""
    try:
        text = await asyncio.wait_for(asyncio.wrap_future(future), COMMAND_WAIT_S)
    except asyncio.TimeoutError:
        future.cancel()
        return web.json_response({"error": "the robot's loop did not answer in time"},
                                 status=503)
    except GardenbotError as e:
        return web.json_response({"error": str(e)}, status=409)
    return web.json_response({"result": text})


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > 4096:
        raise web.HTTPRequestEntityTooLarge(max_size=4096, actual_size=request.content_length)
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _command_args(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    if kind == "water":
        ms = body.get("duration_ms")
        return {"zone": int(body["zone"]), "duration_ms": None if ms in (None, "") else int(ms)}
    if kind == "rollback":
        return {"version": int(body["version"])}
    if kind == "watering":
        raise ValueError("use POST /api/watering")
    return {}


def _refuse(request: web.Request, why: str) -> web.Response:
    if request.path.startswith("/api/") or request.path.endswith((".mjpg", ".jpg")):
        return web.json_response({"error": why}, status=401)
    html = (STATIC / "signin.html").read_text(encoding="utf-8").replace("{{why}}", why)
    return web.Response(text=html, content_type="text/html", status=401)
