"""The PKU-SafeRLHF chapter's claims as data (read by :mod:`alignbook.engine.claims`).

Every claim is judged by a verdict word its notebook records, computed by
:mod:`alignbook.pku_saferlhf.verdicts` from the numbers that notebook shows; nothing here is typed
from a run. The paper's own numbers are :data:`alignbook.pku_saferlhf.moderation.PAPER_RESULTS` and
:data:`alignbook.pku_saferlhf.explore.REFERENCE_V1_TRAIN`.
"""

from __future__ import annotations

from ..engine.claims import Claim
from .verdicts import MIN_SEEDS

PAPER = ("Ji et al., *PKU-SafeRLHF: Towards Multi-Level Safety Alignment for LLMs with Human Preference* "
         "(arXiv 2406.15513), with *BeaverTails* (arXiv 2307.04657)")

TOY = "toy world, ground-truth labels"

CLAIMS: tuple[Claim, ...] = (
    Claim(id="data-card",
          claim="In the released pairs the more helpful response often is not the safer one, and the labels follow "
                "the card's rules",
          paper="v1 train: better ≠ safer in 24.1 % of 73,907 pairs; the card's labelling rules",
          notebook="pku-saferlhf/01_data", metric="pku_data_verdict",
          criterion="on the pinned split: better ≠ safer within 1 point of 24.1 %, and no row breaks a rule of the "
                    "card (toy rows cannot test it: not testable)",
          setting="the pinned v1 split (paper profile); toy rows elsewhere", support="pku_data_better_ne_safer",
          support_words="better ≠ safer share"),
    Claim(id="moderation-binary",
          claim="A moderation model trained on the QA labels tells safe from unsafe responses with 93 % accuracy",
          paper="93 % binary accuracy (7B-scale model, PKU-SafeRLHF-QA)",
          notebook="pku-saferlhf/02_moderation", metric="moderation_binary_verdict",
          criterion=f"held-out binary accuracy − seed spread ≥ 93 % and above the majority class, over ≥ {MIN_SEEDS} "
                    "seeds",
          setting=f"{TOY}: a tiny three-head model from scratch", support="moderation_binary_accuracy",
          support_words="binary accuracy"),
    Claim(id="moderation-categories",
          claim="The same model names the harm categories of an unsafe response (71.3 % category accuracy)",
          paper="71.3 % category accuracy (7B-scale model)",
          notebook="pku-saferlhf/02_moderation", metric="moderation_category_verdict",
          criterion=f"held-out exact match of the category set − seed spread ≥ 71.3 % and above the majority class, "
                    f"over ≥ {MIN_SEEDS} seeds (macro F1 reported beside it)",
          setting=f"{TOY}: a tiny three-head model from scratch", support="moderation_category_exact_match",
          support_words="exact match"),
    Claim(id="moderation-coarse-vs-fine",
          claim="Grading severity and naming categories is harder than telling safe from unsafe",
          paper="93 % binary vs 85/77/71 % severity (minor/moderate/severe) and 71.3 % category accuracy",
          notebook="pku-saferlhf/02_moderation", metric="moderation_ordering_verdict",
          criterion=f"binary accuracy − severity accuracy and binary accuracy − category exact match each above zero "
                    f"by more than the seed spread (paired by seed), over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: a tiny three-head model from scratch", support="moderation_binary_minus_severity",
          support_words="binary − severity accuracy"),
    Claim(id="dual-specialised",
          claim="Decoupled (dual) labels train a reward and a cost model that each track their own quantity better "
                "than one model trained on single trade-off labels",
          paper="the paper's case for decoupled helpfulness and harmlessness labels; no number",
          notebook="pku-saferlhf/03_dual_preference", metric="dual_specialised_verdict",
          criterion=f"ranking accuracy against the ground truth: R − S on helpfulness and C − S on harm each above zero "
                    f"by more than the seed spread (paired by seed), over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: tiny score models from scratch, judged against the world's truth",
          support="dual_reward_minus_single_helpfulness", support_words="R − S, helpfulness ranking"),
    Claim(id="dual-tradeoff",
          claim="With dual labels the helpfulness/harm trade-off is chosen after training, without new labels",
          paper="the paper's case for decoupled labels; no number",
          notebook="pku-saferlhf/03_dual_preference", metric="dual_tradeoff_verdict",
          criterion=f"raising λ in argmax R − λC from the smallest to the largest λ lowers the unsafe share of the "
                    f"chosen responses by more than the seed spread (paired by seed), over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: best-of-7 selection on held-out prompts", support="dual_tradeoff_unsafe_drop",
          support_words="drop in unsafe share"),
)
"""Every claim this chapter tests, in the page's order."""
