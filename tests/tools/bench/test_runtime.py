from __future__ import annotations

from tools.bench.runtime import measure


def test_runtime_benchmark_runs_and_reports_every_step():
    res = measure(repeat=1, inner=1, drive_s=3.0)
    for key in ("adapter_classify_ms", "drive_command_ms", "water_command_8_zones_ms", "overlay_ms",
                "events_from_telemetry_ms", "experience_labels_per_frame_ms", "watch_step_ms",
                "watch_step_on_trial_ms"):
        assert res[key] > 0, key
    assert res["experience_events"] > 5, "the benchmark drive produces events to project"
