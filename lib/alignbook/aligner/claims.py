"""The Aligner chapter's claims as data (read by :mod:`alignbook.engine.claims`).

Every claim is judged by a verdict word its notebook records, computed by
:mod:`alignbook.aligner.verdicts` from the numbers that notebook shows; nothing here is typed from a
run. :data:`PAPER_TABLE1` holds the paper's own numbers; :func:`paper_vs_ours` puts them beside ours.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..engine.claims import Claim
from ..engine.metrics import format_number, format_value
from .verdicts import DIMENSIONS, MIN_SEEDS, UNALIGNED

PAPER = "Ji et al., *Aligner: Efficient Alignment by Learning to Correct* (arXiv 2402.02416)"

TOY = "toy world, ground-truth judge"

REAL = "SmolLM2-135M-Instruct as upstream and as the Aligner's start, real held-out prompts, proxy judges"

PAPER_TABLE1: dict[tuple[str, str], float] = {
    ("E-Dialogue", "empathy"): 82.5, ("DialogSum", "reasoning"): 55.2, ("BeaverTails", "helpfulness"): 27.6,
    ("BeaverTails", "harmlessness"): 21.2, ("HarmfulQA", "helpfulness"): 16.1, ("HarmfulQA", "harmlessness"): 26.4,
    ("TruthfulQA", "honesty"): 4.0,
}
"""The paper's Table 1: Aligner-7B's ω (%) averaged over its eleven upstream models (GPT-4 judge)."""

CLAIMS: tuple[Claim, ...] = (
    Claim(id="correcting-easier",
          claim="Learning to correct an answer is easier than learning to answer",
          paper="the paper's premise (Sections 1 and 3): a correction is mostly a copy of the answer",
          notebook="aligner/02_train", metric="aligner_correcting_verdict",
          criterion=f"every Aligner's held-out NLL per correction token is below a same-size Q→C model's by more "
                    f"than the seed spread of the paired gap, over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: tiny LMs from scratch on the same correction targets", support="aligner_nll_gap",
          support_words="NLL gap (Q→C − Aligner, 20 % warm-up)"),
    Claim(id="stacking",
          claim="Stacked on a frozen upstream, the Aligner makes an unaligned model more helpful and more "
                "harmless, and leaves an already-good model no worse",
          paper="Table 1: Aligner-7B ω +27.6 % helpful, +21.2 % harmless on BeaverTails (11 upstreams, GPT-4 judge)",
          notebook="aligner/03_evaluate", metric="aligner_stacking_verdict",
          criterion=f"ω on the unaligned upstream above zero by more than the seed spread on both dimensions, and "
                    f"ω on the already-good upstream not below zero by more than the spread on either, over "
                    f"≥ {MIN_SEEDS} seeds (the first part only: partly shown)",
          setting=f"{TOY}: the 20 % warm-up Aligner on three toy upstreams",
          support=f"aligner_omega_helpfulness_{UNALIGNED}", support_words="ω helpfulness, unaligned upstream"),
    Claim(id="identity-warmup",
          claim="An identity warm-up (Q-A-A before Q-A-C) helps, and 20 % of the data is the best share",
          paper="Figure 3: warm-up shares 2/10/20/50 %, 20 % best",
          notebook="aligner/03_evaluate", metric="aligner_warmup_verdict",
          criterion=f"mean ω (both dimensions, three upstreams) with 20 % warm-up exceeds the no-warm-up Aligner's "
                    f"by more than the seed spread of the paired difference, and no other swept share scores "
                    f"higher, over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: the profile's warm-up sweep (smoke: 0 and 20 %)", support="aligner_warmup_gain",
          support_words="ω gain of 20 % over no warm-up"),
    Claim(id="weak-to-strong-self",
          claim="A strong model fine-tuned on a weak Aligner's corrections beats its former self",
          paper="Section 4 (weak-to-strong correction): helpfulness and harmlessness rise",
          notebook="aligner/04_weak_to_strong", metric="aligner_w2s_verdict_strong_before",
          criterion=f"ω of the fine-tuned model vs its former answers above zero by more than the seed spread on "
                    f"both dimensions, over ≥ {MIN_SEEDS} seeds (decided by ω, as the paper does, not by mean scores)",
          setting=f"{TOY}: a larger tiny-LM preset imitating the unaligned source, supervised fine-tuning only",
          support="aligner_w2s_omega_helpfulness_vs_strong_before", support_words="ω helpfulness"),
    Claim(id="weak-to-strong-supervisor",
          claim="The fine-tuned strong model also beats the weak supervisor that wrote its labels",
          paper="Section 4's weak-to-strong framing (the student surpasses its supervisor); no number",
          notebook="aligner/04_weak_to_strong", metric="aligner_w2s_verdict_weak_supervisor",
          criterion=f"ω of the fine-tuned model vs the Aligner's corrections of its former answers above zero by "
                    f"more than the seed spread on both dimensions, over ≥ {MIN_SEEDS} seeds",
          setting=f"{TOY}: as above", support="aligner_w2s_omega_helpfulness_vs_weak_supervisor",
          support_words="ω helpfulness"),
    Claim(id="real-stacking",
          claim="Stacked on a real model, the Aligner makes its answers to harmful requests harmless and leaves its "
                "answers to benign requests no worse",
          paper="Table 1: Aligner-7B ω +21.2 % harmless on BeaverTails; an already-good upstream is left no worse",
          notebook="aligner/05_real_model", metric="aligner_real_stacking_verdict",
          criterion=f"ω harmlessness (refusal template) on held-out harmful requests above zero by more than the seed "
                    f"spread, and ω helpfulness (helpfulness proxy) on held-out benign requests not below zero by more "
                    f"than the spread, over ≥ {MIN_SEEDS} seeds (the first part only: partly shown)",
          setting=f"{REAL}: corrections are human-labelled refusals or the upstream's own answers",
          support="aligner_real_omega_harmlessness", support_words="ω harmlessness, harmful requests"),
    Claim(id="real-identity-warmup",
          claim="On a real model too, an identity warm-up (Q-A-A before Q-A-C) helps the Aligner",
          paper="Figure 3: warm-up shares 2/10/20/50 %, 20 % best",
          notebook="aligner/05_real_model", metric="aligner_real_warmup_verdict",
          criterion=f"mean of ω harmlessness and ω helpfulness with a 20 % warm-up exceeds the no-warm-up Aligner's by "
                    f"more than the seed spread of the paired difference, and no other swept share scores higher, over "
                    f"≥ {MIN_SEEDS} seeds",
          setting=f"{REAL}: warm-up shares 0 and 20 %", support="aligner_real_warmup_gain",
          support_words="ω gain of 20 % over no warm-up"),
)
"""Every claim this chapter tests, in the page's order."""


