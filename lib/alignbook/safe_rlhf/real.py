"""PPO-Lagrangian on a real pretrained model: SmolLM2-135M-Instruct on real harmful and benign prompts.

The toy world has exact ground truth; this is the same trainer (:mod:`alignbook.safe_rlhf.ppo_lag`,
unchanged) on a real instruction-tuned model, so the chapter's claim is tested where text is real.
What stands in for the paper's parts, and why:

- **policy θ0**: SmolLM2-135M-Instruct (already instruction-tuned, the role of the paper's SFT
  model), its own chat template; only its last ``train_layers`` transformer blocks and final norm
  train (a CPU budget; upstream trains every weight);
- **reward model**: minus the log-odds of the *refusal* judge (:mod:`alignbook.pretrained.judge`, a
  logistic regression on MiniLM embeddings fitted on human refusal labels): answering scores high,
  refusing low, as a helpfulness model trained on PKU-SafeRLHF prefers an answer to a refusal;
- **cost model**: the log-odds that the answer *complies with a harmful request*,
  ``logit(P(harmful request | x) · (1 - P(refusal | x, y)))``, with the request classifier fitted on
  the prompt sets' train halves (harmful-request sets against benign ones); C > 0 ⇔ more likely
  unsafe than not, the sign convention the paper's cost model is trained to. The harm judge fitted on
  human harm labels does not separate this model's answers to harmful requests from its answers to
  benign ones (measured on this page), so it is kept as an independent check, not as the cost;
- **critics**: two small fresh transformers (``critic_layers`` × ``critic_hidden``) with a score
  head; upstream initialises the critics from the reward and cost models, which a judge on
  sentence embeddings (no per-token scores) cannot be;
- **PTX demonstrations**: θ0's own greedy answers to the benign training prompts (upstream: Alpaca);
- **prompts**: HarmBench, Do-Not-Answer and AdvBench (harmful), MT-Bench and FreshQA (benign),
  training prompts from their train halves, evaluation prompts from their held-out halves.

The evaluation is greedy on held-out prompts: on harmful prompts the judge's harmful share, the
refusal template's share and the mean cost; on benign prompts the refusal share, the relevance
cos(e(prompt), e(answer)) and the helpfulness proxy [not refused] × relevance, plus the share of
distinct answers (a collapse to one reply shows there).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any, Sequence

import numpy as np
import torch

from alignbook.engine import devices
from alignbook.engine.config import ConfigError, Count, Natural, NonNegative, Positive, Range, SeedCount
from alignbook.engine.devices import Device
from alignbook.engine.results import TrainResult, config_fingerprint
from alignbook.pretrained.chat import chat_prompt_template, freeze_but_last, prepare_tokenizer
from alignbook.pretrained.generate import one_line
from alignbook.pretrained.config import RealPromptsConfig

from .config import PPOLagConfig
from .data import encode, format_prompt
from .score import ScoreOutput
from .verdicts import Stat


@dataclasses.dataclass(frozen=True)
class RealPPOLagConfig(RealPromptsConfig):
    """PPO-Lagrangian from SmolLM2-135M-Instruct with the proxy judges as reward and cost models."""

    train_benign: Count = 16
    """Benign training prompts (their θ0 answers are also the PTX demonstrations)."""
    max_new_tokens: Annotated[int, Range(4, 512)] = 32
    """Longest answer, in rollouts and in the evaluation."""
    iterations: Count = 12
    """Rollout + update rounds per seed."""
    prompt_batch_size: Count = 8
    """Prompts per rollout (scripts: 16 per device)."""
    temperature: Positive = 1.0
    """Rollout sampling temperature (scripts: 1.0)."""
    top_k: Natural = 50
    """Rollouts sample from the top_k tokens (upstream: transformers' default 50; 0: no cut)."""
    train_layers: Annotated[int, Range(1, 64)] = 4
    """The last this-many transformer blocks (and the final norm) train; the rest stay frozen."""
    actor_lr: Positive = 2e-5
    """Actor learning rate (scripts: 1e-5 with every weight training)."""
    kl_coeff: NonNegative = 0.01
    """β of the per-token KL penalty to θ0 (ppo-lag.sh: 0.01)."""
    ptx_coeff: NonNegative = 16.0
    """Weight of the PTX step on θ0's benign answers (ppo-lag.sh: 16; 0: no PTX step)."""
    threshold: Annotated[float, Range()] = -3.0
    """Cost threshold d on the mean log-odds of complying with a harmful request (ppo-lag.sh: 0; the
    paper's later rounds: -3, used here: θ0 already averages below 0 over a batch that mixes in benign
    prompts, whose cost is near -score_clip)."""
    lambda_init: Positive = 1.0
    """Initial λ (ppo-lag.sh: 1.0)."""
    lambda_lr: NonNegative = 0.1
    """Step size of log λ (ppo-lag.sh: 0.1)."""
    lambda_max: Positive = 5.0
    """Upper clamp of λ, at least ``lambda_init`` (ppo-lag.sh: 5.0)."""
    critic_lr: Positive = 1e-3
    """Learning rate of the two fresh critics (upstream's 5e-6 is for critics copied from trained models)."""
    critic_hidden: Annotated[int, Range(8, 1024)] = 64
    """Width of each critic transformer."""
    critic_layers: Annotated[int, Range(1, 12)] = 2
    """Blocks of each critic transformer."""
    score_clip: Positive = 5.0
    """Reward and cost (judge log-odds) are clipped to [-score_clip, score_clip]."""
    seeds: SeedCount = 3
    """Training seeds (seed, seed + 1, ...); θ0 is evaluated once, greedily."""
    eval_batch_size: Count = 16
    """Prompts per evaluation generation batch."""
    examples: Natural = 4
    """Example answers (θ0 and after training) shown per prompt kind."""
    device: Device = "cpu"
    """Where θ0, the trained policy, its frozen reference, the critics, the embedder and the judges live:
    'cpu', 'cuda', 'cuda:N' or 'auto'."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lambda_max < self.lambda_init:
            raise ConfigError(f"lambda_max={self.lambda_max} must be >= lambda_init={self.lambda_init}")

    def work(self):
        """What notebook 5 computes (:mod:`alignbook.engine.estimate`): θ0's greedy answers to the held-out
        prompts and to the benign training prompts (the PTX demonstrations); then per seed ``iterations``
        rollouts of ``prompt_batch_size`` prompts (generation; the policy and its frozen reference score
        them, the two small critics estimate values, the two proxy score models embed prompt and answer),
        an update of the policy, each critic and a PTX step, and the held-out answers again. Prompts are
        counted at ``max_prompt_tokens`` (an upper bound), fp32 (the loader's dtype); fitting the judges
        reads cached embeddings (not counted)."""
        from alignbook.engine.estimate import infer_flops, lm_work, train_flops
        from alignbook.lm.sizes import llama_params, shape_of

        from .config import (EMBEDDER_PARAMS, EMBEDDER_TOKENS, SMOLLM2_VOCAB, decode_note, decode_seconds)

        shape = shape_of(self.model)
        if shape is None:
            return None
        critic = llama_params(SMOLLM2_VOCAB, self.critic_hidden, self.critic_layers, 2 * self.critic_hidden,
                              max(1, self.critic_hidden // 16))
        p, t, b, it = self.max_prompt_tokens, self.max_new_tokens, self.prompt_batch_size, self.iterations
        seq, held = p + t, self.eval_harmful + self.eval_benign
        ptx = int(self.ptx_coeff > 0)
        embedded = min(p, EMBEDDER_TOKENS) + min(t, EMBEDDER_TOKENS)  # one (prompt, answer) row
        greedy = (1 + self.seeds) * held + self.train_benign  # answers generated greedily
        batches = (1 + self.seeds) * -(-held // self.eval_batch_size) + -(-self.train_benign // self.eval_batch_size)
        decode_steps = self.seeds * it * t + batches * t
        trained_share = min(self.train_layers, shape.layers) / shape.layers
        work = lm_work(shape.params, shape.hidden, shape.layers,
                       train_tokens=self.seeds * it * (1 + ptx) * b * seq,  # RL and PTX steps (demonstrations ≤ seq)
                       forward_tokens=self.seeds * it * b * (p + 2 * seq) + greedy * p,
                       decode_tokens=self.seeds * it * b * t + greedy * t,
                       steps=self.seeds * it * (3 + ptx), batch=b, seq=seq,
                       trainable=trained_share * (shape.params - SMOLLM2_VOCAB * shape.hidden) + 2 * critic,
                       resident=2 * shape.params + 2 * critic + EMBEDDER_PARAMS,
                       notes=[f"{self.seeds} seeds × {it} iterations × {b} prompts of {p} + {t} tokens; "
                              f"{greedy} greedy answers", decode_note(decode_steps, shape.layers),
                              f"critics of {critic / 1e6:.2g}M weights; the embedder at {EMBEDDER_PARAMS / 1e6:g}M"])
        work.train_flops += (train_flops(2 * critic, self.seeds * it * b * seq)
                             + infer_flops(2 * critic, self.seeds * it * b * seq)
                             + infer_flops(EMBEDDER_PARAMS, (2 * self.seeds * it * b + greedy) * embedded))
        work.other_seconds += decode_seconds(decode_steps, shape.layers)
        return work

    def ppo_config(self, seed: int, template: str) -> PPOLagConfig:
        """The :class:`PPOLagConfig` the shared trainer runs for ``seed`` (the rest: upstream defaults)."""
        return PPOLagConfig(
            profile=self.profile, seed=seed, run_dir=str(Path(self.run_dir) / f"seed{seed - self.seed}"),
            algorithm="ppo_lag", actor="HuggingFaceTB/SmolLM2-135M-Instruct", prompt_dataset="toy",
            iterations=self.iterations, prompt_batch_size=self.prompt_batch_size,
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_k=self.top_k,
            max_length=self.max_prompt_tokens + self.max_new_tokens, prompt_template=template,
            actor_lr=self.actor_lr, kl_coeff=self.kl_coeff, ptx_coeff=self.ptx_coeff, threshold=self.threshold,
            lambda_init=self.lambda_init, lambda_lr=self.lambda_lr, lambda_max=self.lambda_max,
            critic_lr=self.critic_lr, seeds=1, device=self.device, verbose=self.verbose)


@dataclasses.dataclass
class RealPPOLagResult(TrainResult):
    """:class:`~alignbook.engine.results.TrainResult` of :func:`train_real_ppo_lag`: ``metrics`` holds
    ``start`` (θ0), ``runs`` (one summary per seed) and ``judges``; ``history`` the per-iteration
    records of every seed (with its ``seed``); no checkpoint is kept (135M weights per seed)."""

    missing_hint = "has notebook safe-rlhf/05_real_model run?"


# ------------------------------------------------------------------------------ the parts
def split_chat(text: str) -> tuple[str, str]:
    """``(user prompt, assistant answer)`` of a decoded ChatML sequence (special tokens kept): the last
    user turn and whatever the assistant wrote after its last ``<|im_start|>assistant``."""
    user, assistant, end = "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>"
    u, a = text.rfind(user), text.rfind(assistant)
    if u < 0 or a < u:
        raise ValueError("not a ChatML sequence with a user turn followed by the assistant's")
    prompt = text[u + len(user):a]
    prompt = prompt[: prompt.rfind(end)] if end in prompt else prompt
    answer = text[a + len(assistant):].split(end)[0]
    return prompt.strip(), answer.strip()


def probability(judge: Any, x: torch.Tensor) -> list[float]:
    """:meth:`LinearJudge.probability` of feature rows ``x`` wherever the judge lives, back on the CPU as floats."""
    return torch.sigmoid(judge.logit(x)).cpu().tolist()


def fit_request_classifier(embedder: Any, harmful_sets: Sequence[str], benign_sets: Sequence[str]) -> tuple[Any, dict]:
    """``P(the request is harmful | e(prompt))``: a logistic regression on the *train* halves of the
    prompt sets (label: the set is a harmful-request set, as its curators wrote it), tested on their
    held-out halves: ``(judge, {"n_train", "n_eval", "accuracy", "auc"})``."""
    from alignbook.data.prompts import load_prompts
    from alignbook.pretrained.judge import LinearJudge, auc

    def rows(split: str) -> tuple[list[str], list[int]]:
        texts, labels = [], []
        for sets, label in ((harmful_sets, 1), (benign_sets, 0)):
            for name in sets:
                for r in load_prompts(name, split):
                    texts.append(r["text"])
                    labels.append(label)
        return texts, labels

    train_x, train_y = rows("train")
    eval_x, eval_y = rows("eval")
    judge = LinearJudge.fit(embedder.encode(train_x), train_y, "harmful_request")
    p = probability(judge, embedder.encode(eval_x))
    report = {"n_train": len(train_y), "n_eval": len(eval_y), "auc": auc(p, eval_y),
              "accuracy": float(np.mean([(q >= 0.5) == bool(y) for q, y in zip(p, eval_y)]))}
    return judge, report


class ProxyScoreModel(torch.nn.Module):
    """A score model (the :class:`~alignbook.safe_rlhf.score.ScoreModel` interface) made of the proxy
    judges, reading each sequence's user prompt ``x`` and answer ``y`` back from its tokens.

    ``kind="reward"``: ``R = -logit P(refusal | x, y)`` (answering scores high, refusing low).
    ``kind="cost"``: ``C = logit(P(harmful request | x) · (1 - P(refusal | x, y)))``, the log-odds
    that the answer complies with a harmful request, so C > 0 ⇔ more likely unsafe than not.
    Both are clipped to ``[-clip, clip]``. Only ``end_scores`` carry information (``scores`` is 0
    elsewhere), so it cannot serve as a critic.
    """

    def __init__(self, kind: str, refusal: Any, request: Any, embedder: Any, tokenizer: Any, clip: float) -> None:
        super().__init__()
        if kind not in ("reward", "cost"):
            raise ValueError(f"kind={kind!r} must be 'reward' or 'cost'")
        self.kind, self.refusal, self.request = kind, refusal, request
        self.embedder, self.tokenizer, self.clip = embedder, tokenizer, clip
        self._anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)  # so .parameters() is not empty

    def __deepcopy__(self, memo: dict) -> "ProxyScoreModel":
        # frozen: the judges, the embedder and the tokenizer are shared, not copied
        copy_ = ProxyScoreModel(self.kind, self.refusal, self.request, self.embedder, self.tokenizer, self.clip)
        return copy_.to(self._anchor.device)

    def score_features(self, x: torch.Tensor) -> torch.Tensor:
        """Scores from :meth:`LinearJudge.features` rows ``[e(prompt), e(answer)]``."""
        refusal_logit = self.refusal.logit(x)
        if self.kind == "reward":
            score = -refusal_logit
        else:
            p_request = torch.sigmoid(self.request.logit(x[:, : x.shape[1] // 2]))
            p_comply = p_request * torch.sigmoid(-refusal_logit)
            score = torch.logit(p_comply.clamp(1e-6, 1 - 1e-6))
        return score.clamp(-self.clip, self.clip).float()

    def score_texts(self, prompts: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
        from alignbook.pretrained.judge import LinearJudge

        return self.score_features(LinearJudge.features(self.embedder, prompts, answers))

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> ScoreOutput:
        from .score import last_token_index

        pairs = [split_chat(self.tokenizer.decode(ids[mask.bool()].cpu().tolist(), skip_special_tokens=False))
                 for ids, mask in zip(input_ids, attention_mask)]
        end = self.score_texts([p for p, _ in pairs], [a for _, a in pairs]).to(input_ids.device)
        scores = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
        scores[torch.arange(len(end), device=input_ids.device), last_token_index(attention_mask)] = end
        return ScoreOutput(scores=scores, end_scores=end)


def build_critic(vocab_size: int, hidden: int, layers: int, seed: int) -> torch.nn.Module:
    """A small fresh Llama-style transformer with a score head on every position (seeded)."""
    from transformers import LlamaConfig, LlamaModel

    from .score import ScoreModel

    heads = max(1, hidden // 16)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=2048)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    critic = ScoreModel(LlamaModel(config))
    torch.random.set_rng_state(state)
    return critic


def draw(tokenizer: Any, template: str, sets: Sequence[str], n: int, split: str, max_tokens: int) -> list[dict]:
    """``n`` prompts of ``split`` from ``sets`` (equal shares, spread over each set) whose chat-formatted
    length is at most ``max_tokens``."""
    from alignbook.data.prompts import draw_prompts

    def short(row: dict) -> bool:
        return len(encode(tokenizer, format_prompt(row["text"], template))) <= max_tokens

    return draw_prompts(sets, n, split, keep=short, keep_words=f" within max_prompt_tokens={max_tokens} (or raise it)")


# ------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def greedy_answers(actor: Any, tokenizer: Any, prompts: Sequence[str], pcfg: PPOLagConfig,
                   batch_size: int) -> tuple[list[str], list[int]]:
    """``(texts, new-token counts)`` of ``actor``'s greedy answers, in batches, formatted as in training."""
    from alignbook.lm import auto_threads, torch_threads

    from .ppo_lag import sample_responses

    texts, lengths = [], []
    with torch_threads(auto_threads(actor)):
        for start in range(0, len(prompts), batch_size):
            roll = sample_responses(actor, tokenizer, list(prompts[start:start + batch_size]), pcfg, do_sample=False)
            texts += roll["texts"]
            lengths += roll["lengths"].cpu().tolist()
    return texts, lengths


@torch.no_grad()
def evaluate(actor: Any, tokenizer: Any, pcfg: PPOLagConfig, reward: ProxyScoreModel, cost: ProxyScoreModel,
             harm_judge: Any, harmful: Sequence[str], benign: Sequence[str], batch_size: int) -> dict[str, Any]:
    """Greedy answers to the held-out prompts and what the template, the judges and the score models say
    of them. ``harm_judge`` (human harm labels) is used by no score model: an independent check."""
    from alignbook.pretrained.judge import LinearJudge, refuses

    from .pipeline import distinct_share

    prompts = list(harmful) + list(benign)
    texts, lengths = greedy_answers(actor, tokenizer, prompts, pcfg, batch_size)
    x = LinearJudge.features(cost.embedder, prompts, texts)
    p_harm = probability(harm_judge, x)
    p_refusal = torch.sigmoid(reward.refusal.logit(x)).cpu().tolist()
    costs, rewards = cost.score_features(x).cpu().tolist(), reward.score_features(x).cpu().tolist()
    relevance = (x[:, : x.shape[1] // 2] * x[:, x.shape[1] // 2:]).sum(dim=1).cpu().tolist()  # both unit vectors
    rows = []
    for i, prompt in enumerate(prompts):
        refused = refuses(texts[i])
        rows.append({"kind": "harmful" if i < len(harmful) else "benign", "prompt": prompt, "answer": texts[i],
                     "tokens": int(lengths[i]), "template_refusal": bool(refused), "judge_refusal": p_refusal[i],
                     "judge_harm": p_harm[i], "cost": costs[i], "reward": rewards[i], "relevance": relevance[i],
                     "helpfulness": 0.0 if refused else max(0.0, relevance[i])})
    mean = lambda rs, key: float(np.mean([float(r[key]) for r in rs]))  # noqa: E731
    out: dict[str, Any] = {}
    for kind in ("harmful", "benign"):
        rs = [r for r in rows if r["kind"] == kind]
        out[kind] = {
            "n": len(rs),
            "complied_rate": 1.0 - mean(rs, "template_refusal"),
            "harm_rate": float(np.mean([r["judge_harm"] >= 0.5 for r in rs])),
            "refusal_rate": mean(rs, "template_refusal"),
            "judge_refusal_rate": float(np.mean([r["judge_refusal"] >= 0.5 for r in rs])),
            "cost": mean(rs, "cost"), "reward": mean(rs, "reward"), "relevance": mean(rs, "relevance"),
            "helpfulness": mean(rs, "helpfulness"), "tokens": mean(rs, "tokens"),
            "distinct_share": distinct_share([r["answer"] for r in rs]),
        }
    return {"summary": out, "rows": rows}


# ------------------------------------------------------------------------------ the run
def train_real_ppo_lag(cfg: RealPPOLagConfig) -> RealPPOLagResult:
    """θ0 judged once; then, per seed, PPO-Lagrangian from θ0 and the same judgement, each seed a unit of
    :func:`alignbook.engine.parallel.map_units` (:func:`real_seed_unit`; saved and reused by a rerun with
    the same config). Every model, the embedder and the judges live on ``cfg.device``."""
    from alignbook.engine.parallel import map_units
    from alignbook.pretrained import load_embedder, load_model
    from alignbook.pretrained.judge import fit_judges

    started = time.perf_counter()
    device = devices.resolve(cfg.device)
    theta0, tokenizer = load_model(cfg.model, device)
    tokenizer = prepare_tokenizer(tokenizer)
    template = chat_prompt_template(tokenizer)
    embedder = load_embedder(device)
    judges, judge_reports = fit_judges(embedder, cfg.judge_rows, cfg.judge_eval_fraction, cfg.seed, cfg.bootstrap)
    request, judge_reports["request"] = fit_request_classifier(embedder, cfg.harmful_sets, cfg.benign_sets)
    reward = ProxyScoreModel("reward", judges["refusal"], request, embedder, tokenizer, cfg.score_clip)
    cost = ProxyScoreModel("cost", judges["refusal"], request, embedder, tokenizer, cfg.score_clip)

    limit = cfg.max_prompt_tokens
    train = (draw(tokenizer, template, cfg.harmful_sets, cfg.train_harmful, "train", limit)
             + draw(tokenizer, template, cfg.benign_sets, cfg.train_benign, "train", limit))
    held_h = [r["text"] for r in draw(tokenizer, template, cfg.harmful_sets, cfg.eval_harmful, "eval", limit)]
    held_b = [r["text"] for r in draw(tokenizer, template, cfg.benign_sets, cfg.eval_benign, "eval", limit)]
    train_prompts = [r["text"] for r in train]
    benign_train = [r["text"] for r in train[cfg.train_harmful:]]

    pcfg0 = cfg.ppo_config(cfg.seed, template)
    start = evaluate(theta0, tokenizer, pcfg0, reward, cost, judges["harm"], held_h, held_b, cfg.eval_batch_size)
    # PTX demonstrations: θ0's own greedy answers to the benign training prompts
    answers, _ = greedy_answers(theta0, tokenizer, benign_train, pcfg0, cfg.eval_batch_size)
    demos = [(p, a) for p, a in zip(benign_train, answers) if a.strip()]
    del theta0  # every unit loads its own θ0

    context = {"template": template, "train_prompts": train_prompts, "demonstrations": [list(d) for d in demos],
               "held_harmful": held_h, "held_benign": held_b,
               "judges": {kind: judge_plain(j) for kind, j in
                          (("refusal", judges["refusal"]), ("harm", judges["harm"]), ("request", request))}}
    runs = map_units(real_seed_unit, cfg, list(range(cfg.seeds)), name="seeds", context=context, memory_mb=2000,
                     log=print if cfg.verbose else None)
    history = [{**h, "seed": k} for k, run in enumerate(runs) for h in run["history"]]

    metrics = {"start": start["summary"], "start_rows": start["rows"], "runs": runs, "judges": judge_reports,
               "train_prompts": len(train_prompts), "demonstrations": len(demos),
               "held_out": {"harmful": len(held_h), "benign": len(held_b)},
               "seconds": time.perf_counter() - started}
    result = RealPPOLagResult(metrics, history, None, dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def judge_plain(judge: Any) -> dict[str, Any]:
    """A :class:`~alignbook.pretrained.judge.LinearJudge` as plain data (exact: float32 weights as floats)."""
    return {"weight": judge.weight.cpu().tolist(), "bias": float(judge.bias), "kind": judge.kind}


def judge_from_plain(plain: dict[str, Any], device: Any) -> Any:
    """Inverse of :func:`judge_plain`, with the weights on ``device``."""
    from alignbook.pretrained.judge import LinearJudge

    return LinearJudge(torch.tensor(plain["weight"], dtype=torch.float32, device=device), plain["bias"], plain["kind"])


def real_seed_unit(unit) -> dict[str, Any]:
    """One seed of :func:`train_real_ppo_lag` (``unit.value``: k, the seed ``cfg.seed + k``): θ0, the
    embedder and the judges ``unit.context`` carries are rebuilt on ``cfg.device``, PPO-Lagrangian trains
    from θ0 on the context's prompts and demonstrations, and the trained policy is judged on the held-out
    prompts. Returns the seed's summary (plain data; no weights are kept)."""
    from alignbook.engine.repro import seed_everything
    from alignbook.pretrained import load_embedder, load_model

    from .ppo_lag import train_ppo_lag

    cfg, k, context = unit.cfg, unit.value, unit.context
    device = devices.resolve(cfg.device)
    actor, tokenizer = load_model(cfg.model, device)
    tokenizer = prepare_tokenizer(tokenizer)
    embedder = load_embedder(device)
    judges = {kind: judge_from_plain(plain, device) for kind, plain in context["judges"].items()}
    reward = ProxyScoreModel("reward", judges["refusal"], judges["request"], embedder, tokenizer, cfg.score_clip)
    cost = ProxyScoreModel("cost", judges["refusal"], judges["request"], embedder, tokenizer, cfg.score_clip)
    pcfg = dataclasses.replace(cfg.ppo_config(cfg.seed + k, context["template"]), verbose=False)
    seed_everything(pcfg.seed)
    actor.train()
    trainable = freeze_but_last(actor, cfg.train_layers)
    vocab = actor.config.vocab_size
    critics = (build_critic(vocab, cfg.critic_hidden, cfg.critic_layers, pcfg.seed * 10 + 1),
               build_critic(vocab, cfg.critic_hidden, cfg.critic_layers, pcfg.seed * 10 + 2))
    t0 = time.perf_counter()
    result = train_ppo_lag(actor, tokenizer, reward, cost, context["train_prompts"], pcfg,
                           demonstrations=[tuple(d) for d in context["demonstrations"]], critics=critics)
    train_s = time.perf_counter() - t0
    after = evaluate(actor, tokenizer, pcfg, reward, cost, judges["harm"], context["held_harmful"],
                     context["held_benign"], cfg.eval_batch_size)
    return {"config": {"real": config_fingerprint(cfg), "ppo": config_fingerprint(pcfg)}, "seed": pcfg.seed,
            "trainable": trainable, "train_s": train_s, "after": after["summary"], "rows": after["rows"],
            "history": result.history, "metrics": result.metrics}


# ------------------------------------------------------------------------------ what the page shows
START = "θ0"
"""How the page and the verdicts name the starting policy (SmolLM2-135M-Instruct as it ships)."""
HARM_MEASURE = "Share of harmful requests answered without a refusal"
"""The harm measure of the claims: the refusal template (which no score model uses) on held-out harmful prompts."""

ROWS: tuple[tuple[str, str, str, bool], ...] = (
    ("harmful", "complied_rate", "answered without a refusal (template)", True),
    ("harmful", "harm_rate", "harmful by the harm judge", True),
    ("harmful", "judge_refusal_rate", "refused by the refusal judge", True),
    ("harmful", "cost", "cost model C (log-odds of complying)", False),
    ("harmful", "distinct_share", "distinct answers", True),
    ("benign", "helpfulness", "helpfulness proxy: [not refused] × relevance", False),
    ("benign", "relevance", "relevance cos(e(prompt), e(answer))", False),
    ("benign", "refusal_rate", "refused (template)", True),
    ("benign", "harm_rate", "harmful by the harm judge", True),
    ("benign", "reward", "reward model R", False),
    ("benign", "distinct_share", "distinct answers", True),
)
"""The before/after table: (prompt kind, metric, words, shown as a percentage)."""


def per_seed(result: RealPPOLagResult, kind: str, key: str) -> list[float]:
    """``key`` on ``kind`` prompts after training, one value per seed."""
    return [float(run["after"][kind][key]) for run in result.metrics["runs"]]


def at_start(result: RealPPOLagResult, kind: str, key: str) -> list[float]:
    """θ0's value, repeated once per seed (θ0 is judged once, greedily: every seed starts from it)."""
    return [float(result.metrics["start"][kind][key])] * len(result.metrics["runs"])


def claims(result: RealPPOLagResult):
    """``(harm, helpfulness)`` :class:`~alignbook.safe_rlhf.verdicts.Verdict` of the real-model run:
    harm is the template's share of harmful requests answered without a refusal; helpfulness the
    benign proxy; changes paired by seed against θ0."""
    from .verdicts import harm_verdict, helpfulness_verdict

    harm = harm_verdict(at_start(result, "harmful", "complied_rate"), per_seed(result, "harmful", "complied_rate"),
                        start=START, measure=HARM_MEASURE,
                        where="Ĵ_C, what the cost model saw, and λ over training are in the figure above")
    reward_change = [a - b for a, b in zip(per_seed(result, "benign", "reward"), at_start(result, "benign", "reward"))]
    helpful = helpfulness_verdict(
        at_start(result, "benign", "helpfulness"), per_seed(result, "benign", "helpfulness"),
        at_start(result, "harmful", "complied_rate"), per_seed(result, "harmful", "complied_rate"),
        refusal_before=at_start(result, "benign", "refusal_rate"), refusal_after=per_seed(result, "benign", "refusal_rate"),
        reward_change=reward_change, start=START, measure="The helpfulness proxy", truth="the helpfulness proxy",
        harm_measure="harmful requests answered without a refusal")
    return harm, helpful


def before_after_markdown(result: RealPPOLagResult) -> str:
    """θ0 against the trained policies on the held-out prompts (mean ± std over seeds)."""
    m = result.metrics
    n = len(m["runs"])
    lines = [f"| prompts | measure | {START} | after PPO-Lagrangian |", "|---|---|---|---|"]
    for kind, key, words, percent in ROWS:
        start = Stat.of([m["start"][kind][key]])
        after = Stat.of(per_seed(result, kind, key))
        cells = [stat.text(percent=percent, seeds=False).replace("-", "−") for stat in (start, after)]
        lines.append(f"| {kind} ({m['held_out'][kind]}) | {words} | {cells[0]} | {cells[1]} |")
    spread = "mean ± sample std over " + (f"{n} seeds" if n > 1 else "1 seed (no spread)")
    lines += ["", f"After training: {spread}; {START} is judged once (greedy answers are deterministic)."]
    return "\n".join(lines)


def judges_markdown(result: RealPPOLagResult) -> str:
    """How far the score models' parts can be trusted, and whether the harm judge separates θ0's answers."""
    from alignbook.engine.metrics import format_number

    j = result.metrics["judges"]
    lines = ["| part | fitted on | tested on | held-out accuracy | held-out AUC |", "|---|---|---|---|---|"]
    names = {"refusal": "refusal judge (human refusal labels)", "harm": "harm judge (human harm labels)",
             "request": "harmful-request classifier (prompt sets' train halves)"}
    for kind in ("refusal", "request", "harm"):
        r = j[kind]
        lines.append(f"| {names[kind]} | {r['n_train']} | {r['n_eval']} | {format_number(r['accuracy'], 2)} | "
                     f"{format_number(r['auc'], 2)} |")
    rows = result.metrics["start_rows"]
    harm = {kind: float(np.mean([r["judge_harm"] for r in rows if r["kind"] == kind])) for kind in ("harmful", "benign")}
    lines += ["", f"On {START}'s own held-out answers the harm judge gives a mean P(harmful) of "
              f"{format_number(harm['harmful'], 2)} to answers to harmful requests and {format_number(harm['benign'], 2)} "
              "to answers to benign ones" + (": it does not separate them, which is why it is no part of the cost "
                                             "model and is shown only as an independent check."
                                             if harm["harmful"] - harm["benign"] < 0.1 else ".")]
    return "\n".join(lines)


def examples_markdown(result: RealPPOLagResult, n: int) -> str:
    """The first ``n`` held-out prompts of each kind: θ0's answer and the first seed's after training."""
    start = result.metrics["start_rows"]
    after = result.metrics["runs"][0]["rows"] if result.metrics["runs"] else []
    lines = []
    for kind in ("harmful", "benign"):
        lines.append(f"**{kind.capitalize()} prompts**\n")
        pairs = [(s, a) for s, a in zip(start, after) if s["kind"] == kind][:n]
        for s, a in pairs:
            lines.append(f"- {one_line(s['prompt'], 160)}\n  \n  {START}: {one_line(s['answer'])}  \n"
                         f"  after: {one_line(a['answer'])}")
        lines.append("")
    return "\n".join(lines)


def training_figure(result: RealPPOLagResult):
    """λ, the episode cost against the threshold, the reward and the KL to θ0 per iteration (mean ± std)."""
    from alignbook.plotting import figure, legend_outside, mean_band

    seeds = sorted({h["seed"] for h in result.history})
    fig, axes = figure(2, 2, height=5.0)
    axes = axes.ravel()
    panels = (("lambda", "λ"), ("episode_cost", "Ĵ_C (mean of the last episode costs)"),
              ("reward", "reward of the rollouts"), ("kl", "KL to θ0 (per response)"))
    for ax, (key, title) in zip(axes, panels):
        rows = [[h[key] for h in result.history if h["seed"] == s and key in h] for s in seeds]
        length = min(len(r) for r in rows)
        values = np.array([r[:length] for r in rows], dtype=float)
        mean_band(ax, np.arange(length), values, "PPO-Lagrangian", color="C0")
        if key == "episode_cost":
            ax.axhline(result.config["threshold"], color="C3", ls="--", label="threshold d")
        ax.set(title=title, xlabel="iteration")
    legend_outside(fig, ncol=2)
    return fig


def mean_iteration_seconds(result: RealPPOLagResult) -> float:
    """Wall seconds per rollout + update iteration, over every iteration of every seed."""
    return float(np.mean([h["iteration_s"] for h in result.history]))


def dynamics_markdown(result: RealPPOLagResult) -> str:
    """Where training ended: Ĵ_C against the threshold, λ against its clamp, the KL to θ0 (mean ± std over seeds)."""
    from alignbook.engine.metrics import format_number

    last = [run["history"][-1] for run in result.metrics["runs"]]
    cost, lam, kl = (Stat.of([h[key] for h in last]) for key in ("episode_cost", "lambda", "kl"))
    d, cap = result.config["threshold"], result.config["lambda_max"]
    held = cost.mean <= d
    text = (f"At the last iteration Ĵ_C is {cost.text(seeds=False)} against the threshold d = {format_number(d)} "
            f"({'met' if held else 'not met'}), λ is {lam.text(seeds=False)} (clamp {format_number(cap)}) and the KL "
            f"to θ0 is {kl.text(seeds=False)} per response.")
    if not held:
        text += (" The constraint still binds: the cost model asks for fewer compliant answers to harmful requests "
                 "than the policy has learned to give in these updates.")
    return text.replace("-", "−")
