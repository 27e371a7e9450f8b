"""Documented, frozen config dataclasses resolved from a notebook's YAML and a profile.

Every notebook has a YAML file beside it::

    config: alignbook.<chapter>.<module>:<Config>   # the dataclass this notebook resolves
    depends_on: []                           # notebooks (chapter/name) whose outputs it reads
    timeout: {test: 120, smoke: 300, gpu: 900, paper: 86400}
    defaults: {...}                          # values for every profile
    profiles: {test: {...}, smoke: {...}, gpu: {...}, paper: {...}}

Precedence (later wins): dataclass defaults < YAML ``defaults`` < the profile's block < ``-p``
overrides. Every level is checked: an unknown name, a value of the wrong type or out of its range
raises a :class:`ConfigError` that names the parameter, where the value came from, what is allowed
and how to fix it, before anything runs.

Ranges are declared on the field's annotation and checked whenever a config is built, from YAML,
the command line or plain Python (``MachineConfig(steps=0)`` fails too)::

    steps: Count = 30                                  # an int >= 1
    lr: Positive = 1e-2                                # a float > 0
    warmup_ratio: Fraction = 0.03                      # a float in [0, 1]
    zero_stage: Annotated[int, Range(0, 3)] | None = None
    preset: Annotated[str, OneOf(("tiny", "small"))] = "tiny"

Every float must be finite (``nan`` and ``inf`` are refused) whether or not it declares a range.
Values are parsed strictly, by YAML 1.2's core rules narrowed to decimal: ``010``, ``0x10`` and
``1:30`` are refused rather than read as 8, 16 and 90; only ``true``/``false`` are booleans.

A config class documents each field with a string literal right below it (an attribute
docstring, as Sphinx reads them); :func:`field_docs` extracts those for the resolved table.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import importlib
import inspect
import math
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Mapping

import yaml

PROFILES = ("test", "smoke", "gpu", "paper")
"""The four profiles, cheapest first. One code path serves them all."""


class ConfigError(ValueError):
    """A parameter is unknown, mistyped or out of range; the message names it and the fix."""


# -- strict parsing ------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """YAML with YAML 1.2 core scalars narrowed to decimal numbers.

    PyYAML follows YAML 1.1, where ``010`` is 8, ``0x10`` is 16, ``1:30`` is 90 and ``yes``/``on`` are
    true. Here those stay strings, so a field expecting a number or a boolean refuses them by name.
    """


_BOOL, _INT, _FLOAT = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_INT_TEXT = re.compile(r"^[-+]?(?:0|[1-9][0-9]{0,29})$")  # longer: a string, refused by name later
_FLOAT_TEXT = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?$")
StrictLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
StrictLoader.add_implicit_resolver(_INT, _INT_TEXT, list("-+0123456789"))
StrictLoader.add_implicit_resolver(_FLOAT, _FLOAT_TEXT, list("-+0123456789."))

NULL_TEXT = ("null", "Null", "NULL", "~", "None", "none")
"""What ``-p name=...`` may say for "no value" in a field that allows None."""


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML strictly (:class:`StrictLoader`); a syntax error names ``where`` and the line."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ValueError as err:  # a scalar YAML could not convert
        raise ConfigError(f"{where}: a value cannot be read ({str(err)[:80]}); fix it") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where} is not valid YAML{at}: {problem}; fix the file "
                          "(e.g. `git diff` shows what changed)") from None


def _number_hint(name: str, text: str) -> str:
    if re.fullmatch(r"[-+]?0[0-9]+", text):
        return f" (a leading zero is ambiguous: write {name}={int(text)} if you mean {int(text)})"
    if re.fullmatch(r"[-+]?0[xXoObB][0-9a-fA-F_]+|[-+]?[0-9_]+(:[0-9]+)+|[-+]?[0-9]+(_[0-9]+)+", text):
        return " (write it in plain decimal digits)"
    return ""


# -- declared ranges -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Range:
    """The interval a numeric field must lie in; declared as ``Annotated[int, Range(1)]``."""

    min: float | None = None
    """Smallest allowed value (None: unbounded below)."""
    max: float | None = None
    """Largest allowed value (None: unbounded above)."""
    min_open: bool = False
    """The lower bound itself is excluded (``> min`` instead of ``>= min``)."""
    max_open: bool = False
    """The upper bound itself is excluded."""

    def contains(self, value: float) -> bool:
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        if self.max is not None and (value >= self.max if self.max_open else value > self.max):
            return False
        return True

    def describe(self) -> str:
        def num(x: float) -> str:
            if isinstance(x, int) and x >= 10**6 and str(x).rstrip("0") == "1":
                return f"10^{len(str(x)) - 1}"  # 10^9, not 1000000000
            return f"{x:g}" if isinstance(x, float) else str(x)

        if self.min is not None and self.max is not None:
            return (f"in {'(' if self.min_open else '['}{num(self.min)}, "
                    f"{num(self.max)}{')' if self.max_open else ']'}")
        if self.min is not None:
            return f"{'>' if self.min_open else '>='} {num(self.min)}"
        if self.max is not None:
            return f"{'<' if self.max_open else '<='} {num(self.max)}"
        return "any finite number"


@dataclasses.dataclass(frozen=True)
class OneOf:
    """The values a string field may take; with ``hub=True`` also a hub id ``org/name`` or a folder."""

    values: tuple[str, ...]
    """The allowed names."""
    hub: bool = False
    """Also accept a Hugging Face hub id (``org/name``) or an existing local folder."""
    pattern: str | None = None
    """Also accept a value matching this regular expression whole (``cuda:\\d{1,2}`` for ``cuda:N``)."""

    def contains(self, value: str) -> bool:
        if value in self.values:
            return True
        if self.pattern and re.fullmatch(self.pattern, value):
            return True
        if self.hub:
            return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", value)) or Path(value).is_dir()
        return False

    def describe(self) -> str:
        names = ", ".join(repr(v) for v in self.values)
        extra = ", or 'cuda:N'" if self.pattern and "cuda" in self.pattern else (
            f", or text matching {self.pattern}" if self.pattern else "")
        return f"one of {names}" + extra + (", a hub id 'org/name' or a local folder" if self.hub else "")


MAX_COUNT = 10**9
"""The largest count any field takes unless it declares a smaller bound: past it a value would only
exhaust memory or time (no profile of the book comes near it)."""
Count = Annotated[int, Range(1, MAX_COUNT)]
"""How many of something: an integer in [1, 10^9]."""
Natural = Annotated[int, Range(0, MAX_COUNT)]
"""An integer in [0, 10^9] (0 often means "off" or "never")."""
SeedCount = Annotated[int, Range(1, 1000)]
"""How many seeds a run averages over: an integer in [1, 1000]."""
Width = Annotated[int, Range(1, 65536)]
"""A model dimension (hidden size, embedding width, units): an integer in [1, 65536]; a wider one
would not fit in memory (65536² fp32 weights alone are 16 GiB)."""
Positive = Annotated[float, Range(0, min_open=True)]
"""A number > 0 (learning rates, temperatures, scales)."""
NonNegative = Annotated[float, Range(0)]
"""A number >= 0 (weight decay, coefficients that may be switched off)."""
Fraction = Annotated[float, Range(0, 1)]
"""A number in [0, 1] (ratios, probabilities)."""
Seed = Annotated[int, Range(0, 2**32 - 1)]
"""A seed numpy accepts: an integer in [0, 2^32 - 1]."""


def _constraints(tp: Any) -> tuple[list[Any], bool]:
    """The Range/OneOf marks on an annotation (inside Optional too), and whether None is allowed."""
    marks: list[Any] = []
    allows_none = False
    stack = [tp]
    while stack:
        t = stack.pop()
        if typing.get_origin(t) is Annotated:
            marks += [m for m in t.__metadata__ if isinstance(m, (Range, OneOf))]
            stack.append(typing.get_args(t)[0])
        elif typing.get_origin(t) in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(t))
        elif t is type(None):
            allows_none = True
    return marks, allows_none


@functools.lru_cache(maxsize=None)
def _field_rules(cls: type) -> dict[str, tuple[list[Any], bool]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _constraints(hints[f.name]) for f in dataclasses.fields(cls)}


def declared_range(cls: type, name: str) -> str:
    """What field ``name`` of ``cls`` allows, in words ('' when nothing is declared)."""
    marks, allows_none = _field_rules(cls).get(name, ([], False))
    text = "; ".join(m.describe() for m in marks)
    return f"{text} or null" if text and allows_none else text


INT_LIMIT = 2**63 - 1
"""No integer field takes a value past what numpy and torch store (int64)."""

MAX_DIGITS = 30
"""Longer strings of digits are refused before Python converts them (it refuses past 4300 digits with a
traceback, and no field takes a number of more than 19 digits)."""


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened for a message (a pasted 5000-digit number is not echoed back)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}…{text[-8:]} ({len(text)} characters)"


def _finite_numbers(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (tuple, list)):
        return all(_finite_numbers(v) for v in value)
    return True


def check_fields(cfg: Any) -> None:
    """Check every field of the dataclass ``cfg`` against its declared range; floats must be finite."""
    cls = type(cfg)
    for name, (marks, _) in _field_rules(cls).items():
        value = getattr(cfg, name)
        if value is None:
            continue
        if not _finite_numbers(value):
            raise ConfigError(f"{name}={shown(value)} must be a finite number (nan and inf are not allowed)")
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > INT_LIMIT:
                raise ConfigError(f"{name}={shown(item)} is too large: integers stop at 2^63 - 1")
        for mark in marks:
            for item in items:
                if isinstance(mark, Range) and isinstance(item, (int, float)) and not isinstance(item, bool):
                    ok = mark.contains(item)
                elif isinstance(mark, OneOf) and isinstance(item, str):
                    ok = mark.contains(item)
                else:
                    continue
                if not ok:
                    raise ConfigError(f"{name}={shown(item)} is out of range: it must be {mark.describe()}")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Fields every notebook has. Chapter configs subclass this."""

    profile: str = "test"
    """Which profile resolved this config: test, smoke, gpu or paper."""
    seed: Seed = 0
    """Seed for python, numpy and torch (see :func:`alignbook.engine.repro.seed_everything`)."""
    run_dir: str = "build/scratch"
    """Folder for this run's metrics, figures and checkpoints."""

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(
                f"profile={self.profile!r} is not a profile; choose one of {', '.join(PROFILES)}"
            )
        check_fields(self)

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


