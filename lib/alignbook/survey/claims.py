"""The claims this chapter tests, as data (see :mod:`alignbook.engine.claims`).

The survey reports no experiment of its own: each claim is a statement the survey makes (citing the
work named) that a toy demonstration can test. Settings are toys; a verdict here says whether the
mechanism shows in the toy, not whether it holds for large models.
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = "Ji et al., *AI Alignment: A Comprehensive Survey* (arXiv 2310.19852)"

CLAIMS: tuple[Claim, ...] = (
    Claim("over-optimisation", "Optimising a proxy reward fitted to mis-specified labels raises the proxy while the gold "
          "reward rises, then falls; a proxy fitted to correct labels does not fall",
          "Introduction, the misalignment issue (reward hacking), citing Gao et al. 2023 (arXiv 2210.10760)", "survey/02_reward_hacking",
          "reward_hacking_verdict",
          "mis-specified proxy: 95% intervals of the early gold slope above 0, late gold slope below 0, late proxy "
          "slope above 0; correct proxy: late gold slope not below 0",
          setting="best-of-n on Gaussian features, Bradley-Terry proxy",
          support="reward_hacking_late_slope", support_words="late gold slope, mis-specified"),
    Claim("goal-misgeneralisation", "An agent trained with the coin always at the end of the level keeps its capabilities "
          "but pursues the wrong goal when the coin moves; randomising some training episodes fixes it",
          "Introduction, the misalignment issue (goal misgeneralisation), citing Langosco et al. 2022 (arXiv 2105.14111)",
          "survey/03_goal_misgeneralisation", "goal_misgen_verdict",
          "at p = 0: training-distribution − test success above min_gap, and corner reached − coin reached above 0; "
          "test success at the largest share − at p = 0 above min_gap (95% intervals)",
          setting="6 x 6 gridworld, MLP policy, REINFORCE", support="goal_misgen_success_gain",
          support_words="test success, p = 1 − p = 0"),
    Claim("rlhf-dpo-equal", "RLHF's KL-regularised optimum and DPO coincide with infinite data and differ on finite data",
          "Section 2.3 (policy learning), citing Rafailov et al. 2023 (arXiv 2305.18290)", "survey/04_rlhf_vs_dpo",
          "rlhf_dpo_verdict",
          "population loss: TV(RLHF, DPO) below tolerance at every beta and seed; finite data: its 95% interval at the "
          "largest beta above tolerance (the beta chosen after an exploratory development run)",
          setting="tabular contextual bandit", support="rlhf_dpo_tv_finite", support_words="TV(RLHF, DPO), finite"),
    Claim("dpo-kl", "On finite data DPO's distance from the reference policy does not shrink with beta as RLHF's does",
          "not in the survey; Azar et al. 2023 (arXiv 2310.12036); added after the exploratory development run",
          "survey/04_rlhf_vs_dpo", "dpo_kl_verdict", "95% interval of KL(DPO) − KL(RLHF) at the largest beta above 0",
          setting="tabular contextual bandit", support="dpo_kl_gap", support_words="KL(DPO) − KL(RLHF)"),
    Claim("group-dro", "Distributionally robust optimisation over groups raises the worst-group accuracy under a spurious "
          "correlation", "Section 3.2 (algorithmic interventions), citing Sagawa et al. 2020 (arXiv 1911.08731)",
          "survey/05_distribution_shift", "dro_verdict", "95% interval of worst-group accuracy, group DRO − ERM, above 0",
          setting="logistic regression, spurious-correlation toy", support="dro_worst_group_gain",
          support_words="group DRO − ERM"),
    Claim("rex", "Penalising the variance of risks across environments (REx) raises the worst-group accuracy",
          "Section 3.2, citing Krueger et al. 2021 (arXiv 2003.00688)", "survey/05_distribution_shift", "rex_verdict",
          "95% interval of worst-group accuracy, V-REx − ERM, above 0", setting="logistic regression, two environments",
          support="rex_worst_group_gain", support_words="V-REx − ERM"),
    Claim("assurance-loop", "Backward alignment feeds forward alignment: adding red-teamed failures and retraining lowers "
          "the failure rate round by round", "Introduction (the alignment cycle) and Section 4.1 (safety evaluations: red teaming)",
          "survey/06_assurance_loop", "loop_verdict",
          "95% interval of failure rate after the last round − after round 0 below 0",
          setting="2-D harmful-region toy, MLP classifier", support="loop_failure_change",
          support_words="last round − round 0"),
    Claim("assurance-targeted", "The red team's targeted failures help more than as many random examples",
          "not in the survey (a control of this chapter)", "survey/06_assurance_loop", "loop_control_verdict",
          "95% interval of failure rate after the last round, red-team arm − random arm, below 0",
          setting="2-D harmful-region toy", support="loop_red_minus_random", support_words="red team − random"),
)
"""Every claim this chapter tests, in the page's order."""
