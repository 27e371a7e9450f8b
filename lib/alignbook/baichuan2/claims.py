"""The claims of Baichuan 2 this chapter tests, as data (see :mod:`alignbook.engine.claims`)."""

from __future__ import annotations

from ..engine.claims import Claim

PAPER = "Yang et al., *Baichuan 2: Open Large-scale Language Models* (arXiv 2309.10305, 2023)"

CLAIMS: tuple[Claim, ...] = (
    Claim("scaling-prediction", "A scaling law L = a·C^b + L∞ fitted on small models predicts a larger model's final loss",
          "the scaling-law section and Table 10: seven models of 10M–3B parameters predict the 7B and 13B losses (no fitted values printed)",
          "baichuan2/01_scaling_law", "scaling_verdict",
          "|predicted − measured| ≤ 2 × the held-out model's seed std (≥ 2 seeds); partly shown within 2 %",
          setting="decoders of Table 10's shape, scaled down, on Brown", support="heldout_relative_error",
          support_words="relative error, %"),
    Claim("normhead-stability", "NormHead stabilises training (removes loss spikes)",
          "the optimisations section (NormHead's motivation: training without it is unstable early on)",
          "baichuan2/02_stability", "normhead_spikes_verdict",
          "the 95% interval of plain − NormHead spike counts, paired by seed, lies above 0, given spikes in the plain arm in at least half its seeds",
          setting="two-block decoder at a high learning rate, 5 seeds", support="normhead_spikes_diff",
          support_words="plain − NormHead spikes"),
    Claim("normhead-loss", "Training with NormHead reaches a lower loss", "the optimisations section (an ablation at 7B; figure number not checked here)",
          "baichuan2/02_stability", "normhead_loss_verdict",
          "the 95% interval of plain − NormHead validation loss, paired by seed, lies above 0",
          setting="two-block decoder at a high learning rate, 5 seeds", support="normhead_loss_diff",
          support_words="plain − NormHead, nats/token"),
    Claim("maxz-logits", "The max-z loss keeps logits from growing large", "the optimisations section (max-z loss)",
          "baichuan2/02_stability", "maxz_logit_verdict",
          "the 95% interval of plain − max-z mean max logit, paired by seed, lies above 0",
          setting="two-block decoder, weight 2e-4", support="maxz_logit_diff", support_words="plain − max-z"),
    Claim("maxz-penalty", "Smaller logits make decoding less sensitive to the repetition penalty",
          "the optimisations section (the motivation of max-z)", "baichuan2/02_stability", "maxz_penalty_verdict",
          "the 95% interval of plain − max-z KL from the repetition penalty 1.2, paired by seed, lies above 0",
          setting="two-block decoder, HF's penalty rule", support="maxz_penalty_diff",
          support_words="plain − max-z, nats"),
    Claim("rare-token-norms", "Rare tokens' output-embedding rows have small norms (NormHead's motivation)",
          "the optimisations section (NormHead's motivation)", "baichuan2/03_real_model", "norm_verdict",
          "the bootstrap 95% interval of Spearman's ρ between Brown frequency and head-row norm lies above 0",
          setting="SmolLM2-135M-Instruct (tied head), Brown counts", support="norm_spearman",
          support_words="Spearman ρ"),
    Claim("bf16-positions", "BF16 cannot hold positions above 256: bf16(257) = 256", "the discussion of mixed precision (why positions are kept in fp32)",
          "baichuan2/04_tokenizer_precision", "bf16_verdict",
          "bf16(257) equals 256 and 257 is the first integer position bf16 cannot hold",
          setting="torch bfloat16 rounding", support="bf16_257", support_words="bf16(257)"),
)
"""Every claim this chapter tests, in the page's order."""
