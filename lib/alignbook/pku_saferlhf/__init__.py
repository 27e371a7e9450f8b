"""The PKU-SafeRLHF chapter (arXiv 2406.15513, with BeaverTails): data exploration, the
severity-sensitive moderation model and dual-preference training on the toy world; its claims
(:mod:`~alignbook.pku_saferlhf.claims`), the verdicts and tables the notebooks show
(:mod:`~alignbook.pku_saferlhf.verdicts`) and its figures (:mod:`~alignbook.pku_saferlhf.plots`)."""
