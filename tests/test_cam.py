"""Class activation maps: their means are the head's logits, and they are the 1x1 convolution."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion.cam import class_activation_maps


def test_the_mean_of_each_map_plus_bias_is_the_logit(device, generator):
    features = torch.randn(2, 6, 5, 4, generator=generator, dtype=torch.float64).to(device)
    head = nn.Linear(6, 3).double().to(device)
    maps = class_activation_maps(features, head.weight.detach())
    assert maps.shape == (2, 3, 5, 4)
    logits = head(features.mean(dim=(2, 3)))
    torch.testing.assert_close(maps.mean(dim=(2, 3)) + head.bias, logits)
    one_by_one = F.conv2d(features, head.weight[:, :, None, None])  # the same weights as a 1x1 convolution
    torch.testing.assert_close(maps, one_by_one)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"weight must have shape \(K, C\) with C = 6"):
        class_activation_maps(torch.zeros(1, 6, 3, 3), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"features must have shape \(N, C, H, W\); got shape \(6, 3, 3\)"):
        class_activation_maps(torch.zeros(6, 3, 3), torch.zeros(3, 6))
    with pytest.raises(TypeError, match="weight must have a floating-point dtype"):
        class_activation_maps(torch.zeros(1, 6, 3, 3), torch.zeros(3, 6, dtype=torch.long))
