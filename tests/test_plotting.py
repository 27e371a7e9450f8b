"""Shared plotting helpers on hand-made numbers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from alignbook.plotting import mean_band  # noqa: E402


def test_mean_band_leaves_out_undefined_seeds():
    fig, ax = plt.subplots()
    runs = [[0.6, 0.8], [float("nan"), float("nan")], [0.8, 0.6]]  # seed 2's metric is undefined (e.g. no positives)
    mean_band(ax, [1, 2], runs, "auroc")
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [0.7, 0.7])
    assert line.get_label() == "auroc (n=2)"
    plt.close(fig)
