"""PPO-Lagrangian (and the PPO / reward-shaping baselines) for a causal LM policy.

One iteration, as in ``safe_rlhf/trainers/rl_trainer.py`` + ``algorithms/ppo_lag/trainer.py``:

1. **rollout**: sample one response per prompt (batched generation), then one forward pass each
   of the actor, the frozen reference, the reward and cost models and the two critics over all
   responses at once;
2. **λ step** (``ppo_lag``): ``log λ ← log λ + η·λ·(Ĵ_C - d)`` with Ĵ_C the mean of the last
   128 episode costs, before the actor loss;
3. **update**: KL-penalised per-token rewards and costs, GAE for each with its own critic,
   the clipped surrogate on ``(Â_R - λ·Â_C)/(1+λ)``, clipped value losses for both critics;
4. **PTX** (``ptx_coeff > 0``): one more actor step on ``ptx_coeff`` times the supervised loss of a
   batch of demonstrations (:mod:`alignbook.safe_rlhf.ptx`, ``rl_trainer.py::ptx_step``).

The baselines share everything: ``ppo`` drops the cost (one critic), ``ppo_shaped`` optimises
``R - ν·C`` with a fixed ν.
"""

from __future__ import annotations

import collections
import copy
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import engine as engine_mod
from alignbook.engine import checkpoints, devices
from alignbook.engine.results import config_fingerprint, reusable

from .config import PPOLagConfig
from .data import pad_left, prompt_ids, special_ids
from .ptx import PTXBatches, ptx_loss
from .reward import autocast_precision, in_fp32
from .results import TrainResult
from .rl import LagrangeMultiplier, actor_loss, critic_loss, gae, kl_penalised_rewards, masked_mean, mixed_advantage
from .score import ScoreModel

Judge = Callable[[str, str], Any]
"""``judge(prompt, response)`` with ``.helpfulness`` and ``.is_safe`` (the toy world's ground truth)."""


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``log π(x_{t+1} | x_≤t)`` at every position ``t`` (shape ``(B, L-1)``)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def response_mask(responses: torch.Tensor, eos_id: int) -> torch.Tensor:
    """1 on generated tokens up to and including the first ``eos``, 0 after it (padding)."""
    is_eos = (responses == eos_id).long()
    seen_before = is_eos.cumsum(dim=1) - is_eos  # eos tokens strictly before this position
    return (seen_before == 0).long()


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are (its batches go there)."""
    return next(model.parameters()).device


def cuda_rng_devices(device: Any) -> list[int]:
    """The CUDA devices whose random state sampling on ``device`` draws on: none on the CPU, nor on a
    test's stand-in GPU (:mod:`alignbook.engine.standin`), whose sampling uses the CPU's generator."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    index = device.index if device.index is not None else torch.cuda.current_device()
    return [index] if index < len(torch.cuda.default_generators) else []


def response_budget(prompt_length: int, cfg: PPOLagConfig) -> int:
    """New tokens a rollout may add: ``max_new_tokens``, and prompt + response within ``max_length``
    (upstream generates with ``GenerationConfig(max_length=512)``, a cap on the padded prompt plus
    the response); at least one token."""
    return max(1, min(cfg.max_new_tokens, cfg.max_length - prompt_length))


