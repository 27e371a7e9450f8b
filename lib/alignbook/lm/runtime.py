"""How many CPU threads torch uses while training or sampling a tiny model.

Tiny models run many small matrix products; splitting each across threads costs more in
synchronisation than it saves, and on a CPU shared with other jobs the threads spin-wait on
each other. Measured on the project's 2-core machine while other jobs ran (load ~9): a training
step of the ``tiny`` preset took 18 ms with 1 thread and ~1000-2700 ms with 2; the ``small``
preset at 16 x 128 tokens ran at ~4500 tokens/s with 1 thread and ~570 with 2. Hence the
default: one thread for models under :data:`SINGLE_THREAD_BELOW` parameters on CPU.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

SINGLE_THREAD_BELOW = 5_000_000
"""Models with fewer parameters than this run single-threaded on CPU unless told otherwise."""


def auto_threads(model: torch.nn.Module, requested: int | None = None) -> int | None:
    """Threads to use for ``model``: ``requested`` if given, 1 for a small model on CPU, else None
    (leave torch's setting alone)."""
    if requested is not None:
        if not isinstance(requested, int) or requested < 1:
            raise ValueError(f"threads={requested!r} must be None (auto) or a positive integer")
        return requested
    param = next(model.parameters(), None)
    if param is None or param.device.type != "cpu":
        return None
    size = sum(p.numel() for p in model.parameters())
    return 1 if size < SINGLE_THREAD_BELOW else None


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)`` and restore the old count after
    (``None``: change nothing)."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
