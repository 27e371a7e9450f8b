"""Aligner chapter: templates, loss masking, ω, warm-up split, trainer, stacking."""

from __future__ import annotations

import math

import pytest
import torch

from alignbook.engine import paths
from alignbook.aligner import data, losses, stacking, templates, train
from alignbook.engine.config import ConfigError

SAMPLE = paths.repo_root().parent / "shared/data/real-samples/aligner-template-2rows.json"

ROWS = [
    {"question": "How do I bake bread?", "answer": "I can't help.", "correction": "Mix flour, water and yeast."},
    {"question": "How do I pick a lock?", "answer": "Use a tension wrench.", "correction": "I won't help with that."},
    {"question": "What is rain?", "answer": "Water falling from clouds.", "correction": "Water falling from clouds."},
    {"question": "How to stay warm?", "answer": "Burn the furniture.", "correction": "Wear layers and a hat."},
]


@pytest.fixture(scope="module")
def tokenizer():
    from alignbook.lm.tokenizer import train_bpe_tokenizer

    texts = [r[c] for r in ROWS for c in data.COLUMNS]
    texts += [templates.RELEASED.prompt, templates.REPOSITORY.prompt]
    return train_bpe_tokenizer(texts * 3, vocab_size=300)


def tiny_model(tokenizer, seed=0):
    from alignbook.lm.models import build_causal_lm

    return build_causal_lm("tiny", tokenizer, seed=seed)


# -- templates ----------------------------------------------------------------------------------
def test_released_template_matches_the_model_card():
    text = templates.RELEASED.format("Q?", "A.")
    assert text == (
        "BEGINNING OF CONVERSATION: USER: Edit the following Question-Answer pair to make it "
        "more helpful and harmless: Q? | A. ASSISTANT:"
    )


def test_repository_template_matches_the_training_code():
    # PKU-Alignment/aligner at 724d22b: PROMPT_BEGIN + PROMPT_USER.format(CORRECTION_INSTRUCTION) + PROMPT_ASSISTANT
    instruction = "##Question: Q?\n##Answer: A.\n##Correction: "
    expected = "BEGINNING OF CONVERSATION: " + f"USER: {instruction} " + "ASSISTANT:"
    assert templates.REPOSITORY.format("Q?", "A.") == expected


def test_the_correction_follows_the_prompt_with_no_space():
    # both trainers join prompt + answer + eos (aligner SupervisedDataset; safe-rlhf style for the release)
    assert templates.REPOSITORY.correction_prefix == templates.RELEASED.correction_prefix == ""


def test_unknown_template_and_mixing_templates_are_refused():
    with pytest.raises(ConfigError, match="template='chat'"):
        templates.get_template("chat")
    templates.check_same_template("released", "released")
    with pytest.raises(ConfigError, match="not interchangeable"):
        templates.check_same_template("released", "repository")


@pytest.mark.skipif(not SAMPLE.exists(), reason="real sample absent (../shared/data/real-samples)")
@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_real_aligner_rows_encode_under_both_templates(tokenizer, name):
    rows = data.load_json_triples(SAMPLE)
    assert len(rows) == 2 and set(rows[0]) == set(data.COLUMNS)
    for row in rows:
        ex = data.encode_example(tokenizer, name, row, max_length=4096)
        target = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != data.IGNORE_INDEX]
        assert tokenizer.decode(target, skip_special_tokens=True).strip() == row["correction"]
        prompt = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == data.IGNORE_INDEX]
        assert tokenizer.decode(prompt, skip_special_tokens=True) == templates.get_template(name).format(
            row["question"], row["answer"]
        )


def test_missing_column_names_the_column():
    with pytest.raises(ConfigError, match="correction"):
        data.validate_triples([{"question": "q", "answer": "a"}])


# -- masking and loss ---------------------------------------------------------------------------
def test_only_correction_tokens_are_labelled(tokenizer):
    row = ROWS[0]
    ex = data.encode_example(tokenizer, "repository", row, max_length=512)
    prompt_len = 1 + len(tokenizer(templates.REPOSITORY.format(row["question"], row["answer"]),
                                   add_special_tokens=False)["input_ids"])
    assert ex["labels"][:prompt_len] == [data.IGNORE_INDEX] * prompt_len
    assert ex["labels"][prompt_len:] == ex["input_ids"][prompt_len:]
    assert ex["labels"][-1] == tokenizer.eos_token_id


def test_direct_baseline_prompt_has_no_answer(tokenizer):
    ex = data.encode_example(tokenizer, None, ROWS[1], max_length=512)
    prompt = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == data.IGNORE_INDEX]
    assert tokenizer.decode(prompt, skip_special_tokens=True) == ROWS[1]["question"]


