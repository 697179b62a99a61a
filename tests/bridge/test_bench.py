"""The bridge benchmark's building blocks work (they measure; nothing here asserts a speed),
and its targets make the exit status."""

from __future__ import annotations

import json

import pytest

from tools.bench import bridge
from tools.bench.cli import BENCHMARKS


def test_bridge_benchmark_is_registered():
    assert BENCHMARKS["bridge"][0] == "tools.bench.bridge"


def test_frame_overhead_is_measured_for_every_message_type():
    table = bridge.frame_overhead()
    assert len(table) == 9
    assert {row["overhead_bytes"] for row in table.values()} == {8}


def test_undetected_error_count_covers_every_kind_of_damage():
    result = bridge.undetected_errors(3000, seed=5)
    assert result["frames"] == 3000
    assert set(result["damage_kinds"]) == {"flip1", "flip2", "flip3", "flip_many", "burst",
                                           "drop", "duplicate", "truncate", "insert", "garbage"}
    assert result["rejected_chunks"] > 2500
    assert result["undetected"] == sum(result["undetected_by_kind"].values())


def test_decoder_throughput_reports_both_levels():
    result = bridge.decoder_throughput(repeats=1, n_frames=200)
    assert result["telemetry_frames_mbps"] > 0 and result["mixed_parsed_mbps"] > 0


def test_telemetry_spacing_reads_uptime_steps_and_arrival_gaps():
    arrivals = [(10.000, 100), (10.050, 150), (10.090, 200), (10.160, 250)]
    result = bridge.telemetry_spacing(arrivals)
    assert (result["uptime_step_min_ms"], result["uptime_step_max_ms"]) == (50, 50)
    assert (result["arrival_gap_p1_ms"], result["arrival_gap_median_ms"],
            result["arrival_gap_max_ms"]) == (40.0, 50.0, 70.0)
    assert bridge.telemetry_spacing([(1.0, 0)]) == {"frames": 1}


def _measured(p99_ms: float, failed: int) -> dict:
    row = {"commands": 100, "median_ms": 0.2, "p99_ms": p99_ms, "max_ms": 9.0, "retries": 0,
           "failed": failed, "telemetry": {"frames": 1}}
    return {"emulator_process": row, "emulator_in_process": dict(row, p99_ms=0.3),
            "qemu_firmware": {"skipped": "--no-qemu"}}


@pytest.mark.parametrize(("p99_ms", "failed", "status", "line"), [
    (0.4, 0, 0, "PASS: round trip to emulator_process"),
    (7.7, 0, 4, "FAIL (timing): round trip to emulator_process: p99 7.700 ms"),
    (7.7, 2, 3, "FAIL: commands without an answer: emulator_process 2"),
])
def test_bench_bridge_exits_non_zero_when_a_target_is_missed(p99_ms, failed, status, line,
                                                             monkeypatch, tmp_path, capsys):
    decoder = {"telemetry_frames_mbps": 17.4, "telemetry_parsed_mbps": 5.9,
               "mixed_frames_mbps": 5.7, "mixed_parsed_mbps": 3.0}
    monkeypatch.setattr(bridge, "decoder_throughput", lambda: decoder)
    monkeypatch.setattr(bridge, "all_round_trips", lambda n, qemu, log: _measured(p99_ms, failed))
    out = tmp_path / "bridge.json"
    assert bridge.main(["--frames", "200", "--no-qemu", "--json", str(out)]) == status
    assert line in capsys.readouterr().out
    assert json.loads(out.read_text())["acceptance"], "the verdicts are kept with the numbers"
