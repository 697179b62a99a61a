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
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot.common.atomic import atomic_write_bytes
from tools.backbone.arch import MEAN_RGB, STD_RGB, ArchConfig, CellColourStats, GardenNet
from tools.backbone.augment import AugmentConfig, correspondence, make_views

log = logging.getLogger(__name__)


OBJECTIVES = ("infonce", "vicreg", "distill")
TRUNKS = ("gardennet", "lite0")


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
    # "gardennet" (``arch``, random init) or "lite0" (EfficientNet-Lite0 from ImageNet weights)
    trunk: str = "gardennet"
    # InfoNCE: cells of the same frame away from the match are negatives too, so that the
    # features must tell plant from soil within a frame, not only one frame from another
    local_negatives: bool = False
    # weight of a dense loss that predicts, from each view's features, the per-cell colour
    # statistics of the same crop *before* the photometric changes: the features stay
    # invariant to light and season yet keep what the ground looks like
    appearance: float = 0.0
    # objective "distill": the teacher whose per-cell features the net learns to predict:
    # "lite0-grid" (EfficientNet-Lite0's stride-16 stage with its stride-4 and stride-8 stages
    # pooled onto the cells, 176 channels) or "lite0" (the stride-16 stage alone, 112)
    teacher: str = "lite0-grid"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        aug = dict(d.get("augment", {}))
        if "out_hw" in aug:
            aug["out_hw"] = tuple(aug["out_hw"])
        rest = {k: v for k, v in d.items() if k not in ("arch", "augment")}
        return cls(arch=ArchConfig.from_dict(d["arch"]), augment=AugmentConfig(**aug), **rest)

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r} ({', '.join(OBJECTIVES)})")
        if self.trunk not in TRUNKS:
            raise ValueError(f"unknown trunk {self.trunk!r} ({', '.join(TRUNKS)})")
        if self.objective == "distill" and self.teacher not in ("lite0", "lite0-grid"):
            raise ValueError(f"unknown teacher {self.teacher!r} (lite0-grid or lite0)")


def build_net(cfg: PretrainConfig, pretrained: bool = True) -> nn.Module:
    """The net to train: a fresh GardenNet, or the Lite0 trunk (ImageNet weights unless
    ``pretrained`` is false, e.g. when a checkpoint's weights replace them anyway)."""
    if cfg.trunk == "lite0":
        from tools.backbone.lite0 import Lite0Trunk, pretrained_trunk

        return pretrained_trunk().train() if pretrained else Lite0Trunk()
    return GardenNet(cfg.arch)


def net_facts(net: nn.Module) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """(feature_dim, mean_rgb, std_rgb) of a net to train or export."""
    dim = int(getattr(net, "feature_dim", 0) or net.cfg.feature_dim)  # type: ignore[union-attr]
    return (dim, tuple(getattr(net, "gardenbot_mean_rgb", MEAN_RGB)),
            tuple(getattr(net, "gardenbot_std_rgb", STD_RGB)))


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


def normalise(rgb01: torch.Tensor, mean_rgb: tuple[float, ...] = MEAN_RGB,
              std_rgb: tuple[float, ...] = STD_RGB) -> torch.Tensor:
    mean = torch.tensor(mean_rgb, device=rgb01.device).view(1, 3, 1, 1)
    std = torch.tensor(std_rgb, device=rgb01.device).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


def dense_infonce(za: torch.Tensor, zb: torch.Tensor, pb: torch.Tensor, mask: torch.Tensor,
                  temperature: float, local_negatives: bool = False) -> torch.Tensor:
    """InfoNCE per matched cell: positive = the same spot in view B, negatives = cells of other
    frames, and with ``local_negatives`` also cells of the same frame more than 1.5 cells away
    from the match."""
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
    excluded = img[:, None] == key_img[None, :]
    if local_negatives:
        ys = (torch.arange(h, device=za.device) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, device=za.device) + 0.5) / w * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        centres = torch.stack([gx, gy], -1).view(1, h * w, 2).expand(n, -1, -1).reshape(-1, 2)
        where = pb[mask]  # (m, 2) the match in view B, coordinates in [-1, 1]
        cells = torch.tensor([w / 2, h / 2], device=za.device)
        dist = ((where[:, None, :] - centres[None, :, :]) * cells).norm(dim=-1)
        excluded = excluded & (dist < 1.5)
    neg = neg.masked_fill(excluded, float("-inf"))
    logits = torch.cat([(q * pos).sum(1, keepdim=True) / temperature, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=za.device))


