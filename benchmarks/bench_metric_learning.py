"""Batch-hard triplet mining on 512 embeddings: the companion's distance-matrix version against a Python loop.

The loop (:func:`batch_hard_loop`) visits every anchor, computes its squared
distance to every other embedding in Python, and keeps the farthest positive
and the closest negative. Its cost is the same for every anchor, so it is
timed on the first 64 anchors (its ``anchors`` argument) and scaled to all
512 (a loop over anchors is linear in their number). Embeddings: 128-d on the unit sphere, as FaceNet's;
labels: 32 identities of 16 images each.

Target: at least 100x faster than the loop.
"""

import time

import torch

from companion.metric_learning import batch_hard_loop, batch_hard_triplet_loss, l2_normalize
from companion.runtime import default_device
from timing import median_seconds  # benchmarks/timing.py

TARGET_SPEEDUP = 100
N, D, IDENTITIES, TIMED_ANCHORS = 512, 128, 32, 64


def main() -> None:
    device = default_device()
    generator = torch.Generator().manual_seed(0)
    embeddings = l2_normalize(torch.randn(N, D, generator=generator, dtype=torch.float64))
    labels = torch.arange(IDENTITIES).repeat_interleave(N // IDENTITIES)
    emb_list, label_list = embeddings.tolist(), labels.tolist()

    # the loop gives the companion's answer (checked once on a 128-embedding slice, in full)
    small = batch_hard_triplet_loss(embeddings[:128], labels[:128]).loss.item()
    assert abs(batch_hard_loop(emb_list[:128], label_list[:128]) - small) < 1e-9

    start = time.perf_counter()
    batch_hard_loop(emb_list, label_list, anchors=TIMED_ANCHORS)
    t_loop = (time.perf_counter() - start) * N / TIMED_ANCHORS

    print(f"{N} embeddings of dimension {D}, {IDENTITIES} identities; device {device}, one CPU thread, torch {torch.__version__}")
    print(f"loop over anchors and pairs (timed on {TIMED_ANCHORS} anchors, scaled to {N}): {t_loop:.2f}s")
    cases = [("batch_hard_triplet_loss (float64, cpu)", embeddings, labels),
             ("batch_hard_triplet_loss (float32, cpu)", embeddings.float(), labels)]
    if device.type != "cpu":
        cases.append((f"batch_hard_triplet_loss (float32, {device})", embeddings.float().to(device), labels.to(device)))
    for name, x, y in cases:
        t = median_seconds(lambda: batch_hard_triplet_loss(x, y).loss.item())
        ratio = t_loop / t
        print(f"{name:42s} {t * 1e3:8.2f}ms  x{ratio:8.0f}  {'met' if ratio >= TARGET_SPEEDUP else 'MISSED'}")
    print(f"target: at least {TARGET_SPEEDUP}x faster than the loop")


if __name__ == "__main__":
    main()
