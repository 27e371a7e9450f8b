"""RCPO (Tessler, Mankowitz & Mannor 2019) as SafePO implements it: a natural policy gradient
step of KL size δ (no line search) on the Lagrangian advantage, λ by gradient ascent."""

from __future__ import annotations

from .trpo_lag import TRPOLag


class RCPO(TRPOLag):
    name = "rcpo"
    use_line_search = False
