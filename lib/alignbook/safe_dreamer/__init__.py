"""Safe DreamerV3 (Huang et al., arXiv 2307.07176) as runnable lessons, re-implemented in PyTorch.

- :mod:`.maths`: symlog, two-hot, λ-return, the weighted cost loss, the augmented Lagrangian.
- :mod:`.world_model`: the RSSM with decoder, reward, cost and continuation heads.
- :mod:`.data`: Safety-Gymnasium episodes with action repeat (via :mod:`alignbook.saferl.envs`), replay.
- :mod:`.training`: world-model training and open-loop prediction quality.
- :mod:`.planner`: OSRP, OSRP-Lag and unconstrained CEM in latent space.
- :mod:`.actor_critic`: BSRP-Lag, the actor-critic in imagination.
- :mod:`.agent`: acting in the environment; :mod:`.experiments`: one function per notebook.
- :mod:`.config`, :mod:`.claims`, :mod:`.verdicts`: settings, the paper's claims and their verdicts.
"""