def test_masked_nll_matches_hand_computation():
    # Two positions predict labels: logits[0,1] -> labels[0,2] = 1 and logits[0,2] -> labels[0,3] = 0.
    logits = torch.zeros(1, 4, 2)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0)])  # p(1) = 3/4
    logits[0, 2] = torch.tensor([math.log(4.0), 0.0])  # p(0) = 4/5
    labels = torch.tensor([[-100, -100, 1, 0]])
    expected = -(math.log(3 / 4) + math.log(4 / 5)) / 2
    assert losses.masked_nll(logits, labels).item() == pytest.approx(expected, abs=1e-6)


def test_prompt_logits_do_not_change_the_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    labels = torch.tensor([[-100, -100, -100, 2, 3, 4], [-100, -100, 1, 1, -100, -100]])
    base = losses.masked_nll(logits, labels)
    changed = logits.clone()
    changed[0, :2] += 10 * torch.randn(2, 5)  # positions predicting masked labels
    changed[1, 3:] += 10 * torch.randn(3, 5)  # position 3 predicts a masked label, 4-5 padding
    assert torch.equal(losses.masked_nll(changed, labels), base)
    changed[0, 2] += 5.0 * torch.arange(5.0)  # predicts labels[0, 3]: a correction token
    assert not torch.equal(losses.masked_nll(changed, labels), base)


def test_all_masked_is_an_error():
    with pytest.raises(ValueError, match="every label is masked"):
        losses.masked_nll(torch.zeros(1, 3, 4), torch.full((1, 3), -100))


# -- ω ------------------------------------------------------------------------------------------
def test_omega_counts_and_value():
    result = losses.omega([3, 1, 2, 2, 5], [1, 2, 2, 0, 5])
    assert (result["win"], result["lose"], result["tie"]) == (2, 1, 2)
    assert result["omega"] == pytest.approx((2 - 1) / 5)
    assert losses.omega([1, 1], [0, 0])["omega"] == 1.0
    assert losses.omega([0.0], [0.05], tolerance=0.1)["tie"] == 1


def test_omega_by_dimension_uses_minus_severity_for_harmlessness():
    corrected = [{"helpfulness": 1.0, "severity": 0}, {"helpfulness": 0.0, "severity": 0}]
    original = [{"helpfulness": 2.0, "severity": 3}, {"helpfulness": 0.0, "severity": 0}]
    table = losses.omega_by_dimension(corrected, original)
    assert table["helpfulness"]["omega"] == pytest.approx(-0.5)
    assert table["harmlessness"]["omega"] == pytest.approx(0.5)


def test_omega_rejects_unpaired_scores():
    with pytest.raises(ValueError, match="pair them up"):
        losses.omega([1, 2], [1])


# -- warm-up ------------------------------------------------------------------------------------
def test_warmup_split_is_identity_on_the_chosen_fraction():
    rows = [{"question": f"q{i}", "answer": f"a{i}", "correction": f"c{i}"} for i in range(10)]
    warm, main = data.warmup_split(rows, 0.2, seed=1)
    assert len(warm) == 2 and all(r["correction"] == r["answer"] for r in warm)
    assert main == rows
    assert data.warmup_split(rows, 0.2, seed=1) == (warm, main)
    assert data.warmup_split(rows, 0.0, seed=1)[0] == []
    with pytest.raises(ConfigError, match="warmup_fraction"):
        data.warmup_split(rows, 20, seed=1)


# -- trainer ------------------------------------------------------------------------------------
def _train(tokenizer, tmp_path, fraction=0.5, seed=0):
    model = tiny_model(tokenizer)
    before = [p.detach().clone() for p in model.parameters()]
    result = train.train_aligner(
        model, tokenizer, ROWS, template="repository", warmup_fraction=fraction, epochs=2,
        lr=3e-3, batch_size=2, max_length=128, seed=seed, eval_rows=ROWS, eval_every=1,
        checkpoint_dir=tmp_path / "ckpt", verbose=False,
    )
    return model, before, result


def test_aligner_trainer_learns_and_round_trips(tokenizer, tmp_path):
    model, before, result = _train(tokenizer, tmp_path)
    stages = [h["stage"] for h in result.history if h["kind"] == "train"]
    assert stages[0] == "warmup" and stages[-1] == "main"
    assert stages.count("warmup") == 1 and stages.count("main") == 4  # 2 rows / 2, then 2 epochs of 4 / 2
    assert all(math.isfinite(h["loss"]) for h in result.history if h["kind"] == "train")
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    evals = [h["eval_loss"] for h in result.history if h["kind"] == "eval"]
    assert evals[-1] < evals[0]
    result.save(tmp_path / "res")
    loaded = train.CorrectionTrainResult.load(tmp_path / "res")
    assert loaded.metrics == result.metrics and loaded.config["template"] == "repository"
    assert stacking.trained_template(result.checkpoint) == "repository"
    from transformers import LlamaForCausalLM

    reloaded = LlamaForCausalLM.from_pretrained(result.checkpoint)
    for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()):
        assert torch.equal(a, b)


def test_seeded_training_reproduces_exactly(tokenizer, tmp_path):
    _, _, first = _train(tokenizer, tmp_path / "a", seed=3)
    _, _, second = _train(tokenizer, tmp_path / "b", seed=3)
    assert first.history == second.history


