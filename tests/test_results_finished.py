"""engine.results.load_finished / save_finished: a saved part of a run is reused only under the same
fingerprint; anything else is deleted and run again."""

import json

from alignbook.engine.results import load_finished, save_finished


def test_a_finished_part_is_reused_only_under_its_fingerprint(tmp_path):
    path = tmp_path / "seed0" / "summary.json"
    assert load_finished(path, {"lr": 1}) is None  # nothing saved yet
    save_finished(path, {"config": {"lr": 1}, "value": 3})
    assert not path.with_suffix(".tmp").exists()
    assert load_finished(path, {"lr": 1})["value"] == 3
    (path.parent / "weights.bin").write_text("x")  # what else that part left
    assert load_finished(path, {"lr": 2}) is None  # another config: deleted, to be run again
    assert not path.parent.exists()


def test_fingerprints_compare_as_json(tmp_path):
    path = tmp_path / "part" / "summary.json"
    save_finished(path, {"config": {"sets": ["a", "b"]}, "value": 1})
    assert load_finished(path, {"sets": ("a", "b")}) is not None  # a tuple saved as a list is the same
    assert json.loads(path.read_text())["value"] == 1
