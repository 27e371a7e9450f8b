"""The claims this chapter tests, as data (see :mod:`alignbook.engine.claims`).

Settings are simulations, a synthetic world and a 135M-parameter generator; a verdict says whether the
mechanism shows there, not whether it holds for 7B models. Criteria were fixed before the smoke runs.
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = ("Qiu et al., *Reward Generalization in RLHF: A Topological Perspective* (arXiv 2402.10184 v7, ACL 2025 "
         "Findings; v1 titled *Rethinking Information Structures in RLHF*)")

CLAIMS: tuple[Claim, ...] = (
    Claim("ibn-tree-less-uncertainty", "Tree-structured preference data induces less reward uncertainty (inference "
          "distance) than chain data in the high-diversity, limited-data regime",
          "Abstract and Section 4: up to Θ(log n / log log n) times less", "info-structures/01_network",
          "network_high_verdict",
          "at the largest diversity, paired-bootstrap 95% interval of chain/tree inference distance above 1 at at least "
          "min_ratio_points n, and the ratio at the largest n not below that at the smallest",
          setting="induced Bayesian network per prompt, effective resistance, this chapter's variance profile",
          support="network_ratio_high", support_words="chain / tree at the largest n"),
    Claim("ibn-no-advantage-elsewhere", "In the other regimes the tree structure gives no advantage",
          "Section 4 (the regimes of the structure function), as a secondary summary states it", "info-structures/01_network",
          "network_low_verdict", "at the smallest diversity, the ratio's interval within 1 ± 0.1 at every n",
          setting="as above", support="network_ratio_low", support_words="chain / tree at the largest n, low diversity"),
    Claim("tree-rm-better", "A reward model trained on tree data has lower seed variance without losing accuracy or "
          "best-of-N gold reward", "Sections 4–5 (the variance reduction as a property of the trained RM)",
          "info-structures/02_reward_models", "rm_verdict",
          "far-pair variance ratio chain/tree: bootstrap 95% interval above 1 at >= min_ratio_points n; and no paired 95% "
          "interval of tree − chain accuracy (far, near) or best-of-N gold wholly below 0 at any n",
          setting="synthetic world with a non-additive gold reward, shared MLP reward models, 10 paired seeds",
          support="rm_var_ratio_far", support_words="variance ratio, largest n"),
    Claim("tree-bon-keeps-improving", "With best-of-N, the tree RM keeps improving as N grows while the chain RM saturates",
          "Section 5 (rejection sampling)", "info-structures/02_reward_models", "bon_verdict",
          "at the largest n, paired 95% interval of the late best-of-N gain (N_max/4 → N_max), tree minus chain, above 0",
          setting="as above", support="bon_late_gain", support_words="late gain, tree − chain"),
    Claim("real-text-tree-rm", "On real text, a tree-trained RM picks better answers than a chain-trained RM",
          "Section 5: 65% average win rate of tree-RM PPO over chain-RM PPO (GPT-4 judge) on HH-RLHF, GSM-8K, DialogSum",
          "info-structures/03_real_text", "real_text_verdict",
          "with >= min_heldout_prompts held-out prompts: paired 95% interval of tree − chain best-of-N scorer value above 0 "
          "and accuracy not below 0",
          setting="SmolLM2-135M-Instruct answers to MT-Bench prompts, frozen MiniLM scorer, linear BT RMs, best-of-N (no PPO)",
          support="real_text_bon_gain", support_words="best-of-N, tree − chain"),
    Claim("annotation-cost", "Annotators read fewer tokens when compared answers share prefixes",
          "Section 5 (annotation cost): about 21% fewer; 427.0 / 364.3 / 315.5 tokens on HH-RLHF as a secondary summary quotes them",
          "info-structures/04_annotation_cost", "annotation_verdict",
          "bootstrap 95% interval (over prompts) of the token saving above 0",
          setting="notebook 03's SmolLM2 trees, SmolLM2 tokens", support="annotation_saving",
          support_words="token saving"),
)
"""Every claim this chapter tests, in the page's order."""
