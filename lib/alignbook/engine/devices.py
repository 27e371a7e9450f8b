"""Which torch device a trainer runs on, from a config's ``device`` field."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, or ``auto`` (cuda when a GPU is visible, else cpu); ``cuda`` without a
    visible GPU is refused with the fix."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no GPU is visible; use -p device=cpu or device=auto")
    return torch.device(device)
