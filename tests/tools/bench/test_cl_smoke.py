"""`gardenbot bench cl` end to end on a tiny synthetic stream and a tiny real backbone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot.common.errors import ConfigError
from tools.bench import cl
from tools.bench.cl_stream import BenchError


def _run(tiny_card: Path, bench: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "report"
    rc = cl.main(["--benchmark", str(bench), "--card", str(tiny_card), "--out", str(out),
                  "--cache", str(tmp_path / "cache"), *extra])
    assert rc == 0
    return out


def test_bench_cl_writes_the_report_and_every_number(tiny_card: Path, tiny_benchmark: Path,
                                                     tmp_path: Path, capsys):
    out = _run(tiny_card, tiny_benchmark, tmp_path, "--strategies", "finetune,replay,joint",
               "--jobs", "0", "--seeds", "2", "--set", "steps=20")
    for name in ("report.md", "results.json", "accuracy_matrices.png", "accuracy_over_time.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    r = json.loads((out / "results.json").read_text())
    assert r["columns"] == ["spring", "summer", "winter"]
    assert list(r["strategies"]) == ["finetune", "replay", "joint"]
    for s in r["strategies"].values():
        for mat in ("accuracy", "mean_iou", "balanced_accuracy"):
            a = s["matrices"][mat]
            assert len(a) == 3 and all(len(row) == 3 for row in a)
            assert all(0.0 <= v <= 1.0 for row in a for v in row)
        assert len(s["metrics"]["per_step"]["AA"]) == 3
        assert [run["seed"] for run in s["runs"]] == [0, 1]  # every number per seed, too
        lo, hi = s["metrics"]["final_range"]["AA"]
        assert lo <= s["metrics"]["final"]["AA"] <= hi
        assert s["metrics"]["final"]["IM"] is not None  # joint was run
        assert len(s["steps"]) == 3 and s["cost"]["update_s_total"] > 0
    assert r["strategies"]["replay"]["cost"]["buffer_bytes_max"] > 0
    assert r["strategies"]["finetune"]["cost"]["buffer_bytes_max"] == 0
    assert r["strategies"]["joint"]["metrics"]["final"]["IM"] == 0.0
    assert r["setup"]["train_config"]["steps"] == 20 and r["setup"]["seeds"] == [0, 1]
    assert {a["name"] for a in r["acceptance"]} == {"default_aa_vs_joint", "default_fm",
                                                    "finetune_fm", "fm_on_balanced_accuracy",
                                                    "duration"}
    report = (out / "report.md").read_text()
    assert "### replay" in report and "| finetune |" in report
    assert "best final AA" in capsys.readouterr().out


@pytest.mark.slow
def test_strategies_run_in_their_own_process_and_a_rerun_uses_the_cache(
        tiny_card: Path, tiny_benchmark: Path, tmp_path: Path):
    out = _run(tiny_card, tiny_benchmark, tmp_path, "--strategies", "ncm", "--jobs", "1",
               "--seeds", "1")
    first = json.loads((out / "results.json").read_text())
    cost = first["strategies"]["ncm"]["cost"]
    assert cost["peak_rss_mb"] >= cost["baseline_rss_mb"] > 0
    assert first["durations"]["sources_extracted"] == 6
    out = _run(tiny_card, tiny_benchmark, tmp_path, "--strategies", "ncm", "--jobs", "1",
               "--seeds", "1")
    again = json.loads((out / "results.json").read_text())
    assert again["durations"]["sources_extracted"] == 0
    assert again["durations"]["sources_from_cache"] == 6
    # same data, same seed: the same matrix
    assert again["strategies"]["ncm"]["matrices"] == first["strategies"]["ncm"]["matrices"]


@pytest.mark.parametrize(("args", "error", "message"), [
    (["--strategies", "finetune,dreaming"], BenchError, "unknown strategies"),
    (["--set", "steps"], BenchError, "expected KEY=VALUE"),
    (["--set", "strategy=ewc"], BenchError, "other than strategy"),
    (["--set", "steps=many"], BenchError, "not a int"),
    (["--set", "learning_rate=-1"], ConfigError, "learning_rate"),
    (["--real", "x", "--benchmark", "y"], BenchError, "two different tracks"),
    (["--jobs", "-1"], BenchError, "--jobs"),
    (["--seeds", "0"], BenchError, "--seeds"),
])
def test_bad_arguments_are_clear_errors(args, error, message):
    with pytest.raises(error, match=message):
        cl.main(args)


def test_a_folder_without_a_benchmark_set_is_a_clear_error(tiny_card: Path, tmp_path: Path):
    with pytest.raises(BenchError, match="no benchmark manifest"):
        cl.main(["--benchmark", str(tmp_path), "--card", str(tiny_card)])


def test_on_the_quick_set_only_the_duration_bar_is_judged():
    from tools.bench.cl_results import acceptance

    run = {"metrics": {"final": {"AA": 0.7, "FM": 0.05}, "final_per_seed": {"AA": [0.7],
                                                                            "FM": [0.05]}},
           "metrics_balanced": {"final": {"FM": 0.01}, "final_per_seed": {"FM": [0.01]}}}
    runs = {"replay": run, "joint": run, "finetune": run}
    full = {a["name"]: a["passed"] for a in acceptance(runs, 100.0, quick=False)}
    assert full == {"default_aa_vs_joint": True, "default_fm": False, "finetune_fm": False,
                    "fm_on_balanced_accuracy": None, "duration": True}
    quick = {a["name"]: a["passed"] for a in acceptance(runs, 100.0, quick=True)}
    assert quick == {"default_aa_vs_joint": None, "default_fm": None, "finetune_fm": None,
                     "fm_on_balanced_accuracy": None, "duration": True}
    assert {a["name"]: a["passed"] for a in acceptance(runs, 130.0, quick=True)}["duration"] \
        is False
