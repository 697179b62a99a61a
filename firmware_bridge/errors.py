"""The firmware bridge's own exception tree; each leaf is also the builtin it resembles."""

from __future__ import annotations

import contextlib

from firmware_bridge.constants import MsgType, NakCode


class BridgeError(Exception):
    """Base of every error the firmware bridge raises on purpose."""


class FrameError(BridgeError, ValueError):
    """Bytes that are not a valid frame.

    ``reason`` is a short machine-readable word (``cobs``, ``short``, ``bad_crc``,
    ``bad_version``, ``unknown_type``, ``bad_length``, ``overflow``). ``seq`` and ``msg_type``
    are what the damaged header said, when it had one: hints, not facts.
    """

    def __init__(
        self, reason: str, detail: str = "", *, seq: int | None = None,
        msg_type: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.seq = seq
        self.msg_type = msg_type


class OutOfRangeError(BridgeError, ValueError):
    """A command value outside what the protocol or the safety limits allow. Nothing was sent."""


class NakError(BridgeError):
    """The MCU refused a command. ``code`` says why."""

    def __init__(self, code: NakCode | int, msg_type: MsgType | int, seq: int) -> None:
        with contextlib.suppress(ValueError):
            code = NakCode(code)
        name = code.name if isinstance(code, NakCode) else f"code {code}"
        super().__init__(f"MCU refused {_type_name(msg_type)} seq {seq}: {name}")
        self.code = code
        self.msg_type = msg_type
        self.seq = seq


class LinkTimeout(BridgeError, TimeoutError):
    """No answer from the MCU in time (after every retry)."""


class LinkDown(BridgeError, ConnectionError):
    """The serial port is gone or the link is reconnecting; the command was not confirmed."""


class LinkClosed(BridgeError, ConnectionError):
    """The link was closed by its owner."""


class HandshakeError(BridgeError, ConnectionError):
    """The MCU speaks another protocol version, or never answered Hello."""


def _type_name(t: MsgType | int) -> str:
    try:
        return MsgType(t).name
    except ValueError:
        return f"type 0x{int(t):02x}"
