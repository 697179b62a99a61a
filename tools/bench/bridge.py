"""`gardenbot bench bridge`: the serial link's numbers.

- frame overhead in bytes per message type;
- decoder throughput in MB/s (pure Python: frames only, and frames parsed into messages);
- command round trip (send → Ack), median and p99, over a pty to the emulator (its own process,
  and in-process), to the C firmware core built for the host, and to the AVR firmware in QEMU;
  meanwhile, the Telemetry spacing: steps of its uptime_ms, and gaps between arrivals;
- undetected errors over N corrupted frames (default 10^6: a few minutes; ``--frames`` for less).

Prints a report, judges the targets below (PASS/FAIL lines; the exit status says what failed:
tools/bench/verdict.py) and writes JSON (``--json``). Record results in docs/benchmarks.md with
the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from firmware_bridge import Link, LinkConfig, cobs
from firmware_bridge.board import (
    build_firmware,
    emulator_process,
    host_firmware,
    missing_tools,
    qemu_board,
)
from firmware_bridge.constants import N_MOISTURE
from firmware_bridge.emulator import Emulator
from firmware_bridge.errors import BridgeError, FrameError
from firmware_bridge.frame import FrameDecoder, decode_body
from firmware_bridge.messages import (
    MESSAGE_TYPES,
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
from tools.bench.verdict import QUALITY, TIMING, Bar, exit_status


def machine() -> dict[str, Any]:
    from tools.machine import describe

    return describe()


def random_message(rng: random.Random) -> Message:
    u16 = lambda: rng.randrange(0x10000)  # noqa: E731
    i16 = lambda: rng.randrange(-0x8000, 0x8000)  # noqa: E731
    kind = rng.randrange(9)
    if kind == 0:
        return Hello()
    if kind == 1:
        return Stop()
    if kind == 2:
        return Heartbeat(rng.randrange(3))
    if kind == 3:
        return Drive(i16(), i16(), u16())
    if kind == 4:
        return Water(rng.randrange(256), u16())
    if kind == 5:
        return HelloReply(u16(), 1, rng.randrange(256), u16(), rng.getrandbits(32), u16(), u16(),
                          u16(), u16(), u16())
    if kind == 6:
        return Telemetry(rng.getrandbits(32), rng.randrange(-2**31, 2**31),
                         rng.randrange(-2**31, 2**31), i16(), i16(), u16(), u16(),
                         rng.randrange(4), rng.randrange(256), u16(), u16(),
                         tuple(rng.randrange(1001) for _ in range(N_MOISTURE)), u16(),
                         rng.random() < 0.5, rng.randrange(8), rng.randrange(16), u16(), u16(),
                         u16())
    if kind == 7:
        return Ack(u16(), rng.randrange(256))
    return Nak(u16(), rng.randrange(256), rng.randrange(1, 8))


# --- frame overhead and decoder throughput -------------------------------------------------

def frame_overhead() -> dict[str, dict[str, int]]:
    rng = random.Random(0)
    table = {}
    for cls in MESSAGE_TYPES.values():
        wire = len(encode(random_message_of(rng, cls), 1))
        table[cls.__name__] = {"payload_bytes": cls.payload_size(), "wire_bytes": wire,
                               "overhead_bytes": wire - cls.payload_size()}
    return table


def decoder_throughput(repeats: int = 5, n_frames: int = 20_000) -> dict[str, Any]:
    rng = random.Random(1)
    telemetry = b"".join(encode(random_message_of(rng, Telemetry), i % 0x10000)
                         for i in range(n_frames))
    mixed = b"".join(encode(random_message(rng), i % 0x10000) for i in range(n_frames))
    results: dict[str, Any] = {}
    for name, stream in (("telemetry", telemetry), ("mixed", mixed)):
        for parse_too in (False, True):
            rates = []
            for _ in range(repeats):
                decoder = FrameDecoder()
                start = time.perf_counter()
                for i in range(0, len(stream), 4096):
                    items = decoder.feed(stream[i:i + 4096])
                    if parse_too:
                        for item in items:
                            parse(item)  # type: ignore[arg-type]
                rates.append(len(stream) / (time.perf_counter() - start) / 1e6)
                assert decoder.frames == n_frames
            key = f"{name}_{'parsed' if parse_too else 'frames'}_mbps"
            results[key] = round(statistics.median(rates), 2)
    results["note"] = (f"{n_frames} frames fed in 4096-byte chunks, median of {repeats}; "
                       "'frames' = COBS + CRC + header, 'parsed' = also into typed messages")
    return results


def random_message_of(rng: random.Random, cls: type[Message]) -> Message:
    while True:
        m = random_message(rng)
        if isinstance(m, cls):
            return m


# --- undetected errors -------------------------------------------------------------------

def _corrupt(rng: random.Random, wire: bytes) -> tuple[str, bytes]:
    """One random kind of damage to a frame (without its delimiter)."""
    data = bytearray(wire)
    n = len(data)
    kind = rng.choice(("flip1", "flip2", "flip3", "flip_many", "burst", "drop", "duplicate",
                       "truncate", "insert", "garbage"))
    if kind.startswith("flip"):
        count = {"flip1": 1, "flip2": 2, "flip3": 3}.get(kind) or rng.randint(4, 16)
        for bit in rng.sample(range(8 * n), min(count, 8 * n)):
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "burst":
        start = rng.randrange(n)
        for i in range(start, min(n, start + rng.randint(2, 8))):
            data[i] = rng.randrange(256)
    elif kind == "drop":
        for _ in range(rng.randint(1, 3)):
            if len(data) > 1:
                del data[rng.randrange(len(data))]
    elif kind == "duplicate":
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(data))
            data.insert(i, data[i])
    elif kind == "truncate":
        del data[rng.randint(1, n - 1):]
    elif kind == "insert":
        for _ in range(rng.randint(1, 3)):
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    else:
        data = bytearray(rng.getrandbits(8) for _ in range(n))
    return kind, bytes(data)


def undetected_errors(n_frames: int, seed: int = 2) -> dict[str, Any]:
    rng = random.Random(seed)
    pool = [(m, seq, encode(m, seq)[:-1]) for m, seq in
            ((random_message(rng), rng.randrange(0x10000)) for _ in range(2000))]
    by_kind: Counter[str] = Counter()
    undetected: Counter[str] = Counter()
    unchanged = rejected = 0
    start = time.perf_counter()
    for _ in range(n_frames):
        message, seq, wire = pool[rng.randrange(len(pool))]
        kind, damaged = _corrupt(rng, wire)
        by_kind[kind] += 1
        if damaged == wire:
            unchanged += 1
            continue
        for part in damaged.split(b"\0"):  # a flip to 0x00 splits the frame
            if not part:
                continue
            try:
                frame = decode_body(cobs.decode(part))
                got = parse(frame)
            except FrameError:
                rejected += 1
                continue
            if (got, frame.seq) != (message, seq):
                undetected[kind] += 1
    return {
        "frames": n_frames, "undetected": sum(undetected.values()),
        "undetected_by_kind": dict(undetected), "rejected_chunks": rejected,
        "unchanged_by_damage": unchanged, "damage_kinds": dict(by_kind),
        "seconds": round(time.perf_counter() - start, 1),
        "note": "undetected = a chunk that decoded to a valid message although its bytes differ "
                "from the frame that was sent",
    }


# --- round trips -------------------------------------------------------------------------

_MIN_TELEMETRY = 40  # frames to describe the Telemetry spacing by


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def telemetry_spacing(arrivals: list[tuple[float, int]]) -> dict[str, Any]:
    """How far apart Telemetry came: in the MCU's uptime_ms, and on arrival at the host (ms)."""
    steps = sorted(b[1] - a[1] for a, b in itertools.pairwise(arrivals))
    gaps = sorted((b[0] - a[0]) * 1000 for a, b in itertools.pairwise(arrivals))
    if not steps:
        return {"frames": len(arrivals)}
    return {"frames": len(arrivals), "uptime_step_min_ms": steps[0],
            "uptime_step_median_ms": statistics.median(steps), "uptime_step_max_ms": steps[-1],
            "arrival_gap_p1_ms": round(_percentile(gaps, 0.01), 1),
            "arrival_gap_median_ms": round(statistics.median(gaps), 1),
            "arrival_gap_p99_ms": round(_percentile(gaps, 0.99), 1),
            "arrival_gap_max_ms": round(gaps[-1], 1)}


