"""The shared training loop."""

import pytest
import torch
from torch import nn

from companion.data import make_blobs
from companion.losses import cross_entropy
from companion.training import fit


@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_lowers_the_loss_and_returns_its_history(device, generator, batch_size):
    x, y = make_blobs(200, 3, generator=generator)
    torch.manual_seed(0)
    model = nn.Linear(2, 3).to(device)
    history = fit(
        model, cross_entropy, x.to(device), y.to(device),
        torch.optim.SGD(model.parameters(), lr=0.5), steps=50, batch_size=batch_size, generator=generator,
    )
    assert len(history) == 50 and all(isinstance(v, float) for v in history)
    assert history[-1] < 0.5 * history[0]
    with torch.no_grad():
        assert cross_entropy(model(x.to(device)), y.to(device)).item() < 0.5 * history[0]


def test_fit_rejects_mismatched_inputs():
    model = nn.Linear(2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same first dimension N; got 4 and 5"):
        fit(model, cross_entropy, torch.zeros(4, 2), torch.zeros(5, dtype=torch.long), opt, steps=1)
    with pytest.raises(ValueError, match="steps must be >= 1; got 0"):
        fit(model, cross_entropy, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), opt, steps=0)
    with pytest.raises(ValueError, match=r"batch_size must be None or an int in \[1, N\] = \[1, 4\]; got 8"):
        fit(model, cross_entropy, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), opt, steps=1, batch_size=8)
    with pytest.raises(TypeError, match="inputs and targets must be torch.Tensors"):
        fit(model, cross_entropy, [[0.0, 0.0]], torch.zeros(1, dtype=torch.long), opt, steps=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to mismatch with")
def test_fit_rejects_inputs_on_another_device():
    model = nn.Linear(2, 3)
    with pytest.raises(ValueError, match="inputs must be on the model's device cpu"):
        fit(model, cross_entropy, torch.zeros(4, 2, device="cuda"), torch.zeros(4, dtype=torch.long),
            torch.optim.SGD(model.parameters(), lr=0.1), steps=1)


def test_progress_bar_redraws_at_fixed_fractions_only():
    import io

    from companion.training import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(7, "t", width=4, updates=3, stream=stream)
    for done in range(1, 8):
        bar.update(done)
    assert stream.getvalue() == "\rt  28% |#   | 2/7\rt  71% |##  | 5/7\rt 100% |####| 7/7\n"


def test_fit_shows_progress_on_stderr(capsys):
    model = nn.Linear(2, 3)
    fit(model, cross_entropy, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
        torch.optim.SGD(model.parameters(), lr=0.1), steps=20, progress=True)
    assert capsys.readouterr().err.endswith("\rtraining 100% |####################| 20/20\n")
