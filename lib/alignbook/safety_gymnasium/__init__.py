"""Safety-Gymnasium and SafePO (Ji et al., NeurIPS 2023 Datasets and Benchmarks; arXiv 2310.12567).

The chapter's environments, algorithms, trainer and figures are the shared safe-RL library,
:mod:`alignbook.saferl`. This package holds what belongs to the chapter alone:

- :mod:`.claims`: the claims the chapter tests, each with the notebook, the recorded metric and the
  criterion that decides it (the book's claims ledger reads them);
- :mod:`.verdicts`: the functions that turn the notebooks' measured numbers into a verdict word and
  a sentence that names those numbers, the criterion and, when a claim is not shown, the likely cause.
"""
