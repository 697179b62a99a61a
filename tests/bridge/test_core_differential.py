"""The Python twin and the C firmware core, fed the same random scripts, send the same bytes.

Scripts mix valid and out-of-range commands, retransmissions (of the last frame and of older
ones), other commands under a used seq, commands without a seq (NO_SEQ), Hellos, e-stop requests,
damaged frames, junk and time steps that straddle every timeout. Any divergence is a bug in one
of them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.constants import HEARTBEAT_TIMEOUT_MS, NO_SEQ
from firmware_bridge.emulator.core import SensorReading
from firmware_bridge.messages import Drive, Heartbeat, Hello, Stop, Water, encode

from .helpers import CCore, PyCore

u16 = st.integers(0, 0xFFFF)
i16 = st.integers(-0x8000, 0x7FFF)
commands = st.one_of(
    st.builds(Drive, st.integers(-600, 600), st.integers(-4000, 4000), st.integers(0, 1200)),
    st.builds(Drive, i16, i16, u16),
    st.builds(Water, st.integers(0, 5), st.sampled_from([1, 20, 300, 29_999, 30_000, 30_001])),
    st.builds(Water, st.integers(0, 255), u16),
    st.builds(Heartbeat, st.integers(0, 2)),
    st.builds(Heartbeat, st.integers(0, 255)),
    st.just(Stop()),
    st.just(Hello()),
)


@st.composite
def steps(draw):
    kind = draw(st.sampled_from(["cmd", "cmd", "cmd", "heartbeat", "heartbeat", "again", "wait",
                                 "wait", "wait", "damaged", "junk", "sensors", "release+cmd",
                                 "older", "reuse", "variant", "no_seq"]))
    if kind in ("cmd", "reuse"):
        return (kind, draw(commands))
    if kind == "no_seq":  # a release first, so that the command can run
        return ("no_seq", [Heartbeat(2), draw(commands)])
    if kind == "older":  # a retransmission from further back, maybe forgotten by now
        return ("older", draw(st.integers(1, 12)))
    if kind == "release+cmd":  # reach the unlatched states often
        return ("cmds", [Heartbeat(2), draw(commands)])
    if kind == "heartbeat":
        return ("cmd", Heartbeat(draw(st.sampled_from([0, 0, 0, 2]))))
    if kind == "wait":
        return ("wait", draw(st.sampled_from([1, 7, 49, 50, 51, 120, HEARTBEAT_TIMEOUT_MS - 1,
                                              HEARTBEAT_TIMEOUT_MS, HEARTBEAT_TIMEOUT_MS + 1,
                                              700, 5000])))
    if kind == "damaged":
        return ("damaged", draw(commands), draw(st.integers(0, 400)))
    if kind == "junk":
        return ("junk", draw(st.binary(max_size=120)))
    if kind == "sensors":
        return ("sensors", SensorReading(
            draw(st.integers(-2**31, 2**31 - 1)), draw(st.integers(-2**31, 2**31 - 1)),
            draw(u16), draw(u16), draw(st.booleans()), draw(st.booleans()),
            tuple(draw(st.lists(u16, min_size=4, max_size=4))), draw(u16), draw(st.booleans())))
    return (kind,)  # "again" or "variant"


def variant(message):
    """The same type of command with other payload bytes (same bytes if it has none)."""
    if isinstance(message, Drive):
        return Drive(message.v_mmps, message.omega_mradps, 2 if message.ttl_ms == 1 else 1)
    if isinstance(message, Water):
        return Water(message.zone, 2 if message.duration_ms == 1 else 1)
    if isinstance(message, Heartbeat):
        return Heartbeat((message.estop_action + 1) % 3)
    return message


@pytest.fixture(scope="module")
def c_core(gb_tool):
    core = CCore(gb_tool)
    yield core
    core.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(script=st.lists(steps(), min_size=1, max_size=40), boot_ms=st.integers(0, 10**6))
def test_python_and_c_cores_send_identical_bytes(c_core, script, boot_ms):
    py = PyCore()
    cores = (py, c_core)
    now, seq, sent, last = boot_ms, 0, [b""], Stop()
    outputs = [[core.boot(now)] for core in cores]
    for step in script:
        if step[0] == "wait":
            now += step[1]
            results = [core.tick(now) for core in cores]
        elif step[0] == "sensors":
            results = [core.set_sensors(step[1]) for core in cores]
        else:
            if step[0] in ("cmd", "cmds"):
                data = b""
                for message in step[1] if step[0] == "cmds" else [step[1]]:
                    seq = (seq + 1) % 0xFFFF
                    sent.append(encode(message, seq))
                    last = message
                    data += sent[-1]
            elif step[0] == "again":
                data = sent[-1]
            elif step[0] == "older":
                data = sent[-min(step[1], len(sent))]
            elif step[0] == "reuse":
                data = encode(step[1], seq)
            elif step[0] == "variant":
                data = encode(variant(last), seq)
            elif step[0] == "no_seq":
                data = b"".join(encode(message, NO_SEQ) for message in step[1])
            elif step[0] == "damaged":
                data = bytearray(encode(step[1], seq))
                data[step[2] % (len(data) - 1)] ^= 1 << (step[2] % 8)
                data = bytes(data)
            else:
                data = step[1]
            results = [core.rx(now, data) + core.tick(now) for core in cores]
        for out, result in zip(outputs, results, strict=True):
            out.append(result)
        assert results[0] == results[1], (step, [r.hex() for r in results])
