"""Parameter counts against real layers, and the shape tracer."""

import pytest
import torch
from torch import nn

from companion import shapes


@pytest.mark.parametrize("c, o, k, groups, bias", [(1, 8, 11, 1, True), (8, 16, 7, 1, True), (8, 8, 3, 8, False), (6, 4, (3, 5), 2, True)])
def test_conv2d_parameters_match_nn_conv2d(c, o, k, groups, bias):
    layer = nn.Conv2d(c, o, k, groups=groups, bias=bias)
    assert shapes.conv2d_parameters(c, o, k, groups, bias) == sum(p.numel() for p in layer.parameters())


def test_the_thread_layers():
    assert shapes.conv2d_parameters(1, 8, 11) == 11 * 11 * 1 * 8 + 8
    assert shapes.conv2d_parameters(8, 16, 7) == 7 * 7 * 8 * 16 + 16


@pytest.mark.parametrize("c, o, k", [(8, 16, 7), (256, 256, 3)])
def test_depthwise_separable_parameters_match_the_two_layers(c, o, k):
    layers = nn.Sequential(nn.Conv2d(c, c, k, groups=c), nn.Conv2d(c, o, 1))
    assert shapes.depthwise_separable_parameters(c, o, k) == sum(p.numel() for p in layers.parameters())


def test_count_parameters_counts_every_parameter_tensor():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Linear(8, 2, bias=False))
    model[0].weight.requires_grad_(False)  # frozen parameters still count
    assert shapes.count_parameters(model) == 8 * 3 * 3 * 3 + 8 + 8 * 2
    assert shapes.count_parameters(nn.ReLU()) == 0
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got Tensor"):
        shapes.count_parameters(torch.zeros(3))


def test_dense_parameters_match_nn_linear():
    assert shapes.dense_parameters(2048, 3) == sum(p.numel() for p in nn.Linear(2048, 3).parameters())
    assert shapes.dense_parameters(10, 2, bias=False) == 20


def test_trace_shapes_records_each_leaf_layer():
    model = nn.Sequential(nn.Conv1d(3, 100, 8), nn.ReLU(), nn.MaxPool1d(6, 2), nn.Flatten(), nn.Linear(1400, 10))
    model.train()
    rows = shapes.trace_shapes(model, (2, 3, 40))
    assert [r.kind for r in rows] == ["Conv1d", "ReLU", "MaxPool1d", "Flatten", "Linear"]
    assert [r.output_shape for r in rows] == [(2, 100, 33), (2, 100, 33), (2, 100, 14), (2, 1400), (2, 10)]
    assert [r.parameters for r in rows] == [2500, 0, 0, 0, 14010]
    assert model.training  # the mode is restored
    table = shapes.format_shape_table(rows, (2, 3, 40))
    assert "(2, 100, 14)" in table and table.splitlines()[-1].split()[-1] == "16,510"
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


class _Twice(nn.Module):
    """One layer applied twice: its weights are shared by two calls."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.relu(self.layer(x)))


def test_a_layer_called_twice_has_two_rows_and_its_parameters_counted_once():
    model = _Twice().double()
    rows = shapes.trace_shapes(model, (3, 4))  # a float64 model gets a float64 probe
    assert [(r.name, r.output_shape, r.parameters) for r in rows] == [("layer", (3, 4), 20), ("layer", (3, 4), 0)]
    total = shapes.format_shape_table(rows, (3, 4)).splitlines()[-1].split()[-1]
    assert total == "20" == str(sum(p.numel() for p in model.parameters()))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="groups=3 must divide in_channels=8"):
        shapes.conv2d_parameters(8, 16, 3, groups=3)
    with pytest.raises(TypeError, match="kernel_size must be an int; got float"):
        shapes.conv2d_parameters(8, 16, 3.0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got function"):
        shapes.trace_shapes(lambda x: x, (1, 3))
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        shapes.trace_shapes(nn.Linear(3, 2), [1, 3])