def average_omega(evaluate_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{dimension: {"value", "seeds", "upstreams"}}``: notebook 3's ω (%) averaged over upstreams."""
    out = {}
    for dim in DIMENSIONS:
        entries = [e for name, e in evaluate_metrics.items() if name.startswith(f"aligner_omega_{dim}_")
                   and isinstance(e.get("value"), (int, float))]
        if entries:
            out[dim] = {"value": sum(e["value"] for e in entries) / len(entries),
                        "seeds": min((e.get("seeds") or 1) for e in entries), "upstreams": len(entries)}
    return out


def paper_vs_ours(evaluate_metrics: Mapping[str, Mapping[str, Any]]) -> Any:
    """The paper's BeaverTails ω beside notebook 3's: on the unaligned upstream (± seed spread) and
    averaged over the toy upstreams. Rounded for the page; the judges differ (see the notebook)."""
    import pandas as pd

    average = average_omega(evaluate_metrics)
    rows = {}
    for dim in DIMENSIONS:
        unaligned = evaluate_metrics.get(f"aligner_omega_{dim}_{UNALIGNED}")
        mean = average.get(dim)
        rows[dim] = {
            "paper: BeaverTails": f"{format_number(PAPER_TABLE1[('BeaverTails', dim)])} %",
            "ours: unaligned": format_value(unaligned) if unaligned else "–",
            "ours: mean of upstreams": (f"{format_number(mean['value'])} % ({mean['upstreams']} upstreams)"
                                        if mean else "–"),
        }
    return pd.DataFrame(rows).T.rename_axis("ω (%)")
