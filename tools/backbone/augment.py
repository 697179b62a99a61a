"""Batched, differentiable-free augmentations for dense self-supervision, in torch.

Two views of each frame are cut by random affine crops (scale, aspect, flip) with `grid_sample`,
so the geometric correspondence between the views is known exactly: cell (i, j) of view A lies
at a known place in view B. Photometric changes mimic what a garden does across a day and a
year: light level, contrast, colour temperature, a season-like drift of hue and saturation,
blur and sensor noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    out_hw: tuple[int, int] = (128, 160)
    min_scale: float = 0.3  # fraction of the frame's area a crop covers
    max_scale: float = 1.0
    # area drawn evenly in log scale: with a small min_scale, crops then come at every zoom
    # from half to a few times the robot's own scale, not mostly zoomed out
    log_area: bool = False
    colour: float = 1.0  # strength of the photometric changes, 0 = none
    season: float = 0.8  # probability of a season-like hue/saturation drift
    grayscale: float = 0.1
    blur: float = 0.2
    noise: float = 0.3


def random_affine(n: int, cfg: AugmentConfig, aspect: float, gen: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) affine maps from view coordinates to frame coordinates, both in [-1, 1]."""
    u = torch.rand(n, 4, generator=gen)
    if cfg.log_area:
        lo, hi = math.log(cfg.min_scale), math.log(cfg.max_scale)
        area = torch.exp(lo + (hi - lo) * u[:, 0])
    else:
        area = cfg.min_scale + (cfg.max_scale - cfg.min_scale) * u[:, 0]
    log_r = (u[:, 1] - 0.5) * 2 * math.log(1.25)
    ratio = torch.exp(log_r)  # crop aspect relative to the frame's
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (1 - sx) * (2 * u[:, 2] - 1)
    ty = (1 - sy) * (2 * u[:, 3] - 1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx * flip
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = ty
    return theta


def crop(frames: torch.Tensor, theta: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    grid = F.affine_grid(theta, [frames.shape[0], 3, *out_hw], align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)


def _hue_matrix(angle: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3) rotations of RGB about the grey axis by ``angle`` radians."""
    c, s = torch.cos(angle), torch.sin(angle)
    k = 1.0 / 3.0
    r = math.sqrt(k)
    m = torch.empty(angle.shape[0], 3, 3)
    m[:, 0, 0] = c + (1 - c) * k
    m[:, 0, 1] = k * (1 - c) - r * s
    m[:, 0, 2] = k * (1 - c) + r * s
    m[:, 1, 0] = k * (1 - c) + r * s
    m[:, 1, 1] = c + k * (1 - c)
    m[:, 1, 2] = k * (1 - c) - r * s
    m[:, 2, 0] = k * (1 - c) - r * s
    m[:, 2, 1] = k * (1 - c) + r * s
    m[:, 2, 2] = c + k * (1 - c)
    return m


def photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Colour changes on RGB in [0, 1], shape (n, 3, h, w)."""
    n = x.shape[0]
    s = cfg.colour
    if s <= 0:
        return x

    def rnd(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=gen)).view(n, 1, 1, 1)

    # light level and contrast
    x = x * rnd(1 - 0.5 * s, 1 + 0.4 * s)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * rnd(1 - 0.4 * s, 1 + 0.4 * s) + mean
    # colour temperature: warm (more red, less blue) or cool
    temp = rnd(-0.15 * s, 0.15 * s)
    x = x * torch.cat([1 + temp, torch.ones_like(temp), 1 - temp], dim=1)
    # season-like drift: a hue turn toward yellow/brown and a saturation change, sometimes
    season = (torch.rand(n, generator=gen) < cfg.season).float()
    angle = season * (torch.rand(n, generator=gen) * 2 - 1) * 0.6 * s
    x = torch.einsum("nij,njhw->nihw", _hue_matrix(angle), x)
    grey = x.mean(dim=1, keepdim=True)
    sat = 1 + season.view(n, 1, 1, 1) * (rnd(-0.6 * s, 0.3 * s))
    x = grey + (x - grey) * sat
    gray_mask = (torch.rand(n, generator=gen) < cfg.grayscale).view(n, 1, 1, 1)
    x = torch.where(gray_mask, x.mean(dim=1, keepdim=True).expand_as(x), x)
    # blur (defocus, motion) and sensor noise
    if cfg.blur > 0:
        k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
        kernel = (k[:, None] * k[None, :]).expand(3, 1, 5, 5).contiguous()
        blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=3)
        mask = (torch.rand(n, generator=gen) < cfg.blur).view(n, 1, 1, 1)
        x = torch.where(mask, blurred, x)
    if cfg.noise > 0:
        sigma = (torch.rand(n, generator=gen) < cfg.noise).float().view(n, 1, 1, 1) * 0.03
        x = x + sigma * torch.randn(x.shape, generator=gen)
    return x.clamp(0.0, 1.0)


@dataclass(frozen=True)
class Views:
    """Two augmented views of a batch of frames, the same crops before the photometric
    changes (what the frame itself looks like there), and the affine maps of the crops."""

    a: torch.Tensor
    b: torch.Tensor
    clean_a: torch.Tensor
    clean_b: torch.Tensor
    theta_a: torch.Tensor
    theta_b: torch.Tensor


def make_views(frames: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> Views:
    """Two augmented views (RGB in [0, 1]) of frames (n, 3, H, W), see :class:`Views`."""
    n, _, H, W = frames.shape
    aspect = W / H
    ta = random_affine(n, cfg, aspect, gen)
    tb = random_affine(n, cfg, aspect, gen)
    ca = crop(frames, ta, cfg.out_hw)
    cb = crop(frames, tb, cfg.out_hw)
    return Views(photometric(ca, cfg, gen), photometric(cb, cfg, gen), ca, cb, ta, tb)


def two_views(
    frames: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two augmented views (RGB in [0, 1]) of frames (n, 3, H, W) and their affine maps."""
    v = make_views(frames, cfg, gen)
    return v.a, v.b, v.theta_a, v.theta_b


def correspondence(
    ta: torch.Tensor, tb: torch.Tensor, grid_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each cell centre of view A falls in view B: (n, h, w, 2) in [-1, 1], and a mask.

    The mask keeps cells whose centre lies inside view B (and away from its border).
    """
    n = ta.shape[0]
    h, w = grid_hw
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pa = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(1, h * w, 3).expand(n, -1, -1)
    frame_pts = pa @ ta.transpose(1, 2)  # (n, hw, 2) in frame coordinates
    lin, trans = tb[:, :, :2], tb[:, :, 2]
    inv = torch.linalg.inv(lin)
    pb = (frame_pts - trans[:, None, :]) @ inv.transpose(1, 2)
    margin = 1.0 - 1.0 / max(h, w)
    mask = (pb.abs() <= margin).all(-1)
    return pb.view(n, h, w, 2), mask.view(n, h, w)
