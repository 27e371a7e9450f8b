"""Tests of the shared tiny-LM layer (alignbook.lm): cheapest first."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time

import pytest
import torch

from alignbook.lm import (
    IGNORE_INDEX,
    SFTConfig,
    SFTResult,
    TinyLMConfig,
    build_causal_lm,
    cache_key_hash,
    cached,
    causal_lm_loss,
    collate,
    count_parameters,
    encode_pair,
    encode_pairs,
    encode_text,
    generate,
    load_tokenizer,
    lr_factor,
    pack_texts,
    preset,
    sequence_logprobs,
    train_bpe_tokenizer,
    train_sft,
)

PAIRS = [
    ("USER: colour of the sky? ASSISTANT:", " blue"),
    ("USER: colour of grass? ASSISTANT:", " green"),
    ("USER: colour of snow? ASSISTANT:", " white"),
    ("USER: colour of coal? ASSISTANT:", " black"),
    ("USER: capital of France? ASSISTANT:", " Paris"),
    ("USER: capital of Italy? ASSISTANT:", " Rome"),
    ("USER: two plus two? ASSISTANT:", " four"),
    ("USER: three plus three? ASSISTANT:", " six"),
]
CORPUS = [p + c for p, c in PAIRS] * 4 + ["the quick brown fox jumps over the lazy dog. Ünïcödé ✓"]


class CharTokenizer:
    """A hand-checkable stand-in: one id per character ('a' -> 10, 'b' -> 11, ...)."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [10 + ord(ch) - ord("a") for ch in text]}


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(CORPUS, vocab_size=320)


# -- tokenizer ------------------------------------------------------------------------------------


