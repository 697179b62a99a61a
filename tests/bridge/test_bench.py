"""The bridge benchmark's building blocks work (they measure; nothing here asserts a speed)."""

from __future__ import annotations

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