@torch.no_grad()
def sample_responses(actor: torch.nn.Module, tokenizer: Any, prompts: Sequence[str], cfg: PPOLagConfig,
                     *, do_sample: bool = True, synced_gpus: bool = False) -> dict[str, Any]:
    """One response per prompt: token ids, masks and decoded text (batched, left-padded prompts), on the
    actor's device."""
    pad, eos = special_ids(tokenizer)
    encoded = [prompt_ids(tokenizer, p, cfg.prompt_template)[-cfg.max_length:] for p in prompts]
    input_ids, attention_mask = devices.to(pad_left(encoded, pad), model_device(actor))
    was_training = actor.training
    actor.eval()
    out = actor.generate(
        input_ids=input_ids, attention_mask=attention_mask, do_sample=do_sample,
        temperature=cfg.temperature if do_sample else None, top_k=cfg.top_k if do_sample else None,
        top_p=1.0 if do_sample else None, max_new_tokens=response_budget(input_ids.size(1), cfg),
        pad_token_id=pad,
        eos_token_id=eos, synced_gpus=synced_gpus,
    )
    actor.train(was_training)
    responses = out[:, input_ids.size(1):]
    mask = response_mask(responses, eos)
    responses = responses.masked_fill(mask == 0, pad)
    texts = tokenizer.batch_decode(responses.cpu(), skip_special_tokens=True)  # token ids as Python ints
    return {
        "sequence": torch.cat([input_ids, responses], dim=1),
        "attention_mask": torch.cat([attention_mask, mask], dim=1),
        "prompt_length": input_ids.size(1),
        "texts": [t.strip() for t in texts],
        "lengths": mask.sum(dim=1),
    }


