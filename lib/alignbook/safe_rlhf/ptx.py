"""The pre-training (PTX) term of Safe RLHF's actor update.

``scripts/ppo-lag.sh`` trains with ``--ptx_datasets alpaca --ptx_coeff 16``: after every RL step
the actor takes one more optimiser step on ``ptx_coeff · L_SFT``, the supervised next-token loss of
a batch of demonstrations (``safe_rlhf/trainers/rl_trainer.py::ptx_step``; the demonstrations are
tokenised as ``prompt + answer + eos`` with the prompt masked, ``safe_rlhf/datasets/supervised.py``).
It is the official guard against the policy drifting away from fluent, helpful answers.

Demonstrations here: the toy world's SFT demonstrations for *benign* requests (Alpaca is an
instruction-following set of benign requests; the toy world's SFT rows also answer harmful requests
harmfully, which Alpaca does not do; ``alignbook.data.toy.toy_rows("alpaca", ...)``), or, for a hub
run, Alpaca itself; both through the Alpaca schema (``instruction``, ``input``, ``output``; input
joined to the instruction with a space, as upstream's ``AlpacaDataset`` does).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from alignbook.lm.data import IGNORE_INDEX
from alignbook.lm.sft import causal_lm_loss

from .data import encode, pad_right, prompt_ids, special_ids

PTX_SEED_OFFSET = 4242
"""The toy world's PTX demonstrations are drawn with ``world_seed + PTX_SEED_OFFSET`` (disjoint from
the held-out evaluation prompts' draw)."""


def alpaca_prompt(row: dict[str, Any]) -> str:
    """Upstream ``AlpacaDataset``: ``instruction`` and, when present, ``input`` joined by one space."""
    instruction, extra = str(row["instruction"]), str(row.get("input") or "")
    return " ".join((instruction, extra)) if extra else instruction


def encode_demonstration(tokenizer: Any, prompt: str, response: str, template: str, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels of ``bos + prompt + " " + response + eos`` with the prompt masked
    (:data:`alignbook.lm.data.IGNORE_INDEX`), cut to ``max_length`` (the prompt from the left)."""
    _, eos = special_ids(tokenizer)
    head = prompt_ids(tokenizer, prompt, template)
    tail = encode(tokenizer, " " + response) + [eos]
    if len(head) >= max_length:
        head = head[len(head) - (max_length - 1):]
    tail = tail[: max_length - len(head)]
    return head + tail, [IGNORE_INDEX] * len(head) + tail


class PTXBatches:
    """Demonstration batches in a fresh seeded permutation each pass (state saved for resuming)."""

    def __init__(self, tokenizer: Any, pairs: Sequence[tuple[str, str]], batch_size: int, template: str,
                 max_length: int, seed: int) -> None:
        if not pairs:
            raise ValueError("PTX has no demonstrations; pass some or set ptx_coeff=0")
        self.pad_id, _ = special_ids(tokenizer)
        self.examples = [encode_demonstration(tokenizer, p, r, template, max_length) for p, r in pairs]
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.queue: list[int] = []

    def next(self) -> dict[str, torch.Tensor]:
        index = []
        while len(index) < self.batch_size:
            if not self.queue:
                self.queue = torch.randperm(len(self.examples), generator=self.generator).tolist()
            index.append(self.queue.pop())
        ids, mask = pad_right([self.examples[i][0] for i in index], self.pad_id)
        labels = torch.full_like(ids, IGNORE_INDEX)
        for row, i in enumerate(index):
            lab = self.examples[i][1]
            labels[row, : len(lab)] = torch.tensor(lab, dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def state_dict(self) -> dict[str, Any]:
        return {"queue": list(self.queue), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.queue = list(state["queue"])
        self.generator.set_state(state["generator"])


def ptx_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The supervised loss of the PTX step: mean next-token NLL over the answer tokens
    (``model(input_ids, labels=...).loss`` upstream), before the ``ptx_coeff`` factor."""
    return causal_lm_loss(logits, labels)
