"""The rehearsal of the paper profile (issue 32): what it changes, what it refuses, where it stores."""

import json

import pytest

from alignbook.engine import cli, rehearsal, runner
from alignbook.engine.config import ConfigError


@pytest.fixture
def build(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_BUILD", str(tmp_path / "build"))
    monkeypatch.delenv(rehearsal.ENV, raising=False)
    return tmp_path / "build"


def test_rehearse_refuses_any_profile_but_paper(build, capsys):
    assert cli.main(["run", "intro/01_machine", "--profile", "smoke", "--rehearse"]) == 2
    assert "--rehearse rehearses the paper profile, not 'smoke'" in capsys.readouterr().err


def test_a_rehearse_block_holds_sizes_only():
    assert rehearsal.check_block("x/y", {"steps": 4, "seeds": 1, "grid": [1, 2], "preset": "tiny"})
    for bad in ({"zero_stage": 0}, {"bf16": False}, {"dataset": "toy"}, {"lr": "fast"}):
        with pytest.raises(ConfigError, match="rehearse"):
            rehearsal.check_block("x/y", bad)


def test_the_rehearsal_swaps_hub_ids_for_stand_ins_and_cuda_for_the_cpu_and_nothing_else(build, monkeypatch, capsys):
    monkeypatch.setattr(rehearsal.os, "environ", dict(rehearsal.os.environ))
    root = rehearsal.begin("paper")
    assert root == build / "rehearsal"
    (job,) = runner.plan(["safe-rlhf/02_reward_cost"], "paper", check_devices=False)
    declared = job.declared
    assert declared.backbone == "PKU-Alignment/alpaca-7b-reproduced" and declared.device == "cuda"
    cfg = job.config
    assert cfg.device == "cpu"
    assert cfg.backbone.startswith(str(root / "hub" / "models")) and cfg.dataset.startswith(str(root / "hub" / "datasets"))
    # the switches that choose the code path are the declared ones
    assert (cfg.zero_stage, cfg.bf16, cfg.gradient_checkpointing) == (declared.zero_stage, declared.bf16,
                                                                       declared.gradient_checkpointing)
    text = runner.describe(job)
    assert "the plan below is the declared paper run's" in text and "ZeRO-3 over 8" in text
    assert "--num_gpus 2" in text  # the launch block's 8 GPUs become 2 CPU processes
    config = json.loads((root / "hub" / "models" / "PKU-Alignment--alpaca-7b-reproduced" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 2
    assert (config["bos_token_id"], config["eos_token_id"], config["tie_word_embeddings"]) == (1, 2, False)


def test_a_hub_id_without_a_stand_in_is_refused_by_name(build, monkeypatch):
    monkeypatch.setattr(rehearsal.os, "environ", dict(rehearsal.os.environ))
    rehearsal.begin("paper")
    with pytest.raises(ConfigError, match="no rehearsal stand-in"):
        runner.plan(["safe-rlhf/02_reward_cost"], "paper", {"backbone": "someone/unknown-7b"}, check_devices=False)


def test_a_paper_run_offline_without_a_local_copy_is_refused_before_anything_runs(build, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("alignbook.engine.devices.visible_gpus", lambda: 8)
    with pytest.raises(ConfigError, match="offline here .* no local copy"):
        runner.plan(["safe-rlhf/02_reward_cost"], "paper")


def test_a_memory_plan_that_cannot_fit_is_refused_naming_the_fix(build, monkeypatch):
    from alignbook.safe_rlhf.config import ScoreModelConfig

    cfg = ScoreModelConfig(profile="paper", run_dir="unused", backbone="PKU-Alignment/alpaca-7b-reproduced",
                           bf16=True, zero_stage=3, gradient_checkpointing=True, seeds=1)
    assert runner.memory_plan_problem("x/y", cfg, {"launch": {"paper": {"nprocs": 8}}}) is None
    why = runner.memory_plan_problem("x/y", cfg, {})  # one process: 7B with Adam does not fit 80 GB
    assert "GiB on one H100-80GB" in why and "launch it over the node's GPUs" in why
    with pytest.raises(ConfigError):
        runner.memory_plan_problem("x/y", cfg, {}, refuse=True)


def test_the_book_never_shows_a_rehearsal(build, monkeypatch):
    from alignbook.engine import book, store

    name = "intro/01_machine"
    store.update_record("paper", name, lambda r: {"status": "ok", "rehearsal": True, "key": "x"})
    monkeypatch.setattr(book, "book_order", lambda: [name])
    monkeypatch.setattr(book, "_sync", lambda target, wanted: None)
    problems = book.prepare("paper")
    assert "rehearsal of the paper run" in problems[name]


def test_every_launch_block_names_an_entry_its_notebook_launches():
    """Issue 32: a YAML `launch:` block is used, not only printed by the dry run. Statically: its entry imports,
    takes the config, and the notebook's chapter package launches through launch_as_configured (the chapter
    rehearsals, tests/test_rehearsal_chapters.py, check that two ranks really ran)."""
    import inspect

    from alignbook.engine.config import import_object, load_spec
    from alignbook.engine import paths

    blocks = 0
    for name in runner.all_notebooks():
        spec = load_spec(paths.notebooks_dir() / f"{name}.yaml")
        for profile, block in (spec.get("launch") or {}).items():
            blocks += 1
            entry = import_object(block["entry"])
            assert len(inspect.signature(entry).parameters) >= 1, f"{name}: {block['entry']} takes no config"
            package = import_object(spec["config"]).__module__.rsplit(".", 1)[0]
            sources = [p.read_text() for p in (paths.repo_root() / "lib" / package.replace(".", "/")).rglob("*.py")]
            assert any("launch_as_configured" in s for s in sources), \
                f"{name} declares a {profile} launch block, but {package} never calls launch_as_configured"
    assert blocks >= 4
