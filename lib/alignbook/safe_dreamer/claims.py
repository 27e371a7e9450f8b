"""The claims this chapter tests, as data (see :mod:`alignbook.engine.claims`).

Settings are a small PyTorch world model on Safety-Gymnasium lidar observations at CPU budgets; a
verdict says whether the mechanism shows there, not whether the paper's 2-million-step results hold.
The paper's per-task numbers are not quoted (none could be checked against a table we can cite);
its qualitative statements stand as the evidence. Criteria were fixed before the smoke runs and are
computed by :mod:`.verdicts`.
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = ("Huang et al., *Safe DreamerV3: Safe Reinforcement Learning with World Models* "
         "(arXiv 2307.07176, ICLR 2024)")

CLAIMS: tuple[Claim, ...] = (
    Claim("cost-head-hazards", "The world model's cost head learns where the hazards are, over the imagination "
          "horizon the planner uses", "Sections 4-5 (the cost model the planners and BSRP-Lag rely on)",
          "safe-dreamer/01_world_model", "cost_head_verdict",
          "95% interval over seeds of the held-out AUROC of the predicted cost (cost >= 1 as the label) above 0.5 "
          "one step ahead and at the horizon; partly shown when only one step ahead",
          setting="held-random exploration episodes on SafetyPointGoal1-v0, open-loop imagination with the real actions",
          support="cost_auroc_horizon", support_words="AUROC at the horizon"),
    Claim("osrp-lower-cost", "The constrained planners (OSRP, OSRP-Lag) incur lower cost than the unconstrained "
          "CEM planner on the same world model", "Section 5 and its figures: the constrained variants against DreamerV3",
          "safe-dreamer/02_planning", "lower_cost_verdict",
          "paired by seed, the 95% interval of CEM cost minus each constrained planner's cost (per 1000 env steps) "
          "above 0 for both; partly shown for one",
          setting="this chapter's world model from notebook 1, planner sizes shrunk per profile",
          support="cost_gap_osrp_lag", support_words="CEM − OSRP-Lag"),
    Claim("near-zero-cost", "OSRP-Lag reaches nearly zero episode cost (under the limit b = 2)",
          "Abstract: nearly zero-cost performance on Safety-Gymnasium tasks", "safe-dreamer/02_planning",
          "near_zero_verdict", "95% interval over seeds of OSRP-Lag's episode cost per 1000 env steps below b",
          setting="as above", support="osrp_lag_cost", support_words="OSRP-Lag cost"),
    Claim("keeps-reward", "The constrained planner keeps the reward of the unconstrained one",
          "Abstract and Section 5: near-zero cost while keeping performance", "safe-dreamer/02_planning",
          "keeps_reward_verdict",
          "not testable unless CEM's return beats the random explorer's (paired 95% interval above 0); then "
          "shown when the paired interval of OSRP-Lag − CEM return is not wholly below 0",
          setting="as above", support="return_gap_osrp_lag", support_words="OSRP-Lag − CEM return"),
    Claim("bsrp-lag-lower-cost", "BSRP-Lag's cost penalty lowers the actor's cost against the same actor without it",
          "Section 4 (BSRP-Lag, the augmented Lagrangian on the imagined cost return)", "safe-dreamer/03_bsrp_lag",
          "bsrp_verdict",
          "paired by seed, the 95% interval of unpenalised − BSRP-Lag episode cost (per 1000 env steps) above 0",
          setting="actor-critic trained in imagination on notebook 1's frozen world model",
          support="bsrp_cost_gap", support_words="unpenalised − BSRP-Lag"),
)
"""Every claim this chapter tests, in the page's order."""
