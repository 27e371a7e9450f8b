"""Dataset layer: schemas on real sample rows and toy rows, hub-layout round trip, offline errors."""

import json
import sys
import types

import pytest

from alignbook.data import (
    HUB_DATASETS,
    SCHEMAS,
    DatasetUnavailableError,
    SchemaError,
    load,
    load_rows,
    toy_rows,
    validate_rows,
    write_hub_layout,
)
from alignbook.engine.paths import repo_root

REAL = repo_root().parent / "shared" / "data" / "real-samples"


def real_rows(name):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real sample rows not present at {path}")
    return json.loads(path.read_text())


def test_real_v0_rows_pass_v0_and_fail_v1_naming_the_column():
    rows = real_rows("pku-saferlhf-v0-32pairs.json")
    assert validate_rows(rows, "pku-saferlhf-v0") == 32
    with pytest.raises(SchemaError, match="prompt_source"):
        validate_rows(rows, "pku-saferlhf-v1")


def test_real_aligner_rows_pass():
    assert validate_rows(real_rows("aligner-template-2rows.json"), "aligner") == 2


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_toy_rows_follow_every_schema(schema):
    rows = toy_rows(schema, 12, seed=0)
    assert validate_rows(rows, schema) == 12


def test_bad_rows_name_the_column():
    row = toy_rows("pku-saferlhf-v1", 1)[0]
    with pytest.raises(SchemaError, match="response_1_severity_level"):
        validate_rows([{**row, "response_1_severity_level": 4}], "pku-saferlhf-v1")
    with pytest.raises(SchemaError, match="response_0_harm_category"):
        validate_rows([{**row, "response_0_harm_category": {"Violence": True}}], "pku-saferlhf-v1")
    with pytest.raises(SchemaError, match="unexpected column"):
        validate_rows([{**row, "extra": 1}], "pku-saferlhf-v1")
    with pytest.raises(SchemaError, match="better_response_id"):
        validate_rows([{**row, "better_response_id": True}], "pku-saferlhf-v1")


def test_pins_match_the_issue():
    v1 = HUB_DATASETS["PKU-Alignment/PKU-SafeRLHF"]
    assert v1.revision == "9421ffafec3fa40a1f1a7d567b4d525079477ecb"
    assert dict(v1.splits) == {"train": 73907, "test": 8211}
    assert v1.schema == "pku-saferlhf-v1" and len(SCHEMAS["pku-saferlhf-v1"].columns) == 16
    assert len(SCHEMAS["pku-saferlhf-v0"].columns) == 7


def test_local_hub_layout_round_trip(tmp_path):
    train, test = toy_rows("pku-saferlhf-v1", 30, 0), toy_rows("pku-saferlhf-v1", 9, 1)
    write_hub_layout({"train": train, "test": test}, tmp_path, "PKU-Alignment/PKU-SafeRLHF")
    assert (tmp_path / "data" / "Alpaca3-8B" / "train.jsonl").exists()
    loaded = load(str(tmp_path), "train")
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(loaded, key=key) == sorted(train, key=key)
    assert len(load_rows(str(tmp_path), "pku-saferlhf-v1", "test")) == 9


def test_offline_hub_load_says_how_to_get_the_data(monkeypatch):
    fake = types.ModuleType("datasets")

    def refuse(*args, **kwargs):
        raise ConnectionError("hub unreachable")

    fake.load_dataset = refuse
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(DatasetUnavailableError) as info:
        load("PKU-Alignment/PKU-SafeRLHF", "train")
    message = str(info.value)
    assert "HF_HOME" in message and "local folder" in message and "9421ffa" in message
    assert "toy" in message  # says the toy world is not used in its place


def test_unknown_dataset_and_split_errors():
    with pytest.raises(ValueError, match="known hub release"):
        load("PKU-Alignment/Nope", "train")
    with pytest.raises(ValueError, match="split"):
        load("PKU-Alignment/PKU-SafeRLHF", "validation")
    with pytest.raises(ValueError, match="n="):
        load_rows("toy", "pku-saferlhf-v1")


def test_real_v0_rows_round_trip_through_a_local_hub_layout(tmp_path):
    rows = real_rows("pku-saferlhf-v0-32pairs.json")
    write_hub_layout({"train": rows}, tmp_path, "PKU-Alignment/PKU-SafeRLHF-30K")
    assert load(str(tmp_path), "train") == rows


def test_toy_rows_are_the_same_in_every_process():
    import subprocess
    import sys

    code = "from alignbook.data import toy_rows; import json; print(json.dumps(toy_rows('aligner', 6, 2)))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(k), "PATH": ""}).stdout for k in (1, 2)}
    assert len(outputs) == 1
