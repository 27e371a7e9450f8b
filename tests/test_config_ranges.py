"""Every config declares the range of each numeric field, and bad values are refused by name.

Fast: configs are resolved, never run (no notebook execution).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Annotated

import pytest

from alignbook.engine import paths
from alignbook.engine.config import (
    PROFILES, ConfigError, OneOf, Range, _field_rules, declared_range, import_object, load_spec, resolve,
)

YAMLS = sorted(paths.notebooks_dir().glob("*/*.yaml"))
RUNNER = {"profile", "seed", "run_dir"}
"""Fields the runner sets; ``-p`` refuses them whatever their value."""


def _yaml_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _notebook_classes() -> dict[type, Path]:
    """Each config class the notebooks use, with the first YAML that uses it."""
    out: dict[type, Path] = {}
    for yaml_path in YAMLS:
        out.setdefault(import_object(load_spec(yaml_path)["config"], str(yaml_path)), yaml_path)
    return out


NOTEBOOK_CLASSES = _notebook_classes()


def _other_classes() -> list[type]:
    from alignbook.lm.models import TinyLMConfig
    from alignbook.lm.recipes import SFTRunConfig
    from alignbook.lm.sft import SFTConfig
    from alignbook.toyworld.world import ToyWorldConfig

    return [SFTConfig, SFTRunConfig, TinyLMConfig, ToyWorldConfig]


ALL_CLASSES = list(NOTEBOOK_CLASSES) + [c for c in _other_classes() if c not in NOTEBOOK_CLASSES]


def _is_numeric(tp: typing.Any) -> bool:
    """An int or float, possibly Annotated, Optional, or the items of a tuple/list (bool is not numeric)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _is_numeric(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_numeric(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list):
        return any(_is_numeric(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return tp in (int, float)


def numeric_fields_without_range(cls: type) -> list[str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [f.name for f in dataclasses.fields(cls) if _is_numeric(hints[f.name]) and not declared_range(cls, f.name)]


# -- 1. every numeric field declares its range ---------------------------------------------------


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_numeric_field_declares_a_range(cls):
    missing = numeric_fields_without_range(cls)
    assert not missing, (
        f"{cls.__module__}.{cls.__name__} has numeric fields without a declared range: {missing}; annotate "
        "them with Count, Natural, Positive, NonNegative, Fraction, Seed or Annotated[..., Range(...)] "
        "(for tuples: Annotated[tuple[float, ...], Range(...)])"
    )


def test_the_range_check_sees_an_unannotated_field():
    @dataclasses.dataclass(frozen=True)
    class Loose:
        n: int = 1
        ok: Annotated[int, Range(1)] = 1
        widths: tuple[int, ...] = (1,)
        maybe: float | None = None
        flag: bool = False
        name: str = "x"

    assert numeric_fields_without_range(Loose) == ["n", "widths", "maybe"]


def test_marks_on_a_whole_tuple_are_checked_item_by_item():
    from alignbook.safe_rlhf.config import AblationConfig

    assert declared_range(AblationConfig, "nus") == ">= 0"
    with pytest.raises(ConfigError, match=r"nus=-2\.0"):
        AblationConfig(nus=(1.0, -2.0))


# -- 2. every shipped value lies in its range ----------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("yaml_path", YAMLS, ids=_yaml_id)
def test_every_notebook_resolves_in_every_profile(yaml_path, profile):
    resolve(yaml_path, profile)


def test_plain_sft_config_validates_and_mixes_in():
    from alignbook.lm.recipes import SFTRunConfig
    from alignbook.lm.sft import SFTConfig

    with pytest.raises(ConfigError, match="epochs=0"):
        SFTConfig(epochs=0)
    with pytest.raises(ConfigError, match="lr_scheduler='warm'"):
        SFTConfig(lr_scheduler="warm")
    with pytest.raises(ConfigError, match="zero_stage=7"):
        SFTRunConfig(zero_stage=7)
    run = SFTRunConfig(lr=0.5, seed=3)
    assert run.sft_config() == SFTConfig(lr=0.5, seed=3)


# -- 3. bad values are refused by name, as the command line passes them --------------------------


def _rules(cls: type, name: str) -> tuple[type | None, list[typing.Any]]:
    """The base type (int/float/str/None for others) and the marks of field ``name``."""
    tp = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) in (
        typing.Union, types.UnionType) else [tp]
    base = args[0] if len(args) == 1 and args[0] in (int, float, str) else None
    return base, _field_rules(cls)[name][0]


def _bad_cases() -> list[tuple[Path, str, str]]:
    cases = []
    for cls, yaml_path in NOTEBOOK_CLASSES.items():
        for f in dataclasses.fields(cls):
            if f.name in RUNNER:
                continue
            base, marks = _rules(cls, f.name)
            if f.name == "zero_stage":
                cases.append((yaml_path, f.name, "7"))
            if base is int and Range(1) in marks:
                cases += [(yaml_path, f.name, "0"), (yaml_path, f.name, "-3")]
            if base is float and Range(0, min_open=True) in marks:
                cases += [(yaml_path, f.name, "-1"), (yaml_path, f.name, "nan")]
            if base is str and any(isinstance(m, OneOf) and m.hub for m in marks):
                cases.append((yaml_path, f.name, "huge"))
    return cases


BAD = _bad_cases()

CROSS_FIELD = [  # rules between fields, in the same name=value shape
    ("safe-rlhf/03_ppo_lag", {"lambda_max": "0.5"}, "lambda_max"),
    ("safe-rlhf/06_results", {"rounds": "4"}, "rounds"),
    ("safe-rlhf/04_ablation", {"nus": "[1.0, -2.0]"}, "nus"),
    ("safety-gymnasium/02_ppo_vs_ppolag", {"steps_per_epoch": "121"}, "steps_per_epoch"),
    ("safety-gymnasium/02_ppo_vs_ppolag", {"env_workers": "3"}, "env_workers"),
    ("safety-gymnasium/03_comparison", {"gamma": "1.0"}, "gamma"),
    ("safety-gymnasium/02_ppo_vs_ppolag", {"hidden_sizes": "[16, 0]"}, "hidden_sizes"),
    ("safety-gymnasium/02_ppo_vs_ppolag", {"algos": "[ppo, sac]"}, "algos"),
    ("aligner/02_train", {"dataset": "huge"}, "dataset"),
    ("aligner/02_train", {"warmup_fractions": "[0.2, 20.0]"}, "warmup_fractions"),
    ("intro/01_machine", {"hidden_size": "30"}, "hidden_size"),
    ("pku-saferlhf/02_moderation", {"threshold": "1.0"}, "threshold"),
    ("pku-saferlhf/03_dual_preference", {"lambdas": "[]"}, "lambdas"),
]


def _refused_by_name(yaml_path: Path, overrides: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(yaml_path, "test", overrides)
    assert re.search(rf"(^|\W){re.escape(name)}(\[\d+\])?=", str(err.value)), str(err.value)


def test_bad_cases_cover_every_chapter_and_stay_few():
    chapters = {p.parent.name for p, _, _ in BAD}
    assert chapters == {p.parent.name for p in YAMLS}
    assert 50 <= len(BAD) <= 800  # one config per notebook class; each case resolves in milliseconds
    hub_fields = {(load_spec(p)["config"].rsplit(":", 1)[1], n) for p, n, v in BAD if v == "huge"}
    assert {("ScoreModelConfig", "backbone"), ("PPOLagConfig", "actor"), ("SFTStageConfig", "model"),
            ("AlignerTrainConfig", "model"), ("ModerationConfig", "backbone"),
            ("ModerationConfig", "dataset")} <= hub_fields


@pytest.mark.parametrize("yaml_path,name,value", BAD, ids=[f"{_yaml_id(p)}:{n}={v}" for p, n, v in BAD])
def test_bad_value_is_refused_by_name(yaml_path, name, value):
    _refused_by_name(yaml_path, {name: value}, name)


@pytest.mark.parametrize("notebook,overrides,name", CROSS_FIELD, ids=[f"{n}:{k}" for n, _, k in CROSS_FIELD])
def test_cross_field_rule_is_refused_by_name(notebook, overrides, name):
    _refused_by_name(paths.notebooks_dir() / f"{notebook}.yaml", overrides, name)
