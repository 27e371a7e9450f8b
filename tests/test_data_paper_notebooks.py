"""The chapter's notebooks execute in the `paper` profile with a hub dataset replaced by a local
folder in the hub's layout (built from toy rows: the hub is unreachable here). Only the data
source and the model sizes are overridden; the code path is the paper profile's."""

import pytest

from alignbook.engine import runner
from alignbook.data import toy_rows, write_hub_layout

SMALL_MODEL = {"lr": 2.0e-3, "max_length": 96, "epochs": 1, "batch_size": 16}


@pytest.fixture
def hub_copies(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_BUILD", str(tmp_path / "build"))
    v1, qa, single = tmp_path / "v1", tmp_path / "qa", tmp_path / "single"
    write_hub_layout({"train": toy_rows("pku-saferlhf-v1", 80, 0), "test": toy_rows("pku-saferlhf-v1", 20, 1)},
                     v1, "PKU-Alignment/PKU-SafeRLHF")
    write_hub_layout({"train": toy_rows("pku-saferlhf-qa", 60, 0), "test": toy_rows("pku-saferlhf-qa", 20, 1)},
                     qa, "PKU-Alignment/PKU-SafeRLHF-QA")
    write_hub_layout({"train": toy_rows("pku-saferlhf-single", 60, 0), "test": toy_rows("pku-saferlhf-single", 20, 1)},
                     single, "PKU-Alignment/PKU-SafeRLHF-single-dimension")
    return {"v1": str(v1), "qa": str(qa), "single": str(single)}


@pytest.mark.slow
@pytest.mark.notebooks
def test_chapter_runs_in_paper_profile_on_local_hub_copies(hub_copies):
    jobs = {
        "pku-saferlhf/01_data": {"dataset": hub_copies["v1"]},
        "pku-saferlhf/02_moderation": {"dataset": hub_copies["qa"], "backbone": "toy-scratch", "device": "cpu",
                                       "train_size": 60, "test_size": 20, **SMALL_MODEL},
        "pku-saferlhf/03_dual_preference": {"dataset": hub_copies["v1"], "single_dataset": hub_copies["single"],
                                            "device": "cpu", "train_size": 40, "eval_prompts": 6, **SMALL_MODEL},
    }
    for name, overrides in jobs.items():
        report = runner.run([name], "paper", overrides, progress=False, log=lambda *a, **k: None)
        assert not report.failed, f"{name}: {report.results[name].get('error')}"
