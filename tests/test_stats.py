"""The intervals over seeds every chapter prints, against hand-computed values."""

import math

import pytest

from alignbook import stats


def test_mean_ci_is_the_student_t_interval():
    mean, half = stats.mean_ci([1.0, 2.0, 3.0])  # s = 1, t(2) = 4.303
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    assert stats.mean_ci([5.0]) == (5.0, None)
    assert math.isnan(stats.mean_ci([])[0])
    assert stats.mean_ci([1.0, None, float("nan"), 3.0])[0] == 2.0  # missing values are left out


def test_side_and_text():
    assert stats.side([1.0, 1.1, 0.9]) == "above" and stats.side([-1.0, -1.1, -0.9]) == "below"
    assert stats.side([-1.0, 1.0]) == "across" and stats.side([1.0]) == "unknown"
    assert stats.ci_text([1.0, 2.0, 3.0]) == "2.00 ± 2.5 (95% CI, 3 seeds)"
    assert stats.ci_text([0.5], unit=" nats") == "0.500 nats (1 seed)"
    assert stats.ci_text([1.0, 2.0, 3.0], seeds=False) == "2.00 ± 2.5"  # a table names the seeds once
    assert stats.ci_text([0.5], seeds=False) == "0.500"
    assert stats.interval_note([1.0, float("nan"), 3.0]) == "Mean ± 95% interval over 2 seeds (t distribution)."
    assert stats.interval_note([1.0]) == "One seed: no interval."
    assert stats.seed_list(3, 2) == [3, 4]
