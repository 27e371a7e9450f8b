"""Documented, frozen config dataclasses resolved from a notebook's YAML and a profile.

Every notebook has a YAML file beside it::

    config: alignbook.intro.machine:MachineConfig   # the dataclass this notebook resolves
    depends_on: []                           # notebooks (chapter/name) whose outputs it reads
    timeout: {test: 120, smoke: 300, gpu: 900, paper: 86400}
    defaults: {...}                          # values for every profile
    profiles: {test: {...}, smoke: {...}, gpu: {...}, paper: {...}}

Precedence (later wins): dataclass defaults < YAML ``defaults`` < the profile's block < ``-p``
overrides. Every level is checked: an unknown name or a value of the wrong type raises a
:class:`ConfigError` that names the parameter and says how to fix it.

A config class documents each field with a string literal right below it (an attribute
docstring, as Sphinx reads them); :func:`field_docs` extracts those for the resolved table.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import inspect
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

PROFILES = ("test", "smoke", "gpu", "paper")
"""The four profiles, cheapest first. One code path serves them all."""


class ConfigError(ValueError):
    """A parameter is unknown, mistyped or out of range; the message names it and the fix."""


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Fields every notebook has. Chapter configs subclass this."""

    profile: str = "test"
    """Which profile resolved this config: test, smoke, gpu or paper."""
    seed: int = 0
    """Seed for python, numpy and torch (see :func:`alignbook.engine.repro.seed_everything`)."""
    run_dir: str = "build/scratch"
    """Folder for this run's metrics, figures and checkpoints."""

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(
                f"profile={self.profile!r} is not a profile; choose one of {', '.join(PROFILES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_docs(cls: type) -> dict[str, str]:
    """Map each field of a dataclass (and its bases) to the docstring written below it."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(getattr(nxt, "value", None), ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def import_object(spec: str) -> Any:
    """Import ``package.module:attribute``."""
    if ":" not in spec:
        raise ConfigError(f"config={spec!r} must look like 'package.module:ClassName'")
    module_name, attr = spec.split(":", 1)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise ConfigError(f"config={spec!r}: module {module_name} has no {attr}") from err


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(name: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; parse strings from the command line.

    Strings given on the command line (``-p lr=3e-4``) are parsed as YAML first, so numbers,
    booleans, lists and ``null`` need no quoting. Ints are accepted where floats are expected;
    nothing else is converted silently.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{name}: cannot be {value!r}")
    if tp is Any:
        return value
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{name}={value!r} must be one of {list(args)}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r} must be a list, e.g. {name}=[1,2,3]")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{name}={value!r} must have {len(args)} items")
            return tuple(coerce(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return origin(coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{name}={value!r} must be a mapping, e.g. {name}={{a: 1}}")
        return dict(value)
    if tp is bool:
        if isinstance(value, str):
            parsed = yaml.safe_load(value)
            if isinstance(parsed, bool):
                return parsed
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} must be true or false")
    if tp is int:
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} must be an integer, e.g. {name}=3")
    if tp is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name}={value!r} must be a number, e.g. {name}=0.5")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}={value!r} must be a string")
    return value


def _check_names(cls: type, values: Mapping[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown parameter {key!r} in {where} for {cls.__name__}{hint} "
                f"Valid parameters: {', '.join(sorted(names))}"
            )


def build_config(cls: type, layers: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """Merge ``layers`` (each ``(where, values)``, later wins) into a frozen ``cls``."""
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    for where, values in layers:
        _check_names(cls, values, where)
        for key, value in values.items():
            merged[key] = coerce(key, value, hints[key])
    try:
        return cls(**merged)
    except TypeError as err:
        raise ConfigError(f"{cls.__name__}: {err}") from err


def load_spec(yaml_path: str | Path) -> dict[str, Any]:
    """Read a notebook's YAML and check its top-level keys."""
    path = Path(yaml_path)
    if not path.exists():
        raise ConfigError(f"no parameter file {path}; every notebook needs a YAML beside it")
    spec = yaml.safe_load(path.read_text()) or {}
    allowed = {"config", "depends_on", "timeout", "defaults", "profiles", "launch"}
    extra = set(spec) - allowed
    if extra:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(extra)}; allowed: {sorted(allowed)}")
    if "config" not in spec:
        raise ConfigError(f"{path}: missing 'config: package.module:ClassName'")
    for profile in spec.get("profiles") or {}:
        if profile not in PROFILES:
            raise ConfigError(f"{path}: profile block {profile!r} is not one of {PROFILES}")
    return spec


def resolve(
    yaml_path: str | Path,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    run_dir: str | None = None,
) -> Any:
    """Resolve the config of the notebook whose YAML is ``yaml_path`` for ``profile``."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not a profile; choose one of {', '.join(PROFILES)}")
    spec = load_spec(yaml_path)
    cls = import_object(spec["config"])
    fixed: dict[str, Any] = {"profile": profile}
    if seed is not None:
        fixed["seed"] = seed
    if run_dir is not None:
        fixed["run_dir"] = str(run_dir)
    return build_config(
        cls,
        [
            (f"{yaml_path}: defaults", spec.get("defaults") or {}),
            (f"{yaml_path}: profiles.{profile}", (spec.get("profiles") or {}).get(profile) or {}),
            ("-p overrides", dict(overrides or {})),
            ("runner", fixed),
        ],
    )


def config_table(cfg: Any) -> "list[tuple[str, Any, str]]":
    """Rows (name, value, doc) describing a resolved config, in field order."""
    docs = field_docs(type(cfg))
    return [(f.name, getattr(cfg, f.name), docs.get(f.name, "")) for f in dataclasses.fields(cfg)]
