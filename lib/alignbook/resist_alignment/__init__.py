"""Language Models Resist Alignment (Ji et al., ACL 2025; arXiv 2406.06144v6): elasticity, resistance, rebound.

- :mod:`.theory`: the compression-rate model of Section 4 in closed form (numpy): how a perturbation
  moves the normalised compression rates of datasets of different sizes (Theorem 4.2).
- :mod:`.training`: fine-tuning the real pretrained model (SmolLM2-135M-Instruct) with fresh
  optimizers per phase, teacher-forced log-probabilities and the exact per-token KL to θ0.
- :mod:`.resistance`: forward vs inverse alignment between SFT slices (Table 1).
- :mod:`.rebound`: aligning with more or less safe data, then fine-tuning back (Table 3).
- :mod:`.toy`: a tiny transformer on a synthetic source with an enumerable response space, where
  sequence-level KL is exact (pre-training amount and model size axes).
- :mod:`.results`: the paper's numbers beside ours.
"""