def import_object(spec: str, where: str = "config") -> Any:
    """Import ``package.module:attribute``; a bad name is a :class:`ConfigError` naming ``where``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"{where}: {spec!r} must look like 'package.module:ClassName'")
    module_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{where}: {spec!r}: cannot import {module_name} ({err}); "
                          "check the module path (package.module:ClassName, e.g. the one in a sibling notebook's YAML)") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{where}: {spec!r}: module {module_name} has no {attr}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _cli_number(name: str, text: str, tp: type) -> Any:
    """A command-line number in plain decimal (``3``, ``-2``, ``3e-4``, ``0.5``), else a named error."""
    stripped = text.strip()
    if sum(c.isdigit() for c in stripped) > MAX_DIGITS:
        raise ConfigError(f"{name}={shown(stripped, 30)} is too large: no parameter takes a number of more "
                          f"than {MAX_DIGITS} digits")
    if _INT_TEXT.match(stripped):
        return int(stripped)
    if tp is float and _FLOAT_TEXT.match(stripped):
        return float(stripped)
    example = f"{name}=3" if tp is int else f"{name}=0.5"
    kind = "an integer" if tp is int else "a number"
    raise ConfigError(f"{name}={shown(text)} must be {kind}, e.g. {example}{_number_hint(name, stripped)}")


def coerce(name: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; parse strings from the command line.

    Strings given on the command line (``-p lr=3e-4``) are parsed strictly (:class:`StrictLoader`:
    decimal numbers only, ``true``/``false``, ``null`` for None, flow lists ``[1,2]``), so numbers,
    booleans, lists and ``null`` need no quoting. Ints are accepted where floats are expected;
    nothing else is converted silently.
    """
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.strip() in NULL_TEXT)):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        hint = " or null" if type(None) in args else ""
        raise ConfigError((errors[0] + hint) if errors else f"{name}: cannot be {shown(value)}")
    if tp is Any:
        return value
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{name}={shown(value)} must be one of {', '.join(repr(a) for a in args)}")
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, str):
            value = load_yaml(value, f"-p {name}={value}")
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={shown(value)} must be a list, e.g. {name}=[1,2,3]")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{name}={shown(value)} must have {len(args)} items")
            return tuple(coerce(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return (origin or tp)(coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = load_yaml(value, f"-p {name}={value}")
        if not isinstance(value, dict):
            raise ConfigError(f"{name}={shown(value)} must be a mapping, e.g. {name}={{a: 1}}")
        return dict(value)
    if tp is bool:
        if isinstance(value, str) and value.strip() in ("true", "True", "TRUE", "false", "False", "FALSE"):
            return value.strip().lower() == "true"
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={shown(value)} must be true or false")
    if tp is int:
        if isinstance(value, str):
            return _cli_number(name, value, int)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={shown(value)} must be an integer, e.g. {name}=3")
    if tp is float:
        if isinstance(value, str):
            value = _cli_number(name, value, float)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{name}={shown(value)} must be a finite number (nan and inf are not allowed)")
            return float(value)
        raise ConfigError(f"{name}={shown(value)} must be a number, e.g. {name}=0.5")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}={shown(value)} must be a string")
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


def _cli_text(value: Any) -> str:
    """``value`` as one would type it after ``-p name=`` (None → null, True → true)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(_cli_text(v) for v in value) + "]"  # no spaces: one shell word
    return str(value)


def _fix_hint(cls: type, name: str, where: str, error: str) -> str:
    """How to fix a refused value of ``name``: what the field means, what it allows, where to change it."""
    doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", field_docs(cls).get(name, "")).rstrip(".")
    allowed = declared_range(cls, name)
    default = next((f.default for f in dataclasses.fields(cls) if f.name == name), dataclasses.MISSING)
    facts = [f"{name} is '{doc}'" if doc else name]
    if allowed and f"must be {allowed}" not in error:
        facts.append(f"allowed: {allowed}")
    if default is not dataclasses.MISSING:
        facts.append(f"default {_cli_text(default)}")
    if where in ("-p overrides", "--seed"):
        fix = f"pass e.g. -p {name}={_cli_text(default)}" if default is not dataclasses.MISSING else "pass another value"
    else:
        fix = f"fix it in {where}"
    return ", ".join(facts) + f"; {fix}"


def build_config(cls: type, layers: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """Merge ``layers`` (each ``(where, values)``, later wins) into a frozen ``cls``.

    Every error names the parameter and the layer its value came from (a YAML block or ``-p``).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and issubclass(cls, BaseConfig)):
        raise ConfigError(f"{cls!r} is not a config dataclass (a subclass of alignbook.BaseConfig)")
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for where, values in layers:
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where} must be a mapping of parameter: value, not {values!r}")
        _check_names(cls, values, where)
        for key, value in values.items():
            try:
                merged[key] = coerce(key, value, hints[key])
            except ConfigError as err:
                raise ConfigError(f"{err} (from {where}). {_fix_hint(cls, key, where, str(err))}") from None
            origin[key] = where
    try:
        return cls(**merged)
    except ConfigError as err:
        name = str(err).split("=", 1)[0].split("[", 1)[0]
        where = origin.get(name, f"{cls.__name__}'s defaults")
        if name in {f.name for f in dataclasses.fields(cls)}:
            raise ConfigError(f"{err} (from {where}). {_fix_hint(cls, name, where, str(err))}") from None
        raise ConfigError(f"{cls.__name__}: {err}") from None
    except TypeError as err:
        raise ConfigError(f"{cls.__name__}: {err}") from None


