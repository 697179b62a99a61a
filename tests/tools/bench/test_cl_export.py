"""`gardenbot bench cl-export` writes the benchmark's own cells, and the Avalanche side-by-side
script reads them and scores an accuracy matrix as `bench cl` does (Avalanche itself is not
installed here: its runs live in a separate virtual environment, docs/bench.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tools.bench import cl_avalanche, cl_export
from tools.bench.cl_metrics import average_accuracy, forgetting


def test_export_writes_every_steps_cells_and_the_buffer_sizes(tiny_card: Path,
                                                               tiny_benchmark: Path,
                                                               tmp_path: Path):
    out = tmp_path / "features"
    assert cl_export.main(["--benchmark", str(tiny_benchmark), "--card", str(tiny_card),
                           "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert [s["name"] for s in meta["steps"]] == ["spring", "summer", "winter"]
    assert meta["steps"][0]["buffer_cells_before"] == 0 < meta["steps"][1]["buffer_cells_before"]
    loaded_meta, steps = cl_avalanche.load(out)
    assert loaded_meta == meta and len(steps) == 3
    for x_train, y_train, x_test, y_test in steps:
        assert x_train.shape[1] == meta["feature_dim"] == x_test.shape[1]
        assert len(x_train) == len(y_train) > 0 and len(x_test) == len(y_test) > 0
        assert y_train.max() < len(meta["classes"])


def test_the_side_by_side_scores_like_bench_cl():
    m = np.array([[0.9, 0.2, 0.1], [0.7, 0.95, 0.3], [0.8, 0.85, 0.9]])
    got = cl_avalanche.metrics(m)
    assert np.isclose(got["AA"], average_accuracy(m)[-1])
    assert np.isclose(got["FM"], forgetting(m)[-1])
