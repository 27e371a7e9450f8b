"""The claims of Language Models Resist Alignment this chapter tests, as data (see :mod:`alignbook.engine.claims`).

Numbers marked "secondary summary of v6" come from a summary of the paper, not its text, which
could not be read here.
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = "Ji et al., *Language Models Resist Alignment: Evidence From Data Compression* (ACL 2025; arXiv 2406.06144v6)"

SECONDARY = "secondary summary of v6"

CLAIMS: tuple[Claim, ...] = (
    Claim("theorem-4-2", "Theorem 4.2: the alignment set's compression rate moves k times faster than the "
          "pre-training set's, with opposite sign (k: pre-training size over alignment size)",
          "derivation (Section 4)", "resist-alignment/01_theory", "theory_slope_first_order",
          "the log-log slope of the rate ratio against k is 1 within 0.001", kind="near", threshold=1.0,
          tolerance=1e-3, setting="closed-form volume-weighted model"),
    Claim("resistance", "Resistance: inverse alignment reaches a lower training loss than forward alignment, "
          "for every pair of slices", f"Table 1, Llama2-7B on Alpaca: inverse − forward −0.043 on average over 3 "
          f"pairs ({SECONDARY})", "resist-alignment/02_resistance", "resistance_loss_verdict",
          "every pair's 95% interval of inverse − forward loss lies below 0 (contrary: one lies above)",
          setting="SmolLM2-135M-Instruct, refusal SFT slices, training loss",
          support="resistance_loss_difference", support_words="inverse − forward"),
    Claim("resistance-excess", "Resistance, with the target's own peakedness removed", "not in the paper (this "
          "chapter's control for a confound)", "resist-alignment/02_resistance", "resistance_excess_verdict",
          "as above, on the loss minus the target's own entropy floor",
          setting="SmolLM2-135M-Instruct, excess loss",
          support="resistance_excess_difference", support_words="inverse − forward"),
    Claim("control", "Control: the resistance asymmetry shrinks without pre-training", "not in the paper (a "
          "control of this chapter)", "resist-alignment/02_resistance", "resistance_control_verdict",
          "the asymmetry relative to the forward loss is smaller in the untrained model than in the pretrained one",
          setting="the same pipeline from a small model with no pre-training",
          support="resistance_control_excess_difference", support_words="control's inverse − forward"),
    Claim("rebound-epsilon", "Rebound: after more alignment data, fewer unsafe samples bring the model back within "
          "KL ε = 0.01", f"Table 3, Llama2-7B: 961 / 844 / 801 / 729 after 1k / 2k / 5k / 10k safe samples "
          f"({SECONDARY})", "resist-alignment/03_rebound", "rebound_verdict_epsilon",
          "every run comes within ε, and the mean number of samples it takes falls as the alignment set grows "
          "(not testable: some runs do not reach ε within the budget)",
          setting="SmolLM2-135M-Instruct, exact per-token KL to θ0"),
    Claim("rebound-slope", "Rebound: a more aligned model falls back faster at first", "Section 5 (figures)",
          "resist-alignment/03_rebound", "rebound_verdict_slope",
          "the 95% interval of the initial KL slope, largest minus smallest alignment set, lies above 0",
          setting="SmolLM2-135M-Instruct", support="rebound_slope_difference",
          support_words="slope difference per 100 samples"),
    Claim("rebound-relative-slope", "The same, relative to how far the model has to fall (secondary: added after "
          "the first smoke run)", "not in the paper", "resist-alignment/03_rebound", "rebound_verdict_relative_slope",
          "as above, with each slope divided by the KL after alignment",
          setting="SmolLM2-135M-Instruct", support="rebound_relative_slope_difference",
          support_words="difference, share of its KL per sample"),
    Claim("rebound-shape", "Elasticity: performance falls fast, then slowly once near the pre-training distribution",
          "abstract, Section 5", "resist-alignment/03_rebound", "rebound_verdict_shape",
          "for every alignment-set size, the 95% interval of the early/late KL drop ratio lies above 1",
          setting="SmolLM2-135M-Instruct, early vs late KL drop"),
    Claim("toy-amount", "Elasticity grows with the amount of pre-training", "Section 5 (TinyLlama checkpoints)",
          "resist-alignment/04_toy", "toy_amount_effect",
          "the 95% interval of the share of the shift undone, most minus least pre-training, lies above 0",
          kind="above", setting="toy transformer, exact sequence KL"),
    Claim("toy-size", "Elasticity grows with model size", "Section 5 (Qwen 0.5B–7B)", "resist-alignment/04_toy",
          "toy_size_effect", "the 95% interval of the share undone, largest minus smallest model, lies above 0",
          kind="above", setting="toy transformer, exact sequence KL"),
    Claim("toy-own-prior", "The pull is toward the model's own pre-training distribution (not any data's optimum)",
          "implied by the elasticity account", "resist-alignment/04_toy", "toy_own_vs_foreign",
          "the 95% interval of the gap closed toward its own prior minus toward a foreign prior lies above 0",
          kind="above", setting="toy transformer"),
)
"""Every claim this chapter tests, in the page's order."""