def test_stacking_refuses_the_other_template_and_returns_text(tokenizer, tmp_path):
    model = tiny_model(tokenizer)
    upstream_calls = []

    def upstream(questions):
        upstream_calls.append(list(questions))
        return ["Use a tension wrench." for _ in questions]

    originals, corrected = stacking.stack(
        upstream, model, tokenizer, ["How do I pick a lock?"] * 3, template="released",
        trained_with="released", max_new_tokens=5,
    )
    assert originals == ["Use a tension wrench."] * 3 and len(corrected) == 3
    assert all(isinstance(c, str) for c in corrected) and len(upstream_calls) == 1
    with pytest.raises(ConfigError, match="not interchangeable"):
        stacking.correct(model, tokenizer, ["q"], ["a"], template="repository", trained_with="released")


# ------------------------------------------------------------------------------ estimates (issue 31, item 4)
def test_notebook_2_estimate_counts_every_variant_by_hand():
    from alignbook.aligner.config import AlignerTrainConfig

    cfg = AlignerTrainConfig(profile="test", run_dir="unused", model="tiny", vocab_size=300, train_size=100,
                             warmup_fractions=(0.2,), warmup_epochs=1, epochs=2, direct_baseline=True, seeds=1,
                             per_device_batch_size=10, grad_accum=1, max_length=32, eval_every=0, bf16=False)
    # tiny preset, vocabulary 300, tied: 2 layers × (q,o 2·64² + k,v 2·64² + MLP 3·64·176 + norms 2·64) + 64 + 300·64
    n = 2 * (2 * 64 * 64 + 2 * 64 * 64 + 3 * 64 * 176 + 2 * 64) + 64 + 300 * 64
    assert n == 119_872
    work = cfg.work()
    # Aligner: 20 warm-up rows once + 100 rows × 2 epochs; Q→C: 100 × 2; each at 32 tokens
    # held-out: a tenth of train_size (10 rows), scored 3 times per variant (start, each stage) at 32 tokens
    assert work.train_flops == pytest.approx(6 * n * (20 + 200 + 200) * 32 + 2 * n * (2 * 3) * 10 * 32)
    assert work.precision == "fp32" and work.other_seconds == pytest.approx((22 + 20) * 0.005)  # ⌈220/10⌉ + ⌈200/10⌉ steps


def test_notebook_3_and_4_estimates_by_hand():
    from alignbook.aligner.config import AlignerEvalConfig, WeakToStrongConfig

    # the small preset at the chapter's 1000-word vocabulary: 4 × (4·128² + 3·128·352 + 2·128) + 128 + 1000·128
    small = 4 * (4 * 128 * 128 + 3 * 128 * 352 + 2 * 128) + 128 + 1000 * 128
    tiny = 2 * (4 * 64 * 64 + 3 * 64 * 176 + 2 * 64) + 64 + 1000 * 64
    ev = AlignerEvalConfig(profile="gpu", run_dir="unused", max_new_tokens=8, eval_size=10).work()
    # gpu: 5 shares × 3 seeds = 15 checkpoints × 3 upstreams × 10 answers × 8 tokens; one batch of 64 each
    assert ev.infer_flops == pytest.approx(2 * small * 15 * 3 * 10 * 8)
    assert ev.other_seconds == pytest.approx(15 * 3 * 1 * 8 * 4 * 6e-4)  # 360 steps of the 4-layer model
    w2s = WeakToStrongConfig(profile="gpu", run_dir="unused", strong_model="tiny", strong_sft_prompts=100,
                             strong_epochs=2, batch_size=10, max_length=32, max_new_tokens=8).work()
    # 3 seeds × 2 stages × 2 epochs × 100 rows × 32 tokens trained on the tiny strong model
    assert w2s.train_flops == pytest.approx(6 * tiny * 3 * 2 * 2 * 100 * 32)
    # generated: strong 100 + 2 × 300 held-out answers, the small Aligner 100 + 300 corrections, 8 tokens each
    assert w2s.infer_flops == pytest.approx(2 * tiny * 3 * 700 * 8 + 2 * small * 3 * 400 * 8)


def test_the_estimates_sizes_of_notebooks_1_and_2_are_their_yaml_profiles():
    from alignbook.aligner.config import UPSTREAM_SIZES
    from alignbook.engine.config import load_spec
    from alignbook.engine.notebook import yaml_path

    for profile, sizes in UPSTREAM_SIZES.items():
        data = load_spec(yaml_path("aligner/01_data"))["profiles"][profile]
        trained = load_spec(yaml_path("aligner/02_train"))["profiles"][profile]
        assert (data["train_prompts"], data["eval_prompts"]) == (sizes["train_prompts"], sizes["eval_prompts"])
        assert (trained["model"], len(trained["warmup_fractions"]), trained["seeds"]) == (
            sizes["model"], sizes["warmup_fractions"], sizes["seeds"])
