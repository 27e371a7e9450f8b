"""AI Alignment: A Comprehensive Survey (Ji et al., arXiv 2310.19852) as runnable lessons.

- :mod:`.frame`: RICE, the alignment cycle, and the survey's two tables (method x RICE relations,
  safety-evaluation datasets) read from ``data/`` and drawn.
- :mod:`.reward_hacking`: reward over-optimisation under best-of-n (Gao et al. 2023).
- :mod:`.goal_misgeneralisation`: a CoinRun-style gridworld trained with REINFORCE.
- :mod:`.rlhf_dpo`: the KL-regularised bandit optimum against DPO on the same preferences.
- :mod:`.distribution_shift`: ERM, group DRO and V-REx on a spurious-correlation toy.
- :mod:`.assurance`: the forward-backward loop: train, red-team, add the failures, repeat.
- :mod:`.common`: seeds and t intervals; :mod:`.claims`: the chapter's claims as data.
"""
