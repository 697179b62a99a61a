"""`gardenbot bench learner` end to end at toy size: it retrains and publishes as the robot does,
and compares against fine-tuning the whole backbone."""

from __future__ import annotations

import json

import pytest

from tools.bench import learner


@pytest.mark.slow
def test_a_tiny_learner_benchmark_retrains_publishes_and_compares_with_the_backbone(tmp_path):
    out = tmp_path / "learner.json"
    assert learner.main(["--dims", "16", "--reps", "1", "--process-reps", "1",
                         "--calls", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    r = report["dims"]["16"]
    assert r["published"] == [True, True], "every retrain must publish"
    assert r["buffer_file_bytes"] <= report["buffer_bytes"]
    assert r["learner_process_peak_rss_mb"] > 0
    bb = report["backbone_finetune"]
    assert bb["parameters"] > 100_000  # the real architecture, not a toy
    assert bb["ratio_to_adapter_retrain"]["16"] == pytest.approx(
        bb["seconds"] / r["train_s"]["median"])
