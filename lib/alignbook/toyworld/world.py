"""The toy world: prompts, response sources, ground truth, annotators and dataset rows.

``ToyWorld(ToyWorldConfig(seed=0))`` is deterministic given its config: every method that draws
takes its own seed (or a ``numpy`` Generator), so two calls with the same arguments agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Annotated, Any, Sequence

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, Fraction, NonNegative, Positive, Range
from . import scorer as judge_mod
from .content import BENIGN_TOPICS, FILLER, HARM_CATEGORIES, HARMFUL_TOPICS, PROMPT_TEMPLATES, REFUSALS, SAFE_ALTERNATIVES, WEB_TEMPLATES

MODEL_SOURCES: tuple[str, ...] = ("alpaca-7b", "alpaca2-7b", "alpaca3-8b")
"""Analogues of the three response generators of PKU-SafeRLHF v1, increasing quality."""
STYLE_SOURCES: tuple[str, ...] = ("comply", "refuse", "safe_helpful", "over_refuse", "filler")
"""Pure response styles, for tests, demonstrations and the tension between help and harm."""
SOURCE_DISPLAY = {"alpaca-7b": "Alpaca-7B", "alpaca2-7b": "Alpaca2-7B", "alpaca3-8b": "Alpaca3-8B"}
"""How the dataset's ``response_*_source`` column names each model source."""


@dataclasses.dataclass(frozen=True)
class SourceStyle:
    """How one model source answers. Quality rises from alpaca-7b to alpaca3-8b."""

    comply_scale: float
    """Multiplies a harmful prompt's compliance propensity."""
    n_facts: tuple[int, int]
    """Inclusive range of useful facts in an answer to a benign request."""
    n_steps: tuple[int, int]
    """Inclusive range of harmful steps in a complying answer."""
    filler_prob: float
    """Chance an answer opens with filler."""
    irrelevant_prob: float
    """Chance an answer contains an off-topic clause."""
    safe_alternative_prob: float
    """Chance a non-complying answer to a harmful request offers safe alternatives."""
    over_refuse_prob: float
    """Chance of refusing a benign request."""


SOURCE_STYLES: dict[str, SourceStyle] = {
    "alpaca-7b": SourceStyle(1.0, (1, 2), (1, 2), 0.5, 0.35, 0.25, 0.06),
    "alpaca2-7b": SourceStyle(0.95, (1, 3), (1, 2), 0.35, 0.2, 0.5, 0.04),
    "alpaca3-8b": SourceStyle(0.9, (2, 3), (1, 3), 0.2, 0.08, 0.75, 0.02),
}


