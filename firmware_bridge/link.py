"""The host side of the serial link, over pyserial (any URL: /dev/tty…, a pty, loop://, socket://).

    with Link.open("/dev/ttyACM0") as link:
        link.release()                          # the MCU boots latched
        link.drive(0.2, 0.0, ttl_ms=300)        # m/s, rad/s; raises on Nak / no answer
        link.water(zone=1, duration_ms=2000)    # acknowledged exactly once, or raises
        print(link.latest_telemetry(), link.stats)

One I/O thread owns the port: it opens it, handshakes (Hello until HelloReply, which also waits
out a board's reset-on-open), reads and decodes frames, and on any port error closes the port
and reconnects with exponential back-off followed by a new handshake. A second thread sends
Heartbeats. Nothing a peer sends can crash either thread: bad frames are counted and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import operator
import queue
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial

from firmware_bridge.constants import (
    DRIVE_TTL_MAX_MS,
    HEARTBEAT_PERIOD_MS,
    HEARTBEAT_TIMEOUT_MS,
    MAX_WHEEL_SPEED_MMPS,
    NO_SEQ,
    PROTOCOL_VERSION,
    PUMP_MAX_ON_MS,
    TELEMETRY_PERIOD_MS,
    EstopAction,
    NakCode,
)
from firmware_bridge.errors import (
    BridgeError,
    FrameError,
    HandshakeError,
    LinkClosed,
    LinkDown,
    LinkTimeout,
    NakError,
    OutOfRangeError,
)
from firmware_bridge.frame import FrameDecoder
from firmware_bridge.messages import (
    Ack,
    Drive,
    Heartbeat,
    Hello,
    HelloReply,
    Message,
    Nak,
    Stop,
    Telemetry,
    Water,
    encode,
    parse,
)
from firmware_bridge.safety import drive_problem, water_problem

log = logging.getLogger(__name__)

_READ_TIMEOUT_S = 0.02


class LinkConfigError(BridgeError, ValueError):
    """A LinkConfig value is invalid. The message names the field."""


@dataclass(frozen=True)
class LinkConfig:
    """How the link behaves. Validated on construction; every time is in milliseconds."""

    baudrate: int = 115_200
    heartbeat_period_ms: int = HEARTBEAT_PERIOD_MS
    ack_timeout_ms: int = 100  # per attempt; QEMU and real boards may want more
    retries: int = 3  # extra attempts for Water, Stop and e-stop request/release
    handshake_timeout_ms: int = 5_000  # covers a bootloader after reset-on-open
    hello_interval_ms: int = 200
    reconnect: bool = True
    backoff_initial_ms: int = 100
    backoff_max_ms: int = 2_000
    silence_timeout_ms: int = 2_000  # no frame at all for this long: reconnect
    telemetry_queue_size: int = 256

    def __post_init__(self) -> None:
        for name in ("baudrate", "heartbeat_period_ms", "ack_timeout_ms", "handshake_timeout_ms",
                     "hello_interval_ms", "backoff_initial_ms", "backoff_max_ms",
                     "silence_timeout_ms", "telemetry_queue_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise LinkConfigError(f"LinkConfig.{name} must be a positive integer, "
                                      f"not {value!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) \
                or self.retries < 0:
            raise LinkConfigError(f"LinkConfig.retries must be an integer >= 0, "
                                  f"not {self.retries!r}")
        if self.heartbeat_period_ms > HEARTBEAT_TIMEOUT_MS // 2:
            # closer to the timeout, ordinary scheduling jitter would fire the failsafe
            raise LinkConfigError(
                f"LinkConfig.heartbeat_period_ms={self.heartbeat_period_ms} must be at most "
                f"half the MCU's heartbeat timeout of {HEARTBEAT_TIMEOUT_MS} ms")
        if self.silence_timeout_ms <= 2 * TELEMETRY_PERIOD_MS:
            raise LinkConfigError(f"LinkConfig.silence_timeout_ms must exceed two telemetry "
                                  f"periods ({2 * TELEMETRY_PERIOD_MS} ms)")


@dataclass(frozen=True)
class RoundTrip:
    """Summary of command round-trip times (send → Ack/Nak), over the last 1000 commands."""

    count: int
    median_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class LinkStats:
    """Counters since the link was opened (a snapshot; read ``link.stats`` again for news)."""

    frames_tx: int
    frames_rx: int
    bytes_tx: int
    bytes_rx: int
    crc_errors: int
    decode_errors: dict[str, int]  # by FrameError reason, CRC errors included
    resyncs: int  # times the decoder dropped bytes to find the next frame
    lost_rx_frames: int  # gaps in the MCU's sequence numbers
    retries: int
    timeouts: int  # commands that got no answer after every retry
    naks: dict[str, int]  # by NakCode name
    handshakes: int
    reconnects: int
    mcu_resets: int  # announced, or seen as a drop in uptime
    telemetry_rx: int
    stale_telemetry: int  # older than the handshake, delivered late: dropped
    telemetry_dropped: int  # queue full: the oldest was dropped
    callback_errors: int
    round_trip: RoundTrip


@dataclass
class _Pending:
    frame: bytes
    msg_type: int
    event: threading.Event = field(default_factory=threading.Event)
    answer: Ack | Nak | None = None


class Link:
    """A connection to one MCU. Thread-safe; ``close()`` is safe twice."""

    def __init__(
        self,
        port_factory: Callable[[], serial.SerialBase],
        *,
        config: LinkConfig | None = None,
        on_telemetry: Callable[[Telemetry], None] | None = None,
        name: str = "link",
    ) -> None:
        self.config = config or LinkConfig()
        self.name = name
        self.on_telemetry = on_telemetry
        self._factory = port_factory
        self._port: serial.SerialBase | None = None
        self._write_lock = threading.Lock()  # also held while the session (epoch) changes
        self._request_lock = threading.Lock()  # one command at a time
        self._state_lock = threading.Lock()
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._first_attempt = threading.Event()
        self._first_error: BaseException | None = None
        self._ever_connected = False
        self._epoch = 0
        self._uptime_floor_ms = 0
        self._last_uptime_ms: int | None = None
        self._decoder = FrameDecoder()
        self._telemetry: queue.Queue[Telemetry] = queue.Queue(self.config.telemetry_queue_size)
        self._latest: Telemetry | None = None
        self._mcu: HelloReply | None = None
        self._hello_seqs: set[int] = set()
        self._last_rx_seq: int | None = None
        self._rtts: deque[float] = deque(maxlen=1000)
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._naks: Counter[str] = Counter()
        self._io_thread: threading.Thread | None = None
        self._hb_thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        config: LinkConfig | None = None,
        on_telemetry: Callable[[Telemetry], None] | None = None,
    ) -> Link:
        """Open ``url`` (anything ``serial.serial_for_url`` takes), handshake, and return the
        running link. Raises :class:`HandshakeError` or :class:`LinkDown` if the first attempt
        fails; later losses are reconnected in the background (``config.reconnect``)."""
        cfg = config or LinkConfig()

        def factory() -> serial.SerialBase:
            return serial.serial_for_url(url, baudrate=cfg.baudrate, timeout=_READ_TIMEOUT_S,
                                         write_timeout=1.0)

        link = cls(factory, config=cfg, on_telemetry=on_telemetry, name=url)
        link.start()
        return link

    def start(self) -> Link:
        """Start the threads and wait for the first handshake (see :meth:`open`)."""
        if self._io_thread is not None:
            return self
        self._io_thread = threading.Thread(target=self._io_loop, daemon=True,
                                           name=f"link-io {self.name}")
        self._hb_thread = threading.Thread(target=self._heartbeat_loop, daemon=True,
                                           name=f"link-heartbeat {self.name}")
        self._io_thread.start()
        self._hb_thread.start()
        self._first_attempt.wait()
        if not self._connected.is_set():
            error = self._first_error
            self.close()
            if isinstance(error, BridgeError):
                raise error
            raise LinkDown(f"{self.name}: {error}") from error
        return self

    def close(self) -> None:
        """Stop the threads and close the port. The MCU's failsafe stops the robot."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._drop_port()
        for thread in (self._io_thread, self._hb_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2)
        self._fail_pending()

    def __enter__(self) -> Link:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def mcu(self) -> HelloReply | None:
        """The MCU's answer to the last handshake: board, firmware version, its limits."""
        return self._mcu

    # --- commands ------------------------------------------------------------------------

    def drive(self, v_mps: float, omega_radps: float, ttl_ms: int) -> Ack:
        """Drive at ``v_mps`` (forward +) and ``omega_radps`` (counter-clockwise +) for at most
        ``ttl_ms``. Values are rounded to mm/s and mrad/s; a value the MCU would refuse raises
        :class:`OutOfRangeError` before anything is sent. Not retried: send the next one."""
        msg = Drive(_round_checked("v_mps", v_mps, 1000), _round_checked("omega_radps",
                    omega_radps, 1000), _int_checked("ttl_ms", ttl_ms))
        problem = drive_problem(msg)
        if problem:
            raise OutOfRangeError(f"drive refused before sending: {problem} "
                                  f"(limits: ±{MAX_WHEEL_SPEED_MMPS} mm/s per wheel, "
                                  f"ttl 1..{DRIVE_TTL_MAX_MS} ms)")
        return self.request(msg, retries=0)

    def water(self, zone: int, duration_ms: int) -> Ack:
        """Open ``zone``'s valve and run the pump for ``duration_ms`` (1..30000). Returns the Ack
        (exactly one per call, retransmissions included) or raises :class:`NakError` (e.g. BUSY:
        pump running or over its duty budget), :class:`LinkTimeout` or :class:`LinkDown`."""
        msg = Water(_int_checked("zone", zone), _int_checked("duration_ms", duration_ms))
        problem = water_problem(msg)
        if problem:
            raise OutOfRangeError(f"water refused before sending: {problem} "
                                  f"(pump_max_on_ms={PUMP_MAX_ON_MS})")
        return self.request(msg)

    def stop(self) -> Ack:
        """Stop the motors and close the pump now."""
        return self.request(Stop())

    def estop(self) -> Ack:
        """Set the MCU's e-stop latch: everything stops until :meth:`release`. Does not wait
        for a command in progress to finish."""
        return self._request(Heartbeat(EstopAction.REQUEST), None, None)

    def release(self) -> Ack:
        """Clear the e-stop latch (set at boot, by a heartbeat timeout, or by :meth:`estop`)."""
        return self.request(Heartbeat(EstopAction.RELEASE))

    def request(self, message: Message, retries: int | None = None,
                ack_timeout_ms: int | None = None) -> Ack:
        """Send ``message`` and wait for its Ack, retransmitting the *same* frame (same seq, so
        the MCU executes it at most once) up to ``retries`` times. Raises :class:`NakError`,
        :class:`LinkTimeout`, :class:`LinkDown` or :class:`LinkClosed`. No range checks here:
        tests use this to send what the MCU must refuse.

        Commands from several threads go one at a time: the MCU remembers only its last
        DEDUPE_DEPTH answers, and others answered meanwhile could push out the one a
        retransmission relies on."""
        with self._request_lock:
            return self._request(message, retries, ack_timeout_ms)

    def _request(self, message: Message, retries: int | None,
                 ack_timeout_ms: int | None) -> Ack:
        retries = self.config.retries if retries is None else retries
        timeout_s = (ack_timeout_ms or self.config.ack_timeout_ms) / 1000
        seq, pending = self._numbered(message)
        try:
            self._check_usable()
            epoch = self._epoch
            attempt = 0
            renumbered = False
            while True:
                sent_at = time.perf_counter()
                pending.event.clear()
                self._write(pending.frame, epoch)
                pending.event.wait(timeout_s)
                answer = pending.answer
                if answer is not None:
                    self._rtts.append((time.perf_counter() - sent_at) * 1000)
                    if isinstance(answer, Ack):
                        return answer
                    if answer.error == NakCode.SEQ_REUSED and not renumbered:
                        # The MCU remembers this seq for another command and ran nothing; under
                        # a fresh seq the command is new to it. Once: a second refusal means
                        # something else numbers frames on this line.
                        log.warning("%s: the MCU remembers seq %d for another command; sending "
                                    "%s again under a new seq", self.name, seq,
                                    message.TYPE.name)
                        with self._state_lock:
                            self._pending.pop(seq, None)
                        seq, pending = self._numbered(message)
                        renumbered = True
                        self._count("retries")
                        continue
                    if answer.error != NakCode.BAD_CRC:
                        raise NakError(answer.error, message.TYPE, seq)
                    pending.answer = None  # our frame arrived damaged: send it again now
                if self._closing.is_set():
                    raise LinkClosed(f"{self.name}: link closed")
                if not self._connected.is_set() or self._epoch != epoch:
                    # A new session (or a rebooted MCU) forgot our seq: resending could run the
                    # command twice, so report it instead.
                    raise LinkDown(f"{self.name}: connection lost while waiting for the answer "
                                   f"to {message.TYPE.name} seq {seq}; it may or may not have "
                                   "been executed")
                if attempt >= retries:
                    self._count("timeouts")
                    raise LinkTimeout(f"{self.name}: no answer to {message.TYPE.name} seq {seq} "
                                      f"after {attempt + 1} attempt(s)")
                attempt += 1
                self._count("retries")
        finally:
            with self._state_lock:
                self._pending.pop(seq, None)

    def _numbered(self, message: Message) -> tuple[int, _Pending]:
        """A fresh seq for ``message`` and its entry among the commands awaiting an answer."""
        with self._state_lock:
            seq = self._next_seq()
            pending = _Pending(encode(message, seq), int(message.TYPE))
            self._pending[seq] = pending
        return seq, pending

    def send(self, message: Message) -> int:
        """Send ``message`` once without waiting for anything; returns its seq."""
        with self._state_lock:
            seq = self._next_seq()
        self._check_usable()
        self._write(encode(message, seq))
        return seq

    # --- telemetry and statistics --------------------------------------------------------

    def latest_telemetry(self) -> Telemetry | None:
        return self._latest

    def read_telemetry(self, timeout_s: float = 1.0) -> Telemetry:
        """The oldest queued Telemetry (the queue holds ``telemetry_queue_size``, dropping the
        oldest when full). Raises :class:`LinkTimeout` if none arrives in time."""
        try:
            return self._telemetry.get(timeout=timeout_s)
        except queue.Empty:
            raise LinkTimeout(f"{self.name}: no telemetry within {timeout_s} s") from None

    def clear_telemetry(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._telemetry.get_nowait()

    @property
    def stats(self) -> LinkStats:
        with self._count_lock:
            c = Counter(self._counts)
        rtts = sorted(self._rtts)
        if rtts:
            rt = RoundTrip(len(rtts), statistics.median(rtts),
                           rtts[min(len(rtts) - 1, math.ceil(0.99 * len(rtts)) - 1)], rtts[-1])
        else:
            rt = RoundTrip(0, math.nan, math.nan, math.nan)
        errors = dict(self._decoder.errors)
        return LinkStats(
            frames_tx=c["frames_tx"], frames_rx=self._decoder.frames, bytes_tx=c["bytes_tx"],
            bytes_rx=self._decoder.bytes_in, crc_errors=errors.get("bad_crc", 0),
            decode_errors=errors, resyncs=sum(errors.values()),
            lost_rx_frames=c["lost_rx_frames"], retries=c["retries"], timeouts=c["timeouts"],
            naks=dict(self._naks), handshakes=c["handshakes"], reconnects=c["reconnects"],
            mcu_resets=c["mcu_resets"], telemetry_rx=c["telemetry_rx"],
            stale_telemetry=c["stale_telemetry"],
            telemetry_dropped=c["telemetry_dropped"], callback_errors=c["callback_errors"],
            round_trip=rt,
        )

    # --- internals: writing --------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = self._seq % (NO_SEQ - 1) + 1  # 1..0xFFFE: 0xFFFF marks "no seq"
        return self._seq

    def _check_usable(self) -> None:
        if self._closing.is_set():
            raise LinkClosed(f"{self.name}: link closed")
        if not self._connected.is_set():
            raise LinkDown(f"{self.name}: not connected (reconnecting)")

    def _write(self, data: bytes, epoch: int | None = None) -> None:
        """Write one frame; with ``epoch``, only into that session (checked under the lock
        that session changes also take, so a retransmission can never reach a new session)."""
        port = self._port
        if port is None:
            raise LinkDown(f"{self.name}: port is closed")
        failure: Exception | None = None
        with self._write_lock:
            if epoch is not None and (epoch != self._epoch or not self._connected.is_set()):
                raise LinkDown(f"{self.name}: the connection was renewed while waiting for an "
                               "answer; not sending the frame into the new session (the "
                               "command may or may not have been executed)")
            try:
                port.write(data)
            except Exception as e:  # pyserial raises several types; all mean the port is unusable
                failure = e
        if failure is not None:
            self._lose_port(f"write failed: {failure}")
            raise LinkDown(f"{self.name}: write failed: {failure}") from failure
        self._count("frames_tx")
        self._count("bytes_tx", len(data))

    # --- internals: the I/O thread -------------------------------------------------------

    def _io_loop(self) -> None:
        backoff_ms = self.config.backoff_initial_ms
        while True:
            try:
                self._session()
            except Exception as e:  # any failure of a session means: reconnect
                if not self._first_attempt.is_set():
                    self._first_error = e
                if not self._closing.is_set():
                    log.warning("%s: link lost: %s", self.name, e)
            had_session = self._connected.is_set()
            self._connected.clear()
            self._drop_port()
            self._fail_pending()
            self._first_attempt.set()
            if self._closing.is_set() or not self.config.reconnect or not self._ever_connected:
                return
            if had_session:
                backoff_ms = self.config.backoff_initial_ms
            if self._closing.wait(backoff_ms / 1000):
                return
            backoff_ms = min(backoff_ms * 2, self.config.backoff_max_ms)
            self._count("reconnects")

    def _session(self) -> None:
        """Open, handshake, then read until something breaks (raises) or the link closes."""
        port = self._factory()
        with self._write_lock:
            self._port = port
        if self._closing.is_set():
            return
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
        self._decoder.reset()
        self._last_rx_seq = None
        self._write_raw(b"\0")  # end whatever partial frame the MCU may hold
        self._handshake(port)
        last_rx = time.monotonic()
        while not self._closing.is_set():
            data = port.read(port.in_waiting or 1)
            now = time.monotonic()
            if data:
                if self._dispatch_bytes(data):
                    last_rx = now
            elif (now - last_rx) * 1000 > self.config.silence_timeout_ms:
                raise LinkDown(f"no frame from the MCU for {self.config.silence_timeout_ms} ms")

    def _handshake(self, port: serial.SerialBase) -> None:
        cfg = self.config
        deadline = time.monotonic() + cfg.handshake_timeout_ms / 1000
        next_hello = 0.0
        self._hello_seqs.clear()
        foreign_version = None
        while not self._connected.is_set():
            if self._closing.is_set():
                return
            now = time.monotonic()
            if now >= deadline:
                detail = (f"; it answers in another protocol version ({foreign_version})"
                          if foreign_version is not None else "")
                raise HandshakeError(f"{self.name}: no HelloReply within "
                                     f"{cfg.handshake_timeout_ms} ms{detail}")
            if now >= next_hello:
                with self._state_lock:
                    seq = self._next_seq()
                self._hello_seqs.add(seq)
                self._write_raw(encode(Hello(), seq))
                next_hello = now + cfg.hello_interval_ms / 1000
            data = port.read(port.in_waiting or 1)
            if data:
                for item in self._decoder.feed(data):
                    if isinstance(item, FrameError) and item.reason == "bad_version":
                        foreign_version = str(item)
                    self._dispatch(item)

    def _write_raw(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise LinkDown(f"{self.name}: port is closed")
        with self._write_lock:
            port.write(data)
        self._count("frames_tx")
        self._count("bytes_tx", len(data))

    def _dispatch_bytes(self, data: bytes) -> bool:
        got_frame = False
        for item in self._decoder.feed(data):
            got_frame |= not isinstance(item, FrameError)
            self._dispatch(item)
        return got_frame

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, FrameError):
            log.debug("%s: dropped a frame: %s", self.name, item)
            return
        try:
            message = parse(item)
        except FrameError as e:
            self._decoder.errors[e.reason] += 1
            log.debug("%s: dropped a frame: %s", self.name, e)
            return
        if self._last_rx_seq is not None and not self._restarts_numbering(message):
            self._count("lost_rx_frames", (item.seq - self._last_rx_seq - 1) % 0x10000)
        self._last_rx_seq = item.seq
        if isinstance(message, Telemetry):
            self._on_telemetry(message)
        elif isinstance(message, Ack | Nak):
            self._on_answer(message)
        elif isinstance(message, HelloReply):
            self._on_hello_reply(message)

    def _restarts_numbering(self, message: Message) -> bool:
        """A rebooted MCU numbers its frames from 0 again: no frames were lost in between."""
        if isinstance(message, HelloReply):
            return message.hello_seq == NO_SEQ
        return (isinstance(message, Telemetry) and self._last_uptime_ms is not None
                and (message.uptime_ms - self._last_uptime_ms) % 2**32 >= 2**31)

    def _on_answer(self, answer: Ack | Nak) -> None:
        if isinstance(answer, Nak):
            self._naks[_nak_name(answer.error)] += 1
        with self._state_lock:
            pending = self._pending.get(answer.acked_seq)
        if pending is None:
            return  # a late answer to a command already given up on, or a stray
        if isinstance(answer, Nak) and answer.error == NakCode.BAD_CRC:
            pending.answer = answer  # seq was read from a damaged frame: only a hint
        elif answer.acked_type != pending.msg_type:
            return
        else:
            pending.answer = answer
        pending.event.set()

    def _on_hello_reply(self, reply: HelloReply) -> None:
        if reply.hello_seq in self._hello_seqs and not self._connected.is_set():
            if reply.protocol_version != PROTOCOL_VERSION:
                raise HandshakeError(f"{self.name}: MCU speaks protocol version "
                                     f"{reply.protocol_version}, we speak {PROTOCOL_VERSION}")
            self._mcu = reply
            self._uptime_floor_ms = reply.uptime_ms
            self._last_uptime_ms = None
            with self._write_lock:
                self._epoch += 1
            self._ever_connected = True
            self._count("handshakes")
            if reply.heartbeat_timeout_ms != HEARTBEAT_TIMEOUT_MS:
                log.warning("%s: MCU's heartbeat timeout is %d ms, we assume %d ms", self.name,
                            reply.heartbeat_timeout_ms, HEARTBEAT_TIMEOUT_MS)
            log.info("%s: connected to board %d firmware %d.%d (uptime %d ms)", self.name,
                     reply.board, reply.firmware_version >> 8, reply.firmware_version & 0xFF,
                     reply.uptime_ms)
            self._connected.set()
            self._first_attempt.set()
        elif reply.hello_seq == NO_SEQ and self._connected.is_set():
            self._mcu_rebooted("it announced a boot")
            self._last_uptime_ms = None
            self._uptime_floor_ms = 0

    def _mcu_rebooted(self, why: str) -> None:
        with self._write_lock:
            self._epoch += 1  # its memory of our sequence numbers is gone
        self._count("mcu_resets")
        log.warning("%s: the MCU rebooted: %s", self.name, why)

    def _on_telemetry(self, t: Telemetry) -> None:
        if not self._connected.is_set() or (
                self._last_uptime_ms is None and t.uptime_ms < self._uptime_floor_ms):
            # From before the handshake (QEMU even delivers such frames after it): not news,
            # and not a reboot either.
            self._count("stale_telemetry")
            return
        if self._last_uptime_ms is not None and \
                (t.uptime_ms - self._last_uptime_ms) % 2**32 >= 2**31:
            self._mcu_rebooted(f"uptime went back ({self._last_uptime_ms} -> {t.uptime_ms} ms)")
        self._last_uptime_ms = t.uptime_ms
        self._latest = t
        self._count("telemetry_rx")
        try:
            self._telemetry.put_nowait(t)
        except queue.Full:
            with contextlib.suppress(queue.Empty):
                self._telemetry.get_nowait()
            self._count("telemetry_dropped")
            with contextlib.suppress(queue.Full):
                self._telemetry.put_nowait(t)
        if self.on_telemetry is not None:
            try:
                self.on_telemetry(t)
            except Exception:
                self._count("callback_errors")
                log.exception("%s: on_telemetry callback failed", self.name)

    # --- internals: the heartbeat thread -------------------------------------------------

    def _heartbeat_loop(self) -> None:
        period_s = self.config.heartbeat_period_ms / 1000
        next_at = time.monotonic()
        while not self._closing.wait(max(0.0, next_at - time.monotonic())):
            next_at += period_s
            now = time.monotonic()
            if next_at < now:
                next_at = now + period_s  # we were starved; do not burst to catch up
            if self._connected.is_set():
                with contextlib.suppress(BridgeError):
                    self.send(Heartbeat(EstopAction.NONE))

    # --- internals: teardown -------------------------------------------------------------

    def _lose_port(self, why: str) -> None:
        """Called by writers: the I/O thread notices the closed port and reconnects."""
        log.warning("%s: %s", self.name, why)
        self._connected.clear()
        self._drop_port()

    def _drop_port(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
            with contextlib.suppress(Exception):
                port.close()

    def _fail_pending(self) -> None:
        with self._state_lock:
            pendings = list(self._pending.values())
        for pending in pendings:
            pending.event.set()  # the waiter sees no answer and checks the connection

    def _count(self, key: str, n: int = 1) -> None:
        with self._count_lock:  # three threads count; Counter += is not atomic
            self._counts[key] += n


def _nak_name(code: int) -> str:
    try:
        return NakCode(code).name
    except ValueError:
        return f"code_{code}"


def _int_checked(name: str, value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise OutOfRangeError(f"{name} must be an integer, not {value!r}") from None


def _round_checked(name: str, value: Any, scale: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OutOfRangeError(f"{name} must be a finite number, not {value!r}")
    scaled = round(value * scale)
    if not -0x8000 <= scaled <= 0x7FFF:
        raise OutOfRangeError(f"{name}={value} is far outside the protocol's range")
    return scaled