def round_trips(port: str, n: int, config: LinkConfig) -> dict[str, Any]:
    """Time ``n`` acknowledged commands (Stop), one at a time; failures are counted, not fatal.
    Also how far apart Telemetry came meanwhile."""
    failed = 0
    arrivals: list[tuple[float, int]] = []

    def arrived(t: Telemetry) -> None:
        arrivals.append((time.monotonic(), t.uptime_ms))

    with Link.open(port, config=config, on_telemetry=arrived) as link:
        link.release()
        for _ in range(min(50, n)):  # warm up
            link.stop()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            try:
                link.stop()
            except BridgeError:
                failed += 1
                continue
            times.append((time.perf_counter() - start) * 1000)
        stats = link.stats
        deadline = time.monotonic() + 3  # fast targets answer 2000 commands in 0.2 s
        while len(arrivals) < _MIN_TELEMETRY + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    times.sort()
    return {"commands": n, "median_ms": round(statistics.median(times), 3),
            "p99_ms": round(_percentile(times, 0.99), 3),
            "max_ms": round(times[-1], 3), "retries": stats.retries, "failed": failed,
            "telemetry": telemetry_spacing(arrivals[1:])}  # the first may predate the handshake


@contextmanager
def _in_process_emulator() -> Iterator[str]:
    with Emulator() as emu:
        yield emu.port


