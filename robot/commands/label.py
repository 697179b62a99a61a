"""`gardenbot label`: answer the robot's questions at a terminal.

Talks to the running robot's dashboard (`gardenbot run --web`, or `gardenbot simulate --web`)
over its JSON API (robot/dashboard/web.py): lists the open questions, most useful first; shows
each frame with the region outlined — in an OpenCV window when there is a display, else as a
PNG whose path is printed — reads the class from the terminal and posts it. The robot turns
each answer into labels of every cell of the region (``source="owner"``) for its next retrain.
docs/dashboard.md, "The robot's questions".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from robot.common.errors import ConfigError, GardenbotError

TIMEOUT_S = 10.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot label",
        description="Answer the robot's questions (\"what is this?\" about a region of a frame) "
                    "at a terminal, through the running robot's dashboard.",
        epilog="The address and token: the URL `gardenbot run --web` printed "
               "(http://HOST:PORT/live?token=…). docs/dashboard.md")
    p.add_argument("url", nargs="?", default=None,
                   help="the dashboard's address, e.g. the URL `gardenbot run --web` printed "
                        "(its ?token=… is used); default http://127.0.0.1:<[web] port>")
    p.add_argument("--config", type=Path, help="a gardenbot.toml: [web] port and token file")
    p.add_argument("--token-file", type=Path,
                   help="file holding the dashboard token (default: the URL's token, else the "
                        "config's [web] token_file)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where the question pictures go when there is no window (default: a "
                        "temporary folder)")
    p.add_argument("--no-window", action="store_true",
                   help="never open a window: save each picture as PNG and print its path")
    p.add_argument("--list", action="store_true", help="list the open questions and exit")
    p.add_argument("--answer", action="append", default=[], metavar="ID=CLASS",
                   help="answer question ID with CLASS without asking (repeatable)")
    return p


@dataclass
class Dashboard:
    """The dashboard's question API over HTTP, with the owner's token."""

    base: str  # http://host:port
    token: str

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None
              ) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            if e.code == 401:
                raise ConfigError(f"{self.base}: the dashboard refused the token "
                                  f"({_error_text(e.read())})") from None
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise GardenbotError(f"cannot reach the dashboard at {self.base} ({reason}); is "
                                 "`gardenbot run --web` running there?") from None

    def questions(self) -> dict[str, Any]:
        status, data = self._call("GET", "/api/questions")
        if status != 200:
            raise GardenbotError(f"{self.base}: listing the questions failed ({status}: "
                                 f"{_error_text(data)})")
        return json.loads(data)

    def image(self, qid: str) -> bytes | None:
        """The question's picture (JPEG), None when the question is no longer open."""
        status, data = self._call("GET", f"/api/questions/{urllib.parse.quote(qid)}.jpg")
        return data if status == 200 else None

    def answer(self, qid: str, class_name: str) -> tuple[bool, str]:
        """(accepted, the dashboard's words)."""
        status, data = self._call("POST", f"/api/questions/{urllib.parse.quote(qid)}/answer",
                                  {"class": class_name})
        return status == 200, _error_text(data)


