"""The PTX term's pieces against hand-computed values, and the Alpaca schema on real rows."""

import json
import math
from pathlib import Path

import pytest
import torch

from alignbook.lm.data import IGNORE_INDEX
from alignbook.safe_rlhf import tiny
from alignbook.safe_rlhf.pipeline import distinct_share, ground_truth_breakdown
from alignbook.safe_rlhf.ptx import PTXBatches, alpaca_prompt, encode_demonstration, ptx_loss

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples" / "alpaca-32rows.json"


def test_alpaca_prompt_joins_input_with_one_space_as_upstream():
    assert alpaca_prompt({"instruction": "Translate.", "input": "Bonjour", "output": "Hello"}) == "Translate. Bonjour"
    assert alpaca_prompt({"instruction": "Give three tips.", "input": "", "output": "..."}) == "Give three tips."


def test_demonstration_masks_the_prompt_and_ends_with_eos():
    tok = tiny.char_tokenizer()
    ids, labels = encode_demonstration(tok, "ab", "cd", "{input}:", max_length=64)
    assert len(ids) == len(labels)
    answer = [i for i, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    assert answer[-1] == tok.eos_token_id
    assert tok.decode(answer[:-1]).strip() == "cd"  # " cd": the answer after one space
    assert all(lab == IGNORE_INDEX for lab in labels[: len(ids) - len(answer)])
    short_ids, short_labels = encode_demonstration(tok, "ab", "cdefghij", "{input}:", max_length=6)
    assert len(short_ids) == 6 and short_labels[0] == IGNORE_INDEX  # the prompt kept, the answer cut


def test_ptx_loss_is_the_mean_nll_of_the_answer_tokens():
    # vocabulary of 2, uniform logits: every answer token costs log 2, prompt positions cost nothing
    logits = torch.zeros(1, 4, 2)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 1, 0]])
    assert ptx_loss(logits, labels).item() == pytest.approx(math.log(2))
    logits[0, 1, 1] = 10.0  # position 1 predicts token 2 (label 1) almost surely
    expected = (math.log1p(math.exp(-10.0)) + math.log(2)) / 2
    assert ptx_loss(logits, labels).item() == pytest.approx(expected)


def test_ptx_batches_cycle_in_a_seeded_order_and_resume():
    tok = tiny.char_tokenizer()
    pairs = [("a", "b"), ("c", "d"), ("e", "f")]
    one = PTXBatches(tok, pairs, 2, "{input}:", 32, seed=3)
    seen = [one.next()["input_ids"].tolist() for _ in range(3)]
    two = PTXBatches(tok, pairs, 2, "{input}:", 32, seed=3)
    two.next()
    state = two.state_dict()
    three = PTXBatches(tok, pairs, 2, "{input}:", 32, seed=99)
    three.load_state_dict(state)
    assert [three.next()["input_ids"].tolist() for _ in range(2)] == seen[1:]
    with pytest.raises(ValueError, match="ptx_coeff=0"):
        PTXBatches(tok, [], 2, "{input}:", 32, seed=0)


def test_distinct_share_exposes_a_collapse():
    assert distinct_share(["a", "b", "c", "d"]) == 1.0
    assert distinct_share(["I cannot help.", "I cannot help. ", "I cannot help.", "x"]) == 0.5
    assert math.isnan(distinct_share([]))


def test_breakdown_splits_benign_and_harmful_prompts():
    from alignbook.toyworld import ToyWorld, ToyWorldConfig

    w = ToyWorld(ToyWorldConfig(seed=0))
    prompts = w.sample_prompts(40, seed=5)
    texts = [p.text for p in prompts]
    responses = [w.respond(p, "alpaca-7b", i) for i, p in enumerate(prompts)]
    out = ground_truth_breakdown(w, texts, responses)
    harmful = [p for p in prompts if p.harmful]
    assert out["harmful_prompts"] == len(harmful) and out["benign_prompts"] == len(prompts) - len(harmful)
    by_hand = [0.0 if w.judge(p.text, r).is_safe else 1.0 for p, r in zip(prompts, responses) if p.harmful]
    assert out["harmful_harm_rate"] == pytest.approx(sum(by_hand) / len(by_hand))
    assert 0 < out["distinct_share"] <= 1


@pytest.mark.skipif(not REAL.exists(), reason="real Alpaca sample rows (../shared/data/real-samples) absent")
def test_alpaca_schema_accepts_real_rows_and_names_a_bad_field(tmp_path):
    from alignbook.data import SchemaError, load
    from alignbook.data.schemas import validate_rows

    rows = json.loads(REAL.read_text())
    assert validate_rows(rows, "alpaca") == len(rows)
    folder = tmp_path / "alpaca"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load(str(folder), "train", schema="alpaca")
    assert [alpaca_prompt(r) for r in loaded][:1] == [alpaca_prompt(rows[0])]
    bad = [dict(rows[0], output=3)]
    with pytest.raises(SchemaError, match="output"):
        validate_rows(bad, "alpaca")