@dataclasses.dataclass(frozen=True)
class ToyWorldConfig(BaseConfig):
    """Knobs of the toy world. Defaults are calibrated so the preference data's marginals resemble
    PKU-SafeRLHF v1 train (share of safe responses, severity mix, pair types, better != safer)."""

    harmful_fraction: Fraction = 0.92
    """Share of harmful requests among sampled prompts (PKU-SafeRLHF prompts are mostly red-team)."""
    comply_alpha: Positive = 0.2
    """Beta(alpha, beta) of a harmful prompt's compliance propensity: small values put prompts at
    the extremes, so both responses of a pair tend to be safe or both unsafe, as in the data."""
    comply_beta: Positive = 0.13
    """See ``comply_alpha``."""
    severe_step_weight: NonNegative = 0.3
    """Relative chance a complying source picks a severity-3 step (1 for severity 1 and 2; 0: never)."""
    source_mix: Annotated[tuple[float, float, float], Range(0)] = (0.34, 0.33, 0.33)
    """Probabilities of alpaca-7b, alpaca2-7b, alpaca3-8b as the source of each response (non-negative
    weights, normalised; not all 0)."""
    helpfulness_temperature: Positive = 0.5
    """Bradley-Terry temperature of the helpfulness annotator (lower: more decisive)."""
    harmlessness_temperature: Positive = 0.3
    """Bradley-Terry temperature of the harmlessness annotator."""
    label_noise: Fraction = 0.05
    """Chance a preference label is flipped after the Bradley-Terry draw."""
    annotator_halo: Fraction = 0.9
    """Chance the safety label reuses the helpfulness label's random draw (one rater judging both
    dimensions of a pair): near-ties then get the same winner, as better == safer is common in
    the data. 0 makes the two labels' noise independent."""
    harmlessness_care_bonus: NonNegative = 0.4
    """Harmlessness credit for a refusal or a safe alternative (a careful answer reads as safer)."""
    harmlessness_helpfulness_coupling: NonNegative = 1.0
    """Weight of helpfulness in the harmlessness score; among equally harmless answers annotators
    lean to the more useful one, which is why better == safer for most pairs in the data."""
    useful_weight: NonNegative = 1.0
    """Helpfulness of each distinct on-topic fact or (for a harmful request) harmful step."""
    safe_alternative_weight: NonNegative = 0.7
    """Helpfulness of each distinct safe alternative for the request's harm category."""
    irrelevant_penalty: NonNegative = 0.2
    """Helpfulness lost per off-topic clause."""
    unknown_penalty: NonNegative = 0.2
    """Helpfulness lost per clause the world does not know (gibberish, truncation)."""
    repeat_penalty: NonNegative = 0.2
    """Helpfulness lost per repeated clause: repeating a useful phrase earns nothing."""
    tokenizer_vocab_size: Annotated[int, Range(260, 262144)] = 1024
    """BPE vocabulary size of the world's tokenizer (at least 260: 256 bytes and 4 special tokens)."""
    corpus_docs: Count = 4000
    """Documents in the pretraining corpus of the base model."""
    sft_examples: Count = 3000
    """Demonstrations in the SFT set (Alpaca-like: helpful, sometimes harmful)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.source_mix) != 3 or sum(self.source_mix) <= 0:
            raise ConfigError(
                f"source_mix={self.source_mix} must be three non-negative weights for {MODEL_SOURCES}"
            )

    @property
    def judge_weights(self) -> judge_mod.JudgeWeights:
        return judge_mod.JudgeWeights(
            self.useful_weight,
            self.safe_alternative_weight,
            self.irrelevant_penalty,
            self.unknown_penalty,
            self.repeat_penalty,
        )


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A request of the toy world."""

    text: str
    """What the user writes."""
    topic: str
    """The topic phrase (a key of BENIGN_TOPICS or HARMFUL_TOPICS)."""
    harmful: bool
    """Whether the request asks for something harmful."""
    categories: tuple[str, ...]
    """Harm categories of the request (empty when benign)."""
    comply_propensity: float = 0.0
    """How easily sources comply with this harmful request (0..1; 0 for benign ones)."""


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng={rng!r} must be a numpy Generator or an int seed")


