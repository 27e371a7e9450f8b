"""Configs of the Safe RLHF chapter, one frozen dataclass per notebook.

Defaults mirror the official scripts of PKU-Alignment/safe-rlhf (``scripts/reward-model.sh``,
``scripts/cost-model.sh``, ``scripts/ppo-lag.sh``, ``scripts/ppo.sh``); each docstring cites the
script value. The ``smoke`` and ``test`` profiles override the sizes in the notebooks' YAML.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Optional

from alignbook.engine.config import (
    BaseConfig, ConfigError, Count, Fraction, Natural, NonNegative, OneOf, Positive, Range, Seed, SeedCount,
)
from alignbook.engine.devices import Device

from ..lm.sizes import EMBEDDER_PARAMS, EMBEDDER_TOKENS, decode_note, decode_seconds  # shared by the estimates
from .data import PROMPT_TEMPLATE

Preset = Annotated[str, OneOf(("tiny", "small", "base"))]
"""A toy-world model preset (the keys of ``alignbook.lm.PRESETS``)."""
Schedule = Annotated[str, OneOf(("cosine", "constant"))]
"""A learning-rate schedule after warm-up (``alignbook.safe_rlhf.engine.lr_at``)."""
ZeroStage = Annotated[int, Range(0, 3)]
"""A DeepSpeed ZeRO stage: 0, 1, 2 or 3."""
CausalLM = Annotated[str, OneOf(("toy-sft", "toy-base", "tiny-random"), hub=True)]
"""A causal LM :func:`alignbook.safe_rlhf.pipeline.load_causal_lm` loads: a toy name, a hub id or a folder."""


@dataclasses.dataclass(frozen=True)
class ScoreModelConfig(BaseConfig):
    """Reward- and cost-model training (``safe_rlhf.values.{reward,cost}``)."""

    world_seed: Seed = 0
    """Seed of the toy world (its prompts, ground truth and cached models)."""
    backbone: Annotated[str, OneOf(("toy-sft", "toy-base", "tiny-random", "toy-scratch"), hub=True)] = "toy-sft"
    """Initial weights: 'toy-base', 'toy-sft' (the toy world's models), 'tiny-random' (tests), 'toy-scratch'
    (a fresh model; only for callers that build it themselves, as the dual-preference notebook does), a
    hub model id 'org/name' or a local folder."""
    preset: Preset = "tiny"
    """Toy-world model preset of the backbone ('tiny', 'small', 'base')."""
    backbone_revision: Optional[str] = None
    """Hub revision of ``backbone`` (pin it in the ``paper`` profile)."""
    dataset: Annotated[str, OneOf(("toy", "synthetic"), hub=True)] = "toy"
    """'toy' (the toy world's labelled pairs), 'synthetic' (tests), 'PKU-Alignment/PKU-SafeRLHF' or a local
    folder in the hub layout."""
    dataset_revision: Optional[str] = None
    """Hub revision of ``dataset``."""
    train_size: Count = 4000
    """Training preference pairs (toy world; ignored for the hub dataset, which uses its split)."""
    eval_size: Count = 500
    """Held-out preference pairs for accuracy and accuracy_sign."""
    epochs: Count = 2
    """Passes over the training pairs (scripts: ``--epochs 2``)."""
    batch_size: Count = 16
    """Pairs per device per step (scripts: ``--per_device_train_batch_size 16``)."""
    grad_accum: Count = 1
    """Gradient accumulation steps (scripts: ``--gradient_accumulation_steps 1``)."""
    lr: Positive = 2e-5
    """AdamW learning rate (scripts: ``--learning_rate 2e-5``)."""
    lr_scheduler: Schedule = "cosine"
    """'cosine' or 'constant' after warm-up (scripts: ``--lr_scheduler_type cosine``)."""
    warmup_ratio: Fraction = 0.03
    """Fraction of steps of linear warm-up (scripts: ``--lr_warmup_ratio 0.03``)."""
    weight_decay: NonNegative = 0.1
    """AdamW weight decay (scripts: ``--weight_decay 0.1``)."""
    max_grad_norm: NonNegative = 1.0
    """Clip the gradient to this global norm (DeepSpeed configs: ``gradient_clipping 1.0``); 0: off."""
    regularization: NonNegative = 0.001
    """μ of the score regulariser μ·(s₁² + s₂²)/2 (scripts: ``--regularization 0.001``; 0: off)."""
    use_sign_term: bool = True
    """Cost loss keeps the per-response sign terms (False: the ablation, pairwise only)."""
    max_length: Count = 512
    """Longest tokenised prompt+response (scripts: ``--max_length 512``)."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template around the prompt; ``{input}`` is the user's prompt."""
    eval_every: Natural = 0
    """Evaluate held-out accuracy every this many steps (0: once per epoch)."""
    zero_stage: Optional[ZeroStage] = None
    """DeepSpeed ZeRO stage under the launcher (scripts: ``--zero_stage 3``); None in-process."""
    bf16: bool = False
    """bfloat16 training (scripts: ``--bf16 True``): DeepSpeed's under the launcher; in one process, torch
    autocast around the forward passes on a GPU (fp32 weights and losses, :func:`trainer_precision`); CPU
    runs stay in float32."""
    device: Device = "cpu"
    """Where the score model and every batch live: 'cpu', 'cuda', 'cuda:N' or 'auto' (under a launcher,
    'cuda' is each process's own GPU)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward (scripts: ``--gradient_checkpointing``)."""
    seeds: SeedCount = 1
    """How many seeds the notebook trains (curves show mean ± std over them)."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`): the reward model, the cost model and
        the cost model without its sign term, each for every seed, every pair at ``max_length`` tokens (an
        upper bound: the pairs are shorter), held-out pairs scored once an epoch."""
        from alignbook.engine.estimate import lm_work
        from alignbook.lm.sizes import shape_of

        shape = shape_of(self.backbone, self.preset)
        if shape is None:
            return None
        runs = 3 * self.seeds
        return lm_work(shape.params, shape.hidden, shape.layers,
                       train_tokens=runs * self.epochs * self.train_size * 2 * self.max_length,
                       forward_tokens=runs * self.epochs * self.eval_size * 2 * self.max_length,
                       steps=runs * self.epochs * -(-self.train_size // (self.batch_size * self.grad_accum)),
                       batch=2 * self.batch_size, seq=self.max_length,
                       precision=trainer_precision(self.bf16, self.device),
                       checkpointing=self.gradient_checkpointing, zero_stage=self.zero_stage,
                       notes=[f"3 score models × {self.seeds} seeds × {self.epochs} epochs × {self.train_size} pairs "
                              f"at {self.max_length} tokens (an upper bound)"]
                       + (["a hub dataset trains on its own train split, not train_size: scale by its size"]
                          if "/" in self.dataset else []))



def trainer_precision(bf16: bool, device) -> str:
    """The precision an in-process Safe RLHF trainer computes in: 'bf16' (torch autocast around the forward
    passes; fp32 weights, optimiser states and losses) when ``bf16`` is set and ``device`` is a GPU
    ('cuda', 'cuda:N', or 'auto', which an estimate takes as the GPU it targets), else 'fp32': a CPU run
    ignores ``bf16``. Under the DeepSpeed launcher the engine's own bf16 applies as well."""
    return "bf16" if bf16 and str(device).split(":")[0] in ("cuda", "auto") else "fp32"



TOY_PROMPT_TOKENS = 25
"""Longest toy-world prompt in the conversation template, in tokens (measured on 500 training prompts of
world seed 0: at most 25, mean 20); a rollout batch is left-padded to its longest prompt."""
TOY_PTX_TOKENS = 56
"""Width of a batch of 64 toy-world PTX demonstrations, in tokens (measured: 56)."""
HUB_PROMPT_TOKENS = 64
"""Assumed tokens of a toy-world prompt under a hub model's (larger-vocabulary) tokenizer: an upper bound."""
SMOLLM2_VOCAB = 49152
"""SmolLM2-135M's vocabulary (its published config.json; tied embedding of 49152 × 576)."""

LAUNCH_PROCESSES = 8
"""Processes of the launched (``zero_stage``) paper runs: the launch blocks' ``nprocs``, one node of 8 GPUs."""


def policy_tokens(cfg: "PPOLagConfig", *, prompt: int, ptx_tokens: int, critics: int, scorers: int,
                  ptx: bool, eval_batch: int = 64, eval_scorers: int = 2, evals: int = 2) -> dict[str, float]:
    """Tokens one policy run of ``cfg`` computes on one device (:class:`~alignbook.safe_rlhf.ppo_lag.PPOLagTrainer`):
    per iteration ``prompt_batch_size`` rollouts of ``prompt`` + ``response`` tokens (the response at its
    longest, ``max_new_tokens`` within ``max_length``), scored by the actor, its reference, ``critics``
    critics and ``scorers`` frozen score models; ``update_iters`` updates train the actor and the critics
    on them, and the actor again on a PTX batch of ``ptx_tokens`` tokens when ``ptx``. ``evals``
    evaluations (before and after) generate for ``eval_prompts`` prompts in batches of ``eval_batch``
    and score them with ``eval_scorers`` models. ``train``, ``forward`` (batched, prompt prefill
    included), ``decode`` (generated one at a time), ``steps`` (optimiser) and ``decode_steps``
    (sequential generation steps)."""
    response = max(1, min(cfg.max_new_tokens, cfg.max_length - prompt))
    seq = prompt + response
    b, it, u, e = cfg.prompt_batch_size, cfg.iterations, cfg.update_iters, cfg.eval_prompts
    return {
        "train": it * u * ((1 + critics) * b * seq + (b * ptx_tokens if ptx else 0)),
        "forward": it * b * (prompt + (2 + critics + scorers) * seq) + evals * e * (prompt + eval_scorers * seq),
        "decode": it * b * response + evals * e * response,
        "steps": it * u * (1 + critics + int(ptx)),
        "decode_steps": it * response + evals * -(-e // eval_batch) * response,
        "seq": seq,
        "response": response,
    }


def add_tokens(total: dict[str, float], part: dict[str, float], times: int = 1) -> dict[str, float]:
    for key in ("train", "forward", "decode", "steps", "decode_steps"):
        total[key] = total.get(key, 0) + times * part[key]
    return total


ALGORITHMS = ("ppo_lag", "ppo", "ppo_shaped")


@dataclasses.dataclass(frozen=True)
class PPOLagConfig(BaseConfig):
    """PPO-Lagrangian and its baselines (``safe_rlhf.algorithms.ppo_lag`` / ``ppo``)."""

    world_seed: Seed = 0
    """Seed of the toy world (its prompts, ground truth and cached models)."""
    algorithm: Annotated[str, OneOf(ALGORITHMS)] = "ppo_lag"
    """'ppo_lag' (reward and cost, learned λ), 'ppo' (reward only) or 'ppo_shaped' (R - ν·C)."""
    shaping_nu: NonNegative = 1.0
    """ν ≥ 0 of the shaped reward R - ν·C (only for algorithm='ppo_shaped'; 0 is plain PPO)."""
    actor: CausalLM = "toy-sft"
    """Initial policy: 'toy-sft', 'toy-base', 'tiny-random' (tests), a local folder or a hub model
    (paper: PKU-Alignment/alpaca-7b-reproduced)."""
    actor_revision: Optional[str] = None
    """Hub revision of ``actor``."""
    preset: Preset = "small"
    """Toy-world model preset ('tiny', 'small', 'base') when ``actor='toy-sft'``."""
    prompt_dataset: Annotated[str, OneOf(("toy", "synthetic"), hub=True)] = "toy"
    """Where training prompts come from: 'toy', 'synthetic' (tests), a local folder or a hub dataset
    (paper: PKU-Alignment/PKU-SafeRLHF)."""
    prompt_dataset_revision: Optional[str] = None
    """Hub revision of ``prompt_dataset`` (None: the data layer's pin)."""
    score_dir: Optional[str] = None
    """Folder holding ``reward/model`` and ``cost/model`` for the launch entry (None: ``<run_dir>/scores``)."""
    train_prompts: Count = 2000
    """Distinct training prompts (toy world; the hub run uses the dataset's prompts)."""
    eval_prompts: Count = 256
    """Held-out prompts judged by the ground truth before and after training."""
    eval_harmful_fraction: Fraction = 0.5
    """Share of harmful requests among the held-out toy-world prompts, in [0, 1]. Training prompts
    follow the world's mix (mostly harmful, as PKU-SafeRLHF's); the held-out set is balanced so that
    helpfulness and harm on benign prompts are measured on as many prompts as on harmful ones."""
    iterations: Count = 200
    """Rollout + update rounds (each: one prompt batch per device, ``update_iters`` updates)."""
    prompt_batch_size: Count = 16
    """Prompts per device per rollout (scripts: ``--per_device_prompt_batch_size 16``)."""
    update_iters: Count = 1
    """PPO epochs over each rollout batch (scripts: ``--update_iters 1``)."""
    grad_accum: Count = 1
    """Gradient accumulation (scripts: ``--gradient_accumulation_steps 1``)."""
    max_new_tokens: Count = 480
    """Longest response (scripts: ``--max_length 512`` tokens including the prompt)."""
    temperature: Positive = 1.0
    """Sampling temperature of rollouts (scripts: ``--temperature 1.0``)."""
    top_k: Natural = 50
    """Rollouts sample from the top_k most likely tokens; 0: no cut (upstream's ``GenerationConfig``
    leaves top_k at the transformers 4.x default, 50)."""
    max_grad_norm: NonNegative = 1.0
    """Clip each model's gradient to this global norm (DeepSpeed configs: ``gradient_clipping 1.0``); 0: off."""
    ptx_coeff: NonNegative = 16.0
    """Weight of the PTX step's supervised loss on demonstrations, one actor step after every RL step
    (ppo-lag.sh: ``--ptx_coeff 16``; 0: no PTX step)."""
    ptx_dataset: Annotated[str, OneOf(("toy",), hub=True)] = "toy"
    """Demonstrations of the PTX step: 'toy' (the toy world's SFT demonstrations for benign requests),
    a local folder or a hub dataset in the Alpaca schema (ppo-lag.sh: ``--ptx_datasets alpaca``)."""
    ptx_dataset_revision: Optional[str] = None
    """Hub revision of ``ptx_dataset`` (None: the data layer's pin)."""
    ptx_demonstrations: Count = 2000
    """How many toy-world demonstrations the PTX step cycles through (a hub dataset: all its rows)."""
    actor_lr: Positive = 1e-5
    """Actor learning rate (scripts: ``--actor_lr 1e-5``)."""
    actor_weight_decay: NonNegative = 0.01
    """Actor weight decay (scripts: ``--actor_weight_decay 0.01``)."""
    actor_lr_scheduler: Schedule = "cosine"
    """Actor schedule after warm-up (scripts: ``--actor_lr_scheduler_type cosine``)."""
    actor_warmup_ratio: Fraction = 0.03
    """Actor warm-up fraction (scripts: ``--actor_lr_warmup_ratio 0.03``)."""
    critic_lr: Positive = 5e-6
    """Critic learning rate (scripts: ``--critic_lr 5e-6``)."""
    critic_weight_decay: NonNegative = 0.0
    """Critic weight decay (scripts: ``--critic_weight_decay 0.0``)."""
    critic_lr_scheduler: Schedule = "constant"
    """Critic schedule after warm-up (scripts: ``--critic_lr_scheduler_type constant``)."""
    critic_warmup_ratio: Fraction = 0.03
    """Critic warm-up fraction (scripts: ``--critic_lr_warmup_ratio 0.03``)."""
    kl_coeff: NonNegative = 0.01
    """β ≥ 0 of the per-token KL penalty (ppo-lag.sh: 0.01; ppo.sh: 0.02; 0: no penalty)."""
    clip_range_ratio: Annotated[float, Range(0, 1, min_open=True)] = 0.2
    """PPO ratio clip ε in (0, 1]: the ratio is kept in [1 - ε, 1 + ε] (scripts: ``--clip_range_ratio 0.2``)."""
    clip_range_score: Positive = 50.0
    """Clip of per-token rewards and costs (scripts: ``--clip_range_score 50.0``)."""
    clip_range_value: Positive = 5.0
    """Value clip around the old values (scripts: ``--clip_range_value 5.0``)."""
    gamma: Fraction = 1.0
    """Discount in [0, 1] (the official trainer: 1.0)."""
    gae_lambda: Fraction = 0.95
    """GAE λ in [0, 1] (the official trainer: 0.95)."""
    threshold: Annotated[float, Range()] = 0.0
    """Cost threshold d of the constraint Ĵ_C ≤ d, any finite number (ppo-lag.sh: ``--threshold 0.0``;
    the paper's later rounds: -3)."""
    lambda_init: Positive = 1.0
    """Initial Lagrange multiplier, > 0 as λ is kept as log λ (ppo-lag.sh: ``--lambda_init 1.0``)."""
    lambda_lr: NonNegative = 0.1
    """SGD step size of log λ (ppo-lag.sh: ``--lambda_lr 0.1``; 0 keeps λ at ``lambda_init``)."""
    lambda_max: Optional[Positive] = 5.0
    """Upper clamp of λ, at least ``lambda_init`` (ppo-lag.sh: ``--lambda_max 5.0``; None: no clamp)."""
    lambda_update_delay_steps: Natural = 0
    """Updates before λ starts moving (ppo-lag.sh: 0)."""
    episode_cost_window_size: Count = 128
    """Ĵ_C is the mean of the last this-many episode costs (ppo-lag.sh: 128)."""
    max_length: Count = 512
    """Longest tokenised prompt + response: prompts are cut from the left to it and a rollout stops
    there (upstream ``GenerationConfig(max_length=512)``, scripts ``--max_length 512``)."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template; must match the one the SFT and score models were trained with."""
    zero_stage: Optional[ZeroStage] = None
    """DeepSpeed ZeRO stage under the launcher (scripts: ``--zero_stage 3``); None in-process."""
    bf16: bool = False
    """bfloat16 training (scripts: ``--bf16 True``): DeepSpeed's under the launcher; in one process, torch
    autocast around the forward passes on a GPU (fp32 weights and losses, :func:`trainer_precision`); CPU
    runs stay in float32."""
    gradient_checkpointing: bool = False
    """Recompute the actor's and the critics' activations in backward (scripts/ppo-lag.sh:
    ``--actor_gradient_checkpointing --critic_gradient_checkpointing``)."""
    device: Device = "cpu"
    """Where the actor, its frozen reference, the reward and cost models, the critics and every rollout
    live: 'cpu', 'cuda', 'cuda:N' or 'auto' (under a launcher, 'cuda' is each process's own GPU)."""
    checkpoint_every: Natural = 0
    """Save a resumable checkpoint every this many iterations (0: only at the end)."""
    seeds: SeedCount = 1
    """How many seeds the notebook runs (curves show mean ± std over them)."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lambda_max is not None and self.lambda_max < self.lambda_init:
            raise ConfigError(f"lambda_max={self.lambda_max} must be >= lambda_init={self.lambda_init}")

    def work(self):
        """What notebook 3 computes (:mod:`alignbook.engine.estimate`): ``seeds`` runs of ``algorithm``, each
        ``iterations`` rollouts of ``prompt_batch_size`` prompts (generation, then six scoring passes for
        PPO-Lagrangian: actor, reference, reward and cost models, two critics), an update of the actor and
        each critic, a PTX step, and the held-out evaluation before and after (:func:`policy_tokens`).
        Under the launcher (``zero_stage`` set: the launch block's 8 processes) every process does this
        with its own prompts."""
        ranks = LAUNCH_PROCESSES if self.zero_stage is not None else 1
        return self._policy_work([(self.algorithm, self.ptx_coeff > 0)], ranks)

    def _policy_work(self, variants, ranks: int = 1, extra: dict | None = None, notes: tuple[str, ...] = (),
                     seeds: int | None = None, **evaluation):
        """The :class:`~alignbook.engine.estimate.Work` of ``seeds`` (default: ``self.seeds``) runs of each
        ``(algorithm, ptx)`` in ``variants`` on ``ranks`` processes (tokens of all of them; generation and
        step latencies once), plus the token counts in ``extra``; ``evaluation``: :func:`policy_tokens`'s
        ``evals`` and ``eval_scorers``."""
        from alignbook.engine.estimate import lm_work
        from alignbook.lm.sizes import shape_of

        shape = shape_of(self.actor, self.preset)
        if shape is None:
            return None
        hub = "/" in self.actor
        # a hub prompt set's prompts: taken to fill max_length with the response (an upper bound)
        prompt = max(1, self.max_length - self.max_new_tokens) if hub else TOY_PROMPT_TOKENS
        ptx_tokens = TOY_PTX_TOKENS if not hub and self.ptx_dataset == "toy" else self.max_length
        per_rank: dict[str, float] = dict(extra or {})
        models, trained = 0, 0
        for algorithm, ptx in variants:
            critics, scorers = (2, 2) if algorithm == "ppo_lag" else (1, 1 if algorithm == "ppo" else 2)
            run = policy_tokens(self, prompt=prompt, ptx_tokens=ptx_tokens, critics=critics, scorers=scorers, ptx=ptx,
                                **evaluation)
            add_tokens(per_rank, run, self.seeds if seeds is None else seeds)
            models, trained = max(models, 2 + critics + scorers), max(trained, 1 + critics)
        precision = trainer_precision(self.bf16, self.device)
        work = lm_work(shape.params, shape.hidden, shape.layers, train_tokens=ranks * per_rank["train"],
                       forward_tokens=ranks * per_rank["forward"], decode_tokens=ranks * per_rank["decode"],
                       steps=int(per_rank["steps"]), batch=self.prompt_batch_size, seq=run["seq"],
                       precision=precision, trainable=trained * shape.params, resident=models * shape.params,
                       zero_stage=self.zero_stage, checkpointing=self.gradient_checkpointing,
                       notes=[f"{len(variants)} run(s) × {self.seeds if seeds is None else seeds} seeds × "
                              f"{self.iterations} iterations × "
                              f"{self.prompt_batch_size} prompts of {prompt} + {run['response']} tokens"
                              + (f" on each of {ranks} processes" if ranks > 1 else ""),
                              "score models and critics taken at the actor's size",
                              decode_note(per_rank["decode_steps"], shape.layers), *notes]
                       + (["bf16 is torch autocast here: fp32 weights (4 B, not the 2 B counted for frozen models)"]
                          if precision == "bf16" and ranks == 1 else [])
                       + (["hub prompts taken to fill max_length with the response; PTX rows at max_length"]
                          if hub else []))
        work.other_seconds += decode_seconds(per_rank["decode_steps"], shape.layers)
        work.devices = ranks
        return work


@dataclasses.dataclass(frozen=True)
class SFTStageConfig(BaseConfig):
    """The SFT stage: the toy world's SFT model (or the paper's released one) judged by ground truth."""

    world_seed: Seed = 0
    """Seed of the toy world."""
    model: CausalLM = "toy-sft"
    """'toy-sft' (base model fine-tuned on the world's demonstrations), 'toy-base', 'tiny-random' (tests),
    a local folder or a hub SFT model."""
    model_revision: Optional[str] = None
    """Hub revision of ``model``."""
    preset: Preset = "small"
    """Toy-world model preset."""
    eval_prompts: Count = 128
    """Held-out prompts judged by the ground truth."""
    eval_harmful_fraction: Fraction = 0.5
    """Share of harmful requests among the held-out prompts, in [0, 1] (as the RL stages' held-out set)."""
    max_new_tokens: Count = 32
    """Longest sampled response."""
    temperature: Positive = 0.7
    """Sampling temperature for the evaluation."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template."""
    device: Device = "cpu"
    """Where the judged models generate: 'cpu', 'cuda', 'cuda:N' or 'auto'."""

    def work(self):
        """What notebook 1 computes (:mod:`alignbook.engine.estimate`): no training; the base and SFT models
        (a hub model: only it) each sample a response of up to ``max_new_tokens`` to ``eval_prompts``
        held-out prompts, in batches of 64, in fp32 (the loaders' dtype). The toy world's own response
        sources are judged on the CPU (not counted)."""
        from alignbook.engine.estimate import lm_work
        from alignbook.lm.sizes import shape_of

        shape = shape_of(self.model, self.preset)
        if shape is None:
            return None
        models = 2 if self.model == "toy-sft" else 1
        prompt = HUB_PROMPT_TOKENS if "/" in self.model else TOY_PROMPT_TOKENS
        response = max(1, min(self.max_new_tokens, PPOLagConfig.max_length - prompt))
        steps = models * -(-self.eval_prompts // 64) * response
        work = lm_work(shape.params, shape.hidden, shape.layers,
                       forward_tokens=models * self.eval_prompts * prompt,
                       decode_tokens=models * self.eval_prompts * response, trainable=0.0,
                       notes=[f"{models} model(s) × {self.eval_prompts} prompts of {prompt} + {response} tokens",
                              decode_note(steps, shape.layers)]
                       + ([f"a hub tokenizer's prompt taken as {HUB_PROMPT_TOKENS} tokens"]
                          if "/" in self.model else []))
        work.other_seconds += decode_seconds(steps, shape.layers)
        return work


@dataclasses.dataclass(frozen=True)
class AblationConfig(PPOLagConfig):
    """PPO, reward shaping R - ν·C over a grid of ν, and PPO-Lagrangian on one plane."""

    nus: Annotated[tuple[float, ...], Range(0)] = (0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)
    """Fixed shaping coefficients ν, each >= 0 (the paper's grid)."""
    ppo_kl_coeff: NonNegative = 0.02
    """β of the reward-only PPO baseline (ppo.sh: ``--kl_coeff 0.02``)."""
    ptx_ablation: bool = True
    """Also train PPO-Lagrangian without its PTX step (``ptx_coeff=0``): what the official guard
    against losing helpfulness does here (only when ``ptx_coeff > 0``)."""

    def work(self):
        """What notebook 4 computes (:mod:`alignbook.engine.estimate`): for each of ``seeds`` seeds, PPO (reward
        only), PPO on R - ν·C for every ν in ``nus``, PPO-Lagrangian and (``ptx_ablation``) PPO-Lagrangian
        without PTX, each run as notebook 3's (:meth:`PPOLagConfig.work`), in one process (the notebook
        has no launch block)."""
        ptx = self.ptx_coeff > 0
        variants = ([("ppo", ptx)] + [("ppo_shaped", ptx)] * len(self.nus) + [("ppo_lag", ptx)]
                    + ([("ppo_lag", False)] if self.ptx_ablation and ptx else []))
        return self._policy_work(variants, notes=("one process: no launch block, whatever zero_stage says",)
                                 if self.zero_stage is not None else ())


@dataclasses.dataclass(frozen=True)
class ResultsConfig(PPOLagConfig):
    """The results table and, in the gpu profile, the three-round Safe RLHF loop."""

    rounds: Natural = 0
    """Safe RLHF rounds to run here (0: only tabulate the other notebooks' metrics)."""
    round_thresholds: Annotated[tuple[float, ...], Range()] = (0.0, -3.0, -3.0)
    """Cost threshold per round, any finite numbers (paper, Appendix: 0, -3, -3)."""
    round_lambda_init: Annotated[tuple[float, ...], Range(0, min_open=True)] = (1.0, 0.5, 1.0)
    """Initial λ per round, each > 0 (paper: 1, 0.5, 1)."""
    round_lambda_lr: Annotated[tuple[float, ...], Range(0)] = (0.01, 0.04, 0.04)
    """λ learning rate per round, each >= 0 (paper: 0.01, 0.04, 0.04)."""
    pairs_per_round: Count = 2000
    """Preference pairs sampled from the current policy and labelled by the toy world each round."""
    score_epochs: Count = 2
    """Epochs of reward/cost-model retraining per round."""
    score_lr: Positive = 2e-5
    """Learning rate of reward/cost-model retraining per round."""
    score_batch_size: Count = 16
    """Pairs per step of reward/cost-model retraining."""

    def work(self):
        """What notebook 6 computes (:mod:`alignbook.engine.estimate`): with ``rounds`` = 0 only tables of the
        other notebooks' metrics. Else the SFT policy is judged once, then each round samples two responses
        to ``pairs_per_round`` prompts (batches of 64), retrains the reward and the cost model on 90 % of
        those pairs for ``score_epochs`` epochs (the rest held out, scored after every epoch and at the
        end), runs one PPO-Lagrangian (as :meth:`PPOLagConfig.work`, one seed) and judges the policy again."""
        from alignbook.engine.estimate import Work

        if not self.rounds:
            return Work(precision="fp32", notes=["rounds = 0: only the other notebooks' metrics are tabulated"])
        hub = "/" in self.actor
        prompt = max(1, self.max_length - self.max_new_tokens) if hub else TOY_PROMPT_TOKENS
        response = max(1, min(self.max_new_tokens, self.max_length - prompt))
        seq, pairs = prompt + response, self.pairs_per_round
        train, held = int(0.9 * pairs), pairs - int(0.9 * pairs)
        per_round = {  # sampling the pairs, then the reward and the cost model
            "forward": 2 * pairs * prompt + 2 * (self.score_epochs + 1) * held * 2 * seq,
            "decode": 2 * pairs * response,
            "decode_steps": 2 * -(-pairs // 64) * response,
            "train": 2 * self.score_epochs * train * 2 * seq,
            "steps": 2 * self.score_epochs * -(-train // self.score_batch_size),
        }
        judged_once = {"forward": self.eval_prompts * prompt, "decode": self.eval_prompts * response,
                       "decode_steps": -(-self.eval_prompts // 64) * response}
        extra = {k: self.rounds * per_round[k] + judged_once.get(k, 0) for k in per_round}
        return self._policy_work([("ppo_lag", self.ptx_coeff > 0)] * self.rounds, extra=extra, seeds=1, evals=1,
                                 eval_scorers=0,
                                 notes=(f"{self.rounds} rounds × ({pairs} sampled pairs, 2 score models × "
                                        f"{self.score_epochs} epochs × {train} pairs, one PPO-Lagrangian run)",))

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("round_thresholds", "round_lambda_init", "round_lambda_lr"):
            if len(getattr(self, name)) < self.rounds:
                raise ConfigError(f"rounds={self.rounds} needs {self.rounds} values in {name}, which has "
                                  f"{len(getattr(self, name))}: lower rounds or list one value per round")
