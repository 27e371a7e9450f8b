"""Tree- against chain-structured preference data (Qiu et al., arXiv 2402.10184 v7) as runnable lessons.

- :mod:`.network`: the induced Bayesian network; inference distance as effective resistance.
- :mod:`.trees`: prefix trees and chains of responses with equal comparison budgets.
- :mod:`.reward_models`: learned reward models on a synthetic world with a non-additive gold reward.
- :mod:`.real_text`: SmolLM2 prefix trees on real prompts, scored by a frozen linear scorer.
- :mod:`.annotation`: tokens an annotator reads with and without shared prefixes.
- :mod:`.common`: seeds and intervals; :mod:`.claims`: the chapter's claims as data.
"""
