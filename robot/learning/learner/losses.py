"""The partial-label loss: cross-entropy for single labels, the allowed set's mass for sets.

Labels reach the learner as int64 codes (``LabelledCells.label_codes``): a code k >= 0 is the
class k, a code -m < 0 the set label with class bitmask m ("drove smoothly here" = {lawn, path}).
For a set the loss is -log sum_{k in set} p_k: it pushes probability into the set without
saying which member, so a leaf-covered lawn cell the adapter calls "plant" is pushed out of
"plant" and towards lawn or path, whichever the features already favour. For a single class it
is exactly the cross-entropy.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def allowed_mask(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, K) bool: which classes each label code allows."""
    k = torch.arange(num_classes, device=y.device)
    single = k[None, :] == y[:, None]
    in_set = ((-y)[:, None] >> k[None, :]) & 1 == 1
    return torch.where((y >= 0)[:, None], single, in_set)


def partial_label_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over cells of -log of the probability mass on each cell's allowed classes."""
    if bool((y >= 0).all()):
        return F.cross_entropy(logits, y)  # the common case, and bit-identical to before
    log_p = F.log_softmax(logits, dim=1)
    allowed = allowed_mask(y, logits.shape[1])
    return -torch.logsumexp(log_p.masked_fill(~allowed, float("-inf")), dim=1).mean()
