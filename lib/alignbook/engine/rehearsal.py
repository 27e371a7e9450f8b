"""A rehearsal of the ``paper`` profile on a machine like a laptop: ``alignbook run X --profile paper --rehearse``.

A paper run needs a multi-GPU node, the hub's models and data, and days. A rehearsal runs the same
notebooks, the same config classes and the same code path here, in minutes, so that a run that would
fail on the node fails on the laptop first. Only three kinds of thing change, and each is printed:

* **hub ids**: every field whose value is a hub model or dataset the book knows
  (:data:`alignbook.data.hub.HUB_DATASETS`, :data:`~alignbook.data.hub.HUB_MODELS`) names a local
  stand-in instead, built once under ``<build>/rehearsal/hub/``: a tiny randomly initialised checkpoint
  of the same model class, config family and tokenizer family saved in the hub's layout, or a hub-layout
  folder of real sample rows or schema-exact generated rows (:func:`alignbook.data.standins.build`);
* **sizes**: the notebook YAML's ``rehearse:`` block (numbers, lists of numbers and ``preset`` names
  only: a switch such as ``zero_stage`` or ``bf16`` is part of the code path and cannot be rehearsed
  away);
* **devices**: ``cuda`` becomes ``cpu``, and a ``launch:`` block runs :data:`PROCESSES` CPU processes
  (gloo) in place of its GPU count, with its launcher, ZeRO stage and precision as declared.

Everything else is the paper profile's: the launcher, checkpoints and resume, metrics back to the
notebook, the claims ledger. Before anything runs, the notebook's memory plan for the declared node
is checked (:func:`alignbook.engine.estimate.of_config` on the paper config, not the rehearsal's): a
plan that cannot fit is refused, in a rehearsal as on the node.

Results go to ``<build>/rehearsal/paper/`` (``ALIGNBOOK_BUILD`` is pointed there for the run and its
children), every record says ``rehearsal: true``, and the book refuses to show one.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

from .config import ConfigError

ENV = "ALIGNBOOK_REHEARSAL"
"""Set to ``1`` in a rehearsal's process and every process it starts (kernels, launched ranks)."""

PROCESSES = 2
"""CPU processes a ``launch:`` block runs in a rehearsal (gloo), in place of its GPU count."""

TIMEOUT = 1200.0
"""A rehearsed notebook's guard (seconds) unless its YAML gives ``timeout: {rehearse: N}``."""

SWITCHES = re.compile(r"(^|_)(zero_stage|lr|learning_rate|beta|betas)$")
"""Numeric parameters a ``rehearse:`` block may not set (switches are booleans or text, which it refuses
anyway): they choose the code path."""

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def active() -> bool:
    """Whether this process belongs to a rehearsal."""
    return os.environ.get(ENV) == "1"


def begin(profile: str) -> Path:
    """Enter rehearsal mode for this process and its children; return the rehearsal's build root.

    Refuses any profile but ``paper`` (the rehearsal rehearses the paper run, nothing else)."""
    from . import paths

    if profile != "paper":
        raise ConfigError(f"--rehearse rehearses the paper profile, not {profile!r}: run "
                          "`alignbook run <chapter> --profile paper --rehearse` (or drop --rehearse)")
    if active():  # already inside one (a nested call): same root
        return paths.build_root()
    root = paths.build_root() / "rehearsal"
    os.environ["ALIGNBOOK_BUILD"] = str(root)
    os.environ[ENV] = "1"
    return root


def hub_root() -> Path:
    """Where the rehearsal keeps its local stand-ins of hub models and datasets."""
    from . import paths

    return paths.build_root() / "hub"


def check_block(name: str, block: Any) -> dict[str, Any]:
    """A notebook's ``rehearse:`` block, checked: sizes only (see the module docstring)."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"notebooks/{name}.yaml: 'rehearse' must map parameters to smaller sizes")
    for key, value in block.items():
        if SWITCHES.search(key):
            raise ConfigError(f"notebooks/{name}.yaml: rehearse.{key} is not a size: the rehearsal keeps the "
                              "paper profile's code path and replaces hub ids and devices itself; remove it")
        values = value if isinstance(value, list) else [value]
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or (
            key == "preset" or key.endswith("_preset")) and isinstance(value, str)
        if not ok:
            raise ConfigError(f"notebooks/{name}.yaml: rehearse.{key}={value!r} is not a size (a number, a list "
                              "of numbers or a preset name)")
    return dict(block)


def hub_fields(config: Any) -> dict[str, str]:
    """Fields of ``config`` whose value is a hub id (known to the book or shaped like one) and not a
    local folder."""
    found = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in ("run_dir", "profile") or not isinstance(value, str) or not HUB_ID.match(value):
            continue
        if Path(os.path.expanduser(value)).exists():
            continue
        found[field.name] = value
    return found


def overrides_for(name: str, spec: Mapping[str, Any], resolve: Any, user: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a rehearsal of notebook ``name`` adds to the user's ``-p`` ones: the ``rehearse:``
    sizes, local stand-ins for hub ids, and ``cpu`` for ``cuda``. ``resolve(overrides)`` resolves the
    notebook's paper config. Builds the stand-ins it names."""
    from ..data import standins
    from . import devices

    sizes = check_block(name, spec.get("rehearse"))
    extra = {k: v for k, v in sizes.items() if k not in user}
    config = resolve({**extra, **user})
    for field, value in devices.device_fields(config).items():
        if devices.wants_gpu(value) and field not in user:
            extra[field] = "cpu"
    for field, hub_id in hub_fields(config).items():  # a user's local folder stays; a hub id never loads
        if not standins.known(hub_id):
            raise ConfigError(f"{name}: {field}={hub_id!r} is a hub id with no rehearsal stand-in; register it in "
                              "alignbook.data.hub (HUB_MODELS or HUB_DATASETS) and alignbook.data.standins")
        extra[field] = str(standins.build(hub_id, hub_root()))
    return extra


def timeout(spec: Mapping[str, Any]) -> float:
    return float((spec.get("timeout") or {}).get("rehearse", TIMEOUT))


def processes(declared: int) -> int:
    """How many processes a ``launch:`` block of ``declared`` runs here: all of them, or in a rehearsal
    :data:`PROCESSES` (one when it declares one)."""
    return min(declared, PROCESSES) if active() else declared


def banner() -> str:
    return ("REHEARSAL of the paper profile: tiny stand-ins of the hub's models and data, sizes from each "
            f"notebook's `rehearse:` block, CPU in place of CUDA, {PROCESSES} CPU processes in place of a "
            "launch block's GPUs. Its numbers are not paper results and are never shown as such.")
