"""The SafeSora chapter: schema validators and the loader first, then the loss and win rates by hand, then tiny trainers."""

import copy
import json

import numpy as np
import pytest
import torch

from alignbook.engine.config import ConfigError, load_spec, resolve
from alignbook.safesora import best_of_n, data, moderation, models, preference, schema, world


@pytest.fixture(scope="module")
def tiny():
    return world.build(world.DataConfig(prompts=20, pairs_per_prompt=3))


# -- schema ---------------------------------------------------------------------------------------


def test_built_records_pass_the_validator(tiny):
    for r in tiny["train"] + tiny["test"]:
        schema.validate_pair(r)
    assert set(tiny["train"][0]) == set(schema.PAIR_FIELDS)
    assert set(tiny["train"][0]["video_0"]) == set(schema.VIDEO_FIELDS)
    assert set(tiny["train"][0]["sub_preferences"]) == set(schema.SUB_PREFERENCE_KEYS)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r.pop("pair_id"), "pair_id"),
    (lambda r: r.__setitem__("helpfulness", "video_2"), "helpfulness"),
    (lambda r: r["video_0"].__setitem__("is_safe", "yes"), "video_0.is_safe"),
    (lambda r: r["video_1"]["video_labels"].pop("crime"), "video_1.video_labels.crime"),
    (lambda r: r["video_0"]["prompt_labels"].__setitem__("gore", True), "video_0.prompt_labels.gore"),
    (lambda r: r.__setitem__("prompt_type", "unsafe"), "prompt_type"),
    (lambda r: r["sub_preferences"].__setitem__("informativeness", "video_0"), "sub_preferences.informativeness"),
    (lambda r: r["video_1"].__setitem__("prompt_id", "other"), "video_1.prompt_id"),
])
def test_validator_names_the_bad_field(tiny, edit, field):
    r = copy.deepcopy(tiny["train"][0])
    edit(r)
    with pytest.raises(schema.SchemaError, match=field.replace(".", r"\.")):
        schema.validate_pair(r)


def test_is_safe_must_match_video_labels(tiny):
    r = copy.deepcopy(tiny["train"][0])
    r["video_0"]["video_labels"] = world.harm_label("crime")
    r["video_0"]["is_safe"] = True
    with pytest.raises(schema.SchemaError, match="video_0.is_safe"):
        schema.validate_pair(r)


def test_information_informativeness_trap():
    pair = {"pair_id": "x", "helpfulness": "video_0", "harmlessness": "video_1",
            "sub_preferences": {"instruction_following": "video_0", "correctness": "video_1", "information": "video_1",
                                "aesthetics": "video_0"}}
    # the script's name reads the loader's stored key
    assert schema.preferred(pair, "informativeness") == "video_1"
    assert schema.preferred(pair, "helpfulness") == "video_0"
    assert schema.preferred(pair, "harmlessness") == "video_1"
    with pytest.raises(ValueError, match="information'"):
        schema.preferred(pair, "information")  # not a training-script dimension
    # the upstream formatter keeps 'information' and drops an 'informativeness' key
    formatted = schema.format_pair({"sub_preferences": {"informativeness": "video_0"}})
    assert formatted["sub_preferences"] == {k: None for k in schema.SUB_PREFERENCE_KEYS}
    assert "informativeness" not in formatted["sub_preferences"]
    assert "information" in schema.SUB_PREFERENCE_KEYS and "informativeness" in schema.DIMENSIONS


def test_format_pair_drops_labels_like_upstream(tiny):
    f = schema.format_pair(tiny["train"][0])
    assert "video_labels" not in f["video_0"] and "prompt_labels" not in f["video_1"]
    assert f["video_0"]["is_safe"] == tiny["train"][0]["video_0"]["is_safe"]


