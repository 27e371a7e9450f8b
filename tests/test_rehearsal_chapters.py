"""Each chapter's paper profile, rehearsed end to end on this machine (issue 32): the paper code path with
tiny stand-ins of the hub's models and data, CPU processes for GPUs, and the YAML's `rehearse:` sizes.

Slow: `make rehearse` runs every chapter; `make test` runs the chapters of :func:`ci_subset` (a rotating
subset, so that CI stays under its time budget)."""

import json
import os
from pathlib import Path

import pytest

from alignbook.engine import cli, launch, paths, runner


def rehearse(chapter: str, tmp_path: Path) -> dict:
    """Rehearse ``chapter`` into a scratch build; return its manifest (after checking every notebook ran as a
    rehearsal, and every paper launch block ran its two processes)."""
    saved = dict(os.environ)
    try:
        os.environ["ALIGNBOOK_BUILD"] = str(tmp_path / "build")
        os.environ.pop("ALIGNBOOK_REHEARSAL", None)
        assert cli.main(["run", chapter, "--profile", "paper", "--rehearse", "--no-progress"]) == 0
        root = tmp_path / "build" / "rehearsal"
        manifest = json.loads((root / "paper" / "manifest.json").read_text())
        for name in runner.select([chapter]):
            assert manifest[name]["status"] == "ok" and manifest[name].get("rehearsal") is True, name
            spec = runner.load_spec(paths.notebooks_dir() / f"{name}.yaml")
            if ((spec.get("launch") or {}).get("paper")):
                run_dir = root / "paper" / "runs" / name
                ranks = launch.ranks_that_ran(run_dir) + [r for d in run_dir.rglob("launch") if d.parent != run_dir
                                                          for r in launch.ranks_that_ran(d.parent)]
                assert {r["rank"] for r in ranks} == {0, 1}, f"{name} declares a launch block but did not use it"
        return manifest
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_intro(tmp_path):
    rehearse("intro", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_survey(tmp_path):
    rehearse("survey", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_pku_saferlhf(tmp_path):
    """Also what tests/test_data_paper_notebooks.py checked (the chapter's paper code path on local hub-layout
    copies of the three releases), now with the paper's own launch: notebook 2 under DeepSpeed, ZeRO-3, bf16."""
    rehearse("pku-saferlhf", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_info_structures(tmp_path):
    rehearse("info-structures", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_baichuan2(tmp_path):
    rehearse("baichuan2", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_resist_alignment(tmp_path):
    rehearse("resist-alignment", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_safety_gymnasium(tmp_path):
    rehearse("safety-gymnasium", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_safe_dreamer(tmp_path):
    rehearse("safe-dreamer", tmp_path)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_aligner(tmp_path):
    """Notebook 2 under DeepSpeed (ZeRO-3, bf16) on two processes; 3 and 4 find its checkpoints by
    alignbook.aligner.train.checkpoint_name."""
    rehearse("aligner", tmp_path)
    trained = tmp_path / "build" / "rehearsal" / "paper" / "runs" / "aligner" / "02_train"
    assert (trained / "aligner-w0.2-s0").is_dir(), sorted(p.name for p in trained.iterdir())


@pytest.mark.slow
@pytest.mark.rehearsal
def test_rehearse_safe_rlhf(tmp_path):
    """Notebooks 02-04 train through their DeepSpeed launch blocks (ZeRO-3, bf16): one launch per seed (02)
    or per (variant, seed) (03, 04), each leaving two rank records in its unit folder."""
    rehearse("safe-rlhf", tmp_path)
    runs = tmp_path / "build" / "rehearsal" / "paper" / "runs" / "safe-rlhf"
    for name, pattern, count in (("02_reward_cost", "seed*/launch", 1), ("03_ppo_lag", "*/seed*/launch", 1),
                                 ("04_ablation", "*/seed*/launch", 4)):  # 04: PPO, shaped ν=1, PPO-Lag, no PTX
        folders = sorted((runs / name).glob(pattern))
        assert len(folders) == count, (name, folders)
        for folder in folders:
            assert sorted(r["rank"] for r in launch.ranks_that_ran(folder.parent)) == [0, 1], folder
