"""The companion's softmax, log-softmax and losses against PyTorch's, on the same inputs.

A ratio of 1.0 means as fast as PyTorch; 2.0 means twice the time. The
companion's versions are written from first principles (several elementwise
kernels) where PyTorch runs one fused kernel, so ratios above 1 are expected;
the point is to know by how much.
"""

import numpy as np
import torch
import torch.nn.functional as F

from companion import activations, losses
from companion.runtime import default_device
from timing import median_seconds  # benchmarks/timing.py

N, C = 4096, 1000


def main() -> None:
    device = default_device()
    generator = torch.Generator().manual_seed(0)
    logits = (4 * torch.randn(N, C, generator=generator)).to(device)
    labels = torch.randint(0, C, (N,), generator=generator).to(device)
    binary_targets = torch.rand(N, C, generator=generator).round().to(device)
    logits_np, labels_np = logits.cpu().numpy(), labels.cpu().numpy()

    cases = [
        ("softmax", (activations.softmax, logits), (torch.softmax, logits, -1)),
        ("log_softmax", (activations.log_softmax, logits), (torch.log_softmax, logits, -1)),
        ("cross_entropy", (losses.cross_entropy, logits, labels), (F.cross_entropy, logits, labels)),
        (
            "bce_with_logits",
            (losses.binary_cross_entropy_with_logits, logits, binary_targets),
            (F.binary_cross_entropy_with_logits, logits, binary_targets),
        ),
        ("softmax_np (NumPy, CPU)", (activations.softmax_np, logits_np), (torch.softmax, logits.cpu(), -1)),
        (
            "cross_entropy_np (NumPy, CPU)",
            (losses.cross_entropy_np, logits_np, labels_np),
            (F.cross_entropy, logits.cpu(), labels.cpu()),
        ),
    ]
    print(f"device {device}, logits ({N}, {C}) float32, torch {torch.__version__}, numpy {np.__version__}")
    print(f"{'function':32s} {'companion':>12s} {'torch':>12s} {'ratio':>7s}")
    for name, (ours, *our_args), (theirs, *their_args) in cases:
        t_ours, t_theirs = median_seconds(ours, *our_args), median_seconds(theirs, *their_args)
        print(f"{name:32s} {t_ours * 1e3:10.3f}ms {t_theirs * 1e3:10.3f}ms {t_ours / t_theirs:7.2f}")


if __name__ == "__main__":
    main()
