"""COBS, CRC-16, frames and messages in Python, checked against the golden vectors."""

from __future__ import annotations

import pytest

from firmware_bridge import cobs
from firmware_bridge.constants import MAX_FRAME_SIZE, PROTOCOL_VERSION, MsgType
from firmware_bridge.crc import CHECK, crc16, crc16_bitwise
from firmware_bridge.errors import FrameError, OutOfRangeError
from firmware_bridge.frame import Frame, FrameDecoder, decode_frame, encode_frame
from firmware_bridge.messages import MESSAGE_TYPES, Drive, Telemetry, Water, encode, parse
from firmware_bridge.safety import range_check

from .golden import GOLDEN, ids, message_of


def test_crc_has_the_documented_parameters():
    spec = GOLDEN["crc"]
    check_input = bytes.fromhex(spec["check_input"])
    assert check_input == b"123456789"
    assert crc16(check_input) == CHECK == int(spec["check"], 16)
    assert crc16_bitwise(check_input) == CHECK
    for example in spec["examples"]:
        data = bytes.fromhex(example["data"])
        assert crc16(data) == crc16_bitwise(data) == int(example["crc"], 16)


@pytest.mark.parametrize("vector", GOLDEN["cobs"], ids=lambda v: f"{len(v['decoded']) // 2}B")
def test_cobs_golden(vector):
    decoded, encoded = bytes.fromhex(vector["decoded"]), bytes.fromhex(vector["encoded"])
    assert cobs.encode(decoded) == encoded
    assert cobs.decode(encoded) == decoded
    assert 0 not in encoded


def test_cobs_accepts_the_redundant_group_after_a_final_full_block():
    data = bytes(range(1, 255))
    assert cobs.decode(cobs.encode(data) + b"\x01") == data


@pytest.mark.parametrize("bad", [b"", b"\x05\x01\x02", b"\x02\x00", b"\x03\x01"],
                         ids=["empty", "group past end", "zero inside", "short group"])
def test_cobs_rejects_malformed_input(bad):
    with pytest.raises(FrameError) as e:
        cobs.decode(bad)
    assert e.value.reason == "cobs"


@pytest.mark.parametrize("entry", GOLDEN["messages"], ids=ids(GOLDEN["messages"]))
def test_messages_encode_to_the_golden_bytes(entry):
    assert encode(message_of(entry), entry["seq"]).hex() == entry["frame"]


@pytest.mark.parametrize("entry", GOLDEN["messages"], ids=ids(GOLDEN["messages"]))
def test_golden_bytes_decode_to_the_message(entry):
    frame = decode_frame(bytes.fromhex(entry["frame"])[:-1])
    assert frame.msg_type == MsgType[entry["type"]]
    assert frame.seq == entry["seq"]
    assert parse(frame) == message_of(entry)


@pytest.mark.parametrize("entry", GOLDEN["invalid_frames"], ids=ids(GOLDEN["invalid_frames"]))
def test_invalid_golden_frames_are_rejected_with_their_reason(entry):
    items = FrameDecoder().feed(bytes.fromhex(entry["frame"]))
    assert len(items) == 1
    item = items[0]
    if isinstance(item, Frame):  # frame-level checks passed; the message parser must refuse
        with pytest.raises(FrameError) as e:
            parse(item)
        item = e.value
    assert item.reason == entry["error"]
    if "seq" in entry:
        assert item.seq == entry["seq"]


def test_every_message_type_has_a_golden_vector():
    covered = {MsgType[e["type"]] for e in GOLDEN["messages"]}
    assert covered == set(MESSAGE_TYPES)


def test_frame_overhead_is_eight_bytes_for_short_payloads():
    # header 4 + CRC 2 + COBS code 1 + delimiter 1, whatever the payload holds
    for payload in (b"", b"\x00" * 10, b"\xff" * 45):
        assert len(encode_frame(MsgType.STOP, 1, payload)) == len(payload) + 8
    telemetry_size = MESSAGE_TYPES[MsgType.TELEMETRY].payload_size()
    assert telemetry_size + 8 <= MAX_FRAME_SIZE


def test_a_value_that_does_not_fit_the_wire_names_the_field():
    with pytest.raises(OutOfRangeError, match=r"Drive\.ttl_ms=70000"):
        encode(Drive(0, 0, 70_000), 1)
    with pytest.raises(OutOfRangeError, match=r"Water\.zone=-1"):
        encode(Water(-1, 10), 1)


def test_wrong_payload_length_is_refused_before_interpretation():
    frame = Frame(MsgType.TELEMETRY, 3, b"\x00" * 44)
    with pytest.raises(FrameError) as e:
        parse(frame)
    assert e.value.reason == "bad_length"
    assert e.value.seq == 3


def test_decoder_finds_frames_split_anywhere_and_separated_by_junk():
    frames = [encode(Water(1, 100), 5), encode(Drive(1, 2, 3), 6), encode(Water(2, 200), 7)]
    stream = (b"\x13\x37garbage\x00" + frames[0] + b"\x00\x00" + frames[1] + b"\xff\xfe\x00"
              + frames[2])
    for split in range(len(stream)):
        decoder = FrameDecoder()
        items = decoder.feed(stream[:split]) + decoder.feed(stream[split:])
        good = [parse(i) for i in items if isinstance(i, Frame)]
        assert good == [Water(1, 100), Drive(1, 2, 3), Water(2, 200)], split
        assert decoder.frames == 3


def test_a_torn_frame_costs_only_itself():
    first, second = encode(Water(1, 100), 5), encode(Water(2, 200), 6)
    decoder = FrameDecoder()
    items = decoder.feed(first[:5] + second)  # the first lost its tail and its delimiter
    assert [parse(i) for i in items if isinstance(i, Frame)] == []  # they merged: both lost
    items = decoder.feed(first[:5] + b"\x00" + second)  # with its delimiter: only it is lost
    assert [parse(i) for i in items if isinstance(i, Frame)] == [Water(2, 200)]
    assert sum(decoder.errors.values()) == 2


def test_an_endless_run_without_delimiter_is_one_overflow_then_decoding_resumes():
    decoder = FrameDecoder()
    errors = [i for _ in range(50) for i in decoder.feed(b"\x01" * 100)]
    assert [e.reason for e in errors] == ["overflow"]
    items = decoder.feed(b"\x01\x00" + encode(Water(3, 300), 9))
    assert [parse(i) for i in items if isinstance(i, Frame)] == [Water(3, 300)]


def test_telemetry_properties_read_the_bits():
    t = Telemetry(0, 0, 0, 0, 5, 0, 0, 0b10, 2, 10, 100, (1, 2, 3, 4), 12000, True, 3, 4, 0, 0, 0)
    assert (t.bumper_left, t.bumper_right, t.pump_on, t.motors_on) == (False, True, True, True)
    assert int(t.reasons) == 3 and int(t.faults) == 4
    assert GOLDEN["protocol_version"] == PROTOCOL_VERSION


@pytest.mark.parametrize("entry", GOLDEN["limits"],
                         ids=[f"{e['type']}{list(e['fields'].values())}" for e in GOLDEN["limits"]])
def test_the_host_refuses_exactly_what_the_mcu_refuses(entry):
    # The link checks commands before sending them (firmware_bridge.safety); the MCU cores are
    # held to the same verdicts in test_safety_rules.
    verdict = "ok" if range_check(message_of(entry)) is None else "out_of_range"
    assert verdict == entry["verdict"]
