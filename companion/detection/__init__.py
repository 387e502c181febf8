"""Object detection from first principles: boxes, anchors, matching, box coding, NMS, heads.

One module per idea, in the order a detector uses them:

- :mod:`companion.detection.boxes`: box formats, area, pairwise IoU and GIoU, clipping.
- :mod:`companion.detection.anchors`: anchors (Faster R-CNN) and prior boxes (SSD) over feature maps.
- :mod:`companion.detection.matching`: label anchors against ground truth; balanced anchor sampling.
- :mod:`companion.detection.box_coding`: encode and decode box deltas relative to anchors.
- :mod:`companion.detection.nms`: non-maximum suppression, exact and vectorized, per class.
- :mod:`companion.detection.rpn`: the region proposal network's head and loss.
- :mod:`companion.detection.detection_output`: SSD's detection output, the (1, 1, N, 7) array.

Boxes are ``(N, 4)`` tensors; every function takes its device and dtype from
its inputs and accepts zero boxes.
"""
