"""Self-supervised pretraining of the backbone on unlabelled frames, dense objectives.

Both objectives work per cell: two augmented crops of a frame are passed through the net, and
each cell of view A is matched to the same spot of the frame in view B (the crops' geometry is
known). ``infonce`` pulls matched cells together and pushes cells of other frames away;
``vicreg`` pulls matched cells together and keeps the batch's features spread out (variance) and
decorrelated (covariance), with no negatives. Which works better here is a measurement, recorded
in docs/benchmarks.md ("What was tried").
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot.common.atomic import atomic_write_bytes
from tools.backbone.arch import MEAN_RGB, STD_RGB, ArchConfig, GardenNet
from tools.backbone.augment import AugmentConfig, correspondence, two_views

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    objective: str = "infonce"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    temperature: float = 0.2
    proj_dim: int = 128
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        aug = dict(d.get("augment", {}))
        if "out_hw" in aug:
            aug["out_hw"] = tuple(aug["out_hw"])
        rest = {k: v for k, v in d.items() if k not in ("arch", "augment")}
        return cls(arch=ArchConfig.from_dict(d["arch"]), augment=AugmentConfig(**aug), **rest)


class Projector(nn.Module):
    """Per-cell MLP (1×1 convolutions) between the features and the loss; dropped at export."""

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, 2 * dim, 1), nn.BatchNorm2d(2 * dim), nn.ReLU(inplace=True),
            nn.Conv2d(2 * dim, dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def normalise(rgb01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN_RGB, device=rgb01.device).view(1, 3, 1, 1)
    std = torch.tensor(STD_RGB, device=rgb01.device).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


def dense_infonce(za: torch.Tensor, zb: torch.Tensor, pb: torch.Tensor, mask: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """InfoNCE per matched cell: positive = the same spot in view B, negatives = other frames."""
    n, d, h, w = za.shape
    za = F.normalize(za, dim=1)
    zb = F.normalize(zb, dim=1)
    zb_at = F.normalize(F.grid_sample(zb, pb, align_corners=False), dim=1)
    q = za.permute(0, 2, 3, 1)[mask]  # (m, d) cells of A that B also sees
    pos = zb_at.permute(0, 2, 3, 1)[mask]
    img = torch.arange(n, device=za.device).view(n, 1, 1).expand(n, h, w)[mask]
    keys = zb.permute(0, 2, 3, 1).reshape(n * h * w, d)
    key_img = torch.arange(n, device=za.device).repeat_interleave(h * w)
    neg = q @ keys.T / temperature
    neg = neg.masked_fill(img[:, None] == key_img[None, :], float("-inf"))
    logits = torch.cat([(q * pos).sum(1, keepdim=True) / temperature, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=za.device))


def dense_vicreg(za: torch.Tensor, zb: torch.Tensor, pb: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """VICReg per cell: invariance on matched cells, variance and covariance over all cells."""
    zb_at = F.grid_sample(zb, pb, align_corners=False)
    q = za.permute(0, 2, 3, 1)[mask]
    k = zb_at.permute(0, 2, 3, 1)[mask]
    invariance = F.mse_loss(q, k)

    def spread(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + 1e-4)
        cov = (z.T @ z) / (len(z) - 1)
        off = cov - torch.diag(torch.diag(cov))
        return F.relu(1 - std).mean(), off.pow(2).sum() / z.shape[1]

    va, ca = spread(za)
    vb, cb = spread(zb)
    return 25 * invariance + 25 * (va + vb) / 2 + (ca + cb)


class FramePool:
    """Unlabelled frames held as one uint8 BGR tensor (N, H, W, 3); batches come out as RGB."""

    def __init__(self, frames: np.ndarray) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} "
                             f"{frames.shape}")
        if len(frames) == 0:
            raise ValueError("no frames to pretrain on")
        self.frames = torch.from_numpy(frames)

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        idx = torch.randint(len(self.frames), (n,), generator=gen)
        x = self.frames[idx].to(device).permute(0, 3, 1, 2).flip(1).float() / 255.0
        return x


def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    p = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def open_loss_log(path: Path, start: int) -> IO[str]:
    """``loss.jsonl`` opened for appending, holding only the lines of steps before ``start``.

    A fresh run (start 0) begins an empty log. A resumed run repeats the steps between its
    last checkpoint and the interruption, so their lines are dropped first, or they would be
    logged twice.
    """
    if start == 0 or not path.is_file():
        return open(path, "w", encoding="utf-8")
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            step = json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line torn by the interruption
        if isinstance(step, int) and step < start:
            kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_bytes(path, "".join(kept).encode("utf-8"))
    return open(path, "a", encoding="utf-8")


def pretrain(
    pool: FramePool, cfg: PretrainConfig, out_dir: Path, resume: bool = True,
    checkpoint_every: int = 250, device: str | None = None, progress: bool = True,
) -> GardenNet:
    """Train the backbone; checkpoints to ``out_dir/checkpoint.pt``, losses to ``loss.jsonl``.

    With ``resume`` an existing checkpoint continues where it stopped, with the same random
    stream, so an interrupted run ends where an uninterrupted one would (up to float noise).
    """
    from tqdm import tqdm

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    # channels-last makes the depthwise convolutions' backward pass ~1.7x faster on CPU
    net = GardenNet(cfg.arch).to(dev, memory_format=torch.channels_last)
    proj = Projector(cfg.arch.feature_dim, cfg.proj_dim).to(dev, memory_format=torch.channels_last)
    params = list(net.parameters()) + list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    elapsed = 0.0
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if state["config"] != cfg.to_dict():
            raise ValueError(f"{ckpt_path}: made with another configuration; use a new --out "
                             "or delete it")
        net.load_state_dict(state["net"])
        proj.load_state_dict(state["proj"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
        log.info("resuming from step %d of %d", start, cfg.steps)
    net.train()
    proj.train()
    grid_hw = (cfg.augment.out_hw[0] // cfg.arch.stride, cfg.augment.out_hw[1] // cfg.arch.stride)
    loss_log = open_loss_log(out_dir / "loss.jsonl", start)
    bar = tqdm(total=cfg.steps, initial=start, desc="pretrain", unit="step", disable=not progress,
               dynamic_ncols=True)
    t0 = time.perf_counter() - elapsed
    try:
        for step in range(start, cfg.steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            frames = pool.batch(cfg.batch_size, gen, torch.device("cpu"))
            va, vb, ta, tb = two_views(frames, cfg.augment, gen)
            pb, mask = correspondence(ta, tb, grid_hw)
            pa, mask_a = correspondence(tb, ta, grid_hw)
            cl = torch.channels_last
            za = proj(net(normalise(va.to(dev).contiguous(memory_format=cl))))
            zb = proj(net(normalise(vb.to(dev).contiguous(memory_format=cl))))
            pb, mask, pa, mask_a = pb.to(dev), mask.to(dev), pa.to(dev), mask_a.to(dev)
            if cfg.objective == "infonce":
                loss = (dense_infonce(za, zb, pb, mask, cfg.temperature)
                        + dense_infonce(zb, za, pa, mask_a, cfg.temperature)) / 2
            elif cfg.objective == "vicreg":
                loss = dense_vicreg(za, zb, pb, mask)
            else:
                raise ValueError(f"unknown objective {cfg.objective!r} (infonce or vicreg)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss became {value} at step {step}; lower --lr")
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            loss_log.write(json.dumps({"step": step, "loss": round(value, 5),
                                       "lr": round(lr_at(step, cfg), 7)}) + "\n")
            done = step + 1
            if done % checkpoint_every == 0 or done == cfg.steps:
                loss_log.flush()
                save_checkpoint(ckpt_path, {
                    "config": cfg.to_dict(), "net": net.state_dict(), "proj": proj.state_dict(),
                    "opt": opt.state_dict(), "gen": gen.get_state(), "step": done,
                    "elapsed_s": time.perf_counter() - t0,
                })
    finally:
        bar.close()
        loss_log.close()
    net.eval()
    return net.cpu()


def load_trained(ckpt_path: Path) -> tuple[GardenNet, dict[str, Any]]:
    """The backbone net from a checkpoint, in eval mode, and the checkpoint's facts."""
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = PretrainConfig.from_dict(state["config"])
    net = GardenNet(cfg.arch)
    net.load_state_dict(state["net"])
    net.eval()
    facts = {"config": state["config"], "step": state["step"],
             "elapsed_s": state.get("elapsed_s")}
    return net, facts
