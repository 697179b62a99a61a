from __future__ import annotations

import numpy as np
import torch

from tools.backbone.arch import CellColourStats


def stats_of(rgb01: torch.Tensor) -> torch.Tensor:
    return CellColourStats(16)(rgb01)


def test_a_flat_colour_has_its_mean_no_spread_and_one_histogram_bin():
    x = torch.zeros(1, 3, 16, 16)
    x[:, 0], x[:, 1], x[:, 2] = 0.6, 0.4, 0.2  # r, g, b
    s = stats_of(x)[0, :, 0, 0]
    r, g, b = 0.6, 0.4, 0.2
    torch.testing.assert_close(s[:5], torch.tensor([r, g, b, r - g, (r + g) / 2 - b]))
    assert torch.all(s[5:10] < 1e-2), "no spread in a flat cell"
    hist_ab = s[10:35]
    torch.testing.assert_close(hist_ab.sum(), torch.tensor(1.0))
    assert hist_ab.argmax() == 3 * 5 + 3, "A = 0.2, B = 0.3 falls between bins (3, 3) and (3, 4)"
    torch.testing.assert_close(s[35:40].sum(), torch.tensor(1.0))
    torch.testing.assert_close(s[40:], torch.zeros(3))


def test_texture_raises_gradient_energy_and_spread():
    flat = torch.full((1, 3, 16, 16), 0.5)
    stripes = flat.clone()
    stripes[..., 0:4] = stripes[..., 8:12] = 0.9  # bright bands 4 pixels wide
    a, b = stats_of(flat)[0, :, 0, 0], stats_of(stripes)[0, :, 0, 0]
    assert b[40] > a[40] + 0.05, "horizontal gradient energy"
    assert b[42] > a[42] + 0.05, "Laplacian energy"
    assert b[5] > a[5] + 0.1, "spread of red"


def test_channel_count_matches_output():
    m = CellColourStats(16)
    assert m(torch.rand(2, 3, 32, 48)).shape == (2, m.channels, 2, 3)
    assert np.isfinite(m(torch.rand(1, 3, 16, 16)).numpy()).all()


def test_smooth_colour_stats_are_the_full_ones_without_histograms():
    x = torch.rand(2, 3, 64, 96)
    full = CellColourStats(16)(x)
    smooth = CellColourStats(16, histograms=False)(x)
    assert CellColourStats(16, histograms=False).channels == smooth.shape[1] == 13
    torch.testing.assert_close(smooth, torch.cat([full[:, :10], full[:, 40:]], 1))
