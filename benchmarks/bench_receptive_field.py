"""Measuring a receptive field: one backward pass against raising each input pixel in turn, in one run.

A VGG-style stack of five 3x3 convolutions and two 2x2 max-pools on a
(3, 48, 48) input. ``gradient_footprint`` finds the input pixels that reach one
output unit with a single backward pass. The reference asks the same question
the obvious way: a batch of 24 * 24 inputs, each with one pixel raised, through
the same positive-weight probe in one forward pass, and reads which of them move
the unit. Both answers are compared, and the formula is timed beside them.
Target on the 2-core course machine: the backward pass at least 20x faster.
"""

import torch
import torch.nn.functional as F
from torch import nn

from companion.receptive_field import field_bounds, gradient_footprint, layer_specs, receptive_fields
from timing import median_seconds  # benchmarks/timing.py

C, H, W = 3, 24, 24
UNIT = (3, 3)
TARGET = 20.0
MIN_RUN_TIME_S = 0.5


def model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(C, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1),
    )


def footprint_by_perturbation(net: nn.Sequential) -> torch.Tensor:
    """(H, W) bool: which one-pixel changes of the input move output unit UNIT (weights 1, pools averaged)."""
    x = torch.eye(H * W, dtype=torch.float64).reshape(H * W, 1, H, W).expand(H * W, C, H, W)  # one raised pixel per image
    for layer in net:
        if isinstance(layer, nn.Conv2d):
            x = F.conv2d(x, torch.ones(layer.weight.shape, dtype=torch.float64), None, layer.stride, layer.padding)
        elif isinstance(layer, nn.MaxPool2d):
            x = F.avg_pool2d(x, layer.kernel_size, layer.stride)
    return (x[:, 0, UNIT[0], UNIT[1]] != 0).reshape(H, W)


def main() -> None:
    net = model()
    by_gradient = gradient_footprint(net, (C, H, W), UNIT)
    assert torch.equal(by_gradient, footprint_by_perturbation(net))
    rows, cols = (receptive_fields(layer_specs(net, axis))[-1] for axis in (0, 1))
    (r0, r1), (c0, c1) = field_bounds(rows, UNIT[0], H), field_bounds(cols, UNIT[1], W)
    assert int(by_gradient.sum()) == (r1 - r0 + 1) * (c1 - c0 + 1)

    reference = median_seconds(footprint_by_perturbation, net, min_run_time=MIN_RUN_TIME_S)
    gradient = median_seconds(gradient_footprint, net, (C, H, W), UNIT, min_run_time=MIN_RUN_TIME_S)
    formula = median_seconds(lambda: receptive_fields(layer_specs(net)), min_run_time=MIN_RUN_TIME_S)
    print(f"input ({C}, {H}, {W}), 5 convs 3x3 and 2 max-pools, unit {UNIT}: field {rows.size}x{cols.size} pixels, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'method':44s} {'time':>10s} {'speed-up':>9s} {'target':>7s}")
    print(f"{'raise each pixel, one batched forward (ref.)':44s} {reference * 1e3:8.2f}ms {1.0:9.1f}")
    speedup = reference / gradient
    verdict = "met" if speedup >= TARGET else "MISSED"
    print(f"{'gradient_footprint (one backward)':44s} {gradient * 1e3:8.2f}ms {speedup:9.1f} {'>= ' + str(TARGET):>7s} {verdict}")
    print(f"{'receptive_fields(layer_specs(model))':44s} {formula * 1e3:8.2f}ms {reference / formula:9.1f}")


if __name__ == "__main__":
    main()