def test_loader_on_a_tiny_real_layout_tree(tmp_path, tiny):
    rec = copy.deepcopy(tiny["train"][:2])
    for v in schema.videos_of(rec):
        path = schema.video_file(tmp_path / "videos", v["prompt_id"], v["video_id"], ".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.zeros((8, 32, 32), np.uint8))
    schema.write_config(tmp_path / "config-train.json", rec)
    loaded = schema.load_dataset(tmp_path, "config-train.json", ext=".npy")
    p = loaded[0]["video_0"]["video_path"]
    assert p.endswith(f"videos/{rec[0]['prompt_id']}/{rec[0]['video_0']['video_id']}.npy")
    assert schema.read_clip(p).shape == (8, 32, 32)
    # default extension is the official .mp4, and a missing config is named
    assert schema.load_dataset(tmp_path, "config-train.json")[0]["video_0"]["video_path"].endswith(".mp4")
    with pytest.raises(FileNotFoundError, match="config-test.json"):
        schema.load_dataset(tmp_path, "config-test.json")
    bad = copy.deepcopy(rec)
    bad[1]["harmlessness"] = "both"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(schema.SchemaError, match="record 1: harmlessness"):
        schema.load_dataset(tmp_path / "bad.json")


REAL = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "real-samples"


def test_real_safesora_rows_if_present():
    files = sorted(REAL.glob("safesora*.json")) if REAL.is_dir() else []
    if not files:
        pytest.skip("no SafeSora rows under shared/data/real-samples")
    for f in files:
        schema.load_dataset(f, validate=True)


# -- loss, end position, win rates by hand -------------------------------------------------------


def test_preference_loss_by_hand():
    hi, lo = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # -mean(log σ(1), log σ(-2)) + 0.001 * mean(1, 0, 0, 4)
    expect = -(np.log(1 / (1 + np.exp(-1))) + np.log(1 / (1 + np.exp(2)))) / 2 + 0.001 * 5 / 4
    assert models.preference_loss(hi, lo).item() == pytest.approx(expect, rel=1e-6)
    assert models.preference_loss(hi, lo, reg=0).item() == pytest.approx(expect - 0.00125, rel=1e-6)


def test_end_scores_read_last_non_pad_position():
    scores = torch.arange(12.0).reshape(2, 6, 1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    assert models.end_scores(scores, mask).reshape(-1).tolist() == [5.0, 8.0]


def test_score_head_has_no_bias_and_padding_is_ignored():
    m = models.ScoreModel(16).eval()
    assert m.score.bias is None
    t, c = torch.randn(2, 384), torch.randint(0, 255, (2, 8, 32, 32), dtype=torch.uint8)
    full = m(t, c)
    assert full.shape == (2, 1)


def test_win_rate_matrix_properties(tiny):
    rng = np.random.default_rng(0)
    score = {v: float(rng.normal()) for v in tiny["videos"]}
    m = preference.win_rate_matrix(score, tiny, tiny["test"] + tiny["train"])
    np.testing.assert_allclose(np.diag(m), 0.5)
    np.testing.assert_allclose(m + m.T, 1.0)
    assert np.mean([preference.mean_win_rate(m, g) for g in world.GENERATOR_NAMES]) == pytest.approx(0.5)
    lab, n = preference.label_win_rates(tiny["train"] + tiny["test"], "helpfulness")
    np.testing.assert_allclose(np.diag(lab), 0.5)
    np.testing.assert_allclose((lab + lab.T)[n > 0], 1.0)


def test_psnr_reward_by_hand():
    clip = np.zeros((4, 2, 2), np.uint8)
    clip[1:] = 1  # mse 1 against frame 0 -> 20 log10(255)
    per = 20 * np.log10(255)
    assert preference.psnr_reward(clip) == pytest.approx(3 * per / 4)  # divided by n frames, as upstream


def test_caption_finds_the_drawn_object():
    p = {"object": "square", "colour": "white", "motion": "right", "harm": None, "template": 0, "details": []}
    gen = world.Generator("exact", 1.0, 1.0, 0.0, 1.0, 0.0, 0.0)
    clip, truth = world.render(np.random.default_rng(0), p, gen)
    assert preference.caption_frame(clip[3]) == "a white square"
    assert world.gold_scores(p, truth)["instruction_following"] == 1.0


def test_video_changes_the_label(tiny):
    big = world.build(world.DataConfig(prompts=200))
    dis = data.label_disagreement(big["train"] + big["test"])
    assert dis["prompt_safe_video_unsafe"] > 0 and dis["prompt_unsafe_video_safe"] > 0


# -- tiny trainers --------------------------------------------------------------------------------


def _with_embeddings(d):
    rng = np.random.default_rng(0)
    d = dict(d)
    d["embedding"] = {p["prompt_id"]: rng.normal(size=384).astype(np.float32) for p in d["prompts"]}
    d["prompts"] = {p["prompt_id"]: p for p in d["prompts"]} if isinstance(d["prompts"], list) else d["prompts"]
    return d


def test_score_model_trains_and_round_trips(tmp_path, tiny):
    d = _with_embeddings(tiny)
    cfg = preference.PreferenceConfig(epochs=2, dim=16, batch_size=8)
    pairs = preference.pair_tensors(d, d["train"], "informativeness")
    model, hist = preference.train_score_model(cfg, pairs, 0)
    assert all(np.isfinite(h["loss"]) for h in hist) and len(hist) == 2
    torch.manual_seed(0)
    init = models.ScoreModel(16)
    assert not torch.equal(init.score.weight, model.score.weight)
    from alignbook.engine import checkpoints
    checkpoints.save(tmp_path / "m.pt", {"x": model.state_dict()})
    again = models.ScoreModel(16)
    again.load_state_dict(checkpoints.load(tmp_path / "m.pt")["x"])
    t, c = pairs["text"][:3], pairs["hi"][:3]
    assert torch.allclose(again.eval()(t, c), model(t, c))


def test_moderator_and_best_of_n_run(tmp_path):
    d = _with_embeddings(world.build(world.DataConfig(prompts=60, test_share=0.3, pairs_per_prompt=2)))
    mcfg = moderation.ModerationConfig(epochs=1, seeds=2, run_dir=str(tmp_path / "02"))
    res = moderation.run(mcfg, d)  # its four units in worker processes where the machine has cores
    assert len(res["video"]) == 2 and 0 <= res["video"][0]["macro_f1"] <= 1
    word, _ = moderation.verdict(res, data.label_disagreement(d["test"]))
    assert word in ("shown", "partly shown", "not shown", "contrary", "not testable")
    pcfg = preference.PreferenceConfig(epochs=1, seeds=2, dim=16, dimensions=("helpfulness",))
    pres = {}
    for s in (0, 1):
        pairs = preference.pair_tensors(d, d["train"], "helpfulness")
        pres[f"helpfulness-{s}"] = preference.train_score_model(pcfg, pairs, s)[0].state_dict()
    bres = best_of_n.run(best_of_n.BestOfNConfig(n_grid=(1, 2), seeds=2, run_dir=str(tmp_path / "04")), d, pres,
                         res["states"])
    assert len(bres["constrained"]) == 2 and len(bres["constrained"][0]["helpful"]) == 2


def test_units_give_the_numbers_of_the_old_loops(tmp_path):
    """Each (moderator, seed), (dimension, seed) and best-of-N seed is a unit of map_units; its numbers are those
    of training and scoring that seed directly, as the loops before did."""
    d = _with_embeddings(world.build(world.DataConfig(prompts=40, test_share=0.3, pairs_per_prompt=2)))
    mcfg = moderation.ModerationConfig(epochs=1, seeds=2, run_dir=str(tmp_path / "02"))
    res = moderation.run(mcfg, d, workers=1)
    train, test = moderation.arrays(d, d["train"]), moderation.arrays(d, d["test"])
    for k, s in enumerate(res["seeds"]):
        model = moderation.train_moderator(mcfg, train, True, s)
        assert res["video"][k]["macro_f1"] == moderation.scores(
            test["y"].numpy(), moderation.predict(model, test), res["video"][k]["threshold"])["macro_f1"]
        assert all(torch.equal(a, b) for a, b in zip(res["states"][f"video-{s}"].values(), model.state_dict().values()))
    pcfg = preference.PreferenceConfig(epochs=1, seeds=2, dim=16, dimensions=("helpfulness", "harmlessness"),
                                       run_dir=str(tmp_path / "03"))
    pres = preference.run(pcfg, d, workers=1)
    assert [len(pres["dims"][dim]["runs"]) for dim in pcfg.dimensions] == [2, 2]
    model, hist = preference.train_score_model(pcfg, preference.pair_tensors(d, d["train"], "harmlessness"), 1)
    assert pres["history"]["harmlessness-1"] == hist
    assert all(torch.equal(a, b) for a, b in zip(pres["states"]["harmlessness-1"].values(), model.state_dict().values()))
    bcfg = best_of_n.BestOfNConfig(n_grid=(1, 2), seeds=2, run_dir=str(tmp_path / "04"))
    bres = best_of_n.run(bcfg, d, pres["states"], res["states"], workers=1)
    again = best_of_n.run(bcfg, d, pres["states"], res["states"], workers=1)  # resumed from the saved units
    assert bres == again and bres["seeds"] == [0, 1] and len(bres["reward_only"]) == 2


def test_trainers_and_scorers_run_on_the_device(tmp_path):
    """Stand-in GPU: the moderators, the score models and best-of-N scoring with device='cuda' keep their models and
    batches there (a CPU tensor beside a cuda one raises DeviceMix) and compute the CPU's numbers."""
    from alignbook.engine import standin

    d = _with_embeddings(world.build(world.DataConfig(prompts=20, test_share=0.3, pairs_per_prompt=2)))
    train = moderation.arrays(d, d["train"])
    mcfg = moderation.ModerationConfig(epochs=1, seeds=1, device="cuda", run_dir=str(tmp_path / "02"))
    pcfg = preference.PreferenceConfig(epochs=1, seeds=1, dim=16, dimensions=("helpfulness",), device="cuda",
                                       run_dir=str(tmp_path / "03"))
    pairs = preference.pair_tensors(d, d["train"], "helpfulness")
    ids = sorted(d["videos"])[:6]
    cpu_prob = moderation.predict(moderation.train_moderator(moderation.ModerationConfig(epochs=1), train, True, 0), train)
    cpu_pm, cpu_hist = preference.train_score_model(preference.PreferenceConfig(epochs=1, dim=16), pairs, 0)
    with standin.stand_in_gpu():
        moderator = moderation.train_moderator(mcfg, train, True, 0)
        prob = moderation.predict(moderator, train)
        pm, hist = preference.train_score_model(pcfg, pairs, 0)
        scores = preference.score_videos(pm, d, ids)
        assert all(p.device.type == "cuda" for m in (moderator, pm) for p in m.parameters())
        text = np.stack([d["embedding"][d["videos"][v]["prompt_id"]] for v in ids[:2]])
        clips = np.stack([[d["clips"][v] for v in ids[:2]]] * 2)
        r, c = best_of_n.model_scores(pm, moderator, text, clips)
        mres = moderation.run(mcfg, d, workers=1)
        pres = preference.run(pcfg, d, workers=1)
        bres = best_of_n.run(best_of_n.BestOfNConfig(n_grid=(1, 2), seeds=1, device="cuda", run_dir=str(tmp_path / "04")),
                             d, pres["states"], mres["states"], workers=1)
    assert np.array_equal(prob, cpu_prob) and hist == cpu_hist
    # eval mode: on the CPU the transformer layer takes its fused fast path, so the last bits may differ
    assert np.allclose(scores, preference.score_videos(cpu_pm, d, ids), rtol=1e-5, atol=1e-6)
    assert r.shape == c.shape == (2, 2) and isinstance(r, np.ndarray)
    assert all(not standin.on_gpu(t) for t in mres["states"]["video-0"].values())  # saved weights come back to the CPU
    assert len(bres["constrained"]) == 1


def test_best_of_n_pick_respects_threshold():
    r = np.array([[1.0, 5.0, 3.0]])
    c = np.array([[0.1, 0.9, 0.2]])
    assert best_of_n.pick(r, c, 3, 0.5)[0] == 2
    assert best_of_n.pick(r, c, 3, None)[0] == 1
    assert best_of_n.pick(r, np.array([[0.8, 0.9, 0.7]]), 3, 0.5)[0] == 2  # none admissible: lowest cost


# -- configs --------------------------------------------------------------------------------------


def test_config_refusals_name_the_parameter():
    with pytest.raises(ConfigError, match="n_grid"):
        best_of_n.BestOfNConfig(n_grid=(2, 4))
    with pytest.raises(ConfigError, match="prompts"):
        world.DataConfig(prompts=5)
    with pytest.raises(ConfigError, match="backbone"):
        preference.PreferenceConfig(backbone="LanguageBind/Video-LLaVA-7B")
    with pytest.raises(ConfigError, match="pairs_per_prompt"):
        world.DataConfig(pairs_per_prompt=7)


def test_paper_profile_has_the_official_settings():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "notebooks" / "safesora"
    cfg = resolve(root / "03_preference_models.yaml", "paper")
    assert cfg.backbone == "LanguageBind/Video-LLaVA-7B" and cfg.dataset == "PKU-Alignment/SafeSora"
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.warmup_ratio, cfg.weight_decay, cfg.zero_stage, cfg.bf16) == \
        (3, 8, 2e-5, 0.03, 0.1, 2, True)
    assert cfg.score_reg == 0.001
    with pytest.raises(ConfigError, match="paper profile"):
        preference.require_local(cfg)
    assert load_spec(root / "01_data.yaml")["profiles"]["paper"]["dataset"] == "PKU-Alignment/SafeSora"


# -- estimates of the gpu and paper profiles (alignbook.engine.estimate) -------------------------------


def test_macs_count_the_models():
    from alignbook.safesora.models import frame_encoder_macs, moderator_macs

    # per frame: conv1 16·16 positions × 8 filters × 25 = 51,200; conv2 8·8 × 16 × (8·9) = 73,728; linear 1024·64
    assert frame_encoder_macs(64) == 8 * (51_200 + 73_728 + 65_536) == 1_523_712
    assert moderator_macs(64, False) == 384 * 64 + 64 * 64 + 64 * 12 == 29_440
    assert moderator_macs(64, True) == 384 * 64 + 1_523_712 + 128 * 64 + 64 * 12 == 1_557_248


def test_moderation_estimate_by_hand():
    from alignbook.safesora.moderation import ModerationConfig

    work = ModerationConfig(profile="test", epochs=2, batch_size=128, seeds=1, hidden=64).work()
    # the test profile's 60 prompts: 54 train prompts × 4 videos = 216 videos, 2 steps an epoch, 2 epochs;
    # 109 ops a text-only step, 207 a video step, at 10 µs
    assert work.other_seconds == pytest.approx(4 * (109 + 207) * 10e-6)
    # 6 FLOPs per MAC for 2 × 216 trained videos, 2 per MAC for 216 + 240 scored, for both moderators
    assert work.train_flops == sum(6.0 * m * 2 * 216 + 2.0 * m * 456 for m in (29_440, 1_557_248))


def test_preference_estimate_by_hand():
    from alignbook.safesora.preference import PreferenceConfig

    cfg = PreferenceConfig(profile="test", epochs=3, batch_size=100, seeds=2, sub_seeds=1)
    # 2 seeds × (helpfulness, harmlessness) + 1 × 4 sub-dimensions = 8 score models; 54 × 4 = 216 pairs,
    # 3 steps of 100 an epoch; 730 ops a step at 10 µs
    assert cfg.runs() == 8
    assert cfg.work().other_seconds == pytest.approx(8 * 3 * 3 * 730 * 10e-6)


def test_preference_paper_estimate_is_the_official_run_by_hand():
    from alignbook.safesora.preference import PreferenceConfig

    cfg = PreferenceConfig(profile="paper", backbone="LanguageBind/Video-LLaVA-7B", dataset="PKU-Alignment/SafeSora",
                           epochs=3, batch_size=8, bf16=True, zero_stage=2, seeds=1, sub_seeds=1)
    work = cfg.work()
    # 6 score models × 3 epochs × 46,470 pairs × 2 videos × 2,100 tokens, 6 FLOPs per weight and token
    assert work.train_flops == pytest.approx(6 * 6.74e9 * 6 * 3 * 46_470 * 2 * 2_100)
    assert work.devices == 8 and work.zero_stage == 2 and work.precision == "bf16"


def test_best_of_n_estimate_by_hand():
    from alignbook.safesora.best_of_n import BestOfNConfig

    work = BestOfNConfig(profile="test", n_grid=(1, 2, 4), seeds=2).work()
    # the test profile's 60 prompts hold out 6; 2 seeds × 6 × 4 candidates rendered at 2,000 a second
    assert work.other_seconds == pytest.approx(2 * 6 * 4 / 2000)