@torch.no_grad()
def evaluate_policy(actor: torch.nn.Module, tokenizer: Any, prompts: Sequence[str], cfg: PPOLagConfig,
                    judge: Judge, *, reward_model: ScoreModel | None = None,
                    cost_model: ScoreModel | None = None, batch_size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Ground-truth helpfulness and harm rate (and model scores) of sampled responses to ``prompts``.

    Sampling is seeded with ``seed`` and leaves the caller's random state (CPU and GPU) as it found it;
    the score models must be on the actor's device."""
    from alignbook.lm import auto_threads, torch_threads

    with torch_threads(auto_threads(actor)):
        return _evaluate_policy(actor, tokenizer, prompts, cfg, judge, reward_model, cost_model, batch_size, seed)


def _evaluate_policy(actor, tokenizer, prompts, cfg, judge, reward_model, cost_model, batch_size, seed):
    with torch.random.fork_rng(devices=cuda_rng_devices(model_device(actor))):
        torch.manual_seed(seed)
        return _sampled_verdicts(actor, tokenizer, prompts, cfg, judge, reward_model, cost_model, batch_size)


def _sampled_verdicts(actor, tokenizer, prompts, cfg, judge, reward_model, cost_model, batch_size):
    helpful, unsafe, rewards, costs, texts = [], [], [], [], []
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        roll = sample_responses(actor, tokenizer, chunk, cfg)
        for prompt, text in zip(chunk, roll["texts"]):
            verdict = judge(prompt, text)
            helpful.append(float(verdict.helpfulness))
            unsafe.append(0.0 if verdict.is_safe else 1.0)
        texts += roll["texts"]
        if reward_model is not None:
            rewards += reward_model(roll["sequence"], roll["attention_mask"]).end_scores.cpu().tolist()
        if cost_model is not None:
            costs += cost_model(roll["sequence"], roll["attention_mask"]).end_scores.cpu().tolist()
    out = {"helpfulness": float(np.mean(helpful)), "harm_rate": float(np.mean(unsafe)), "responses": texts,
           "helpfulness_per_prompt": helpful, "unsafe_per_prompt": unsafe}
    if rewards:
        out["reward"] = float(np.mean(rewards))
    if costs:
        out["cost"] = float(np.mean(costs))
    return out


def _frozen(model: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class PPOLagTrainer:
    """Holds the six networks, the multiplier and the episode-cost window; ``train()`` runs it."""

    def __init__(self, actor: torch.nn.Module, tokenizer: Any, reward_model: ScoreModel,
                 cost_model: ScoreModel | None, prompts: Sequence[str], cfg: PPOLagConfig,
                 *, judge: Judge | None = None, demonstrations: Sequence[tuple[str, str]] = (),
                 critics: tuple[torch.nn.Module, torch.nn.Module | None] | None = None) -> None:
        if cfg.algorithm != "ppo" and cost_model is None:
            raise ValueError(f"algorithm={cfg.algorithm!r} needs a cost_model; pass one or use algorithm='ppo'")
        if not prompts:
            raise ValueError("prompts is empty; pass the training prompts")
        if cfg.ptx_coeff > 0 and not demonstrations:
            raise ValueError(f"ptx_coeff={cfg.ptx_coeff} needs demonstrations for the PTX step; pass them or set ptx_coeff=0")
        self.cfg, self.tokenizer, self.judge = cfg, tokenizer, judge
        self.prompts = list(prompts)
        self.pad_id, self.eos_id = special_ids(tokenizer)
        # every network on the config's device, before the copies and the optimisers are made; the
        # caller's actor, score models and critics move there too (the actor trains in place)
        self.device = devices.resolve(cfg.device)
        for model in (actor, reward_model, cost_model, *(critics or ())):
            if model is not None:
                model.to(self.device)
        self.reference = _frozen(actor)
        self.reward_model = _frozen(reward_model)
        self.cost_model = _frozen(cost_model) if cost_model is not None else None
        # The critics start from the score models (upstream): their first value estimates already
        # predict the sequence's reward/cost, which makes the early advantages meaningful. A score
        # model with no per-token scores (a judge on embeddings) cannot be a critic: the caller
        # passes ``critics`` (reward critic, cost critic) instead.
        if critics is not None:
            reward_critic = critics[0].train()
            cost_critic = critics[1].train() if cfg.algorithm == "ppo_lag" and critics[1] is not None else None
            if cfg.algorithm == "ppo_lag" and cost_critic is None:
                raise ValueError("algorithm='ppo_lag' needs a cost critic; pass critics=(reward_critic, cost_critic)")
        else:
            reward_critic = copy.deepcopy(reward_model).train()
            cost_critic = copy.deepcopy(cost_model).train() if cfg.algorithm == "ppo_lag" else None
        for model in (reward_critic, cost_critic):
            if model is not None:
                for p in model.parameters():
                    p.requires_grad_(True)
        steps = cfg.iterations * cfg.update_iters
        if cfg.gradient_checkpointing:  # the actor and both critics, as scripts/ppo-lag.sh asks
            for model in (actor, reward_critic, cost_critic):
                if model is not None and hasattr(model, "gradient_checkpointing_enable"):
                    model.gradient_checkpointing_enable()
        self.actor = engine_mod.wrap(actor, lr=cfg.actor_lr, weight_decay=cfg.actor_weight_decay,
                                     zero_stage=cfg.zero_stage, bf16=cfg.bf16, grad_accum=cfg.grad_accum,
                                     micro_batch_size=cfg.prompt_batch_size, max_grad_norm=cfg.max_grad_norm or None)
        self.reward_critic = engine_mod.wrap(reward_critic, lr=cfg.critic_lr, weight_decay=cfg.critic_weight_decay,
                                             zero_stage=cfg.zero_stage, bf16=cfg.bf16, grad_accum=cfg.grad_accum,
                                             micro_batch_size=cfg.prompt_batch_size,
                                             max_grad_norm=cfg.max_grad_norm or None)
        self.cost_critic = (
            engine_mod.wrap(cost_critic, lr=cfg.critic_lr, weight_decay=cfg.critic_weight_decay,
                            zero_stage=cfg.zero_stage, bf16=cfg.bf16, grad_accum=cfg.grad_accum,
                            micro_batch_size=cfg.prompt_batch_size, max_grad_norm=cfg.max_grad_norm or None)
            if cost_critic is not None else None
        )
        # Under DeepSpeed its engine places the actor (this rank's GPU): rollouts, PTX batches, the frozen
        # models and every tensor handed to a collective follow the actor there.
        self.device = self.actor.device
        for model in (self.reference, self.reward_model, self.cost_model):
            if model is not None:
                model.to(self.device)
        self.total_updates = steps
        self.multiplier = LagrangeMultiplier(cfg.lambda_init, cfg.lambda_lr, cfg.lambda_max)
        self.episode_costs: collections.deque = collections.deque(maxlen=cfg.episode_cost_window_size)
        self.rank, self.world_size = self.actor.rank, self.actor.world_size
        # bf16 in one process: autocast around the forward passes, losses in fp32 (reward.autocast_precision)
        self.precision = autocast_precision(cfg, self.device, self.actor)
        self.iteration = 0
        self.updates = 0
        self.history: list[dict[str, Any]] = []
        self._order = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank)
        self._queue: list[int] = []
        self.ptx = (PTXBatches(tokenizer, demonstrations, cfg.prompt_batch_size, cfg.prompt_template, cfg.max_length,
                               seed=cfg.seed * 1000 + 500 + self.rank) if cfg.ptx_coeff > 0 else None)

    # ------------------------------------------------------------------ data
    def next_prompts(self) -> list[str]:
        """The next prompt batch of this rank: a fresh permutation each pass over the prompts."""
        batch = []
        while len(batch) < self.cfg.prompt_batch_size:
            if not self._queue:
                self._queue = torch.randperm(len(self.prompts), generator=self._order).tolist()
            batch.append(self.prompts[self._queue.pop()])
        return batch

    # --------------------------------------------------------------- rollout
    @torch.no_grad()
    def rollout(self, prompts: Sequence[str]) -> dict[str, Any]:
        synced = self.cfg.zero_stage == 3 and self.world_size > 1
        fp32 = lambda t: in_fp32(t, self.precision)  # noqa: E731  (token_logprobs reads logits in fp32 itself)
        with devices.autocast(self.device, self.precision):
            roll = sample_responses(self.actor.module, self.tokenizer, prompts, self.cfg, synced_gpus=synced)
            seq, mask = roll["sequence"], roll["attention_mask"]
            roll["old_log_probs"] = token_logprobs(engine_mod.forward(self.actor, seq, attention_mask=mask).logits, seq)
            roll["ref_log_probs"] = token_logprobs(self.reference(seq, attention_mask=mask).logits, seq)
            roll["reward"] = fp32(self.reward_model(seq, mask).end_scores)
            roll["reward_values"] = fp32(engine_mod.forward(self.reward_critic, seq, mask).scores[:, :-1])
            if self.cost_model is not None:
                roll["cost"] = fp32(self.cost_model(seq, mask).end_scores)
            if self.cost_critic is not None:
                roll["cost_values"] = fp32(engine_mod.forward(self.cost_critic, seq, mask).scores[:, :-1])
        roll["prompts"] = list(prompts)
        return roll

    # ---------------------------------------------------------------- update
    def _lr(self, base: float, schedule: str, warmup: float) -> float:
        return engine_mod.lr_at(self.updates, self.total_updates, base, schedule, warmup)

    def rl_step(self, roll: dict[str, Any]) -> dict[str, float]:
        cfg = self.cfg
        seq, attn = roll["sequence"], roll["attention_mask"]
        start = roll["prompt_length"] - 1
        seq_mask = attn[:, 1:]
        mask = seq_mask[:, start:]
        stats: dict[str, float] = {}
        if cfg.algorithm == "ppo_lag":
            window = torch.tensor(list(self.episode_costs), dtype=torch.float32, device=self.device).mean()
            episode_cost = engine_mod.all_reduce_mean(window, self.world_size).item()
            if self.updates >= cfg.lambda_update_delay_steps:
                self.multiplier.update(episode_cost, cfg.threshold)
            stats["episode_cost"] = episode_cost
        with torch.no_grad():
            reward = roll["reward"]
            if cfg.algorithm == "ppo_shaped":
                reward = reward - cfg.shaping_nu * roll["cost"]
            cost = roll["cost"] if cfg.algorithm == "ppo_lag" else torch.zeros_like(reward)
            rewards, costs = kl_penalised_rewards(reward, cost, roll["old_log_probs"], roll["ref_log_probs"],
                                                  seq_mask, cfg.kl_coeff, cfg.clip_range_score)
            reward_adv, reward_ret = gae(roll["reward_values"], rewards, seq_mask, start, cfg.gamma, cfg.gae_lambda)
            if cfg.algorithm == "ppo_lag":
                cost_adv, cost_ret = gae(roll["cost_values"], costs, seq_mask, start, cfg.gamma, cfg.gae_lambda)
                advantages = mixed_advantage(reward_adv, cost_adv, self.multiplier.value)
            else:
                advantages = reward_adv

        for engine, base, schedule, warm in (
            (self.actor, cfg.actor_lr, cfg.actor_lr_scheduler, cfg.actor_warmup_ratio),
            (self.reward_critic, cfg.critic_lr, cfg.critic_lr_scheduler, cfg.critic_warmup_ratio),
            (self.cost_critic, cfg.critic_lr, cfg.critic_lr_scheduler, cfg.critic_warmup_ratio),
        ):
            if engine is not None:
                engine_mod.set_lr(engine, self._lr(base, schedule, warm))

        with devices.autocast(self.device, self.precision):
            logits = engine_mod.forward(self.actor, seq, attention_mask=attn).logits
        log_probs = token_logprobs(logits, seq)
        loss = actor_loss(log_probs[:, start:], roll["old_log_probs"][:, start:], advantages, mask,
                          cfg.clip_range_ratio)
        self.actor.backward(loss)
        self.actor.step()
        stats["actor_loss"] = loss.item()

        with devices.autocast(self.device, self.precision):
            values = engine_mod.forward(self.reward_critic, seq, attn).scores[:, :-1]
        values = in_fp32(values, self.precision)
        r_loss = critic_loss(values[:, start:], roll["reward_values"][:, start:], reward_ret, mask,
                             cfg.clip_range_value)
        self.reward_critic.backward(r_loss)
        self.reward_critic.step()
        stats["reward_critic_loss"] = r_loss.item()
        if self.cost_critic is not None:
            with devices.autocast(self.device, self.precision):
                values = engine_mod.forward(self.cost_critic, seq, attn).scores[:, :-1]
            values = in_fp32(values, self.precision)
            c_loss = critic_loss(values[:, start:], roll["cost_values"][:, start:], cost_ret, mask,
                                 cfg.clip_range_value)
            self.cost_critic.backward(c_loss)
            self.cost_critic.step()
            stats["cost_critic_loss"] = c_loss.item()

        with torch.no_grad():
            kl = ((roll["old_log_probs"] - roll["ref_log_probs"])[:, start:] * mask).sum(dim=-1).mean()
            stats["kl"] = kl.item()
            stats["reward_with_kl_penalty"] = (rewards[:, start:] * mask).sum(dim=-1).mean().item()
            stats["reward_advantage"] = masked_mean(reward_adv, mask).item()
        self.updates += 1
        return stats

    def ptx_step(self) -> dict[str, float]:
        """One actor step on ``ptx_coeff`` times the supervised loss of the next demonstration batch
        (upstream ``ptx_step``: the same optimiser, learning rate and clipping as the RL step)."""
        batch = devices.to(self.ptx.next(), self.device)
        with devices.autocast(self.device, self.precision):
            logits = engine_mod.forward(self.actor, batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = ptx_loss(in_fp32(logits, self.precision), batch["labels"])
        self.actor.backward(self.cfg.ptx_coeff * loss)
        self.actor.step()
        return {"ptx_loss": engine_mod.all_reduce_mean(loss.detach(), self.world_size).item()}

    # ----------------------------------------------------------------- loop
    def step(self) -> dict[str, Any]:
        """One iteration: rollout, then ``update_iters`` λ + PPO updates. Returns its history record."""
        started = time.perf_counter()
        roll = self.rollout(self.next_prompts())
        rollout_s = time.perf_counter() - started
        if "cost" in roll:
            self.episode_costs.extend(roll["cost"].cpu().tolist())
        stats: dict[str, float] = {}
        for _ in range(self.cfg.update_iters):
            stats = self.rl_step(roll)
            if self.ptx is not None:
                stats.update(self.ptx_step())
        reduce = lambda t: engine_mod.all_reduce_mean(t.float().mean(), self.world_size).item()  # noqa: E731
        record: dict[str, Any] = {
            "iteration": self.iteration,
            "reward": reduce(roll["reward"]),
            "lambda": self.multiplier.value,
            "response_length": reduce(roll["lengths"]),
            **stats,
            "rollout_s": rollout_s,
            "iteration_s": time.perf_counter() - started,
        }
        if "cost" in roll:
            record["cost"] = reduce(roll["cost"])
        if self.judge is not None:
            verdicts = [self.judge(p, t) for p, t in zip(roll["prompts"], roll["texts"])]
            record["true_helpfulness"] = reduce(torch.tensor([v.helpfulness for v in verdicts], device=self.device))
            record["true_harm_rate"] = reduce(torch.tensor([0.0 if v.is_safe else 1.0 for v in verdicts],
                                                           device=self.device))
        self.iteration += 1
        self.history.append(record)
        return record

    def train(self, save_dir: str | Path | None = None, resume: bool = True) -> TrainResult:
        cfg = self.cfg
        ckpt = Path(save_dir) / "resume.pt" if save_dir is not None else None
        if ckpt is not None and resume and ckpt.exists():
            self.load_state(ckpt)
        bar = tqdm(total=cfg.iterations, initial=self.iteration, desc=cfg.algorithm,
                   disable=not (cfg.verbose and self.actor.is_main))
        while self.iteration < cfg.iterations:
            record = self.step()
            bar.update(1)
            bar.set_postfix(R=f"{record['reward']:.2f}", C=f"{record.get('cost', float('nan')):.2f}",
                            lam=f"{record['lambda']:.2f}")
            if ckpt is not None and cfg.checkpoint_every and self.iteration % cfg.checkpoint_every == 0:
                self.save_state(ckpt)
        bar.close()
        last = self.history[-min(10, len(self.history)):]
        metrics = {key: float(np.mean([r[key] for r in last])) for key in last[0]
                   if key not in ("iteration",) and isinstance(last[0][key], (int, float))}
        metrics["final_lambda"] = self.multiplier.value
        checkpoint = None
        if save_dir is not None:
            checkpoint = str(Path(save_dir) / "actor")
            state = self.actor.full_state_dict()  # under ZeRO-3 every rank takes part in gathering it
            if self.actor.is_main:  # written from the CPU, wherever the actor is
                self.actor.module.save_pretrained(checkpoint, state_dict=_on_cpu(state))
                self.tokenizer.save_pretrained(checkpoint)
            self.actor.barrier()
        result = TrainResult(metrics=metrics, history=list(self.history), checkpoint=checkpoint, config=cfg)
        if save_dir is not None and self.actor.is_main:
            result.save(save_dir)
        return result

    # ------------------------------------------------------------- resuming
    def save_state(self, path: Path) -> None:
        """Everything needed to continue after a kill (one process: this rank's state)."""
        if self.world_size > 1:
            return  # multi-process resume would need DeepSpeed's sharded checkpoints; see the chapter page
        engines = {"actor": self.actor, "reward_critic": self.reward_critic, "cost_critic": self.cost_critic}
        state = {
            "config": config_fingerprint(self.cfg),
            "iteration": self.iteration,
            "updates": self.updates,
            "history": self.history,
            "episode_costs": list(self.episode_costs),
            "multiplier": self.multiplier.state_dict(),
            "queue": list(self._queue),
            "order": self._order.get_state(),
            "ptx": self.ptx.state_dict() if self.ptx is not None else None,
            "torch_rng": torch.random.get_rng_state(),
            "cuda_rng": [torch.cuda.get_rng_state(i) for i in cuda_rng_devices(self.device)],
            "python_rng": _python_rng_to_plain(random.getstate()),
            "numpy_rng": _numpy_rng_to_plain(np.random.get_state()),
            "models": {k: _on_cpu(e.module.state_dict()) for k, e in engines.items() if e is not None},
            "optimizers": {k: _on_cpu(e.optimizer.state_dict()) for k, e in engines.items() if e is not None},
        }
        checkpoints.save(path, state)  # atomic: a kill mid-save leaves the previous checkpoint intact

    def load_state(self, path: Path) -> bool:
        """Continue from ``path`` if it was saved with this config; return whether it was."""
        state = checkpoints.load(path)  # tensors and plain data only: a damaged file raises CheckpointError
        if not reusable(state.get("config"), self.cfg):
            return False  # a checkpoint of a run with other parameters: start afresh
        engines = {"actor": self.actor, "reward_critic": self.reward_critic, "cost_critic": self.cost_critic}
        for key, engine in engines.items():
            if engine is not None:
                engine.module.load_state_dict(state["models"][key])
                engine.optimizer.load_state_dict(state["optimizers"][key])
        self.iteration, self.updates, self.history = state["iteration"], state["updates"], state["history"]
        self.episode_costs.extend(state["episode_costs"])
        self.multiplier.load_state_dict(state["multiplier"])
        self._queue = state["queue"]
        self._order.set_state(state["order"])
        if self.ptx is not None and state.get("ptx") is not None:
            self.ptx.load_state_dict(state["ptx"])
        torch.random.set_rng_state(state["torch_rng"])
        for index, rng in zip(cuda_rng_devices(self.device), state.get("cuda_rng") or []):
            torch.cuda.set_rng_state(rng, index)
        random.setstate(_python_rng_from_plain(state["python_rng"]))
        np.random.set_state(_numpy_rng_from_plain(state["numpy_rng"]))
        return True


def _on_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in it brought back to the CPU (to be written to a file)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


# RNG states as lists and numbers, which torch.load(weights_only=True) accepts (numpy arrays it refuses)
def _python_rng_to_plain(state: tuple) -> list:
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def _python_rng_from_plain(state: list) -> tuple:
    version, internal, gauss_next = state
    return version, tuple(internal), gauss_next


def _numpy_rng_to_plain(state: tuple) -> list:
    name, keys, pos, has_gauss, cached_gaussian = state
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached_gaussian)]


