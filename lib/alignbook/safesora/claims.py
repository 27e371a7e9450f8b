"""The claims this chapter tests, as data (see :mod:`alignbook.engine.claims`).

The setting is a synthetic, schema-exact SafeSora with small models; a verdict says whether the
mechanism shows there, not whether Video-LLaVA on the real videos behaves so. Criteria were fixed
before the smoke runs; the tension criterion was set after a test-profile pilot (one seed) showed that
harmlessness scores on pairs of two safe videos carry no gold signal, so it reads the annotators'
win rates for harmlessness (the claim says so).
"""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = ("Dai et al., *SafeSora: Towards Safety Alignment of Text2Video Generation via a Human Preference Dataset* "
         "(arXiv 2406.14477)")

CLAIMS: tuple[Claim, ...] = (
    Claim("video-changes-label", "The video, not only the prompt, decides safety: 49% of prompts are unsafe but 24% of "
          "prompt–video pairs, and a moderator needs the video",
          "Dataset statistics: 49% unsafe prompts, 24% unsafe prompt–video pairs", "safesora/02_moderation",
          "moderation_verdict",
          "both kinds of prompt/video label disagreement at least 1% of test videos, and paired 95% intervals (>= 2 seeds) "
          "of text + video minus text only above 0 for macro-F1 and for unsafe recall",
          setting="synthetic clips, MiniLM prompt vectors, small conv video encoder, 3 seeds",
          support="moderation_macro_f1_gain", support_words="macro-F1 gain"),
    Claim("pm-agreement", "Preference models trained on SafeSora agree with held-out crowdworkers, above chance and above "
          "traditional video metrics",
          "65.29% (helpfulness) and 72.41% (harmlessness) agreement on the test set", "safesora/03_preference_models",
          "agreement_verdict",
          "for helpfulness and harmlessness, the 95% interval over >= 2 seeds of held-out annotator agreement above 0.5 and "
          "above the better of PSNR and text–clip similarity",
          setting="score model: MiniLM prompt token, conv frame tokens, causal 1-layer transformer, bias-free head at the "
                  "last position; synthetic annotators",
          support="agreement_helpfulness", support_words="helpfulness agreement"),
    Claim("hh-tension", "Helpfulness and harmlessness pull apart across generators: VC2 most helpful, MST2V most harmless "
          "and least helpful", "Win-rate matrices of the four generators (repository figure)",
          "safesora/03_preference_models", "tension_verdict",
          "annotators' win rates put VC2-like first on helpfulness, MST2V-like first on harmlessness and last on helpfulness; "
          "and the helpfulness PM orders VC2-like first and MST2V-like last in every seed (>= 2); partly shown when only one "
          "of the two holds",
          setting="four synthetic generators whose profiles build the tension in; the test is whether labels and PMs show it",
          support="winrate_help_vc2", support_words="VC2-like helpfulness win rate (annotators)"),
    Claim("bon-refinement", "Refining prompts with a reward model under a cost constraint raises helpfulness without "
          "raising the unsafe rate", "Section on alignment by prompt refinement (best-of-N)", "safesora/04_best_of_n",
          "bon_verdict",
          "under the cost threshold, paired 95% interval (>= 2 seeds) of the gold-helpfulness gain from N = 1 to N_max above 0, "
          "and that of the unsafe-rate change not wholly above 0",
          setting="synthetic refiner and VC2-like generator; notebook 03's helpfulness PM as reward, notebook 02's "
                  "moderator as cost", support="bon_helpfulness_gain", support_words="helpfulness gain"),
)
"""Every claim this chapter tests, in the page's order."""
