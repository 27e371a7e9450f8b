import dataclasses
import json

from alignbook.engine.config import BaseConfig
from alignbook.engine.metrics import format_value, load_metrics, record


def test_record_appends_with_profile(tmp_path):
    cfg = BaseConfig(profile="smoke", seed=2, run_dir=str(tmp_path))
    record(cfg, "a", 0.5, "first", spread=0.1, paper=0.9)
    record(cfg, "b", 3, "second")
    metrics = load_metrics(tmp_path)
    assert metrics["a"] == {"value": 0.5, "spread": 0.1, "paper": 0.9, "unit": "", "description": "first",
                            "profile": "smoke", "seed": 2, "seeds": None}
    assert metrics["b"]["value"] == 3
    record(dataclasses.replace(cfg, profile="test"), "a", 0.25)
    assert json.loads((tmp_path / "metrics.json").read_text())["a"]["profile"] == "test"


def test_record_converts_numpy_and_torch_scalars(tmp_path):
    import numpy as np
    import torch

    cfg = BaseConfig(run_dir=str(tmp_path))
    assert record(cfg, "n", np.float32(1.5)) == 1.5
    assert record(cfg, "t", torch.tensor(2)) == 2
    assert record(cfg, "inf", float("inf")) == "inf"


def test_format_value():
    assert format_value({"value": 0.123456, "spread": 0.01, "unit": "%"}) == "0.123 ± 0.010 %"
    assert format_value({"value": 7}) == "7"


def test_saved_runs_are_reused_only_for_the_same_config():
    from alignbook.engine.results import reusable

    cfg = BaseConfig(profile="smoke", seed=1, run_dir="r")
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))  # as read back from result.json
    assert reusable(saved, cfg)
    assert not reusable(saved, dataclasses.replace(cfg, seed=2))
    assert not reusable(None, cfg)
