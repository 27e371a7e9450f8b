"""Make the published ``safety-gymnasium==1.0.0`` import on Python 3.11, without editing it.

Two things stop ``import safety_gymnasium`` on Python 3.11 with the book's pinned stack:

1. ``gymnasium`` loads every installed environment plugin when it is imported, and the
   ``gymnasium-robotics`` plugin imports ``pettingzoo`` for its multi-agent MuJoCo tasks.
   That is a real dependency, not a bug: ``pettingzoo==1.23.1`` (gymnasium-robotics 1.2.2 asks for
   PettingZoo>=1.23.0; 1.23.1 needs only numpy and gymnasium>=0.28, both already pinned) is pinned
   in ``requirements.lock``. No shim is needed for it; :func:`check_dependencies` says what to install
   when it is missing.
2. Safety-Gymnasium declares dataclass fields with numpy-array defaults
   (``color: np.array = COLOR['hazard']``). Python 3.11 rejects every unhashable default
   (``ValueError: mutable default <class 'numpy.ndarray'> ... use default_factory``, see
   https://github.com/python/cpython/issues/88840); Python 3.10, which upstream used, accepted it.
   :func:`install_dataclass_shim` wraps the standard library's per-field hook so that, **only for
   classes defined in ``safety_gymnasium`` modules**, an ndarray default becomes
   ``field(default_factory=<copy of that array>)`` -- exactly the fix Python's error message asks
   for. Every instance gets the same values as before (and its own copy, so no instance can
   mutate another's colour). Dataclasses from any other package are untouched.

The shim is idempotent and is applied by :mod:`alignbook.saferl.envs` before it imports
``safety_gymnasium``; always import the environments through that module.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

import numpy as np

PATCHED_PACKAGES = ("safety_gymnasium",)
"""Only dataclasses whose module starts with one of these names are rewritten."""

_original_get_field = dataclasses._get_field  # type: ignore[attr-defined]


def _copy_of(array: np.ndarray) -> np.ndarray:
    return array.copy()


def _get_field_with_array_defaults(cls, a_name, a_type, *args, **kwargs):
    module = getattr(cls, "__module__", "") or ""
    default = cls.__dict__.get(a_name, dataclasses.MISSING)
    if isinstance(default, np.ndarray) and module.startswith(PATCHED_PACKAGES):
        # Python 3.11's own advice: turn the shared mutable default into a factory.
        setattr(cls, a_name, dataclasses.field(default_factory=functools.partial(_copy_of, default.copy())))
    return _original_get_field(cls, a_name, a_type, *args, **kwargs)


def install_dataclass_shim() -> None:
    """Let ``safety_gymnasium``'s ndarray dataclass defaults through (idempotent)."""
    dataclasses._get_field = _get_field_with_array_defaults  # type: ignore[attr-defined]


def shim_installed() -> bool:
    return dataclasses._get_field is _get_field_with_array_defaults  # type: ignore[attr-defined]


def check_dependencies() -> None:
    """Raise a clear error naming the missing package and the command that installs it."""
    missing = [name for name in ("mujoco", "gymnasium", "gymnasium_robotics", "pettingzoo", "safety_gymnasium")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"alignbook.saferl needs {', '.join(missing)}: run `make install` (it installs "
            "requirements.lock, then safety-gymnasium and gymnasium-robotics from "
            "requirements-nodeps.txt with --no-deps)"
        )