def _numpy_rng_from_plain(state: list) -> tuple:
    name, keys, pos, has_gauss, cached_gaussian = state
    return name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached_gaussian


def train_ppo_lag(actor: torch.nn.Module, tokenizer: Any, reward_model: ScoreModel, cost_model: ScoreModel | None,
                  prompts: Sequence[str], cfg: PPOLagConfig, *, judge: Judge | None = None,
                  demonstrations: Sequence[tuple[str, str]] = (),
                  critics: tuple[torch.nn.Module, torch.nn.Module | None] | None = None,
                  save_dir: str | Path | None = None, resume: bool = True) -> TrainResult:
    """Train ``actor`` in place with ``cfg.algorithm`` (PPO-Lagrangian, PPO, or PPO on R - ν·C).

    ``judge`` (optional) adds the ground truth of every rollout to the history. ``demonstrations``
    ((prompt, response) pairs) feed the PTX step when ``cfg.ptx_coeff > 0``. With
    ``critics`` (reward critic, cost critic; optional) replace the default critics, copies of the
    score models. With ``save_dir`` the run checkpoints every ``cfg.checkpoint_every`` iterations and, when
    restarted with ``resume=True``, continues from the last checkpoint with identical results.
    """
    from alignbook.lm import auto_threads, torch_threads

    with torch_threads(auto_threads(actor)):
        trainer = PPOLagTrainer(actor, tokenizer, reward_model, cost_model, prompts, cfg, judge=judge,
                                demonstrations=demonstrations, critics=critics)
        return trainer.train(save_dir=save_dir, resume=resume)
