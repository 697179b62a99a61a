"""Frames on the wire: ``COBS(version, type, seq, payload, CRC) 0x00``.

Pure functions and one small stateful stream decoder; nothing here knows about serial ports or
what a payload means (see :mod:`firmware_bridge.messages`). A frame is rejected on a COBS error,
short length, bad CRC or foreign version *before* anything looks at its payload.
"""

from __future__ import annotations

import binascii
from collections import Counter
from typing import NamedTuple

from firmware_bridge import cobs
from firmware_bridge.constants import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    PROTOCOL_VERSION,
)
from firmware_bridge.crc import INIT, crc16
from firmware_bridge.errors import FrameError

MIN_BODY_SIZE = HEADER_SIZE + CRC_SIZE
_crc_hqx = binascii.crc_hqx  # = crc16, without a Python call in between
_new_tuple = tuple.__new__


class Frame(NamedTuple):
    """A frame that passed COBS, length, CRC and version checks; the payload is not parsed.

    A NamedTuple rather than a frozen dataclass: the decoder makes one per frame, and this is
    several times cheaper to build (see ``gardenbot bench bridge``)."""

    msg_type: int
    seq: int
    payload: bytes


def encode_body(msg_type: int, seq: int, payload: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    """Header + payload + CRC, before COBS. ``version`` is a parameter only so tests can lie."""
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq {seq} does not fit in 16 bits")
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}")
    body = bytes((version, msg_type, seq & 0xFF, seq >> 8)) + payload
    return body + crc16(body).to_bytes(2, "big")


def encode_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    """The bytes to write: COBS-encoded body followed by the 0x00 delimiter."""
    return cobs.encode(encode_body(msg_type, seq, payload)) + b"\0"


def decode_body(body: bytes) -> Frame:
    """Check a COBS-decoded body and split it. Raises :class:`FrameError`."""
    if len(body) < MIN_BODY_SIZE:
        raise FrameError("short", f"{len(body)} bytes, need at least {MIN_BODY_SIZE}")
    # Running the CRC over the CRC bytes too leaves 0 for an intact frame (no xor-out).
    if _crc_hqx(body, INIT):
        raise FrameError("bad_crc", seq=body[2] | body[3] << 8, msg_type=body[1])
    if body[0] != PROTOCOL_VERSION:
        raise FrameError("bad_version", f"version {body[0]}, expected {PROTOCOL_VERSION}",
                         seq=body[2] | body[3] << 8, msg_type=body[1])
    # tuple.__new__ skips the NamedTuple's argument parsing: this runs once per frame.
    return _new_tuple(Frame, (body[1], body[2] | body[3] << 8, body[HEADER_SIZE:-CRC_SIZE]))


def decode_frame(encoded: bytes) -> Frame:
    """Decode one frame given without its delimiter."""
    return decode_body(cobs.decode(encoded))


class FrameDecoder:
    """Turns a byte stream into frames. Never raises on input: errors come back in the list.

    A damaged or torn frame costs only itself: decoding restarts at the next 0x00. A run of more
    than ``max_encoded_size`` bytes without a delimiter is one ``overflow`` error, and everything
    up to the next delimiter is dropped (the MCU, with its fixed buffer, does exactly the same).
    """

    def __init__(self, max_encoded_size: int = MAX_FRAME_SIZE - 1) -> None:
        self.max_encoded_size = max_encoded_size
        self._pending = b""
        self._discarding = False
        self.frames = 0
        self.errors: Counter[str] = Counter()
        self.bytes_in = 0

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        """Frames and errors found in ``data`` (plus what was pending), in stream order."""
        self.bytes_in += len(data)
        if 0 not in data:
            return self._keep(self._pending + data)
        parts = (self._pending + data).split(b"\0")
        tail = parts.pop()
        results: list[Frame | FrameError] = []
        if self._discarding:  # the first part ends an oversized run, already reported
            parts[0] = b""
            self._discarding = False
        limit = self.max_encoded_size
        append, cobs_decode = results.append, cobs.decode
        for part in parts:
            if not part:
                continue  # a run of delimiters; senders may lead a frame with one
            try:
                if len(part) > limit:
                    raise FrameError("overflow", f"{len(part)} bytes without a delimiter")
                append(decode_body(cobs_decode(part)))
                self.frames += 1
            except FrameError as e:
                self.errors[e.reason] += 1
                results.append(e)
        return results + self._keep(tail)

    def reset(self) -> None:
        """Forget a partial frame (e.g. after reconnecting)."""
        self._pending = b""
        self._discarding = False

    def _keep(self, pending: bytes) -> list[Frame | FrameError]:
        if self._discarding:
            self._pending = b""
            return []
        if len(pending) <= self.max_encoded_size:
            self._pending = pending
            return []
        self._pending = b""
        self._discarding = True
        self.errors["overflow"] += 1
        return [FrameError("overflow", f"more than {self.max_encoded_size} bytes without a "
                                       "delimiter")]
