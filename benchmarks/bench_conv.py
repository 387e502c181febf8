"""The companion's convolutions against ``F.conv2d`` on the CPU, in one run.

Input (16, 32, 32, 32), 64 filters of 3x3, padding 1, float32: the NumPy
convolution (window view + one matrix product) and the PyTorch one written
from first principles. Targets on the 2-core course machine: NumPy within
1.5x of ``F.conv2d``, the PyTorch version within 2x.
"""

import torch
import torch.nn.functional as F

from companion import conv
from timing import median_seconds  # benchmarks/timing.py

N, C, H, W, O, K, PADDING = 16, 32, 32, 32, 64, 3, 1
TARGETS = {"conv2d_np (NumPy)": 1.5, "conv2d (PyTorch, first principles)": 2.0}
MIN_RUN_TIME_S = 1.0


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, H, W, generator=generator)
    weight = torch.randn(O, C, K, K, generator=generator) / (C * K * K) ** 0.5
    bias = torch.randn(O, generator=generator)
    x_np, weight_np, bias_np = x.numpy(), weight.numpy(), bias.numpy()
    flops = 2 * N * O * H * W * C * K * K  # one multiply and one add per weight per output (padding 1 keeps H, W)

    reference = median_seconds(F.conv2d, x, weight, bias, 1, PADDING, min_run_time=MIN_RUN_TIME_S)
    cases = {
        "conv2d_np (NumPy)": median_seconds(conv.conv2d_np, x_np, weight_np, bias_np, 1, PADDING, min_run_time=MIN_RUN_TIME_S),
        "conv2d (PyTorch, first principles)": median_seconds(conv.conv2d, x, weight, bias, 1, PADDING, min_run_time=MIN_RUN_TIME_S),
    }
    print(f"x ({N}, {C}, {H}, {W}), {O} filters {K}x{K}, padding {PADDING}, float32, CPU, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'implementation':38s} {'time':>9s} {'GFLOP/s':>8s} {'ratio':>6s} {'target':>7s}")
    print(f"{'F.conv2d (reference)':38s} {reference * 1e3:7.2f}ms {flops / reference / 1e9:8.1f} {1.0:6.2f}")
    for name, seconds in cases.items():
        ratio = seconds / reference
        verdict = "met" if ratio <= TARGETS[name] else "MISSED"
        print(f"{name:38s} {seconds * 1e3:7.2f}ms {flops / seconds / 1e9:8.1f} {ratio:6.2f} "
              f"{'<= ' + str(TARGETS[name]):>7s} {verdict}")


if __name__ == "__main__":
    main()
