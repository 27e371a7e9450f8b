"""Responses as prefix trees or as independent chains, with the same comparison pairs (equal budgets).

A *tree* for one prompt grows ``branching`` distinct next segments at every node down to ``depth``, so
it has ``branching ** depth`` leaves and two leaves share the segments above the node where their paths
split. A *chain* for the same prompt is as many independent responses of the same length. Both
topologies are compared on the same index pairs (:func:`comparison_pairs`), so the comparison budget,
the number of prompts and the number of responses are equal; only the information structure differs.
"""

from __future__ import annotations

import itertools

import numpy as np


def prefix_tree(rng: np.random.Generator, depth: int, branching: int, vocab: int) -> np.ndarray:
    """``(branching ** depth, depth)`` token ids: leaves in depth-first order; siblings get distinct tokens."""
    if branching > vocab:
        raise ValueError(f"branching={branching} needs at least as many tokens (vocab={vocab})")
    leaves = np.zeros((branching**depth, depth), dtype=np.int64)
    for level in range(depth):
        block = branching ** (depth - level - 1)  # leaves under one node of the next level
        for parent in range(branching**level):
            children = rng.choice(vocab, branching, replace=False)
            for c, token in enumerate(children):
                start = (parent * branching + c) * block
                leaves[start:start + block, level] = token
    return leaves


def chain(rng: np.random.Generator, responses: int, depth: int, vocab: int) -> np.ndarray:
    """``(responses, depth)`` independent uniform token ids: no structure shared between responses."""
    return rng.integers(0, vocab, (responses, depth))


def shared_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading segments two responses share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tree_shared_prefix(i: int, j: int, depth: int, branching: int) -> int:
    """Shared-prefix length of leaves ``i`` and ``j`` of a full tree, from their indices alone (depth-first order)."""
    k = 0
    for level in range(depth):
        block = branching ** (depth - level - 1)
        if i // block != j // block:
            break
        k += 1
    return k


def comparison_pairs(rng: np.random.Generator, leaves: int, comparisons: int) -> np.ndarray:
    """``(comparisons, 2)`` distinct unordered leaf pairs drawn uniformly without replacement."""
    total = leaves * (leaves - 1) // 2
    if comparisons > total:
        raise ValueError(f"comparisons={comparisons} exceeds the {total} distinct pairs of {leaves} leaves")
    if total <= 200_000:
        allp = np.array(list(itertools.combinations(range(leaves), 2)))
        return allp[np.sort(rng.choice(total, comparisons, replace=False))]
    seen: set[tuple[int, int]] = set()
    out = []
    while len(out) < comparisons:
        i, j = sorted(rng.choice(leaves, 2, replace=False).tolist())
        if (i, j) not in seen:
            seen.add((i, j))
            out.append((i, j))
    return np.array(out)