def join_clauses(clauses: Sequence[str]) -> str:
    """The response text: clauses separated by ``. `` and ending with ``.``."""
    return " ".join(f"{c}." for c in clauses)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ToyWorld:
    """A synthetic assistant world with known ground truth (see ``book/intro/toy-world.md``)."""

    def __init__(self, config: ToyWorldConfig | None = None):
        self.config = config or ToyWorldConfig()
        self._seed = int(self.config.seed)

    def __repr__(self) -> str:
        return f"ToyWorld(seed={self._seed})"

    # ----------------------------------------------------------------- prompts
    def _rng(self, seed: int | None, salt: str) -> np.random.Generator:
        """A generator depending on the world's seed, the call's seed and what it is for."""
        digest = hashlib.sha256(f"{self._seed}/{seed}/{salt}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def make_prompt(self, topic: str, template: int = 0, comply_propensity: float | None = None) -> Prompt:
        """The prompt asking about ``topic`` with the ``template``-th phrasing."""
        if topic in HARMFUL_TOPICS:
            harmful, categories = True, HARMFUL_TOPICS[topic][0]
        elif topic in BENIGN_TOPICS:
            harmful, categories = False, ()
        else:
            raise ValueError(f"topic={topic!r} is not a toy-world topic; see alignbook.toyworld.content")
        text = PROMPT_TEMPLATES[template % len(PROMPT_TEMPLATES)].format(topic=topic)
        propensity = (0.5 if harmful else 0.0) if comply_propensity is None else comply_propensity
        return Prompt(text, topic, harmful, categories, float(propensity))

    def sample_prompts(self, n: int, seed: int = 0, harmful_fraction: float | None = None) -> list[Prompt]:
        """``n`` prompts; a share ``harmful_fraction`` (default: the config's) are harmful."""
        if n < 0:
            raise ValueError(f"n={n} must be >= 0")
        fraction = self.config.harmful_fraction if harmful_fraction is None else harmful_fraction
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"harmful_fraction={fraction} must lie in [0, 1]")
        rng = self._rng(seed, "prompts")
        harmful_topics, benign_topics = list(HARMFUL_TOPICS), list(BENIGN_TOPICS)
        prompts = []
        for _ in range(n):
            template = int(rng.integers(len(PROMPT_TEMPLATES)))
            if rng.random() < fraction:
                topic = harmful_topics[int(rng.integers(len(harmful_topics)))]
                propensity = float(rng.beta(self.config.comply_alpha, self.config.comply_beta))
                prompts.append(self.make_prompt(topic, template, propensity))
            else:
                topic = benign_topics[int(rng.integers(len(benign_topics)))]
                prompts.append(self.make_prompt(topic, template, 0.0))
        return prompts

    def parse_prompt(self, prompt_text: str) -> Prompt | None:
        """Recover the :class:`Prompt` a text asks about (None if it names no known topic)."""
        topic = judge_mod.find_topic(prompt_text)
        if topic is None:
            return None
        base = self.make_prompt(topic)
        return dataclasses.replace(base, text=prompt_text)

    # --------------------------------------------------------------- responses
    def _pick(self, rng: np.random.Generator, items: Sequence[str], k: int) -> list[str]:
        k = max(0, min(k, len(items)))
        return [items[i] for i in rng.choice(len(items), size=k, replace=False)]

    def _pick_steps(self, rng: np.random.Generator, topic: str, k: int) -> list[str]:
        steps = HARMFUL_TOPICS[topic][1]
        weights = np.array([self.config.severe_step_weight if s == 3 else 1.0 for s, _ in steps])
        k = max(1, min(k, len(steps)))
        index = rng.choice(len(steps), size=k, replace=False, p=weights / weights.sum())
        return [steps[i][1] for i in sorted(index)]

    def _off_topic_clause(self, rng: np.random.Generator, topic: str) -> str:
        others = [t for t in BENIGN_TOPICS if t != topic]
        other = others[int(rng.integers(len(others)))]
        return self._pick(rng, BENIGN_TOPICS[other], 1)[0]

    def respond(self, prompt: Prompt | str, source: str, rng: np.random.Generator | int | None = None) -> str:
        """A response of ``source`` to ``prompt`` (a :class:`Prompt` or a prompt text).

        ``source`` is a model source (``alpaca-7b``, ``alpaca2-7b``, ``alpaca3-8b``) or a pure
        style (``comply``, ``refuse``, ``safe_helpful``, ``over_refuse``, ``filler``).
        """
        if isinstance(prompt, str):
            parsed = self.parse_prompt(prompt)
            if parsed is None:
                raise ValueError(f"prompt={prompt!r} names no toy-world topic; use world.sample_prompts")
            prompt = parsed
        rng = as_rng(rng)
        if source in STYLE_SOURCES:
            return join_clauses(self._style_clauses(prompt, source, rng))
        if source not in SOURCE_STYLES:
            raise ValueError(f"source={source!r} must be one of {MODEL_SOURCES + STYLE_SOURCES}")
        style = SOURCE_STYLES[source]
        clauses: list[str] = []
        if rng.random() < style.filler_prob:
            clauses.append(self._pick(rng, FILLER, 1)[0])
        if prompt.harmful:
            comply = rng.random() < min(1.0, prompt.comply_propensity * style.comply_scale)
            if comply:
                clauses += self._pick_steps(rng, prompt.topic, int(rng.integers(style.n_steps[0], style.n_steps[1] + 1)))
            else:
                clauses.append(self._pick(rng, REFUSALS, 1)[0])
                if rng.random() < style.safe_alternative_prob:
                    options = [a for c in prompt.categories for a in SAFE_ALTERNATIVES[c]]
                    clauses += self._pick(rng, options, int(rng.integers(1, 3)))
        else:
            if rng.random() < style.over_refuse_prob:
                clauses.append(self._pick(rng, REFUSALS, 1)[0])
            else:
                n = int(rng.integers(style.n_facts[0], style.n_facts[1] + 1))
                clauses += self._pick(rng, BENIGN_TOPICS[prompt.topic], n)
        if rng.random() < style.irrelevant_prob:
            position = int(rng.integers(len(clauses) + 1))
            clauses.insert(position, self._off_topic_clause(rng, prompt.topic))
        return join_clauses(clauses)

    def _style_clauses(self, prompt: Prompt, style: str, rng: np.random.Generator) -> list[str]:
        if style == "refuse" or style == "over_refuse":
            if style == "refuse" and not prompt.harmful:
                return self._pick(rng, BENIGN_TOPICS[prompt.topic], 3)
            return [self._pick(rng, REFUSALS, 1)[0]]
        if style == "filler":
            return self._pick(rng, FILLER, 2)
        if not prompt.harmful:  # comply and safe_helpful answer a benign request alike
            return self._pick(rng, BENIGN_TOPICS[prompt.topic], 3)
        if style == "comply":
            return self._pick_steps(rng, prompt.topic, 2)
        # safe_helpful: decline the harmful part, offer what helps without harm
        options = [a for c in prompt.categories for a in SAFE_ALTERNATIVES[c]]
        return [self._pick(rng, REFUSALS, 1)[0]] + self._pick(rng, options, 2)

    # ------------------------------------------------------------ ground truth
    def judge(self, prompt_text: str, response_text: str) -> judge_mod.Judgement:
        """Ground truth for any (prompt, response) strings; see :mod:`alignbook.toyworld.scorer`."""
        return judge_mod.judge(prompt_text, response_text, self.config.judge_weights)

    def harmlessness(self, judgement: judge_mod.Judgement) -> float:
        """The latent harmlessness score the safety annotator compares (higher is safer)."""
        cfg = self.config
        careful = judgement.n_refusal > 0 or judgement.n_safe_alternative > 0
        return (
            -2.0 * judgement.severity
            + cfg.harmlessness_care_bonus * careful
            + cfg.harmlessness_helpfulness_coupling * judgement.helpfulness
        )

    # -------------------------------------------------------------- annotator
    def _bradley_terry(
        self, score_0: float, score_1: float, temperature: float, rng: np.random.Generator, uniform: float | None = None
    ) -> int:
        """Draw which response wins (0 or 1), then flip with probability ``label_noise``.

        ``uniform`` lets two labels of the same pair share their draw (the annotator's halo).
        """
        p_first = 1.0 / (1.0 + math.exp(-(score_0 - score_1) / temperature))
        draw = rng.random() if uniform is None else uniform
        winner = 0 if draw < p_first else 1
        if rng.random() < self.config.label_noise:
            winner = 1 - winner
        return winner

    def annotate(
        self, prompt_text: str, response_0: str, response_1: str, rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        """Labels of a pair: ``better_response_id``, ``safer_response_id`` and safety meta-labels.

        Card rule: when exactly one response is safe it is the safer one, no noise.
        """
        rng = as_rng(rng)
        j0, j1 = self.judge(prompt_text, response_0), self.judge(prompt_text, response_1)
        shared = float(rng.random())
        better = self._bradley_terry(
            j0.helpfulness, j1.helpfulness, self.config.helpfulness_temperature, rng, shared
        )
        if j0.is_safe != j1.is_safe:
            safer = 0 if j0.is_safe else 1
        else:
            own = float(rng.random())
            draw = shared if rng.random() < self.config.annotator_halo else own
            safer = self._bradley_terry(
                self.harmlessness(j0), self.harmlessness(j1), self.config.harmlessness_temperature, rng, draw
            )
        return {
            "better_response_id": better,
            "safer_response_id": safer,
            "judgements": (j0, j1),
        }

    # ------------------------------------------------------------------ rows
    def _pick_source(self, rng: np.random.Generator) -> str:
        p = np.asarray(self.config.source_mix, dtype=float)
        return MODEL_SOURCES[int(rng.choice(3, p=p / p.sum()))]

    def preference_rows(self, n_pairs: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n_pairs`` rows in the PKU-SafeRLHF v1 schema (16 columns), with ground-truth labels."""
        prompts = self.sample_prompts(n_pairs, seed)
        rng = self._rng(seed, "preference")
        rows = []
        for prompt in prompts:
            sources = [self._pick_source(rng), self._pick_source(rng)]
            responses = [self.respond(prompt, s, rng) for s in sources]
            labels = self.annotate(prompt.text, responses[0], responses[1], rng)
            j0, j1 = labels["judgements"]
            rows.append(
                {
                    "prompt": prompt.text,
                    "response_0": responses[0],
                    "response_1": responses[1],
                    "prompt_source": "toy-world",
                    "response_0_source": SOURCE_DISPLAY[sources[0]],
                    "response_1_source": SOURCE_DISPLAY[sources[1]],
                    "is_response_0_safe": j0.is_safe,
                    "is_response_1_safe": j1.is_safe,
                    "response_0_harm_category": j0.harm_categories,
                    "response_1_harm_category": j1.harm_categories,
                    "response_0_severity_level": j0.severity,
                    "response_1_severity_level": j1.severity,
                    "better_response_id": labels["better_response_id"],
                    "safer_response_id": labels["safer_response_id"],
                    "response_0_sha256": sha256(responses[0]),
                    "response_1_sha256": sha256(responses[1]),
                }
            )
        return rows

    def single_preference_rows(self, n_pairs: int, seed: int = 0, harm_weight: float = 1.0) -> list[dict[str, Any]]:
        """Rows of the single-dimension release: one trade-off label, no safety fields.

        The annotator compares ``helpfulness - harm_weight * 2 * severity`` (one Bradley-Terry
        draw), the analogue of asking one rater for an overall preference.
        """
        prompts = self.sample_prompts(n_pairs, seed)
        rng = self._rng(seed, "single")
        rows = []
        for prompt in prompts:
            responses = [self.respond(prompt, self._pick_source(rng), rng) for _ in range(2)]
            j0, j1 = (self.judge(prompt.text, r) for r in responses)
            scores = [j.helpfulness - harm_weight * 2.0 * j.severity for j in (j0, j1)]
            better = self._bradley_terry(scores[0], scores[1], self.config.helpfulness_temperature, rng)
            rows.append(
                {"prompt": prompt.text, "response_0": responses[0], "response_1": responses[1], "better_response_id": better}
            )
        return rows

    def qa_rows(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """Per-response moderation rows (PKU-SafeRLHF-QA-like): prompt, response, labels."""
        prompts = self.sample_prompts(n, seed)
        rng = self._rng(seed, "qa")
        rows = []
        for prompt in prompts:
            source = self._pick_source(rng)
            response = self.respond(prompt, source, rng)
            j = self.judge(prompt.text, response)
            rows.append(
                {
                    "prompt": prompt.text,
                    "response": response,
                    "prompt_source": "toy-world",
                    "response_source": SOURCE_DISPLAY[source],
                    "category": j.harm_categories,
                    "severity_level": j.severity,
                    "is_safe": j.is_safe,
                    "response_sha256": sha256(response),
                }
            )
        return rows

    # --------------------------------------------------------------- corpora
    def pretraining_corpus(self, n_docs: int, seed: int = 0) -> list[str]:
        """Web-like documents mixing harmful and benign text (the base model's pretraining data)."""
        rng = self._rng(seed, "corpus")
        topics = list(BENIGN_TOPICS) + list(HARMFUL_TOPICS)
        docs = []
        for _ in range(n_docs):
            topic = topics[int(rng.integers(len(topics)))]
            head = WEB_TEMPLATES[int(rng.integers(len(WEB_TEMPLATES)))].format(topic=topic)
            if topic in BENIGN_TOPICS:
                body = self._pick(rng, BENIGN_TOPICS[topic], int(rng.integers(2, 5)))
            else:
                categories, steps = HARMFUL_TOPICS[topic]
                roll = rng.random()
                if roll < 0.5:
                    body = [s for _, s in steps][: int(rng.integers(1, 4))]
                elif roll < 0.8:
                    body = self._pick(rng, REFUSALS, 1) + self._pick(rng, SAFE_ALTERNATIVES[categories[0]], 2)
                else:
                    body = self._pick(rng, FILLER, 1) + self._pick(rng, SAFE_ALTERNATIVES[categories[0]], 1)
            docs.append(f"{head} {join_clauses(body)}")
        return docs

    def sft_rows(self, n: int, seed: int = 0) -> list[dict[str, str]]:
        """Alpaca-like demonstrations ``{prompt, response}``: helpful, and harmful when asked."""
        prompts = self.sample_prompts(n, seed)
        rng = self._rng(seed, "sft")
        return [{"prompt": p.text, "response": self.respond(p, self._pick_source(rng), rng)} for p in prompts]

    def all_text(self) -> list[str]:
        """Every clause, topic phrase and template: enough to train a tokenizer that covers the world."""
        texts = list(judge_mod.CLAUSES)
        for topic in list(BENIGN_TOPICS) + list(HARMFUL_TOPICS):
            texts += [t.format(topic=topic) for t in PROMPT_TEMPLATES + WEB_TEMPLATES]
        return texts


    # ------------------------------------------------- models (cached on disk)
    def tokenizer(self):
        """The world's BPE tokenizer (distinct pad/bos/eos/unk), trained once and cached."""
        from .models import load_world_tokenizer

        return load_world_tokenizer(self)

    def base_model(self, preset: str = "small", verbose: bool = False):
        """The pretrained base model (web-like text mixing harm and help), trained once and cached."""
        from .models import base_model_path, load_model

        return load_model(base_model_path(self, preset, verbose))

    def sft_model(self, preset: str = "small", verbose: bool = False):
        """The SFT model (Alpaca-like demonstrations on top of the base model), cached."""
        from .models import load_model, sft_model_path

        return load_model(sft_model_path(self, preset, verbose))

    def sft_model_path(self, preset: str = "small", verbose: bool = False):
        """Folder of the SFT model and its tokenizer (``from_pretrained`` format)."""
        from .models import sft_model_path

        return sft_model_path(self, preset, verbose)

    def format_prompt(self, prompt_text: str) -> str:
        """The chat-formatted prompt the world's models are trained on."""
        from .models import PROMPT_TEMPLATE

        return PROMPT_TEMPLATE.format(input=prompt_text)


__all__ = [
    "HARM_CATEGORIES",
    "MODEL_SOURCES",
    "STYLE_SOURCES",
    "Prompt",
    "SourceStyle",
    "ToyWorld",
    "ToyWorldConfig",
]
