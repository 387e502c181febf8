"""The two-evidence token task of chapter 1.6: deterministic, shaped as documented, evidence where promised."""

import pytest
import torch

from companion.data import (
    CUE_FEATURE,
    CUE_QUESTION,
    KIND_FEATURE,
    SUMMARY_TOKEN,
    TYPE_FEATURE,
    TYPE_QUESTION,
    make_token_task,
)


def test_make_token_task_is_deterministic_and_shaped(generator):
    x, y, kinds = make_token_task(50, 32, generator=generator, num_features=5)
    x2, y2, kinds2 = make_token_task(50, 32, generator=torch.Generator().manual_seed(0), num_features=5)
    assert x.shape == (50, 32, 5) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.shape == (50,) and y.dtype == torch.int64 and int(y.min()) >= 2 and int(y.max()) < 32
    assert kinds.shape == (50,) and set(kinds.tolist()) == {TYPE_QUESTION, CUE_QUESTION}
    torch.testing.assert_close(x, x2)
    assert torch.equal(y, y2) and torch.equal(kinds, kinds2)


def test_evidence_sits_on_the_answer_and_its_left_neighbour(generator):
    # with the noise drowned out by huge evidence, every mark is where the docstring says
    big = 1000.0
    x, y, kinds = make_token_task(
        400, 16, generator=generator, strong=3 * big, weak=big, decoy=2 * big, kind_signal=big
    )
    rows = torch.arange(400)
    is_type = kinds == TYPE_QUESTION
    expected_type = torch.where(is_type, 3 * big, big)
    expected_cue = torch.where(is_type, big, 3 * big)
    torch.testing.assert_close(x[rows, y, TYPE_FEATURE], expected_type, atol=10.0, rtol=0)
    torch.testing.assert_close(x[rows, y - 1, CUE_FEATURE], expected_cue, atol=10.0, rtol=0)
    torch.testing.assert_close(x[:, SUMMARY_TOKEN, KIND_FEATURE], torch.where(is_type, big, -big), atol=10.0, rtol=0)
    # the decoy: the other kind's evidence at one other position, and nowhere else
    type_marks = x[:, :, TYPE_FEATURE] > big / 2  # (N, T)
    cue_marks = x[:, :, CUE_FEATURE] > big / 2
    assert torch.equal(type_marks.sum(1), torch.where(is_type, 1, 2))
    assert torch.equal(cue_marks.sum(1), torch.where(is_type, 2, 1))
    decoy_type = type_marks.clone()
    decoy_type[rows, y] = False
    assert decoy_type[~is_type].sum(1).eq(1).all() and not decoy_type[is_type].any()
    assert decoy_type[:, :2].sum() == 0  # decoys never sit on the summary token or position 1


def test_type_share_sets_the_share_of_type_questions(generator):
    _, _, kinds = make_token_task(20_000, 4, generator=generator, num_features=3, type_share=0.3)
    assert (kinds == TYPE_QUESTION).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_make_token_task_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="num_tokens must be >= 4; got 3"):
        make_token_task(10, 3, generator=generator)
    with pytest.raises(ValueError, match="num_features must be >= 3; got 2"):
        make_token_task(10, 8, generator=generator, num_features=2)
    with pytest.raises(ValueError, match="type_share must be a number in \\[0, 1\\]; got 1.5"):
        make_token_task(10, 8, generator=generator, type_share=1.5)
    with pytest.raises(ValueError, match="decoy must be positive and finite; got -1"):
        make_token_task(10, 8, generator=generator, decoy=-1)
    with pytest.raises(TypeError, match="generator must be a torch.Generator; got int"):
        make_token_task(10, 8, generator=0)
