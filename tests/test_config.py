import dataclasses
from typing import Literal

import pytest
import yaml

from alignbook.engine.config import BaseConfig, ConfigError, build_config, coerce, field_docs, resolve


@dataclasses.dataclass(frozen=True)
class ToyConfig(BaseConfig):
    lr: float = 1e-3
    """Learning rate."""
    steps: int = 10
    """How many steps."""
    hidden: tuple[int, ...] = (64, 64)
    """Layer widths."""
    mode: Literal["a", "b"] = "a"
    """Which mode."""
    flag: bool = False
    """A switch."""
    limit: float | None = None
    """An optional number."""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "nb.yaml"
    path.write_text(yaml.safe_dump({
        "config": f"{__name__}:ToyConfig",
        "defaults": {"lr": 0.5, "steps": 20},
        "profiles": {"test": {"steps": 3}, "smoke": {"steps": 30, "hidden": [8, 8]}},
    }))
    return path


def test_precedence_dataclass_yaml_profile_override(spec):
    cfg = resolve(spec, "test")
    assert (cfg.lr, cfg.steps, cfg.mode) == (0.5, 3, "a")  # yaml default, profile block, dataclass
    cfg = resolve(spec, "smoke", {"steps": "7"}, seed=4, run_dir="x")
    assert (cfg.steps, cfg.hidden, cfg.seed, cfg.run_dir, cfg.profile) == (7, (8, 8), 4, "x", "smoke")
    assert resolve(spec, "gpu").steps == 20  # no block: yaml defaults


def test_unknown_parameter_is_named(spec):
    with pytest.raises(ConfigError, match="no_such_param"):
        resolve(spec, "test", {"no_such_param": 1})
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        resolve(spec, "test", {"step": 1})


@pytest.mark.parametrize("name,value", [("steps", "abc"), ("lr", "fast"), ("flag", "maybe"), ("mode", "c"),
                                        ("seed", "abc"), ("steps", 1.5)])
def test_wrong_type_is_named(spec, name, value):
    with pytest.raises(ConfigError, match=name):
        resolve(spec, "test", {name: value})


def test_cli_strings_are_parsed_by_type():
    assert coerce("lr", "3e-4", float) == 3e-4
    assert coerce("steps", "5", int) == 5
    assert coerce("flag", "true", bool) is True
    assert coerce("hidden", "[1, 2]", tuple[int, ...]) == (1, 2)
    assert coerce("limit", None, float | None) is None
    assert coerce("limit", "2", float | None) == 2.0
    assert coerce("lr", 1, float) == 1.0 and isinstance(coerce("lr", 1, float), float)
    with pytest.raises(ConfigError):
        coerce("steps", True, int)  # a bool is not a count


def test_bad_profile_and_yaml_keys(spec, tmp_path):
    with pytest.raises(ConfigError, match="profile"):
        resolve(spec, "huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"config": f"{__name__}:ToyConfig", "profils": {}}))
    with pytest.raises(ConfigError, match="profils"):
        resolve(bad, "test")


def test_config_is_frozen_and_documented(spec):
    cfg = resolve(spec, "test")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    docs = field_docs(ToyConfig)
    assert docs["lr"] == "Learning rate." and docs["seed"].startswith("Seed for python")
    assert set(docs) == {f.name for f in dataclasses.fields(ToyConfig)}


def test_every_lib_config_documents_every_field():
    """One field, one docstring: for every config dataclass the notebooks use."""
    from alignbook.engine import paths
    from alignbook.engine.config import import_object, load_spec

    for yaml_path in sorted(paths.notebooks_dir().glob("*/*.yaml")):
        cls = import_object(load_spec(yaml_path)["config"])
        docs = field_docs(cls)
        undocumented = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not undocumented, f"{cls.__name__} ({yaml_path.name}) has undocumented fields {undocumented}"


def test_build_config_layers_report_where(spec):
    with pytest.raises(ConfigError, match="defaults"):
        build_config(ToyConfig, [("nb.yaml: defaults", {"bogus": 1})])
