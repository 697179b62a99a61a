"""What an open dashboard tab does, for `gardenbot bench perf`: keeps the live view (MJPEG)
open and reads it, and polls /api/state once a second and /api/history every ten seconds, as
static/app.js does. A stand-in for the owner's phone: a real browser on the robot's own 2
cores would measure the browser, not the robot.

    python -m tools.bench.page_client --port P --token T --seconds S
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time


def stream(port: int, token: str, stop: threading.Event, counts: dict[str, int]) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/stream.mjpg", headers={"Authorization": f"Bearer {token}"})
    r = c.getresponse()
    while not stop.is_set():
        line = r.fp.readline()
        if not line:
            break
        if line.lower().startswith(b"content-length:"):
            r.fp.readline()
            counts["frames"] += 1
            counts["bytes"] += len(r.fp.read(int(line.split(b":")[1])))
    c.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--seconds", type=float, required=True)
    a = p.parse_args(argv)
    counts = {"frames": 0, "bytes": 0, "polls": 0, "errors": 0}
    stop = threading.Event()
    t = threading.Thread(target=stream, args=(a.port, a.token, stop, counts), daemon=True)
    t.start()
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    end = time.monotonic() + a.seconds
    n = 0
    while time.monotonic() < end:
        for path in ("/api/state",) + (("/api/history",) if n % 10 == 0 else ()):
            c.request("GET", path, headers={"Authorization": f"Bearer {a.token}"})
            r = c.getresponse()
            r.read()
            counts["polls" if r.status == 200 else "errors"] += 1
        n += 1
        time.sleep(1.0)
    stop.set()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
