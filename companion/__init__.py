"""Companion code for the course *Deep Learning, Question by Question*.

Each module holds one idea, with its NumPy and PyTorch versions side by side:

- :mod:`companion.activations`: softmax (and its backward), log-softmax, log-sum-exp, sigmoid.
- :mod:`companion.losses`: cross-entropy and binary cross-entropy on logits.
- :mod:`companion.metrics`: accuracy, top-k accuracy, precision and recall.
- :mod:`companion.heads`: output heads for a bounded 2-D target (chapter 1.5).
- :mod:`companion.mixing`: learnable mixing of two predictors (chapter 1.6).
- :mod:`companion.data`: small synthetic data sets, generated on the CPU.
- :mod:`companion.training`: a minimal full-batch training loop.
- :mod:`companion.runtime`: device choice and seeding, for notebooks and scripts.
- :mod:`companion.segmentation_data`: a synthetic data set of shapes to segment, each object's colour independent of its class (Part 2).
- :mod:`companion.segmentation_losses`: per-pixel cross-entropy (class weights, infogain), focal and Dice losses (Part 2).
- :mod:`companion.segmentation_metrics`: a confusion matrix, and pixel accuracy, IoU and Dice read from it (Part 2).
- :mod:`companion.unet`: a small U-Net, the segmentation network of Part 2.
- :mod:`companion.conv`: convolution and pooling from first principles (Part 3).
- :mod:`companion.shapes`: parameter counts and layer-by-layer output shapes.
- :mod:`companion.finite_differences`: derivatives and the Laplacian as small kernels (chapter 3.5).
- :mod:`companion.cam`: class activation maps for a global-average-pooling head (chapter 3.4).
- :mod:`companion.dense_numpy`: a NumPy dense network, forward and backward on a whole batch (chapter 3.6).
- :mod:`companion.filter_similarity`: comparing filters up to order and sign, and with oriented edge kernels (chapter 4.1).
- :mod:`companion.plotting`: a grid of first-layer filters on one shared colour scale (chapter 4.1) and the image / label / prediction grid of Part 2 with one colour per class; needs matplotlib, imported lazily.
- :mod:`companion.receptive_field`: receptive-field size, jump and start of a conv/pool stack, its measured gradient footprint and path counts (chapter 4.2).
- :mod:`companion.conv_backward`: backward passes of convolution and pooling in NumPy, both conventions, the im2col view (chapter 4.3).
- :mod:`companion.coordinate_networks`: pixel coordinates to colour: random Fourier features, RBF features, the MLP (chapter 4.4).
- :mod:`companion.normalizers`: min-max, z-score and robust quantile scaling fitted on data, and PSNR (chapter 4.5).
- :mod:`companion.denoising`: noisy and clean image pairs, and a small convolutional denoising autoencoder (chapter 4.5).
- :mod:`companion.residual`: ResNet blocks with shortcut options A, B and C, and the ResNet builder (chapter 5.1).
- :mod:`companion.latent_codes`: PCA of latent codes, unit ablation, rotating the code space (chapter 5.2).
- :mod:`companion.multilabel`: normalised targets, soft-target cross-entropy, label decoders and metrics (chapter 5.3).
- :mod:`companion.detection`: object detection, a subpackage (Part 6):
  :mod:`~companion.detection.boxes` (box formats, IoU, GIoU, clipping),
  :mod:`~companion.detection.anchors` (anchors and SSD prior boxes),
  :mod:`~companion.detection.matching` (anchor labels and balanced sampling),
  :mod:`~companion.detection.box_coding` (box deltas),
  :mod:`~companion.detection.nms` (non-maximum suppression),
  :mod:`~companion.detection.rpn` (region proposal head and loss),
  :mod:`~companion.detection.detection_output` (SSD's (1, 1, N, 7) output).
- :mod:`companion.metric_learning`: distance matrices, triplet losses with online mining, center loss (chapter 6.4).

Library functions never choose a device: they take it, and the dtype, from
their inputs. Only entry points (notebooks, scripts) call
:func:`companion.runtime.default_device`.

Bad, extreme and empty input: what every function promises
-----------------------------------------------------------

- **Bad input raises**, before any work: ``TypeError`` for a wrong type or
  dtype, ``ValueError`` for a wrong rank, shape, device or value, with the
  argument's name, what was expected and what was given. A number may be a
  Python or NumPy scalar (``np.float32(0.5)``, ``np.int64(3)``; ``bool`` is
  not a number); class labels may have any integer dtype.
- **NaN and infinity in data** (logits, scores, features, images) give what
  PyTorch gives: NaN wherever a NaN reaches, and the limits PyTorch takes for
  infinities (the log-sum-exp of a row of ``-inf``, every choice masked, is
  ``-inf``). Nothing is silently replaced by a finite number, with three
  stated exceptions: a pixel labelled ``ignore_index`` takes no part in a loss
  whatever its logits; a metric counts a prediction holding a NaN as wrong
  (never right); and the log-sum-exp of a row of ``-inf`` has a zero gradient.
- **What says what is right is checked**: labels outside ``[0, C)``, targets
  and masks outside ``[0, 1]`` (NaN included), a NaN target velocity and
  negative class weights raise ``ValueError``, and hyperparameters
  (``temperature``, ``eps``, ``gamma``...) must be finite.
- **Precision**: float16 and bfloat16 input is computed in float32 and the
  result rounded back to the input's dtype, as PyTorch's CUDA kernels
  accumulate (a float16 sum of 65,536 pixels would pass float16's maximum). A
  result has the dtype of the main input (logits, scores, ``x``); weights,
  biases and other parameters of another floating dtype are cast to it. Only
  the targets of the binary cross-entropies and of the heads' losses combine
  with the logits by PyTorch's type promotion, as ``torch.nn.functional``'s do.
  Non-contiguous tensors and arrays give the same result as contiguous copies.
- **Empty input** (N = 0) gives an empty result for ``reduction="none"``, 0
  for ``"sum"``, and NaN for ``"mean"``, as ``torch.mean``; except the
  segmentation losses, whose mean over zero pixels is 0.0 (see
  :mod:`companion.segmentation_losses`). Accuracies over no rows are NaN.
  Functions that cannot work on nothing (training, a precision-recall curve)
  raise ``ValueError``.
- A ``meta`` tensor (a shape without values) goes through every function whose
  result does not depend on the values; one that must read them raises
  ``ValueError``.

``tests/test_bad_input.py`` holds every public function and class to this.
"""

__version__ = "0.3.2"
