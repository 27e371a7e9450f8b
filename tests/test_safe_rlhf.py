"""Safe RLHF: score model and the reward/cost losses against hand-computed values."""

import math

import pytest
import torch

from alignbook.safe_rlhf import (
    ScoreModel,
    accuracy,
    accuracy_sign,
    cost_loss,
    last_token_index,
    load_score_model,
    reward_loss,
    save_score_model,
)
from alignbook.safe_rlhf import tiny
from alignbook.safe_rlhf.data import special_ids, tokenize_pairs


def nll_sigmoid(x: float) -> float:
    """-log σ(x), written out by hand."""
    return math.log1p(math.exp(-x))


def test_reward_loss_hand_computed():
    better, worse = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.5])
    expected = (nll_sigmoid(1.0) + nll_sigmoid(-1.0)) / 2 + 0.001 * ((1 + 0) / 2 + (0.25 + 2.25) / 2) / 2
    assert reward_loss(better, worse).item() == pytest.approx(expected, rel=1e-6)
    # μ = 0 leaves only the Bradley–Terry term
    assert reward_loss(better, worse, 0.0).item() == pytest.approx((nll_sigmoid(1.0) + nll_sigmoid(-1.0)) / 2)


def test_reward_loss_order_matters():
    better, worse = torch.tensor([2.0]), torch.tensor([0.0])
    assert reward_loss(better, worse) < reward_loss(worse, better)


def test_cost_loss_hand_computed():
    # pair 1: unsafe (C=2) vs safe (C=-1); pair 2: both unsafe, unsafer C=0.5, safer C=1.0 (misranked)
    unsafer, safer = torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 1.0])
    unsafer_sign, safer_sign = torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 1.0])
    pair1 = nll_sigmoid(3.0) + nll_sigmoid(1.0) + nll_sigmoid(2.0)
    pair2 = nll_sigmoid(-0.5) + nll_sigmoid(1.0) + nll_sigmoid(0.5)
    reg = 0.001 * (4 + 0.25 + 1 + 1) / 4
    got = cost_loss(unsafer, safer, unsafer_sign, safer_sign)
    assert got.item() == pytest.approx((pair1 + pair2) / 2 + reg, rel=1e-6)
    without_sign = cost_loss(unsafer, safer, unsafer_sign, safer_sign, use_sign_term=False)
    assert without_sign.item() == pytest.approx((nll_sigmoid(3.0) + nll_sigmoid(-0.5)) / 2 + reg, rel=1e-6)


def test_cost_sign_term_pushes_safe_costs_negative():
    safer = torch.tensor([0.3], requires_grad=True)
    cost_loss(torch.tensor([1.0]), safer, torch.tensor([1.0]), torch.tensor([-1.0]), 0.0).backward()
    assert safer.grad.item() > 0  # gradient descent lowers a safe response's cost towards < 0
    safer.grad = None
    cost_loss(torch.tensor([1.0]), safer, torch.tensor([1.0]), torch.tensor([-1.0]), 0.0,
              use_sign_term=False).backward()
    without = safer.grad.item()
    assert without > 0 and without < 0.5  # only the pairwise pull remains


def test_cost_loss_rejects_bad_signs():
    with pytest.raises(ValueError, match="unsafer_sign"):
        cost_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([-1.0]))


def test_accuracy_and_accuracy_sign():
    assert accuracy(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 1.0])).item() == pytest.approx(2 / 3)
    costs, signs = torch.tensor([1.0, -1.0, 0.5, 0.2]), torch.tensor([1.0, -1.0, -1.0, 1.0])
    assert accuracy_sign(costs, signs).item() == pytest.approx(0.75)
    assert accuracy_sign(torch.tensor([0.0]), torch.tensor([1.0])).item() == 0.0  # C = 0 is no decision


def test_last_token_index_right_and_left_padding():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]])
    assert last_token_index(mask).tolist() == [1, 2, 2, 0]
    with pytest.raises(ValueError, match="only padding"):
        last_token_index(torch.tensor([[0, 0]]))


@pytest.fixture(scope="module")
def tokenizer():
    return tiny.char_tokenizer()


def test_score_model_head_and_end_scores(tokenizer, tmp_path):
    model = ScoreModel(tiny.tiny_llama(len(tokenizer)))
    assert torch.all(model.score_head.bias == 0)
    ids = torch.tensor([[5, 6, 7, 1, 0, 0], [5, 6, 8, 9, 10, 1]])
    mask = (ids != 0).long()
    out = model(ids, mask)
    assert out.scores.shape == (2, 6) and out.end_scores.shape == (2,)
    assert out.end_scores[0] == out.scores[0, 3] and out.end_scores[1] == out.scores[1, 5]
    # right padding must not change the score (causal attention, score read before the pads)
    alone = model(ids[:1, :4], mask[:1, :4]).end_scores
    torch.testing.assert_close(alone, out.end_scores[:1], rtol=1e-5, atol=1e-5)
    save_score_model(model, tmp_path / "rm")
    again = load_score_model(tmp_path / "rm")
    torch.testing.assert_close(again(ids, mask).end_scores, out.end_scores)


def test_pad_must_differ_from_eos(tokenizer):
    tok = tiny.char_tokenizer()
    tok.pad_token = tok.eos_token
    with pytest.raises(ValueError, match="distinct"):
        special_ids(tok)


def test_pairs_are_ordered_by_better_and_safer_ids(tokenizer):
    row = {"prompt": "q", "response_0": "aa", "response_1": "bbb", "is_response_0_safe": False,
           "is_response_1_safe": True, "better_response_id": 0, "safer_response_id": 1}
    reward = tokenize_pairs([row], tokenizer, "reward", 64)
    cost = tokenize_pairs([row], tokenizer, "cost", 64)
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    assert decode(reward.high[0]).endswith("aa") and decode(reward.low[0]).endswith("bbb")
    assert decode(cost.high[0]).endswith("aa")  # the unsafer response should cost more
    assert cost.high_sign.tolist() == [1] and cost.low_sign.tolist() == [-1]
    assert reward.high[0][-1] == tokenizer.eos_token_id
    short = tokenize_pairs([row], tokenizer, "reward", 5)
    assert len(short.high[0]) == 5 and short.high[0][-1] == tokenizer.eos_token_id