def _error_text(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data.decode(errors="replace").strip()[:200]
    return str(body.get("error") or body.get("result") or body)


def connect(url: str | None, config: Path | None, token_file: Path | None) -> Dashboard:
    """The dashboard at ``url`` (its ``?token=`` if it has one) or the config's port."""
    from robot.dashboard.auth import read_token_file
    from robot.runtime.config import Config, load_config

    cfg = load_config(config) if config else Config()
    if url is None:
        url = f"http://127.0.0.1:{cfg.web.port}"
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{url!r} is not a dashboard address (http://HOST:PORT)")
    token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
    if token_file is not None or token is None:
        path = token_file or (cfg.resolve(cfg.web.token_file) if cfg.source is not None
                              else None)
        if path is None:
            raise ConfigError("no token: give the URL `gardenbot run --web` printed (with "
                              "?token=…), --token-file, or --config with its [web] token_file")
        token = read_token_file(path)
    return Dashboard(f"{parts.scheme}://{parts.netloc}", token)


def parse_class(text: str, classes: list[str]) -> str:
    """The class the owner typed: a name of the class list or its number (1-based)."""
    t = text.strip()
    if t.isdigit() and 1 <= int(t) <= len(classes):
        return classes[int(t) - 1]
    if t in classes:
        return t
    raise ValueError(f"{t!r} is not a class of this robot; type one of "
                     + ", ".join(f"{i} {c}" for i, c in enumerate(classes, 1)))


class Viewer:
    """Shows a question's picture: an OpenCV window with a display, else a PNG file."""

    def __init__(self, out: Path | None, window: bool, say: Callable[[str], None]) -> None:
        self.out = out
        self.window = window and bool(os.environ.get("DISPLAY") or
                                      os.environ.get("WAYLAND_DISPLAY"))
        self.say = say

    def show(self, qid: str, jpeg: bytes) -> None:
        import cv2
        import numpy as np

        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            self.say("  (the picture could not be decoded)")
            return
        if self.window:
            try:
                cv2.imshow("gardenbot label", image)
                cv2.waitKey(50)  # paint it; the answer is typed at the terminal
                return
            except cv2.error:  # the headless OpenCV wheel: no windows
                self.window = False
        if self.out is None:
            self.out = Path(tempfile.mkdtemp(prefix="gardenbot-questions-"))
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{qid}.png"
        cv2.imwrite(str(path), image)
        self.say(f"  picture: {path}")

    def close(self) -> None:
        if self.window:
            import cv2

            cv2.destroyAllWindows()


def describe(q: dict[str, Any], now: float) -> str:
    age = max(0.0, now - float(q.get("created") or now))
    ago = f"{age:.0f} s" if age < 120 else f"{age / 60:.0f} min"
    season = f", {q['season']}" if q.get("season") else ""
    return f"{q['id']}: {q['cells']} cells the robot {_WHY.get(q['why'], q['why'])}" \
           f"{season}, {ago} ago"


_WHY = {"stopped": "stopped at", "unsure": "was unsure of", "novel": "had never seen the like of"}


def ask_all(dash: Dashboard, viewer: Viewer, stdin: TextIO, out: TextIO) -> int:
    """Go through the open questions with the owner; how many answers were accepted."""

    def say(text: str, end: str = "\n") -> None:
        out.write(text + end)
        out.flush()

    listing = dash.questions()
    classes, questions = listing["classes"], listing["questions"]
    if not questions:
        say("no open questions")
        return 0
    menu = "  ".join(f"{i} {c}" for i, c in enumerate(classes, 1))
    say(f"{len(questions)} open questions, most useful first. Classes: {menu}. "
        "Enter skips, q quits.")
    accepted = 0
    for q in questions:
        jpeg = dash.image(q["id"])
        if jpeg is None:
            say(f"{q['id']}: no longer open (answered already, or dropped for newer ones)")
            continue
        say(describe(q, time.time()))
        viewer.show(q["id"], jpeg)
        while True:
            say("  class? ", end="")
            line = stdin.readline()
            if not line or line.strip().lower() in ("q", "quit"):
                say("" if line else "(end of input)")
                return accepted
            if not line.strip():
                break  # skipped
            try:
                name = parse_class(line, classes)
            except ValueError as e:
                say(f"  {e}")
                continue  # asked again: nothing was sent
            ok, text = dash.answer(q["id"], name)
            say(f"  {text}" if ok else f"  not accepted: {text}")
            accepted += ok
            break
    return accepted


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    dash = connect(args.url, args.config, args.token_file)

    def say(text: str) -> None:
        print(text, flush=True)

    if args.list:
        listing = dash.questions()
        now = time.time()
        for q in listing["questions"]:
            say(describe(q, now))
        say(f"{len(listing['questions'])} open; classes: {', '.join(listing['classes'])}")
        return 0
    if args.answer:
        failed = []
        classes = dash.questions()["classes"]
        for item in args.answer:
            qid, sep, given = item.partition("=")
            if not sep:
                raise GardenbotError(f"--answer {item!r}: write it as ID=CLASS (e.g. q3=lawn)")
            try:
                name = parse_class(given, classes)
            except ValueError as e:
                failed.append(f"{qid}: {e}")
                continue
            ok, text = dash.answer(qid.strip(), name)
            if ok:
                say(f"{qid}: {text}")
            else:
                failed.append(f"{qid}: {text}")
        if failed:
            raise GardenbotError("not answered: " + "; ".join(failed))
        return 0
    viewer = Viewer(args.out, not args.no_window, say)
    try:
        n = ask_all(dash, viewer, sys.stdin, sys.stdout)
    finally:
        viewer.close()
    say(f"{n} answers sent; the robot learns from them at its next retrain")
    return 0
