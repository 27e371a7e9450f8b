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


# ------------------------------------------------------------------ pins, layouts and formats (issue 32, item 3)
HEX = set("0123456789abcdef")


def test_every_pin_is_a_full_commit_hash_or_none():
    from alignbook.data.hub import HUB_MODELS

    for name, spec in HUB_DATASETS.items():
        assert spec.revision is None or spec.revision == "v0" or (len(spec.revision) == 40 and set(spec.revision) <= HEX), name
    for name, pin in HUB_MODELS.items():
        assert pin is None or (len(pin) == 40 and set(pin) <= HEX), name
    assert HUB_DATASETS["PKU-Alignment/PKU-SafeRLHF-QA"].revision == "219fa024d11c79e28a2e2c444621d641b9689606"
    assert HUB_DATASETS["PKU-Alignment/BeaverTails"].revision == "8401fe609d288129cc684a9b3be6a93e41cfe678"
    assert HUB_DATASETS["tatsu-lab/alpaca"].revision == "dce01c9b08f87459cf36a430d809084718273017"
    assert HUB_MODELS["PKU-Alignment/alpaca-7b-reproduced"] == "f4f1d993c68a98b2f953bb87208992eab221d1dc"
    # the card's 149858/4635 describe a parquet that is not at the pin: not asserted
    assert dict(HUB_DATASETS["PKU-Alignment/PKU-SafeRLHF-QA"].splits) == {"train": None, "test": None}


def test_layouts_are_the_release_files():
    layout = lambda name: dict(HUB_DATASETS[name].layout)  # noqa: E731
    per_model = {s: tuple(f"data/{m}/{s}.jsonl" for m in ("Alpaca-7B", "Alpaca2-7B", "Alpaca3-8B")) for s in ("train", "test")}
    assert layout("PKU-Alignment/PKU-SafeRLHF-QA") == per_model
    assert layout("PKU-Alignment/PKU-SafeRLHF-single-dimension") == per_model
    assert layout("PKU-Alignment/BeaverTails") == {
        "330k_train": ("round0/330k/train.jsonl.xz",), "330k_test": ("round0/330k/test.jsonl.xz",),
        "30k_train": ("round0/30k/train.jsonl.gz",), "30k_test": ("round0/30k/test.jsonl.gz",)}
    assert layout("tatsu-lab/alpaca") == {"train": ("data/train-00000-of-00001-a09b74b3ef9c3b56.parquet",)}
    assert layout("PKU-Alignment/PKU-SafeRLHF-v0") == {"train": ("round0/train.jsonl.xz",), "test": ("round0/test.jsonl.xz",)}


def test_a_pinned_hub_load_reads_exactly_the_layout_files(monkeypatch):
    calls = []
    fake = types.ModuleType("datasets")

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("hub unreachable")

    fake.load_dataset = record
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(DatasetUnavailableError):
        load("PKU-Alignment/PKU-SafeRLHF-QA", "test")
    (args, kwargs), = calls
    assert args == ("PKU-Alignment/PKU-SafeRLHF-QA",) and kwargs["revision"] == "219fa024d11c79e28a2e2c444621d641b9689606"
    assert kwargs["data_files"] == {"test": list(HUB_DATASETS["PKU-Alignment/PKU-SafeRLHF-QA"].layout["test"])}
    with pytest.warns(UserWarning, match="not a pinned commit"), pytest.raises(DatasetUnavailableError):
        load("aligner/aligner-20K", "train")  # unpinned: follows the card of the latest revision
    assert calls[-1][1]["data_files"] is None and calls[-1][1]["revision"] is None


@pytest.mark.parametrize("name", sorted(HUB_DATASETS))
def test_generated_rows_round_trip_through_every_layout(tmp_path, name):
    import gzip
    import lzma

    spec = HUB_DATASETS[name]
    rows = {split: toy_rows(spec.schema, 7, index) for index, split in enumerate(spec.layout)}
    write_hub_layout(rows, tmp_path, name)
    for split, files in spec.layout.items():
        for relative in files:  # every file of the layout, in its own format
            data = (tmp_path / relative).read_bytes()
            if relative.endswith(".xz"):
                assert data.startswith(b"\xfd7zXZ") and lzma.decompress(data)
            elif relative.endswith(".gz"):
                assert data[:2] == b"\x1f\x8b" and gzip.decompress(data)
            elif relative.endswith(".parquet"):
                assert data[:4] == b"PAR1"
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        assert sorted(load(str(tmp_path), split), key=key) == sorted(rows[split], key=key)