@contextmanager
def _process(factory: Callable[[], Any]) -> Iterator[str]:
    with factory() as proc:
        yield proc.port


def all_round_trips(n: int, qemu: bool, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    fast = LinkConfig(ack_timeout_ms=200)
    targets: list[tuple[str, Callable[[], Any], LinkConfig]] = [
        ("emulator_process", lambda: _process(emulator_process), fast),
        ("emulator_in_process", _in_process_emulator, fast),
    ]
    with tempfile.TemporaryDirectory(prefix="gardenbot-bench-") as tmp:
        if missing_tools("host") is None:
            build = build_firmware(Path(tmp) / "host", "host")
            targets.append(("firmware_host_build", lambda: _process(
                lambda: host_firmware(build / "gb_host_firmware")), fast))
        else:
            results["firmware_host_build"] = {"skipped": missing_tools("host")}
        if qemu and missing_tools("avr") is None and missing_tools("qemu") is None:
            avr = build_firmware(Path(tmp) / "avr", "avr")
            targets.append(("qemu_firmware", lambda: _process(
                lambda: qemu_board(avr / "firmware-sim.elf")),
                LinkConfig(ack_timeout_ms=1000, handshake_timeout_ms=5000)))
        else:
            results["qemu_firmware"] = {"skipped": "--no-qemu" if not qemu else
                                        (missing_tools("avr") or missing_tools("qemu"))}
        for name, target, config in targets:
            log(f"round trip: {name} ({n} commands)")
            with target() as port:
                results[name] = round_trips(port, n if name != "qemu_firmware" else n // 2,
                                            config)
    return results


# --- acceptance ---------------------------------------------------------------------------

DECODER_MBPS_MIN = 5.0  # frames (COBS + CRC + header) per second, on both streams
ROUND_TRIP_P99_MS_MAX = 5.0  # send -> Ack to the emulator, in its own process and in a thread
_P99_JUDGED = ("emulator_process", "emulator_in_process")


def acceptance(r: dict[str, Any]) -> list[Bar]:
    """The benchmark's targets: decoder speed and emulator round trip (timing bars), and every
    command answered on every MCU measured (a quality bar: an unanswered command is a fault)."""
    d = r["decoder"]
    slowest = min(d["telemetry_frames_mbps"], d["mixed_frames_mbps"])
    bars = [Bar("decoder_frames", TIMING, slowest >= DECODER_MBPS_MIN,
                f"frame decoder {d['telemetry_frames_mbps']} MB/s on telemetry, "
                f"{d['mixed_frames_mbps']} MB/s on mixed frames (bar: ≥ {DECODER_MBPS_MIN:g})"),
            Bar("decoder_parsed", TIMING, None,
                f"parsed into messages {d['telemetry_parsed_mbps']} / {d['mixed_parsed_mbps']} "
                "MB/s (no bar: the cost is per frame)")]
    rows = {n: row for n, row in r["round_trip"].items() if "skipped" not in row}
    for name in _P99_JUDGED:
        if name in rows:
            p99 = rows[name]["p99_ms"]
            bars.append(Bar(f"round_trip_{name}", TIMING, p99 <= ROUND_TRIP_P99_MS_MAX,
                            f"round trip to {name}: p99 {p99:.3f} ms (bar: ≤ "
                            f"{ROUND_TRIP_P99_MS_MAX:g} ms)"))
    failed = {n: row["failed"] for n, row in rows.items() if row["failed"]}
    bars.append(Bar("commands_answered", QUALITY, not failed,
                    "every command answered on " + ", ".join(rows) if not failed else
                    "commands without an answer: " + ", ".join(f"{n} {k}"
                                                               for n, k in failed.items())))
    return bars


# --- report -----------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gardenbot bench bridge", description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000,
                        help="corrupted frames for the undetected-error count (default 10^6)")
    parser.add_argument("--commands", type=int, default=2000,
                        help="commands per round-trip measurement (QEMU gets half)")
    parser.add_argument("--no-qemu", action="store_true", help="skip the QEMU firmware")
    parser.add_argument("--json", type=Path, default=Path("out/bench/bridge.json"),
                        help="where to write the results (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.commands < 10:
        parser.error("--frames must be >= 1 and --commands >= 10")

    def log(text: str) -> None:
        print(f"... {text}", flush=True)

    results: dict[str, Any] = {"machine": machine(),
                               "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    results["frame_overhead"] = frame_overhead()
    log("decoder throughput")
    results["decoder"] = decoder_throughput()
    results["round_trip"] = all_round_trips(args.commands, not args.no_qemu, log)
    log(f"undetected errors over {args.frames} corrupted frames")
    results["undetected_errors"] = undetected_errors(args.frames)
    bars = acceptance(results)
    results["acceptance"] = [asdict(b) for b in bars]
    print_report(results)
    print()
    for bar in bars:
        print(bar.line())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten: {args.json}")
    return exit_status(bars)


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(f"\nFirmware bridge — {m['cpu']}, {m['logical_cpus']} CPUs, Python {m['python']}")
    print("\nframe overhead (bytes): header 4 + CRC 2 + COBS 1 + delimiter 1 below 254 bytes")
    for name, row in r["frame_overhead"].items():
        print(f"  {name:<11} payload {row['payload_bytes']:>3}  on the wire "
              f"{row['wire_bytes']:>3}  overhead {row['overhead_bytes']}")
    d = r["decoder"]
    print(f"\ndecoder throughput (MB/s): telemetry frames {d['telemetry_frames_mbps']}, "
          f"parsed {d['telemetry_parsed_mbps']}; mixed frames {d['mixed_frames_mbps']}, "
          f"parsed {d['mixed_parsed_mbps']}   (bar for frames: ≥ {DECODER_MBPS_MIN:g})")
    print("\ncommand round trip send → Ack (Stop, acknowledged):")
    for name, row in r["round_trip"].items():
        if "skipped" in row:
            print(f"  {name:<20} skipped: {row['skipped']}")
        else:
            print(f"  {name:<20} median {row['median_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
                  f"max {row['max_ms']:.3f} ms  ({row['commands']} commands, "
                  f"{row['retries']} retries, {row['failed']} failed)")
    print(f"  (bar: p99 ≤ {ROUND_TRIP_P99_MS_MAX:g} ms to the emulator)")
    print("\ntelemetry spacing meanwhile (ms): uptime_ms steps min/median/max; "
          "arrival gaps p1/median/p99/max")
    for name, row in r["round_trip"].items():
        t = row.get("telemetry")
        if t and "uptime_step_min_ms" in t:
            print(f"  {name:<20} steps {t['uptime_step_min_ms']}/{t['uptime_step_median_ms']}/"
                  f"{t['uptime_step_max_ms']}  arrivals {t['arrival_gap_p1_ms']}/"
                  f"{t['arrival_gap_median_ms']}/{t['arrival_gap_p99_ms']}/"
                  f"{t['arrival_gap_max_ms']}  ({t['frames']} frames)")
    u = r["undetected_errors"]
    print(f"\nundetected errors: {u['undetected']} of {u['frames']} corrupted frames "
          f"{u['undetected_by_kind'] or ''} ({u['unchanged_by_damage']} left unchanged by "
          f"their damage; {u['seconds']} s)")
