"""The companion's weighted pixel cross-entropy against ``F.cross_entropy(weight=...)``, on the CPU.

A ratio of 1.0 means as fast as PyTorch. PyTorch runs a fused log-softmax
and a gather; the companion forms only the (N, H, W) log-sum-exp and the
gathered logit (one (N, C, H, W) temporary, exponentiated in place). The
target is a ratio within 1.5 for the forward pass; forward + backward is shown
for information. The two are timed in alternation, ``ROUNDS`` times, and the
median ratio printed, so that load from other processes falls on both.
"""

import statistics

import torch
import torch.nn.functional as F

from companion import segmentation_losses
from timing import median_seconds  # benchmarks/timing.py

N, C, H, W = 8, 21, 256, 256  # a PASCAL VOC-sized batch: 20 classes and background
TARGET_RATIO = 1.5
MIN_RUN_TIME_S = 0.3
ROUNDS = 5


def median_ratio(ours, theirs, *args) -> tuple[float, float, float]:
    """Median seconds of each, and the median of the per-round ratios."""
    times = [
        (median_seconds(ours, *args, min_run_time=MIN_RUN_TIME_S), median_seconds(theirs, *args, min_run_time=MIN_RUN_TIME_S))
        for _ in range(ROUNDS)
    ]
    ours_s, theirs_s = zip(*times)
    return statistics.median(ours_s), statistics.median(theirs_s), statistics.median(a / b for a, b in times)


def forward_backward(loss_fn):
    def run(logits, labels, weight):
        logits = logits.detach().requires_grad_()
        loss_fn(logits, labels, weight).backward()

    return run


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(N, C, H, W, generator=generator)
    labels = torch.randint(0, C, (N, H, W), generator=generator)
    labels[:, :8] = -100  # an ignored border, as in VOC
    weight = segmentation_losses.inverse_frequency_weights(labels, C)

    ours = segmentation_losses.pixel_cross_entropy(logits, labels, weight)
    torch.testing.assert_close(ours, F.cross_entropy(logits, labels, weight=weight))

    cases = [
        ("pixel_cross_entropy (weighted)", segmentation_losses.pixel_cross_entropy, F.cross_entropy),
        (
            "  forward + backward",
            forward_backward(segmentation_losses.pixel_cross_entropy),
            forward_backward(F.cross_entropy),
        ),
    ]
    print(f"device cpu ({torch.get_num_threads()} threads), logits ({N}, {C}, {H}, {W}) float32, torch {torch.__version__}")
    print(f"{'function':32s} {'companion':>12s} {'torch':>12s} {'ratio':>7s}")
    ratios = []
    for name, ours, theirs in cases:
        t_ours, t_theirs, ratio = median_ratio(ours, theirs, logits, labels, weight)
        ratios.append(ratio)
        print(f"{name:32s} {t_ours * 1e3:10.3f}ms {t_theirs * 1e3:10.3f}ms {ratio:7.2f}")
    print(f"forward ratio <= {TARGET_RATIO}: {'met' if ratios[0] <= TARGET_RATIO else 'MISSED'}")

if __name__ == "__main__":
    main()
