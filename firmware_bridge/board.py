"""Things that answer on a pty, as child processes: the Python emulator, the firmware core built for
the host, and the AVR firmware in QEMU — plus building the firmware with its Makefile.

    build_firmware(tmp, "avr")                             # make -C firmware BUILD=tmp avr
    with qemu_board(tmp / "firmware-sim.elf") as board:    # boots; board.port is the UART's pty
        with Link.open(board.port) as link: ...

Used by the tests, the benchmarks and the desktop simulation.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from firmware_bridge.errors import BridgeError

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
_REPO_ROOT = Path(__file__).resolve().parent.parent

TOOLS = {
    "host": ("make", "cc"),
    "avr": ("make", "avr-gcc", "avr-objcopy", "avr-objdump", "avr-size"),
    "qemu": ("qemu-system-avr",),
}
_DEBIAN = {"avr-gcc": "gcc-avr", "avr-objcopy": "binutils-avr", "avr-objdump": "binutils-avr",
           "avr-size": "binutils-avr",
           "qemu-system-avr": "qemu-system-misc", "cc": "gcc", "make": "make"}


class BoardError(BridgeError, RuntimeError):
    """A build failed, a tool is missing, or a board process did not come up."""


def missing_tools(kind: str) -> str | None:
    """Why ``kind`` ('host', 'avr', 'qemu') cannot run here, or None if it can."""
    missing = [t for t in TOOLS[kind] if shutil.which(t) is None]
    if not missing:
        return None
    packages = sorted({_DEBIAN[t] for t in missing})
    return (f"{', '.join(missing)} not installed (Debian: apt-get install {' '.join(packages)}; "
            "scripts/system-deps.sh does it)")


def build_firmware(build_dir: str | os.PathLike[str], target: str = "all") -> Path:
    """Run the firmware Makefile into ``build_dir``; returns it. Raises :class:`BoardError`."""
    build_dir = Path(build_dir).resolve()
    result = subprocess.run(["make", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir}", target],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BoardError(f"firmware build ({target}) failed:\n{result.stdout}\n{result.stderr}")
    return build_dir


class PtyProcess:
    """A child process that serves a pty and names it on its output; ``port`` is that path."""

    def __init__(self, argv: list[str], path_pattern: str, *, env: dict[str, str] | None = None,
                 control: bool = False, start_timeout_s: float = 10.0) -> None:
        self.argv = argv
        self._pattern = re.compile(path_pattern)
        self._env = env
        self._control = control
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._lines: deque[str] = deque(maxlen=200)
        self._replies: deque[str] = deque()
        self._reply_ready = threading.Condition()
        self._control_lock = threading.Lock()
        self.port = ""

    def start(self) -> PtyProcess:
        if self._proc is not None:
            return self
        self._proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if not self._control
            else None, stdin=subprocess.PIPE if self._control else subprocess.DEVNULL,
            text=True, env=self._env, start_new_session=True,
        )
        found = threading.Event()
        threading.Thread(target=self._drain, args=(found,), daemon=True).start()
        if not found.wait(self._start_timeout_s) or not self.port:
            output = "\n".join(self._lines)
            self.close()
            raise BoardError(f"{self.argv[0]} did not name its pty within "
                             f"{self._start_timeout_s} s; output:\n{output}")
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def request(self, **request: Any) -> dict[str, Any]:
        """Send one JSON control request (emulator process mode) and return its reply."""
        return self.send_line(json.dumps(request))

    def send_line(self, line: str) -> dict[str, Any]:
        """Send one raw line on the control channel and return the JSON reply to it."""
        if not self._control or self._proc is None or self._proc.stdin is None:
            raise BoardError("this process has no control channel")
        with self._control_lock:
            self._proc.stdin.write(line.replace("\n", " ") + "\n")
            self._proc.stdin.flush()
            with self._reply_ready:
                if not self._reply_ready.wait_for(lambda: self._replies, timeout=5):
                    raise BoardError(f"no reply to {line!r}")
                return json.loads(self._replies.popleft())

    def close(self, kill: bool = False) -> None:
        """Stop the process (SIGTERM, or SIGKILL with ``kill``); safe twice."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill() if kill else proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)

    def __enter__(self) -> PtyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self, found: threading.Event) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            line = line.rstrip("\n")
            if not found.is_set():
                self._lines.append(line)
                match = self._pattern.search(line)
                if match:
                    self.port = match.group(1)
                    found.set()
            elif self._control:
                with self._reply_ready:
                    self._replies.append(line)
                    self._reply_ready.notify_all()
            else:
                self._lines.append(line)
        found.set()


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def emulator_process(link_path: str | os.PathLike[str] | None = None) -> PtyProcess:
    """``python -m firmware_bridge.emulator`` with its JSON control channel (``request()``)."""
    argv = [sys.executable, "-m", "firmware_bridge.emulator"]
    if link_path is not None:
        argv += ["--link", str(link_path)]
    return PtyProcess(argv, r"^(/\S+)$", env=_python_env(), control=True)


def host_firmware(executable: str | os.PathLike[str],
                  link_path: str | os.PathLike[str] | None = None) -> PtyProcess:
    """The C firmware core built for the host (``gb_host_firmware``) on a pty."""
    argv = [str(executable)] + (["--link", str(link_path)] if link_path is not None else [])
    return PtyProcess(argv, r"^(/\S+)$")


def qemu_board(elf: str | os.PathLike[str]) -> PtyProcess:
    """The AVR firmware booted in ``qemu-system-avr -machine uno`` with its UART on a pty.

    QEMU discards UART output while no client holds the pty and notices a new client only about
    once a second, so allow a few seconds for a handshake after opening it."""
    argv = ["qemu-system-avr", "-machine", "uno", "-bios", str(elf), "-nographic",
            "-serial", "pty", "-monitor", "none"]
    return PtyProcess(argv, r"char device redirected to (/dev/pts/\d+)")


def wait_until(predicate: Any, timeout_s: float, interval_s: float = 0.01) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passes; returns the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return bool(result)
        time.sleep(interval_s)
