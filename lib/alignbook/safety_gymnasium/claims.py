"""The chapter's claims: what the Safety-Gymnasium / SafePO benchmark says, and how the notebooks test it.

Every claim is judged by a verdict word its notebook records (``kind="status"``), computed by
:mod:`alignbook.safety_gymnasium.verdicts` from the run's own numbers; ``support`` names the recorded
number the ledger shows beside it. The paper's evidence is OmniSafe's published 1e7-step benchmark
(SafePO's and OmniSafe's tables are the benchmark's numbers) where one exists, else the chapter says
that the claim is its own ablation.
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = ("J. Ji, B. Zhang, J. Zhou et al., *Safety-Gymnasium: A Unified Safe Reinforcement Learning Benchmark* "
         "(arXiv 2310.12567)")

_VELOCITY = ("the profile's velocity task (smoke: SafetyHopperVelocity-v1; gpu, paper: SafetyHalfCheetahVelocity-v1), "
             "final cost = mean of the last 50 episodes")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="lagrangian-meets-limit",
        claim="PPO-Lag keeps the episode cost near or below the limit where unconstrained PPO exceeds it",
        paper="OmniSafe benchmark, SafetyPointGoal1-v0 at 1e7 steps, limit 25: PPO cost 55.7, PPO-Lag 25.8",
        notebook="safety-gymnasium/02_ppo_vs_ppolag",
        metric="ppo_lag_constraint_verdict",
        criterion="over ≥ 2 seeds, PPO's final cost exceeds the limit d beyond its seed spread (mean − std > d) and "
                  "PPO-Lag's mean final cost is at most 1.2·d; not testable where PPO does not exceed d",
        setting=_VELOCITY,
        support="ppo_lag_final_cost",
        support_words="PPO-Lag's final cost",
    ),
    Claim(
        id="safety-costs-return",
        claim="Meeting the constraint costs return: PPO-Lag ends with less return than PPO",
        paper="OmniSafe benchmark, SafetyPointGoal1-v0 at 1e7 steps: return 25.4 (PPO) against 13.0 (PPO-Lag)",
        notebook="safety-gymnasium/02_ppo_vs_ppolag",
        metric="ppo_lag_return_verdict",
        criterion="where PPO's final cost exceeds d beyond its seed spread: PPO's final return minus PPO-Lag's, "
                  "paired by seed, is above 0 beyond its seed spread (≥ 2 seeds)",
        setting=_VELOCITY,
        support="return_given_up",
        support_words="PPO − PPO-Lag return",
    ),
    Claim(
        id="constrained-below-ppo",
        claim="Every constrained SafePO algorithm ends with a lower cost than unconstrained PPO",
        paper="OmniSafe benchmark, SafetyPointGoal1-v0 at 1e7 steps: PPO cost 55.7; PPO-Lag 25.8, CPO 28.8, "
              "PCPO 23.0, FOCOPS 33.7, CUP 19.0",
        notebook="safety-gymnasium/03_comparison",
        metric="constrained_below_ppo_verdict",
        criterion="on every task where PPO's final cost exceeds d beyond its seed spread (≥ 2 seeds), each of the "
                  "eight constrained algorithms has mean + std below PPO's mean − std; partly shown when some do",
        setting="the same tasks, steps and seeds for all nine algorithms (smoke: SafetyHopperVelocity-v1 at 5e4 "
                "steps, an early snapshot)",
        support="constrained_below_ppo",
        support_words="below PPO:",
    ),
    Claim(
        id="cost-limit-moves-cost",
        claim="A tighter cost limit makes PPO-Lag settle at a lower cost",
        paper="not in the paper: this chapter's ablation (a Lagrangian's fixed point is J_C = d)",
        notebook="safety-gymnasium/04_ablations",
        metric="cost_limit_verdict",
        criterion="over ≥ 2 seeds, PPO-Lag's final cost rises from d = 10 to 25 to 50 at every step beyond both seed "
                  "spreads; not testable where PPO's own cost does not exceed the smallest limit",
        setting=_VELOCITY,
        support="cost_limit_effect",
        support_words="PPO-Lag cost, largest − smallest limit:",
    ),
    Claim(
        id="lagrange-lr-speed",
        claim="A slower Lagrange multiplier leaves the cost above the limit for longer",
        paper="not in the paper: this chapter's ablation of SafePO's λ learning rate (0.035), scaled by 0.1 and 10",
        notebook="safety-gymnasium/04_ablations",
        metric="lagrange_lr_verdict",
        criterion="over ≥ 2 seeds, the share of epochs whose cost exceeds d falls from λ lr 0.0035 to 0.035 to 0.35 "
                  "at every step beyond both seed spreads",
        setting=_VELOCITY + ", d = 25",
        support="violation_share_effect",
        support_words="share of epochs over d, slowest − fastest λ lr:",
    ),
)
"""Every claim the chapter tests, in the order of its notebooks."""
