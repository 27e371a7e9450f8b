"""Running mean/variance observation normaliser (SafePO: SafeNormalizeObservation, no clipping)."""

from __future__ import annotations

import numpy as np


class RunningNormalizer:
    """Normalise observations by a running mean and variance (Chan et al.'s parallel update).

    One normaliser is shared by all envs of a run and updated with every batch of observations
    the policy sees (SafePO keeps one per env inside its subprocesses; sharing gives the same
    statistics faster). ``final_observation`` is normalised with it too before bootstrapping.
    """

    def __init__(self, shape: tuple[int, ...], epsilon: float = 1e-8):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4  # gymnasium's RunningMeanStd starts the same way
        self.epsilon = epsilon

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, *self.mean.shape)
        batch_mean, batch_var, batch_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var = m2 / total
        self.count = total

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.mean) / np.sqrt(self.var + self.epsilon)).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.var = np.asarray(state["var"], dtype=np.float64)
        self.count = float(state["count"])
