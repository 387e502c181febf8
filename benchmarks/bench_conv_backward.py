"""The companion's NumPy convolution backward against autograd through ``F.conv2d`` on the CPU, in one run.

The forward benchmark's sizes (``bench_conv.py``): input (16, 32, 32, 32), 64
filters of 3x3, padding 1, float32. Timed: the weight and input gradients
given an upstream gradient, by

- ``conv2d_backward_np``: the weight gradient as a valid cross-correlation of
  the input with the upstream gradient (one gathered window copy, one matrix
  product), the input gradient as a full convolution of the upstream gradient
  with the kernel (one matrix product for all taps, then one strided add per
  tap); the bias gradient, a sum, is included;
- the reference: ``torch.autograd.grad`` of ``F.conv2d``'s output (the forward
  pass is done once, outside the timing; only the backward is timed).

Target on the 2-core course machine: NumPy within 2x of the reference.
GFLOP/s counts the two gradients' multiply-adds, twice the forward's.
The machine's load moves both times: they are measured in alternating rounds and
the ratio printed is the median of the rounds' ratios. ``torch.utils.benchmark``
times PyTorch on one thread, so NumPy's BLAS is held to one thread too (with
``threadpoolctl``, installed with scikit-learn; without it, BLAS keeps its own
thread count, which the output states): on the loaded 2-core machine two BLAS
threads made NumPy slower, not faster.
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from companion import conv_backward
from timing import median_seconds  # benchmarks/timing.py

N, C, H, W, O, K, PADDING = 16, 32, 32, 32, 64, 3, 1
TARGET = 2.0
MIN_RUN_TIME_S = 0.4
ROUNDS = 5


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, H, W, generator=generator).requires_grad_()
    weight = (torch.randn(O, C, K, K, generator=generator) / (C * K * K) ** 0.5).requires_grad_()
    y = F.conv2d(x, weight, None, 1, PADDING)
    grad_y = torch.randn(y.shape, generator=generator)
    x_np, weight_np, grad_y_np = x.detach().numpy(), weight.detach().numpy(), grad_y.numpy()
    flops = 2 * 2 * N * O * H * W * C * K * K  # two gradients, each one multiply and one add per weight per output

    def autograd_backward():
        return torch.autograd.grad(y, (x, weight), grad_y, retain_graph=True)

    expected = autograd_backward()
    got = conv_backward.conv2d_backward_np(x_np, weight_np, grad_y_np, 1, PADDING)
    for ours, theirs in zip(got[:2], expected):  # the same gradients before timing them
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-3, atol=1e-3)

    try:
        from threadpoolctl import threadpool_limits

        blas_threads, limit = "1", threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # threadpoolctl is optional
        blas_threads, limit = "its default count of", contextlib.nullcontext()
    # alternate the two in short rounds, so that a change in the machine's load hits both alike
    rounds = {"reference": [], "ours": []}
    with limit:
        for _ in range(ROUNDS):
            rounds["reference"].append(median_seconds(autograd_backward, min_run_time=MIN_RUN_TIME_S))
            rounds["ours"].append(median_seconds(conv_backward.conv2d_backward_np, x_np, weight_np, grad_y_np, 1,
                                                 PADDING, min_run_time=MIN_RUN_TIME_S))
    reference = float(np.median(rounds["reference"]))
    cases = {"conv2d_backward_np (NumPy)": float(np.median(rounds["ours"]))}
    ratios = np.array(rounds["ours"]) / np.array(rounds["reference"])
    print(f"x ({N}, {C}, {H}, {W}), {O} filters {K}x{K}, padding {PADDING}, float32, CPU, "
          f"torch {torch.__version__}; weight and input gradients")
    print(f"PyTorch timed on 1 thread (torch.utils.benchmark), NumPy's BLAS on {blas_threads} thread(s)")
    print(f"{'implementation':38s} {'time':>9s} {'GFLOP/s':>8s} {'ratio':>6s} {'target':>7s}")
    print(f"{'autograd through F.conv2d (reference)':38s} {reference * 1e3:7.2f}ms {flops / reference / 1e9:8.1f} {1.0:6.2f}")
    for name, seconds in cases.items():
        ratio = float(np.median(ratios))
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"{name:38s} {seconds * 1e3:7.2f}ms {flops / seconds / 1e9:8.1f} {ratio:6.2f} {'<= ' + str(TARGET):>7s} {verdict}")
    print(f"ratio in each of the {ROUNDS} rounds: {', '.join(f'{r:.2f}' for r in ratios)}")


if __name__ == "__main__":
    main()
