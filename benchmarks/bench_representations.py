"""Part 5's PCA and multi-label decoders against scikit-learn, at the chapters' sizes and 10x larger.

- :func:`companion.latent_codes.pca` (covariance ``eigh`` and SVD) against
  ``sklearn.decomposition.PCA(svd_solver="full")`` on codes (N, D).
- :func:`companion.multilabel.cumulative_decode` followed by
  :func:`companion.multilabel.multilabel_scores` (per-example average) against
  ``sklearn.metrics.precision_recall_fscore_support(average="samples")`` on
  the same decoded labels (scikit-learn has no decoder: its time is the
  metric alone, so the ratio is conservative).

Targets: each companion function within 2x of scikit-learn's time (a ratio
below 1 is faster). Float64 on the CPU, one thread.
"""

import torch
from sklearn.decomposition import PCA
from sklearn.metrics import precision_recall_fscore_support

from companion.latent_codes import pca
from companion.multilabel import cumulative_decode, multilabel_scores
from timing import median_seconds, report_ratio  # benchmarks/timing.py

TARGET_RATIO = 2.0
CODE_SIZES = [(1000, 16), (10000, 100)]  # chapter 5.2's codes; then the asker's 100 units on more images
LABEL_SIZES = [(2000, 10), (20000, 100)]  # chapter 5.3's test set; then 100 labels


def main() -> None:
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    print(f"float64, CPU, 1 thread, torch {torch.__version__}")
    print(f"{'case':<44} {'ours':>10} {'sklearn':>10} {'ratio':>6}")
    for n, d in CODE_SIZES:
        codes = torch.randn(n, d, generator=generator, dtype=torch.float64)
        codes_np = codes.numpy()
        reference = median_seconds(lambda: PCA(svd_solver="full").fit(codes_np))
        for method in ("eigh", "svd"):
            report_ratio(f"pca({method}) codes ({n}, {d})", median_seconds(pca, codes, method), reference, TARGET_RATIO)
    for n, c in LABEL_SIZES:
        probs = torch.softmax(3 * torch.randn(n, c, generator=generator, dtype=torch.float64), dim=1)
        targets = (torch.rand(n, c, generator=generator) < 0.2).double()
        targets[:, 0] = 1.0
        decoded = cumulative_decode(probs, 0.8)
        targets_np, decoded_np = targets.numpy(), decoded.numpy()
        reference = median_seconds(lambda: precision_recall_fscore_support(targets_np, decoded_np, average="samples",
                                                                            zero_division=0))
        report_ratio(f"cumulative_decode + scores ({n}, {c})",
                     median_seconds(lambda: multilabel_scores(cumulative_decode(probs, 0.8), targets)), reference, TARGET_RATIO)


if __name__ == "__main__":
    main()
