"""Class activation maps (Zhou et al., 2016) for a global-average-pooling head.

A network that ends in global average pooling and a dense layer computes the
score of class ``k`` as ``z_k = mean_{i,j} sum_c W[k, c] f[c, i, j] + b_k``.
Moving the dense layer inside the mean gives one map per class,

    M_k(i, j) = sum_c W[k, c] * f[c, i, j],        z_k = mean_{i,j} M_k(i, j) + b_k,

which says how much the features at each position add to the class's score.
"""

from __future__ import annotations

import torch

from companion._checks import require_floating, require_layout, require_same_device, require_tensor, upcast


def class_activation_maps(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``M[n, k, i, j] = sum_c weight[k, c] * features[n, c, i, j]``.

    Args:
        features: (N, C, H, W), the feature map that global average pooling reads.
        weight: (K, C), the dense layer's weight in PyTorch's layout (``nn.Linear.weight``),
            cast to the dtype of ``features``.
    Returns:
        (N, K, H, W) in the dtype of ``features`` (float16 and bfloat16 summed in float32);
        ``maps.mean(dim=(2, 3)) + bias`` are the head's logits.
    """
    require_tensor(features, "features")
    require_tensor(weight, "weight")
    require_layout(features, "features", "(N, C, H, W)")
    require_layout(weight, "weight", "(K, C)")
    require_floating(features, "features")
    require_floating(weight, "weight")
    if weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"weight must have shape (K, C) with C = {features.shape[1]} (the channels of features); "
            f"got weight shape {tuple(weight.shape)}"
        )
    require_same_device(features, "features", weight, "weight")
    work = upcast(features)
    weight = weight.to(features.dtype).to(work.dtype)  # rounded to the features' dtype
    return torch.einsum("kc,nchw->nkhw", weight, work).to(features.dtype)
