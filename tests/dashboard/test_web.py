"""The web app over real HTTP, beside a running loop: who may do what, and what cannot make
the loop wait (a client that never reads, a flood of requests)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from robot.common.errors import ConfigError
from robot.dashboard import web as web_module
from robot.dashboard.auth import csrf_token, write_token_file
from robot.dashboard.service import DashboardService, resolve_token
from robot.runtime.config import WebConfig, load_config
from tests.dashboard.robot_loop import need_tool, start_robot, stop_robot

TOKEN = "k" * 32


@pytest.fixture
def robot(tmp_path):
    cfg_path = tmp_path / "gardenbot.toml"
    cfg_path.write_text("# my garden\n[watering]\n# my comment\ninterval_h = 24.0\n"
                        "quiet_hours = \"22:00-07:00\"\n")

    def service(cfg):
        return DashboardService(cfg.web, cfg.mqtt, TOKEN, host="127.0.0.1", port=0,
                                config_path=cfg_path)

    r = start_robot(service)
    r.config_path = cfg_path
    yield r
    stop_robot(r)


def _conn(robot) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", robot.service.server.port, timeout=10)


def _request(robot, method, path, body=None, headers=None):
    c = _conn(robot)
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def _signed_in(robot) -> str:
    r, _ = _request(robot, "GET", f"/live?token={TOKEN}")
    assert r.status == 303 and r.getheader("Location") == "/live"
    cookie = r.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0]


def test_a_wrong_or_missing_token_is_refused_and_the_right_one_signs_in(robot):
    assert _request(robot, "GET", "/live?token=wrong")[0].status == 401
    assert _request(robot, "GET", "/api/state")[0].status == 401
    assert _request(robot, "GET", "/api/state",
                    headers={"Authorization": "Bearer wrong"})[0].status == 401
    assert _request(robot, "GET", "/stream.mjpg")[0].status == 401
    cookie = _signed_in(robot)
    r, data = _request(robot, "GET", "/api/state", headers={"Cookie": cookie})
    assert r.status == 200 and json.loads(data)["tick"] >= 0
    r, data = _request(robot, "GET", "/live", headers={"Cookie": cookie})
    assert r.status == 200 and csrf_token(TOKEN).encode() in data
    assert TOKEN.encode() not in data  # the page carries the CSRF token, never the secret


def test_state_changing_requests_need_the_csrf_header_and_the_same_origin(robot):
    cookie = _signed_in(robot)
    body = {"kind": "retrain"}
    assert _request(robot, "POST", "/api/command", body, {"Cookie": cookie})[0].status == 403
    r, _ = _request(robot, "POST", "/api/command", body,
                    {"Cookie": cookie, "X-Gardenbot-CSRF": csrf_token(TOKEN),
                     "Origin": "http://evil.example"})
    assert r.status == 403
    assert robot.learner.requests == []
    r, data = _request(robot, "POST", "/api/command", body,
                       {"Cookie": cookie, "X-Gardenbot-CSRF": csrf_token(TOKEN)})
    assert r.status == 200 and json.loads(data)["result"] == "retrain started"
    assert robot.learner.requests == ["owner"]
    robot.learner.running = True
    r, data = _request(robot, "POST", "/api/command", body,
                       {"Authorization": f"Bearer {TOKEN}"})  # a script: no cookie, no CSRF
    assert r.status == 409 and "already running" in json.loads(data)["error"]


def test_the_live_view_streams_changing_frames(robot):
    c = _conn(robot)
    c.request("GET", "/stream.mjpg", headers={"Authorization": f"Bearer {TOKEN}"})
    r = c.getresponse()
    assert r.status == 200 and "multipart/x-mixed-replace" in r.getheader("Content-Type")
    frames = []
    while len(frames) < 3:
        line = r.fp.readline()
        if line.lower().startswith(b"content-length:"):
            r.fp.readline()
            frames.append(r.fp.read(int(line.split(b":")[1])))
    c.close()
    assert all(f.startswith(b"\xff\xd8") for f in frames)  # JPEG
    assert len(set(frames)) == 3


def test_a_client_that_never_reads_is_dropped_and_the_loop_never_waits(robot, monkeypatch):
    monkeypatch.setattr(web_module, "WRITE_TIMEOUT_S", 1.0)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", robot.service.server.port))
    s.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
              .encode())
    dash = robot.service.dashboard
    deadline = time.monotonic() + 5
    while dash.streams == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    start = time.monotonic()
    robot.wait_ticks(60, timeout_s=6)  # 2 s of ticks at 30/s while the client reads nothing
    while dash.streams:  # the server gives up on it
        assert time.monotonic() - start < 30, "the stalled live view was never dropped"
        time.sleep(0.1)
    s.close()
    robot.wait_ticks(10)


def test_a_flood_of_requests_is_slowed_and_refused_while_the_loop_runs_on(robot, monkeypatch):
    monkeypatch.setattr(web_module, "MAX_WAIT_S", 0.2)  # refuse sooner than 2 s: a short test
    port = robot.service.server.port
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(60):
            c.request("POST", "/api/command", body=json.dumps({"kind": "stop"}),
                      headers={"Authorization": f"Bearer {TOKEN}"})
            r = c.getresponse()
            r.read()
            with lock:
                statuses.append(r.status)
            if r.status == 429:
                time.sleep(0.01)
        c.close()

    ticks_before = robot.ticks()
    threads = [threading.Thread(target=hammer) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert 429 in statuses  # beyond the client's rate: refused, not queued without end
    rate = robot.service.web_cfg.requests_per_s
    assert statuses.count(200) <= rate * elapsed + 2 * rate + 1  # the rate, plus one burst
    assert robot.ticks() - ticks_before >= 10 * elapsed  # the loop kept ticking (30/s asked)
    assert len(robot.service.commands) == 0


def test_watering_settings_are_validated_then_saved_keeping_the_owners_comments(robot):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    before = robot.config_path.read_text()
    r, data = _request(robot, "POST", "/api/watering", {"quiet_hours": "22-07"}, headers)
    assert r.status == 400 and "quiet_hours" in json.loads(data)["error"]
    assert robot.config_path.read_text() == before  # nothing saved
    r, data = _request(robot, "POST", "/api/watering",
                       {"quiet_hours": "21:00-06:00", "interval_h": "12"}, headers)
    assert r.status == 200, data
    text = robot.config_path.read_text()
    assert "# my comment" in text and "# my garden" in text
    cfg = load_config(robot.config_path)
    assert (cfg.watering.quiet_hours, cfg.watering.interval_h) == ("21:00-06:00", 12.0)
    assert robot.policy.watering.quiet_hours == "21:00-06:00"  # the loop uses it from now on


def test_the_rate_limiter_lets_a_burst_through_then_makes_requests_wait_their_turn():
    from robot.dashboard.auth import RateLimiter

    now = [0.0]
    lim = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert [lim.delay("a") for _ in range(20)] == [0.0] * 20
    assert lim.delay("a") == pytest.approx(0.1)  # the 21st waits for its token
    assert lim.delay("b") == 0.0  # another client has its own bucket
    now[0] += 10.0
    assert lim.delay("a") == 0.0


def test_the_lan_needs_a_private_token_file(tmp_path):
    web = WebConfig(host="0.0.0.0")
    with pytest.raises(ConfigError, match="needs the token file"):
        resolve_token(web, tmp_path / "web-token", "0.0.0.0")
    token, from_file = resolve_token(web, tmp_path / "web-token", "127.0.0.1")
    assert not from_file and len(token) >= 32  # this computer only: a token for this run
    path = tmp_path / "web-token"
    assert write_token_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve_token(web, path, "0.0.0.0") == (path.read_text().strip(), True)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        resolve_token(web, path, "0.0.0.0")


def test_gardenbot_config_init_writes_the_token_file_private(tmp_path):
    from robot.commands.config import main

    assert main(["init", str(tmp_path / "gardenbot.toml")]) == 0
    token = Path(tmp_path / "web-token")
    assert token.stat().st_mode & 0o777 == 0o600
    old = token.read_text()
    assert main(["init", "--new-token", str(tmp_path / "gardenbot.toml")]) == 0
    assert token.read_text() != old and token.stat().st_mode & 0o777 == 0o600


def test_tls_serves_https_with_a_secure_cookie(tmp_path):
    import ssl
    import subprocess

    openssl = need_tool("openssl", "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    cfg = tmp_path / "gardenbot.toml"
    cfg.write_text(f'[web]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    service = DashboardService.from_config(load_config(cfg), port=0)
    url = service.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        c = http.client.HTTPSConnection("127.0.0.1", service.server.port, context=ctx,
                                        timeout=10)
        c.request("GET", f"/live?token={service.token}")
        r = c.getresponse()
        assert r.status == 303 and "Secure" in r.getheader("Set-Cookie")
        c.close()
    finally:
        service.close()
