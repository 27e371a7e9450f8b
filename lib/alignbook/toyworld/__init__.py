"""A synthetic assistant world with known ground truth, shared by the LLM chapters.

>>> from alignbook.toyworld import ToyWorld, ToyWorldConfig
>>> world = ToyWorld(ToyWorldConfig(seed=0))
>>> prompt = world.sample_prompts(1, seed=0)[0]
>>> j = world.judge(prompt.text, world.respond(prompt, "alpaca3-8b", 0))

See ``book/intro/toy-world.md`` for the ground truth and how labels are made from it.
"""

from .content import BENIGN_TOPICS, HARM_CATEGORIES, HARMFUL_TOPICS, SAFE_ALTERNATIVES
from .scorer import Judgement, judge, split_clauses
from .world import MODEL_SOURCES, STYLE_SOURCES, Prompt, ToyWorld, ToyWorldConfig

__all__ = [
    "BENIGN_TOPICS",
    "HARM_CATEGORIES",
    "HARMFUL_TOPICS",
    "MODEL_SOURCES",
    "SAFE_ALTERNATIVES",
    "STYLE_SOURCES",
    "Judgement",
    "Prompt",
    "ToyWorld",
    "ToyWorldConfig",
    "judge",
    "split_clauses",
]
