"""How varied a model's responses are: a collapse to one reply for every prompt shows here first."""

from __future__ import annotations

from typing import Sequence


def distinct_share(responses: Sequence[str]) -> float:
    """Share of distinct responses (after stripping): 1 when every prompt got its own answer, 1/n when
    the model answers every prompt the same way (e.g. one refusal for all); NaN for no responses."""
    if not responses:
        return float("nan")
    return len({r.strip() for r in responses}) / len(responses)


__all__ = ["distinct_share"]