def test_tokenizer_special_tokens_distinct_and_right_padded(tokenizer):
    ids = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    assert None not in ids and len(set(ids)) == 4
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.padding_side == "right"
    batch = tokenizer(["ab", "colour of the sky"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_token_id and batch["attention_mask"][0][-1] == 0
    assert batch["input_ids"][0][0] == tokenizer.bos_token_id  # bos prepended, as Llama does
    # safe-rlhf appends eos as text (prompt + answer + tokenizer.eos_token): it must map to the id
    assert tokenizer("blue" + tokenizer.eos_token)["input_ids"][-1] == tokenizer.eos_token_id


@pytest.mark.parametrize(
    "text", ["USER: capital of France? ASSISTANT: Paris", "  odd  spacing\n", "Ünïcödé ✓ 日本"]
)
def test_tokenizer_round_trip(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_deterministic_and_save_load(tokenizer, tmp_path):
    again = train_bpe_tokenizer(CORPUS, vocab_size=320, save_dir=tmp_path)
    assert again.get_vocab() == tokenizer.get_vocab()
    loaded = load_tokenizer(tmp_path)
    text = "USER: colour of snow? ASSISTANT: white"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (loaded.pad_token, loaded.eos_token, loaded.padding_side) == ("<pad>", "</s>", "right")
    # merges were learned: a frequent word is fewer tokens than characters
    assert len(tokenizer(" ASSISTANT:", add_special_tokens=False)["input_ids"]) < len(" ASSISTANT:")


def test_tokenizer_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe_tokenizer(CORPUS, vocab_size=100)
    with pytest.raises(TypeError, match="wrap it"):
        train_bpe_tokenizer("one string", vocab_size=300)


# -- data -------------------------------------------------------------------------------------------


def test_encode_pair_masks_prompt_by_hand():
    tok = CharTokenizer()
    example = encode_pair(tok, "ab", "cd", max_length=10)
    assert example["input_ids"] == [1, 10, 11, 12, 13, 2]
    assert example["labels"] == [-100, -100, -100, 12, 13, 2]
    assert example["attention_mask"] == [1, 1, 1, 1, 1, 1]


def test_encode_pair_truncates_completion_first_then_prompt_start():
    tok = CharTokenizer()
    cut = encode_pair(tok, "ab", "cdef", max_length=5)  # bos a b c d: completion cut, no eos
    assert cut["input_ids"] == [1, 10, 11, 12, 13]
    assert cut["labels"] == [-100, -100, -100, 12, 13]
    exact = encode_pair(tok, "ab", "cd", max_length=6)  # fits exactly: eos kept
    assert exact["input_ids"][-1] == 2
    long_prompt = encode_pair(tok, "abcdefg", "xy", max_length=5)  # keep bos + prompt end + 1 answer token
    assert long_prompt["input_ids"] == [1, 14, 15, 16, 33]
    assert long_prompt["labels"] == [-100, -100, -100, -100, 33]


def test_encode_text_and_pack_label_every_token():
    tok = CharTokenizer()
    assert encode_text(tok, "abc", max_length=10) == {
        "input_ids": [1, 10, 11, 12, 2], "attention_mask": [1] * 5, "labels": [1, 10, 11, 12, 2],
    }
    blocks = pack_texts(tok, ["ab", "cde"], block_size=4)  # stream: 1 10 11 2 1 12 13 14 2
    assert [b["input_ids"] for b in blocks] == [[1, 10, 11, 2], [1, 12, 13, 14]]


def test_collate_right_pads_with_ignored_labels():
    tok = CharTokenizer()
    batch = collate(encode_pairs(tok, [("a", "b"), {"prompt": "ab", "completion": "cd"}]), pad_token_id=0)
    assert batch["input_ids"].tolist() == [[1, 10, 11, 2, 0, 0], [1, 10, 11, 12, 13, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    assert batch["labels"].tolist() == [[-100, -100, 11, 2, -100, -100], [-100, -100, -100, 12, 13, 2]]
    with pytest.raises(KeyError, match="'prompt' and 'completion'"):
        encode_pairs(tok, [{"question": "a", "answer": "b"}])


# -- losses and schedule --------------------------------------------------------------------------


def test_causal_lm_loss_by_hand():
    # vocab 2; position 0 predicts token 1 with logits [0, log 3] -> p = 3/4; position 1 is ignored
    logits = torch.tensor([[[0.0, math.log(3.0)], [5.0, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX]])
    assert causal_lm_loss(logits, labels).item() == pytest.approx(-math.log(0.75))
    labels = torch.tensor([[IGNORE_INDEX, 1, 0]])  # now also position 1 -> token 0, p = e^5/(e^5+1)
    expected = (-math.log(0.75) - math.log(math.exp(5) / (math.exp(5) + 1))) / 2
    assert causal_lm_loss(logits, labels).item() == pytest.approx(expected)


class FixedLogits(torch.nn.Module):
    """A 'model' whose next-token distribution is the same at every position."""

    def __init__(self, probs):
        super().__init__()
        self.logp = torch.nn.Parameter(torch.log(torch.tensor(probs)))

    def forward(self, input_ids, attention_mask=None):
        return type("Out", (), {"logits": self.logp.expand(*input_ids.shape, -1)})()


def test_sequence_logprobs_sums_completion_only():
    model = FixedLogits([0.1, 0.2, 0.3, 0.4])
    batch = {
        "input_ids": torch.tensor([[1, 3, 2, 0], [1, 1, 3, 2]]),
        "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]),
        "labels": torch.tensor([[-100, 3, 2, -100], [-100, -100, 3, 2]]),
    }
    total = sequence_logprobs(model, batch)
    assert total.tolist() == pytest.approx([math.log(0.4 * 0.3), math.log(0.4 * 0.3)])
    mean = sequence_logprobs(model, batch, average=True)
    assert mean.tolist() == pytest.approx([math.log(0.4 * 0.3) / 2] * 2)
    total.sum().backward()  # differentiable (DPO-style losses need this)
    assert model.logp.grad is not None


def test_lr_factor_by_hand():
    assert [lr_factor(s, 10, 2) for s in (0, 1, 2)] == [0.0, 0.5, 1.0]
    assert lr_factor(6, 10, 2) == pytest.approx(0.5)  # halfway through the cosine
    assert lr_factor(10, 10, 2) == pytest.approx(0.0)
    assert lr_factor(6, 10, 2, "linear") == pytest.approx(0.5)
    assert lr_factor(4, 10, 2, "constant") == 1.0


def test_fast_completion_loss_matches_full_logits(tokenizer):
    from alignbook.lm import completion_nll, token_logprobs

    model = build_causal_lm("tiny", tokenizer, seed=0)
    batch = collate(encode_pairs(tokenizer, PAIRS[:5]), tokenizer.pad_token_id)
    full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert completion_nll(model, batch).item() == pytest.approx(causal_lm_loss(full, batch["labels"]).item(), abs=1e-5)
    mask = batch["labels"][:, 1:] != IGNORE_INDEX
    expected = (token_logprobs(full, batch["input_ids"]) * mask).sum(-1)
    assert torch.allclose(sequence_logprobs(model, batch), expected, atol=1e-4)


def test_completion_loss_falls_back_where_transformers_refuses_a_boolean_mask(tokenizer, monkeypatch):
    # transformers 5.17 (the GPU machine's) slices hidden_states[:, mask, :] and raises IndexError
    from alignbook.lm import completion_nll, sft

    model = build_causal_lm("tiny", tokenizer, seed=0)
    batch = collate(encode_pairs(tokenizer, PAIRS[:5]), tokenizer.pad_token_id)
    expected = completion_nll(model, batch).item()
    forward = model.forward

    def old_forward(*args, logits_to_keep=0, **kwargs):
        if isinstance(logits_to_keep, torch.Tensor) and logits_to_keep.ndim == 2:
            raise IndexError("too many indices for tensor of dimension 3")
        return forward(*args, logits_to_keep=logits_to_keep, **kwargs)

    monkeypatch.setattr(model, "forward", old_forward)
    monkeypatch.setattr(sft, "_mask_refused", False)
    assert completion_nll(model, batch).item() == pytest.approx(expected, abs=1e-5)
    assert sft._mask_refused



# -- models -----------------------------------------------------------------------------------------


def test_presets_sizes_and_bad_shapes(tokenizer):
    tiny = build_causal_lm("tiny", tokenizer, seed=0)
    assert tiny.config.pad_token_id == tokenizer.pad_token_id != tiny.config.eos_token_id
    assert tiny.config.vocab_size == len(tokenizer)
    assert 50_000 < count_parameters(tiny) < 400_000
    same = build_causal_lm("tiny", tokenizer, seed=0)
    other = build_causal_lm("tiny", tokenizer, seed=1)
    w = tiny.model.embed_tokens.weight
    assert torch.equal(w, same.model.embed_tokens.weight) and not torch.equal(w, other.model.embed_tokens.weight)
    assert preset("small", layers=2).layers == 2
    with pytest.raises(ValueError, match="heads"):
        TinyLMConfig(hidden_size=64, heads=5)
    with pytest.raises(ValueError, match="tiny, small, base"):
        preset("huge")


# -- SFT, generation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = build_causal_lm("tiny", tokenizer, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = SFTConfig(epochs=80, lr=1e-2, batch_size=8, warmup_ratio=0.0, seed=0)
    out = tmp_path_factory.mktemp("sft")
    result = train_sft(model, tokenizer, PAIRS, cfg, eval_pairs=PAIRS, verbose=False, output_dir=out)
    return model, before, result, out


def test_sft_memorises_and_changes_parameters(trained):
    model, before, result, _ = trained
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(x) for x in losses)
    assert result.metrics["steps"] == 80 == len(result.history)
    assert result.metrics["initial_eval_loss"] > 3.0 and result.metrics["eval_loss"] < 0.1
    assert losses[-1] < 0.1 * losses[0]
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)


def test_sft_checkpoint_round_trip(trained, tokenizer):
    model, _, result, out = trained
    loaded = SFTResult.load(out)
    assert loaded.config == result.config and loaded.history == json.loads(json.dumps(result.history))
    reloaded = loaded.load_model()
    batch = collate(encode_pairs(tokenizer, PAIRS), tokenizer.pad_token_id)
    with torch.no_grad():
        a = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(a, b)
    assert loaded.load_tokenizer().get_vocab() == tokenizer.get_vocab()


def test_sft_seeded_runs_reproduce_exactly(tokenizer):
    cfg = SFTConfig(epochs=2, lr=1e-2, batch_size=4, seed=3, grad_accum=2)
    runs = [
        train_sft(build_causal_lm("tiny", tokenizer, seed=0), tokenizer, PAIRS, cfg, verbose=False).history
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0]) == 2  # 2 epochs x 2 batches / accumulation 2
    # warm-up ceil(0.03 * 2) = 1 step at rate 0 (transformers' schedule), then cosine from the peak
    assert [h["lr"] for h in runs[0]] == pytest.approx([0.0, 1e-2])


def test_sft_trains_on_plain_text(tokenizer):
    model = build_causal_lm("tiny", tokenizer, seed=0)
    result = train_sft(model, tokenizer, CORPUS[:8], SFTConfig(epochs=1, batch_size=4), verbose=False)
    assert result.metrics["steps"] == 2 and math.isfinite(result.metrics["train_loss"])


def test_generate_stops_at_eos_and_returns_new_text(trained, tokenizer):
    model = trained[0]
    prompts = [p for p, _ in PAIRS]
    greedy = generate(model, tokenizer, prompts, max_new_tokens=12, do_sample=False, batch_size=3)
    assert greedy == [c for _, c in PAIRS]  # memorised answers, nothing after eos, no prompt echo


def test_generate_seeded_sampling_is_deterministic(tokenizer):
    model = build_causal_lm("tiny", tokenizer, seed=0)  # untrained: samples are varied
    prompts = ["USER: colour of the sky? ASSISTANT:", "USER: hi"]
    a = generate(model, tokenizer, prompts, max_new_tokens=6, seed=5)
    b = generate(model, tokenizer, prompts, max_new_tokens=6, seed=5)
    c = generate(model, tokenizer, prompts, max_new_tokens=6, seed=6)
    assert a == b and a != c
    state = torch.get_rng_state()
    generate(model, tokenizer, prompts, max_new_tokens=2, seed=1)
    assert torch.equal(state, torch.get_rng_state())  # seeding did not touch the global RNG
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, tokenizer, prompts, max_new_tokens=0)


# -- cache ------------------------------------------------------------------------------------------


def test_cache_builds_once_and_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    calls = []

    def build(directory):
        calls.append(directory)
        time.sleep(0.2)  # long enough for the other thread to arrive while we build
        (directory / "weights.txt").write_text("42")

    paths = []
    threads = [threading.Thread(target=lambda: paths.append(cached("m", {"a": 1}, build))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and paths[0] == paths[1]
    assert (paths[0] / "weights.txt").read_text() == "42"
    assert cached("m", {"a": 1}, build) == paths[0] and len(calls) == 1
    assert cached("m", {"a": 2}, build) != paths[0] and len(calls) == 2

    def broken(directory):
        (directory / "half.txt").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cached("m", {"a": 3}, broken)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in paths[:1] + [cached("m", {"a": 2}, build)]
    )
    from alignbook.lm.cache import builder_code_hash

    entry = cache_key_hash({"a": 4, "__code__": builder_code_hash(build)})  # the builder's code is in the key
    killed = tmp_path / f".tmp-m-{entry}-x"  # as if a builder was SIGKILLed
    killed.mkdir()
    cached("m", {"a": 4}, build)
    assert not killed.exists()
    with pytest.raises(ValueError, match="plain folder name"):
        cached("../escape", {}, build)


def test_sft_resume_after_interruption_matches_uninterrupted_run(tokenizer, tmp_path, monkeypatch):
    import alignbook.lm.sft as sft

    cfg = SFTConfig(epochs=2, lr=1e-2, batch_size=4, seed=1, save_every=1)  # 4 steps
    full = train_sft(build_causal_lm("tiny", tokenizer, seed=0), tokenizer, PAIRS, cfg, eval_pairs=PAIRS[:2],
                     verbose=False, output_dir=tmp_path / "full")
    assert not (tmp_path / "full" / "resume").exists()  # removed once finished

    def interrupt(step):
        if step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(sft, "_after_step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_sft(build_causal_lm("tiny", tokenizer, seed=0), tokenizer, PAIRS, cfg, eval_pairs=PAIRS[:2],
                  verbose=False, output_dir=tmp_path / "cut")
    assert (tmp_path / "cut" / "resume" / "state.pt").exists()
    saved = torch.load(tmp_path / "cut" / "resume" / "state.pt", weights_only=True)  # tensors and plain data only
    assert saved["loop"]["step"] == 3 and isinstance(saved["config"], dict)
    monkeypatch.setattr(sft, "_after_step", lambda step: None)
    other_init = build_causal_lm("tiny", tokenizer, seed=99)  # weights come from the saved state
    resumed = train_sft(other_init, tokenizer, PAIRS, cfg, eval_pairs=PAIRS[:2], verbose=False,
                        output_dir=tmp_path / "cut")
    assert resumed.history == full.history
    assert resumed.metrics["initial_eval_loss"] == full.metrics["initial_eval_loss"]
    with pytest.raises(ValueError, match="different config"):
        monkeypatch.setattr(sft, "_after_step", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train_sft(build_causal_lm("tiny", tokenizer, seed=0), tokenizer, PAIRS, cfg, verbose=False,
                      output_dir=tmp_path / "other")
        monkeypatch.setattr(sft, "_after_step", lambda step: None)
        train_sft(build_causal_lm("tiny", tokenizer, seed=0), tokenizer, PAIRS, dataclasses.replace(cfg, lr=0.5),
                  verbose=False, output_dir=tmp_path / "other")


# -- multi-process recipe -----------------------------------------------------------------------------


def _recipe_config(tokenizer, tmp_path, pairs=PAIRS, **changes):
    from alignbook.lm.recipes import SFTRunConfig

    model_dir = tmp_path / "start"
    build_causal_lm("tiny", tokenizer, seed=0).save_pretrained(model_dir)
    tokenizer.save_pretrained(str(model_dir))
    data = tmp_path / "pairs.json"
    data.write_text(json.dumps([{"prompt": p, "completion": c} for p, c in pairs]))
    values = dict(run_dir=str(tmp_path / "run"), model_path=str(model_dir), data_path=str(data),
                  eval_data_path=str(data), epochs=12, lr=1e-2, batch_size=4, warmup_ratio=0.0)
    return SFTRunConfig(**{**values, **changes})


def test_recipe_in_process(tokenizer, tmp_path):
    from alignbook.engine.launch import launch

    cfg = _recipe_config(tokenizer, tmp_path, epochs=2)
    metrics = launch("alignbook.lm.recipes:sft_from_config", cfg, nprocs=1)
    assert metrics["world_size"] == 1 and metrics["steps"] == 4
    assert SFTResult.load(tmp_path / "run" / "sft").metrics["steps"] == 4
    with pytest.raises(FileNotFoundError, match="data_path"):
        launch("alignbook.lm.recipes:sft_from_config", dataclasses.replace(cfg, data_path="nope.json"))


@pytest.mark.slow
def test_recipe_two_deepspeed_cpu_processes(tokenizer, tmp_path):
    """ZeRO-2 across 2 CPU processes: each trains on half the pairs, gradients are shared. Nine
    pairs: the odd one out is skipped, so both ranks run the same number of steps (no hang)."""
    from alignbook.engine.launch import launch, ranks_that_ran

    cfg = _recipe_config(tokenizer, tmp_path, pairs=PAIRS + [("USER: one more? ASSISTANT:", " yes")], zero_stage=2)
    metrics = launch("alignbook.lm.recipes:sft_from_config", cfg, nprocs=2, launcher="deepspeed", timeout=300)
    assert sorted(r["rank"] for r in ranks_that_ran(cfg.run_dir)) == [0, 1]
    assert metrics["world_size"] == 2
    assert metrics["steps"] == 12  # 8 pairs -> 4 per rank -> 1 batch per epoch
    assert metrics["eval_loss"] < 0.5 * metrics["initial_eval_loss"]
    result = SFTResult.load(tmp_path / "run" / "sft")
    model = result.load_model()
    with torch.no_grad():
        batch = collate(encode_pairs(tokenizer, PAIRS), tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.isfinite(logits).all()
