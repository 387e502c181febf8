"""Receptive-field arithmetic against the measured gradient footprint, over a grid of small stacks."""

import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from companion.receptive_field import (LayerSpec, ReceptiveField, field_bounds, gradient_footprint, layer_specs, path_counts,
                                      receptive_fields)

# (kind, kernel, stride, padding, dilation): kind "c" a convolution, "m" a max pool, "a" an average pool
LAYER_CHOICES = [
    ("c", 1, 1, 0, 1), ("c", 2, 1, 0, 1), ("c", 3, 1, 1, 1), ("c", 3, 2, 0, 1), ("c", 3, 2, 1, 1),
    ("c", 3, 1, 2, 2), ("c", 2, 3, 0, 1), ("m", 2, 2, 0, 1), ("m", 3, 2, 1, 1), ("m", 3, 1, 0, 2), ("a", 2, 2, 0, 1),
    ("a", 3, 3, 1, 1),
]
STACKS = [list(s) for depth in (1, 2, 3) for s in itertools.product(LAYER_CHOICES, repeat=depth)][::31]


def build(stack, dims: int) -> nn.Sequential:
    """A Sequential of 1-D or 2-D layers with the given geometry, a ReLU after each convolution."""
    conv, max_pool, avg_pool = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d) if dims == 1 else (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    layers, channels = [], 2
    for kind, k, s, p, d in stack:
        if kind == "c":
            layers += [conv(channels, 3, k, stride=s, padding=p, dilation=d), nn.ReLU()]
            channels = 3
        elif kind == "m":
            layers.append(max_pool(k, stride=s, padding=p, dilation=d))
        else:
            layers.append(avg_pool(k, stride=s, padding=p))
    return nn.Sequential(*layers)


def output_length(stack, length: int) -> int:
    for _, k, s, p, d in stack:
        length = (length + 2 * p - d * (k - 1) - 1) // s + 1
    return length


def footprint_by_loop(stack, length: int, unit: int) -> set[int]:
    """Brute force: walk back from the output unit, one layer at a time, collecting the positions each window reads.

    Unit ``i`` of a layer reads positions ``i * s - p + a * d`` (a = 0 .. k - 1) of its input, those inside it.
    """
    lengths = [length]
    for _, k, s, p, d in stack:
        lengths.append((lengths[-1] + 2 * p - d * (k - 1) - 1) // s + 1)
    units = {unit}
    for (_, k, s, p, d), size in zip(reversed(stack), reversed(lengths[:-1])):
        units = {i * s - p + a * d for i in units for a in range(k)} & set(range(size))
    return units


def path_counts_by_loop(model: nn.Sequential, stack, length: int, unit: int) -> dict[int, int]:
    """Brute force: walk back from the output unit counting paths; each convolution multiplies them by its input channels."""
    lengths = [length]
    for _, k, s, p, d in stack:
        lengths.append((lengths[-1] + 2 * p - d * (k - 1) - 1) // s + 1)
    counts = Counter({unit: 1})
    for (_, k, s, p, d), size in zip(reversed(stack), reversed(lengths[:-1])):
        below = Counter()
        for i, n in counts.items():
            for a in range(k):
                if 0 <= i * s - p + a * d < size:
                    below[i * s - p + a * d] += n
        counts = below
    channels = int(np.prod([m.in_channels // m.groups for m in model if isinstance(m, nn.Conv1d)]))
    return {i: n * channels for i, n in counts.items()}


def reads_whole_input(stack, length: int) -> bool:
    """Whether every layer's windows end exactly at its input's end (no pixel left unread by the floor)."""
    for _, k, s, p, d in stack:
        if length + 2 * p - d * (k - 1) - 1 < 0 or (length + 2 * p - d * (k - 1) - 1) % s:
            return False
        length = (length + 2 * p - d * (k - 1) - 1) // s + 1
    return True


@pytest.mark.parametrize("stack", STACKS, ids=lambda s: "-".join("".join(map(str, layer)) for layer in s))
def test_formula_matches_measured_footprint_1d(stack):
    model = build(stack, 1)
    field = receptive_fields(layer_specs(model))[-1]
    assert field.jump == int(np.prod([s for _, _, s, _, _ in stack]))
    dense = all(d == 1 and s <= k for _, k, s, _, d in stack)

    def interior(unit: int, length: int) -> bool:  # the unit's whole field lies inside the input: it reads no padding
        first, last = field_bounds(field, unit)
        return first >= 0 and last <= length - 1

    # a length that every layer reads to its end and that has units reading no padding; and an arbitrary one
    exact = next(n for n in range(8, 400) if reads_whole_input(stack, n) and interior(output_length(stack, n) // 2, n))
    for length in (exact, 23):
        count = output_length(stack, length)
        for unit in sorted({0, count // 2, count - 1}) if count > 0 else []:
            measured = gradient_footprint(model, (2, length), (unit,)).nonzero().flatten().tolist()
            assert set(measured) == footprint_by_loop(stack, length, unit)
            counts = path_counts(model, (2, length), (unit,))
            assert counts.dtype == torch.float64 and counts.shape == (length,)
            assert {i: int(n) for i, n in enumerate(counts.tolist()) if n} == path_counts_by_loop(model, stack, length, unit)
            first, last = field_bounds(field, unit, length)
            assert first <= measured[0] and measured[-1] <= last  # never outside the field
            if length == exact and interior(unit, length):  # and spanning it exactly
                assert (measured[0], measured[-1]) == (first, last), f"unit {unit}: {measured}, formula [{first}, {last}]"
            if dense:
                assert measured == list(range(measured[0], measured[-1] + 1))
        if length == exact:
            assert interior(count // 2, length)  # the exact comparison ran at least once


def test_holes_appear_when_stride_exceeds_kernel():
    model = nn.Sequential(nn.Conv1d(1, 1, 1, stride=2), nn.Conv1d(1, 1, 2))
    (field,) = receptive_fields(layer_specs(model))[-1:]
    measured = gradient_footprint(model, (1, 9), (0,)).nonzero().flatten().tolist()
    assert field.size == 3 and measured == [0, 2]  # the span [0, 2], pixel 1 skipped


@pytest.mark.parametrize("axis", [0, 1])
def test_two_dimensional_rectangle(axis, device):
    model = nn.Sequential(nn.Conv2d(1, 2, (3, 1), padding=(1, 0)), nn.ReLU(), nn.MaxPool2d((2, 3), stride=(2, 1)),
                          nn.Conv2d(2, 2, (1, 2), stride=(1, 2), dilation=1), nn.AvgPool2d(2, padding=1)).to(device)
    fields = [receptive_fields(layer_specs(model, a))[-1] for a in (0, 1)]
    h, w = 16, 18  # every layer's windows end at its input's end
    y = model(torch.zeros(1, 1, h, w, device=device))
    for unit in itertools.product(range(y.shape[2]), range(y.shape[3])):
        footprint = gradient_footprint(model, (1, h, w), unit)
        assert footprint.device.type == device.type and footprint.shape == (h, w)
        rows = footprint.any(dim=1).nonzero().flatten().tolist()
        cols = footprint.any(dim=0).nonzero().flatten().tolist()
        r0, r1 = field_bounds(fields[0], unit[0], h)
        c0, c1 = field_bounds(fields[1], unit[1], w)
        assert rows == list(range(r0, r1 + 1)) and cols == list(range(c0, c1 + 1))
        assert int(footprint.sum()) == len(rows) * len(cols)  # a full rectangle


def test_path_counts_of_two_3x3_convolutions(device):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 1, 3, padding=1)).to(device)
    counts = path_counts(model, (1, 9, 9), (4, 4))
    pyramid = torch.tensor([1.0, 2, 3, 2, 1], dtype=torch.float64, device=device)  # paths along one axis: 3x3 * 3x3
    assert counts.device.type == device.type
    torch.testing.assert_close(counts[2:7, 2:7], 2 * torch.outer(pyramid, pyramid), rtol=0, atol=0)  # 2 channels between
    assert counts.sum() == 2 * 81 and (counts != 0).equal(gradient_footprint(model, (1, 9, 9), (4, 4)))


def test_known_values():
    # two 3x3 convolutions then a 2x2 pool: 3, 5, 6 pixels; VGG-16's conv5_3 and pool5: 196 and 212 pixels
    small = receptive_fields([LayerSpec(3), LayerSpec(3), LayerSpec(2, 2)])
    assert [(f.size, f.jump, f.start) for f in small] == [(3, 1, 1.0), (5, 1, 2.0), (6, 2, 2.5)]
    vgg = []
    for block, convs in enumerate((2, 2, 3, 3, 3)):
        vgg += [LayerSpec(3, 1, 1)] * convs + [LayerSpec(2, 2, name=f"pool{block + 1}")]
    fields = receptive_fields(vgg)
    assert (fields[-2].size, fields[-2].jump) == (196, 16) and (fields[-1].size, fields[-1].jump) == (212, 32)
    assert fields[-1].name == "pool5" and fields[0].name == "0"
    assert receptive_fields([]) == []


def test_layer_specs_reads_modules():
    model = nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2), padding="same" if False else (1, 2), dilation=(2, 1)),
                          nn.BatchNorm2d(1), nn.GELU(), nn.Dropout(0.1), nn.MaxPool2d(3, stride=2, padding=1, dilation=2),
                          nn.AvgPool2d((2, 4)))
    assert layer_specs(model, 0) == [LayerSpec(3, 1, 1, 2, "0"), LayerSpec(3, 2, 1, 2, "4"), LayerSpec(2, 2, 0, 1, "5")]
    assert layer_specs(model, 1) == [LayerSpec(5, 2, 2, 1, "0"), LayerSpec(3, 2, 1, 2, "4"), LayerSpec(4, 4, 0, 1, "5")]
    same = nn.Sequential(nn.Conv1d(1, 1, 4, padding="same", dilation=2), nn.Conv1d(1, 1, 3, padding="valid"))
    assert layer_specs(same) == [LayerSpec(4, 1, 3, 2, "0"), LayerSpec(3, 1, 0, 1, "1")]
    # "same" with an even kernel pads 3 before and 3 after: the measured field agrees
    field = receptive_fields(layer_specs(same))[-1]
    measured = gradient_footprint(same, (1, 20), (5,)).nonzero().flatten().tolist()
    assert (measured[0], measured[-1]) == field_bounds(field, 5, 20)
    nested = nn.Sequential(nn.Sequential(nn.Conv1d(1, 1, 3), nn.ReLU()), nn.AvgPool1d(2))
    assert [s.name for s in layer_specs(nested)] == ["0.0", "1"]


def test_field_bounds_vectorized():
    field = receptive_fields([LayerSpec(3, 2, 1), LayerSpec(2, 2)])[-1]
    index = np.arange(5)
    loop = [field_bounds(field, int(i), 12) for i in index]
    first, last = field_bounds(field, index, 12)
    assert first.tolist() == [a for a, _ in loop] and last.tolist() == [b for _, b in loop]
    first_t, last_t = field_bounds(field, torch.arange(5), 12)
    assert first_t.tolist() == first.tolist() and last_t.tolist() == last.tolist()
    assert field_bounds(field, 0) == (-1, 3)  # unclipped: one pixel of padding
    empty = field_bounds(field, torch.zeros(0, dtype=torch.int64), 12)
    assert empty[0].shape == (0,)


def test_pixelwise_only_model_sees_one_pixel():
    footprint = gradient_footprint(nn.Sequential(nn.ReLU()), (1, 4, 5), (2, 3))
    assert footprint.nonzero().tolist() == [[2, 3]]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: LayerSpec(0), "kernel_size"),
        (lambda: LayerSpec(3, stride=0), "stride"),
        (lambda: LayerSpec(3, padding=-1), "padding"),
        (lambda: LayerSpec(3, dilation=1.5), "dilation"),
        (lambda: LayerSpec(3, name=3), "name"),
        (lambda: receptive_fields("conv"), "layers"),
        (lambda: receptive_fields([LayerSpec(3), (3, 1)]), "layers"),
        (lambda: field_bounds((3, 1, 1.0), 0), "field"),
        (lambda: field_bounds(ReceptiveField("x", 3, 1, 1.0), -1), "index"),
        (lambda: field_bounds(ReceptiveField("x", 3, 1, 1.0), torch.tensor([0.5])), "index"),
        (lambda: field_bounds(ReceptiveField("x", 3, 1, 1.0), np.array([-2, 1])), "index"),
        (lambda: field_bounds(ReceptiveField("x", 3, 1, 1.0), 0, 0), "input_size"),
        (lambda: layer_specs(nn.Conv2d), "model"),
        (lambda: layer_specs(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2))), "model"),
        (lambda: layer_specs(nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv2d(1, 1, 3))), "model"),
        (lambda: layer_specs(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")), "model"),
        (lambda: layer_specs(nn.Conv1d(1, 1, 3), axis=1), "axis"),
        (lambda: layer_specs(nn.Conv2d(1, 1, 3), axis=2), "axis"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), (1, 8), (0, 0)), "input_shape"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), [1, 8, 8], (0, 0)), "input_shape"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), (1, 8, 0), (0, 0)), "input_shape"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), (1, 8, 8), (0,)), "unit"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), (1, 8, 8), (6, 0)), "unit"),
        (lambda: gradient_footprint(nn.Conv2d(1, 1, 3), (1, 8, 8), (-1, 0)), "unit"),
        (lambda: gradient_footprint(nn.Conv2d(2, 1, 3), (1, 8, 8), (0, 0)), "input_shape"),
        (lambda: gradient_footprint(nn.MaxPool1d(2, ceil_mode=True), (1, 5), (0,)), "model"),
        (lambda: path_counts(nn.Conv2d(1, 1, 3), (1, 8), (0, 0)), "input_shape"),
        (lambda: path_counts(nn.Conv2d(1, 1, 3), (1, 8, 8), (6, 0)), "unit"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises((TypeError, ValueError), match=rf"\b{name}\b"):
        call()
