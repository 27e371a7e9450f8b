"""SafeSora (Dai et al., arXiv 2406.14477) as runnable lessons, on a schema-exact synthetic dataset.

- :mod:`.schema`: the official record types (``VideoSample``, ``VideoPairSample``), validators that name the
  bad field, the real-layout loader (``videos/<prompt_id>/<video_id>``) and the paper's statistics.
- :mod:`.world`: the synthetic world: prompts with latent attributes, four generators, 8-frame clips, annotators.
- :mod:`.models`: text (MiniLM) and video (small conv) encoders, the moderators and the score model.
- :mod:`.moderation`, :mod:`.preference`, :mod:`.best_of_n`: notebooks 02-04.
- :mod:`.claims`: the chapter's claims as data; :mod:`.results`: notebook 05.
"""