def standardised(t: torch.Tensor) -> torch.Tensor:
    """Each channel of (N, C, h, w) to zero mean, unit variance over the batch (a target)."""
    mean = t.mean(dim=(0, 2, 3), keepdim=True)
    std = t.std(dim=(0, 2, 3), keepdim=True) + 1e-3
    return ((t - mean) / std).detach()


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
    """Unlabelled frames held as one uint8 BGR tensor (N, H, W, 3); batches come out as RGB.

    ``weights`` (one per frame, optional) sets how often each frame is drawn, e.g. to keep
    synthetic gardens a minority of every batch.
    """

    def __init__(self, frames: np.ndarray, weights: np.ndarray | None = None) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} "
                             f"{frames.shape}")
        if len(frames) == 0:
            raise ValueError("no frames to pretrain on")
        if weights is not None and (len(weights) != len(frames) or np.any(weights < 0)
                                    or not np.sum(weights) > 0):
            raise ValueError("weights must be one non-negative number per frame, not all zero")
        self.frames = torch.from_numpy(frames)
        self.weights = None if weights is None else torch.tensor(weights, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        if self.weights is None:
            idx = torch.randint(len(self.frames), (n,), generator=gen)
        else:
            idx = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        x = self.frames[idx].to(device).permute(0, 3, 1, 2).flip(1).float() / 255.0
        return x


class Objective(nn.Module):
    """The net and every head it trains with; ``forward(views)`` is the loss.

    One module, so that DistributedDataParallel can wrap it whole.
    """

    teacher: Any

    def __init__(self, cfg: PretrainConfig, net: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = net
        dim, self.mean, self.std = net_facts(net)
        self.proj = Projector(dim, cfg.proj_dim) if cfg.objective != "distill" else None
        self.colour = None
        self.appearance_head = None
        if cfg.appearance > 0:
            self.colour = CellColourStats(16)
            self.appearance_head = nn.Conv2d(dim, self.colour.channels, 1)
        self.teacher = None
        self.distill_head = None
        if cfg.objective == "distill":
            from tools.backbone.lite0 import pretrained_grid, pretrained_trunk

            self.teacher = pretrained_grid() if cfg.teacher == "lite0-grid" else pretrained_trunk()
            for p in self.teacher.parameters():
                p.requires_grad_(False)
            self.distill_head = nn.Conv2d(dim, self.teacher.feature_dim, 1)

    def train(self, mode: bool = True) -> Objective:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # its BatchNorm statistics stay those of ImageNet
        return self

    def forward(self, va: torch.Tensor, vb: torch.Tensor, ca: torch.Tensor, cb: torch.Tensor,
                pb: torch.Tensor, mask: torch.Tensor, pa: torch.Tensor, mask_a: torch.Tensor,
                ) -> torch.Tensor:
        cfg = self.cfg
        fa = self.net(normalise(va, self.mean, self.std))
        if cfg.objective == "distill":
            # one view is enough: the target is the teacher's view of the same crop
            assert self.teacher is not None and self.distill_head is not None
            with torch.no_grad():
                tm, ts = self.teacher.gardenbot_mean_rgb, self.teacher.gardenbot_std_rgb
                target = standardised(self.teacher(normalise(ca, tm, ts)))
            loss = F.mse_loss(self.distill_head(fa), target)
            if self.appearance_head is not None and self.colour is not None:
                loss = loss + cfg.appearance * F.mse_loss(self.appearance_head(fa),
                                                          standardised(self.colour(ca)))
            return loss
        fb = self.net(normalise(vb, self.mean, self.std))
        assert self.proj is not None
        za, zb = self.proj(fa), self.proj(fb)
        if cfg.objective == "infonce":
            loss = (dense_infonce(za, zb, pb, mask, cfg.temperature, cfg.local_negatives)
                    + dense_infonce(zb, za, pa, mask_a, cfg.temperature,
                                    cfg.local_negatives)) / 2
        else:
            loss = dense_vicreg(za, zb, pb, mask)
        if self.appearance_head is not None and self.colour is not None:
            with torch.no_grad():
                target_a = standardised(self.colour(ca))
                target_b = standardised(self.colour(cb))
            loss = loss + cfg.appearance * (F.mse_loss(self.appearance_head(fa), target_a)
                                            + F.mse_loss(self.appearance_head(fb), target_b)) / 2
        return loss

    def trained_state(self) -> dict[str, Any]:
        """What a checkpoint keeps: everything but the frozen teacher."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("teacher.")}


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


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a ``torchrun`` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0


def join_torchrun(device: str | None) -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    NCCL when this process has a GPU, gloo on CPU. Each process then takes its slice of every
    batch and DistributedDataParallel averages the gradients.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device != "cpu"
    if world == 1:
        return Distributed(device=device or ("cuda" if cuda else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(),
                       f"cuda:{local}" if cuda else "cpu")


def pretrain(
    pool: FramePool, cfg: PretrainConfig, out_dir: Path, resume: bool = True,
    checkpoint_every: int = 250, device: str | None = None, progress: bool = True,
    snapshots: bool = False, stop_after: int | None = None,
) -> nn.Module:
    """Train the backbone; checkpoints to ``out_dir/checkpoint.pt``, losses to ``loss.jsonl``.

    With ``resume`` an existing checkpoint continues where it stopped, with the same random
    stream, so an interrupted run ends where an uninterrupted one would (up to float noise).
    Under ``torchrun`` every process draws the same global batch and views from the same
    random stream and trains on its own slice of them; rank 0 writes the checkpoint and log.
    With ``snapshots`` the net's weights at every checkpoint are also kept, as
    ``snapshots/step-NNNNNN.pt``, to probe how the features change along the run.
    ``stop_after`` ends this session after that many steps with a checkpoint (for machines
    lent by the hour); the next call resumes.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from tqdm import tqdm

    cfg.check()
    job = join_torchrun(device)
    if cfg.batch_size % job.world:
        raise ValueError(f"batch size {cfg.batch_size} does not split over {job.world} "
                         "processes")
    dev = torch.device(job.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    model = Objective(cfg, build_net(cfg))
    # channels-last makes the depthwise convolutions' backward pass ~1.7x faster on CPU
    model = model.to(dev, memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    elapsed = 0.0
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if state["config"] != cfg.to_dict():
            raise ValueError(f"{ckpt_path}: made with another configuration; use a new --out "
                             "or delete it")
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
        if unexpected or any(not k.startswith("teacher.") for k in missing):
            raise ValueError(f"{ckpt_path}: does not fit this configuration's model")
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
        if job.main:
            log.info("resuming from step %d of %d", start, cfg.steps)
    model.train()
    step_model: nn.Module = model
    if job.world > 1:
        step_model = DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda"
                                             else None)
    grid_hw = (cfg.augment.out_hw[0] // 16, cfg.augment.out_hw[1] // 16)
    loss_log = open_loss_log(out_dir / "loss.jsonl", start) if job.main else None
    bar = tqdm(total=cfg.steps, initial=start, desc="pretrain", unit="step",
               disable=not (progress and job.main), dynamic_ncols=True)
    t0 = time.perf_counter() - elapsed
    share = slice(job.rank * cfg.batch_size // job.world,
                  (job.rank + 1) * cfg.batch_size // job.world)
    cl = torch.channels_last
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    try:
        for step in range(start, end):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            # every process draws the whole batch, so that the random stream (and a resume)
            # is the same on all of them, then keeps its own slice
            frames = pool.batch(cfg.batch_size, gen, torch.device("cpu"))
            v = make_views(frames, cfg.augment, gen)
            pb, mask = correspondence(v.theta_a, v.theta_b, grid_hw)
            pa, mask_a = correspondence(v.theta_b, v.theta_a, grid_hw)
            inputs = [t[share].to(dev) for t in (v.a, v.b, v.clean_a, v.clean_b)]
            inputs = [t.contiguous(memory_format=cl) for t in inputs]
            loss = step_model(*inputs, *(t[share].to(dev) for t in (pb, mask, pa, mask_a)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss became {value} at step {step}; lower --lr")
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if loss_log is not None:
                loss_log.write(json.dumps({"step": step, "loss": round(value, 5),
                                           "lr": round(lr_at(step, cfg), 7)}) + "\n")
            done = step + 1
            if done % checkpoint_every == 0 or done == end:
                if loss_log is not None:
                    loss_log.flush()
                    save_checkpoint(ckpt_path, {
                        "config": cfg.to_dict(), "net": model.net.state_dict(),
                        "model": model.trained_state(), "opt": opt.state_dict(),
                        "gen": gen.get_state(), "step": done,
                        "elapsed_s": time.perf_counter() - t0, "world": job.world,
                    })
                    if snapshots:
                        save_checkpoint(out_dir / "snapshots" / f"step-{done:06d}.pt", {
                            "config": cfg.to_dict(), "net": model.net.state_dict(),
                            "step": done})
                if job.world > 1:
                    dist.barrier()  # nobody runs ahead of a checkpoint it may resume from
    finally:
        bar.close()
        if loss_log is not None:
            loss_log.close()
    model.eval()
    return model.net.cpu()


def load_trained(ckpt_path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone net from a checkpoint, in eval mode, and the checkpoint's facts."""
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = PretrainConfig.from_dict(state["config"])
    net = build_net(cfg, pretrained=False)
    net.load_state_dict(state["net"])
    net.eval()
    facts = {"config": state["config"], "step": state["step"],
             "elapsed_s": state.get("elapsed_s")}
    return net, facts
