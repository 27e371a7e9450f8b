"""Units of a notebook in worker processes: the same numbers in any order, on any worker count,
resumable, and stopped whole (issue: every core, the same numbers)."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from alignbook.engine import parallel
from alignbook.engine.config import BaseConfig, Count


@dataclasses.dataclass(frozen=True)
class UnitsConfig(BaseConfig):
    width: Count = 64
    """Width of the random matrices each unit multiplies."""


def noisy_unit(unit: parallel.Unit) -> dict:
    """A unit whose result depends on the global random state (as a careless trainer's would) and on a
    matmul large enough that the thread count would show in the last bits."""
    a = torch.randn(unit.cfg.width, 256)
    b = torch.randn(256, unit.cfg.width)
    marker = Path(unit.cfg.run_dir) / f"ran-{unit.index}"
    marker.write_text(str(int(marker.read_text()) + 1) if marker.exists() else "1")
    return {"value": unit.value, "sum": float((a @ b).sum()), "seed": unit.seed, "pid": os.getpid(),
            "threads": torch.get_num_threads()}


def failing_unit(unit: parallel.Unit) -> dict:
    if unit.value == 2:
        raise RuntimeError("unit 2 broke")
    return {"value": unit.value}


def cfg_in(tmp_path, **kw) -> UnitsConfig:
    (tmp_path / "run").mkdir(parents=True, exist_ok=True)
    return UnitsConfig(run_dir=str(tmp_path / "run"), **kw)


def strip(results):
    return [{k: v for k, v in r.items() if k != "pid"} for r in results]


def test_results_come_back_in_unit_order_with_the_same_numbers_in_process_or_in_workers(tmp_path):
    units = [5, 3, 9, 1]
    one = parallel.map_units(noisy_unit, cfg_in(tmp_path / "a"), units, workers=1, log=None)
    two = parallel.map_units(noisy_unit, cfg_in(tmp_path / "b"), units, workers=2, log=None)
    assert [r["value"] for r in one] == units
    assert strip(one) == strip(two)  # bit-identical floats, whatever ran where
    assert len({r["pid"] for r in two}) == 2 and {r["pid"] for r in one} == {os.getpid()}
    assert all(r["threads"] == parallel.THREADS for r in one + two)


def test_a_units_random_state_depends_on_the_unit_alone(tmp_path):
    alone = parallel.map_units(noisy_unit, cfg_in(tmp_path / "a"), [9], workers=1, log=None)
    among = parallel.map_units(noisy_unit, cfg_in(tmp_path / "b"), [1, 2, 9], workers=1, log=None)
    assert strip(alone)[0] == strip(among)[2]
    reseeded = parallel.map_units(noisy_unit, cfg_in(tmp_path / "c", seed=1), [9], workers=1, log=None)
    assert reseeded[0]["sum"] != alone[0]["sum"]  # the notebook's seed does matter


def test_a_resumed_map_runs_only_the_units_it_had_not_finished(tmp_path):
    cfg = cfg_in(tmp_path)
    parallel.map_units(noisy_unit, cfg, [0, 1], workers=1, log=None)
    again = parallel.map_units(noisy_unit, cfg, [0, 1, 2], workers=1, log=None)
    ran = {i: int((Path(cfg.run_dir) / f"ran-{i}").read_text()) for i in range(3)}
    assert ran == {0: 1, 1: 1, 2: 1} and [r["value"] for r in again] == [0, 1, 2]
    # a unit saved under other settings is redone, never shown under these
    other = cfg_in(tmp_path, width=32)
    parallel.map_units(noisy_unit, other, [0], workers=1, log=None)
    assert (Path(cfg.run_dir) / "ran-0").read_text() == "2"


def test_a_unit_result_edited_on_disk_is_redone(tmp_path):
    cfg = cfg_in(tmp_path)
    first = parallel.map_units(noisy_unit, cfg, [0], workers=1, log=None)
    saved = Path(cfg.run_dir) / "units" / "units" / "0" / "result.json"
    data = json.loads(saved.read_text())
    data["result"]["sum"] = 123.0
    saved.write_text(json.dumps(data))
    again = parallel.map_units(noisy_unit, cfg, [0], workers=1, log=None)
    assert again[0]["sum"] == first[0]["sum"] != 123.0


def test_a_failing_unit_stops_the_map_and_names_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="unit 2 broke"):
        parallel.map_units(failing_unit, cfg_in(tmp_path), [0, 1, 2, 3], workers=2, log=None)


def test_only_module_level_functions_and_distinct_units(tmp_path):
    with pytest.raises(TypeError, match="module-level"):
        parallel.map_units(lambda u: 1, cfg_in(tmp_path), [0], log=None)
    with pytest.raises(ValueError, match="distinct"):
        parallel.map_units(noisy_unit, cfg_in(tmp_path), [1, 1], log=None)


def test_workers_follow_the_cores_given_and_the_memory_budget(monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CORES", "3")
    assert parallel.plan_workers(10, None) == 3 and parallel.plan_workers(2, None) == 2
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")
    assert parallel.plan_workers(10, None) == 1
    monkeypatch.setenv("ALIGNBOOK_CORES", "8")
    monkeypatch.setattr(parallel, "available_memory_mb", lambda: 5000.0)
    said = []
    assert parallel.plan_workers(8, 2000, said.append) == 2  # 4000 MB of budget: two at a time
    assert "would not fit" in said[0]


def test_unit_ids_are_file_names():
    assert parallel.unit_id(3) == "3"
    assert parallel.unit_id((0.2, 1)) == "0.2-1"
    assert parallel.unit_id({"arm": "plain", "seed": 4}) == "arm=plain,seed=4"
    assert "/" not in parallel.unit_id("../x")