def test_the_local_reader_reads_xz_gz_and_parquet(tmp_path):
    from alignbook.data.hub import read_data_file, write_data_file

    rows = toy_rows("beavertails", 5, 3)
    for suffix in (".jsonl", ".jsonl.xz", ".jsonl.gz", ".json", ".json.gz", ".parquet"):
        assert read_data_file(write_data_file(rows, tmp_path / f"x{suffix}")) == rows
    with pytest.raises(ValueError, match="unknown data-file format"):
        read_data_file(tmp_path / "x.csv")


def test_real_alpaca_rows_round_trip_through_the_parquet_layout(tmp_path, real_samples):
    rows = json.loads((real_samples / "alpaca-32rows.json").read_text())
    write_hub_layout({"train": rows}, tmp_path, "tatsu-lab/alpaca")
    assert (tmp_path / "data" / "train-00000-of-00001-a09b74b3ef9c3b56.parquet").read_bytes()[:4] == b"PAR1"
    assert load(str(tmp_path), "train") == rows


def test_real_v0_rows_round_trip_through_the_xz_layout(tmp_path, real_samples):
    rows = json.loads((real_samples / "pku-saferlhf-v0-32pairs.json").read_text())
    write_hub_layout({"train": rows[:20], "test": rows[20:]}, tmp_path, "PKU-Alignment/PKU-SafeRLHF-v0")
    assert load(str(tmp_path), "train") == rows[:20] and load(str(tmp_path), "test") == rows[20:]


def test_a_local_snapshot_with_the_stale_qa_card_is_read_by_file_name(tmp_path):
    """A download of PKU-SafeRLHF-QA at its pin carries a card whose configs (data/train-*) match no file."""
    rows = toy_rows("pku-saferlhf-qa", 9, 0)
    write_hub_layout({"train": rows, "test": rows[:3]}, tmp_path, "PKU-Alignment/PKU-SafeRLHF-QA")
    (tmp_path / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                        "    path: data/train-*\n  - split: test\n    path: data/test-*\n---\n")
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(load(str(tmp_path), "train"), key=key) == sorted(rows, key=key)


def test_the_qa_schema_takes_one_shape_and_names_the_other_shapes_column():
    row = toy_rows("pku-saferlhf-qa", 1)[0]
    assert validate_rows([row], "pku-saferlhf-qa") == 1
    assert {"is_safe", "harm_category", "severity_level"} <= set(row)
    # the card's YAML shape (the deleted parquet's features)
    yaml_shape = {"prompt": row["prompt"], "response_source": "Alpaca-7B", "severity_category": 0, "safety_category": [],
                  "response": row["response"], "prompt_source": "x", "sha256": row["sha256"]}
    with pytest.raises(SchemaError, match="is_safe"):
        validate_rows([yaml_shape], "pku-saferlhf-qa")
    with pytest.raises(SchemaError, match="severity_category"):
        validate_rows([{**row, "severity_category": 0}], "pku-saferlhf-qa")
    with pytest.raises(SchemaError, match="safety_category"):
        validate_rows([{**row, "safety_category": [1]}], "pku-saferlhf-qa")
    with pytest.raises(SchemaError, match="harm_category"):
        validate_rows([{**row, "harm_category": {"Violence": True}}], "pku-saferlhf-qa")
    assert validate_rows([{**row, "another_column": 1}], "pku-saferlhf-qa") == 1  # other columns: not seen, allowed


def test_the_dry_run_names_every_unpinned_input(capsys):
    from alignbook.engine import cli

    assert cli.main(["run", "aligner/02_train", "--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "aligner/aligner-20K: UNPINNED, loads the latest revision" in out
    assert "model = 'meta-llama/Llama-2-7b-hf'   # UNPINNED, loads the latest revision" in out
    assert cli.main(["run", "safesora/03_preference_models", "--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "PKU-Alignment/SafeSora: UNPINNED, loads the latest revision" in out
    assert "backbone = 'LanguageBind/Video-LLaVA-7B'   # UNPINNED" in out
    assert cli.main(["run", "pku-saferlhf/02_moderation", "--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "backbone = 'PKU-Alignment/alpaca-7b-reproduced'   # pinned at f4f1d993c68a98b2f953bb87208992eab221d1dc" in out
