"""Who may use the dashboard: the access token, the CSRF token, and a per-client rate limit.

- The **access token** is a random secret. ``gardenbot config init`` writes it to the token
  file (mode 0600) beside the config; on the LAN it is required. On this computer only
  (``[web] host = 127.0.0.1``, the default) a missing file is fine: a fresh token is made for
  the run and printed in the URL (the way Jupyter does it), so other users of the computer
  cannot drive the robot either. The browser trades the token for a session cookie
  (HttpOnly, SameSite=Strict); scripts send ``Authorization: Bearer <token>``.
- Every state-changing request (POST) must also carry the **CSRF token** in the
  ``X-Gardenbot-CSRF`` header. It is derived from the access token (HMAC), embedded in the
  pages, and a cross-site page can neither read it nor set a custom header without a CORS
  preflight, which this server never grants. A POST whose ``Origin`` is another site is
  refused as well.
- A :class:`RateLimiter` (token bucket per client address) bounds what one client can make the
  server do; see web.py for how waiting and refusing keep a flood from starving the loop.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from robot.common.errors import ConfigError

TOKEN_BYTES = 24


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def write_token_file(path: Path, overwrite: bool = False) -> bool:
    """Write a fresh token to ``path`` with mode 0600 (created so: never readable by others,
    not even for a moment). Returns False when a token file exists and is kept."""
    path = Path(path)
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (new_token() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True


def read_token_file(path: Path) -> str:
    """The token in ``path``; ConfigError when it is missing, empty, or readable by others."""
    path = Path(path)
    try:
        st = path.stat()
        token = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no dashboard token file (write one with `gardenbot config "
                          "init`)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the dashboard token ({e})") from e
    if st.st_mode & 0o077:
        raise ConfigError(f"{path}: the dashboard token is readable by other users "
                          f"(mode {st.st_mode & 0o777:o}); run `chmod 600 {path}`")
    if len(token) < 16:
        raise ConfigError(f"{path}: the dashboard token is too short (write a new one with "
                          "`gardenbot config init --new-token`)")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def csrf_token(access_token: str) -> str:
    return hmac.new(access_token.encode(), b"gardenbot-csrf", hashlib.sha256).hexdigest()[:32]


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second, bursts of ``burst``.

    ``delay(client)`` is 0 when a request may go now, else how long it must wait for its turn
    (the caller waits, or refuses when that is too long). Remembers at most ``max_clients``
    clients (the least recent is forgotten), so a flood of addresses cannot grow it.
    """

    def __init__(self, rate: float, burst: float, max_clients: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst = rate, burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def delay(self, client: str) -> float:
        now = self._clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate) - 1.0
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0.0 if tokens >= 0 else -tokens / self.rate
