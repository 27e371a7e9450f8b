"""One device policy: where a notebook's models, batches and generated tensors live.

Every config that trains, generates or scores with torch has a ``device`` field of type
:data:`Device` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``) and, where it matters, a ``precision``
(:data:`Precision`); the ``gpu`` profiles ask for ``cuda``. :func:`resolve` turns the field into a
``torch.device``; trainers put their models and every batch on it (:func:`to`), run under
:func:`autocast`, and come back to the CPU only for numpy or pandas.

A profile that asks for a GPU on a machine without one is refused before the notebook starts
(:func:`unavailable`, called by ``alignbook run`` for every selected notebook): a ``gpu`` profile never
runs silently on the CPU. ``auto`` takes the GPU when one is visible and says once which it chose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from typing import Annotated, Any, Iterator

from .config import ConfigError, OneOf

DEVICE_NAMES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16", "fp16")
Device = Annotated[str, OneOf(DEVICE_NAMES, pattern=r"cuda:\d{1,2}")]
"""Where a config's models run: ``cpu``, ``cuda`` (the first GPU), ``cuda:N``, or ``auto`` (a GPU when
one is visible, else the CPU)."""
Precision = Annotated[str, OneOf(PRECISIONS)]
"""The compute precision: ``fp32``, or ``bf16``/``fp16`` autocast (weights and optimizer stay fp32)."""


class DeviceUnavailable(ConfigError):
    """A config asks for a GPU that this machine does not have."""


def visible_gpus() -> int:
    """How many CUDA devices torch sees here (0 without a GPU or a CUDA build)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def wants_gpu(spec: str) -> bool:
    return spec == "cuda" or spec.startswith("cuda:")


def _index(spec: str) -> int:
    return int(spec.split(":", 1)[1]) if ":" in spec else 0


def problem(spec: str) -> str | None:
    """Why ``spec`` cannot run here (None when it can)."""
    if not wants_gpu(spec):
        return None
    count = visible_gpus()
    if count == 0:
        return "no GPU is visible on this machine"
    if _index(spec) >= count:
        return f"only {count} GPU{'s' if count > 1 else ''} {'are' if count > 1 else 'is'} visible (cuda:0 .. cuda:{count - 1})"
    return None


_SAID: set[str] = set()


def resolve(spec: str, what: str = "device") -> Any:
    """``torch.device`` for a config's device field; a GPU that is not there is a :class:`DeviceUnavailable`."""
    import torch

    if spec == "auto":
        chosen = "cuda" if visible_gpus() else "cpu"
        if chosen not in _SAID:
            _SAID.add(chosen)
            print(f"{what}=auto: {'a GPU is visible, so cuda' if chosen == 'cuda' else 'no GPU is visible, so the CPU'}",
                  file=sys.stderr)
        return resolve(chosen, what)
    why = problem(spec)
    if why:
        raise DeviceUnavailable(f"{what}={spec!r} asks for a GPU, but {why}; use -p {what}=cpu (slow) or a profile "
                                "made for this machine (--profile smoke)")
    if spec == "cuda" and os.environ.get("LOCAL_RANK", "").isdigit():
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # under a launcher: this rank's own GPU
    return torch.device(spec)


def device_fields(cfg: Any) -> dict[str, str]:
    """The config's device fields and their values: those of type :data:`Device`, and any text field named
    ``device`` or ``*_device`` (``judge_device``)."""
    from .config import _field_rules

    found = {}
    for field in dataclasses.fields(cfg):
        marks, _ = _field_rules(type(cfg))[field.name]
        typed = any(isinstance(m, OneOf) and m.pattern == Device.__metadata__[0].pattern for m in marks)
        value = getattr(cfg, field.name)
        if typed or (isinstance(value, str) and (field.name == "device" or field.name.endswith("_device"))):
            found[field.name] = value
    return found


def unavailable(cfg: Any, notebook: str) -> str | None:
    """The one-line refusal for a notebook whose config asks for a GPU this machine lacks (None if it can run)."""
    for name, value in device_fields(cfg).items():
        why = problem(value) if isinstance(value, str) else None
        if why:
            return (f"{notebook} ({cfg.profile} profile) asks for a GPU ({name}={value}), but {why}: run "
                    f"`alignbook run {notebook} --profile smoke` here, or this profile on the CPU with "
                    f"-p {name}=cpu (slow: it is sized for a GPU)")
    return None


def to(obj: Any, device: Any) -> Any:
    """``obj`` with every tensor in it (dicts, lists, tuples, dataclasses of them) moved to ``device``."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict) or hasattr(obj, "items") and hasattr(obj, "keys"):
        return type(obj)({k: to(v, device) for k, v in obj.items()}) if isinstance(obj, dict) else \
            {k: to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to(v, device) for v in obj)
    return obj


def dtype_of(precision: str) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@contextlib.contextmanager
def autocast(device: Any, precision: str = "fp32") -> Iterator[None]:
    """Run the block under torch autocast at ``precision`` on ``device`` (fp32: no autocast)."""
    import torch

    if precision == "fp32":
        yield
        return
    device_type = torch.device(device).type
    if precision == "fp16" and device_type == "cpu":
        raise ConfigError("precision='fp16' needs a GPU; use precision=bf16 or fp32 on the CPU")
    with torch.autocast(device_type=device_type, dtype=dtype_of(precision)):
        yield


def synchronize(device: Any) -> None:
    """Wait for ``device``'s queued work (a GPU runs asynchronously) before reading a clock; no-op on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
