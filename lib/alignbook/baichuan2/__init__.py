"""Baichuan 2 (Yang et al., 2023; arXiv 2309.10305): NormHead, max-z loss, the scaling-law fit.

- :mod:`.model`: a small decoder LM (RMSNorm, RoPE, SwiGLU with both FFN rules, optional NormHead),
  the max-z loss, HF's repetition-penalty rule and the KL it causes.
- :mod:`.data`: the Brown corpus, split by document id and tokenised with a BPE trained on it.
- :mod:`.training`: one training recipe (AdamW 0.9/0.95, weight decay 0.1, clip 0.5, warm-up).
- :mod:`.scaling`: the fit L(C) = a·C^b + L∞ by variable projection, and notebook 1.
- :mod:`.stability`: the four-arm NormHead / max-z ablation (notebook 2).
- :mod:`.real_model`: SmolLM2-135M-Instruct's head-row norms, max logits, penalty sensitivity (notebook 3).
- :mod:`.precision`: digit splitting in BPE, and the BF16 position collision (notebook 4).
- :mod:`.claims`, :mod:`.results`: the paper's claims and the Results page (notebook 5).
"""
