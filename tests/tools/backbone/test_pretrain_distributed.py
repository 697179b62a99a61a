"""`gardenbot backbone pretrain` under torchrun: two CPU processes (gloo), checkpoint, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tools.backbone.pretrain import load_trained

TINY_ARCH = {"stem": 8, "widths": [8, 12, 16], "depths": [1, 1, 1], "feature_dim": 8,
             "expand": 2}


def write_images(folder: Path, n: int = 6) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (96, 128, 3), np.uint8))


def torchrun(images: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--standalone", "-m", "robot.commands.gardenbot", "-q", "backbone", "pretrain",
           "--images", str(images), "--steps", "4", "--batch-size", "4", "--threads", "1",
           "--arch", json.dumps(TINY_ARCH), "--checkpoint-every", "2", "--out", str(out),
           *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_two_processes_train_checkpoint_and_resume_to_the_same_weights(tmp_path: Path):
    write_images(tmp_path / "img")
    straight = torchrun(tmp_path / "img", tmp_path / "a")
    assert straight.returncode == 0, straight.stderr[-2000:]
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    assert (state["step"], state["world"]) == (4, 2)
    # one log line per step, written once (by rank 0) even though two processes ran
    assert len((tmp_path / "a" / "loss.jsonl").read_text().splitlines()) == 4

    first = torchrun(tmp_path / "img", tmp_path / "b", "--stop-after", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert load_trained(tmp_path / "b" / "checkpoint.pt")[1]["step"] == 2
    rest = torchrun(tmp_path / "img", tmp_path / "b")
    assert rest.returncode == 0, rest.stderr[-2000:]
    a, _ = load_trained(tmp_path / "a" / "checkpoint.pt")
    b, facts = load_trained(tmp_path / "b" / "checkpoint.pt")
    assert facts["step"] == 4
    for (name, wa), (_, wb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(wa, wb, rtol=1e-4, atol=1e-5, msg=name)