SPEC_KEYS = ("config", "depends_on", "timeout", "defaults", "profiles", "launch", "rehearse")
"""The top-level keys a notebook's YAML may have."""


def load_spec(yaml_path: str | Path) -> dict[str, Any]:
    """Read a notebook's YAML and check its shape: keys, profile names, timeouts, dependencies."""
    path = Path(yaml_path)
    if not path.exists():
        raise ConfigError(f"no parameter file {path}; every notebook needs a YAML beside it")
    spec = load_yaml(path.read_text(), str(path))
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{path} must be a mapping with the keys {', '.join(SPEC_KEYS)}")
    extra = set(spec) - set(SPEC_KEYS)
    if extra:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(extra)}; allowed: {list(SPEC_KEYS)}")
    if "config" not in spec:
        raise ConfigError(f"{path}: missing 'config: package.module:ClassName'")
    for key in ("defaults", "profiles", "launch", "rehearse"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise ConfigError(f"{path}: '{key}' must be a mapping, not {spec[key]!r}")
    for profile, block in (spec.get("profiles") or {}).items():
        if profile not in PROFILES:
            raise ConfigError(f"{path}: profile block {profile!r} is not one of {', '.join(PROFILES)}")
        if block is not None and not isinstance(block, dict):
            raise ConfigError(f"{path}: profiles.{profile} must be a mapping of parameter: value")
    timeout = spec.get("timeout")
    if timeout is not None:
        if not isinstance(timeout, dict):
            raise ConfigError(f"{path}: 'timeout' must map profiles to seconds, e.g. timeout: {{test: 300, smoke: 600}}")
        for profile, seconds in timeout.items():
            if profile not in PROFILES and profile != "rehearse":
                raise ConfigError(f"{path}: timeout.{profile}: {profile!r} is not one of {', '.join(PROFILES)}")
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                    or seconds <= 0:
                raise ConfigError(f"{path}: timeout.{profile}={seconds!r} must be a positive number of seconds")
    depends = spec.get("depends_on")
    if depends is not None and (not isinstance(depends, list) or not all(isinstance(d, str) for d in depends)):
        raise ConfigError(f"{path}: 'depends_on' must be a list of notebooks such as [safe-rlhf/01_sft]")
    return spec


RUNNER_FIELDS = {"profile": "--profile NAME", "run_dir": "the runner (build/<profile>/runs/<notebook>; "
                 "set ALIGNBOOK_BUILD to move the whole build folder)"}
"""Fields that are not parameters: the runner sets them, and says how to change them instead."""


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
    cls = import_object(spec["config"], f"{yaml_path}: config")
    overrides = dict(overrides or {})
    for name, how in RUNNER_FIELDS.items():
        if name in overrides:
            raise ConfigError(f"-p {name}=... is not a parameter: it is set by {how}")
    for where, block in ((f"{yaml_path}: defaults", spec.get("defaults") or {}),
                         (f"{yaml_path}: profiles.{profile}", (spec.get("profiles") or {}).get(profile) or {})):
        for name in RUNNER_FIELDS:
            if name in block:
                raise ConfigError(f"{where} sets {name!r}, which the runner sets; remove it from the YAML")
    fixed: dict[str, Any] = {"profile": profile}
    if run_dir is not None:
        fixed["run_dir"] = str(run_dir)
    return build_config(
        cls,
        [
            (f"{yaml_path}: defaults", spec.get("defaults") or {}),
            (f"{yaml_path}: profiles.{profile}", (spec.get("profiles") or {}).get(profile) or {}),
            ("-p overrides", overrides),
            ("--seed", {} if seed is None else {"seed": seed}),
            ("runner", fixed),
        ],
    )


def config_table(cfg: Any) -> "list[tuple[str, Any, str]]":
    """Rows (name, value, doc) describing a resolved config, in field order."""
    docs = field_docs(type(cfg))
    rows = []
    for f in dataclasses.fields(cfg):
        allowed = declared_range(type(cfg), f.name)
        doc = docs.get(f.name, "")
        rows.append((f.name, getattr(cfg, f.name), f"{doc} (allowed: {allowed})" if allowed else doc))
    return rows
