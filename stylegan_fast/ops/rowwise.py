"""Matrix products whose rows do not depend on the other rows of the batch.

``x @ w.T`` as one GEMM lets the BLAS pick its blocking (and so its summation order) by the
batch size: an image's styles would change in the last bits with the batch it is rendered in.
A batched product of one row each runs the same kernel on every row, alone or in a batch.
"""
from __future__ import annotations

import torch


def rowwise_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x [N, K], weight [M, K] -> x @ weight.T [N, M], each row computed as if alone."""
    n, k = x.shape
    return torch.bmm(x.unsqueeze(1), weight.t().unsqueeze(0).expand(n, k, weight.shape[0])).squeeze(1)
