"""Keys and values of sequences decoded before, reused by the requests that extend them.

A conversation's request for turn k+1 repeats turn k's prompt and reply, then adds the user's
answer: without reuse every turn prefills the whole history again (on 2 CPU cores, as long as
decoding the reply). After each batch the local provider keeps every row's keys and values,
its prompt and its reply (`put`); a later prompt takes those of the stored sequence it shares
the longest token prefix with (`take`) and prefills only the rest. Keys and values at a
position depend only on the tokens up to it, so any common prefix can be reused, also where
the chat template tokenizes a reply differently from how it was generated.

Entries live in memory, least recently used first out; a sequence that extends a stored one
replaces it. Positions are not stored: a row's keys carry their rotary positions 0..n-1, which
is where the reused prefix sits in every later prompt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

__all__ = ["LayerKV", "PrefixCache"]

LayerKV = list[tuple[torch.Tensor, torch.Tensor]]   # per layer: (keys, values), each (kv_heads, tokens, head_dim)


class PrefixCache:
    """A bounded store of (token sequence -> per-layer keys and values)."""

    def __init__(self, max_entries: int = 32) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, ...], LayerKV] = OrderedDict()
        self.reused_tokens = 0        # prompt tokens served from the store; for tests and benchmarks
        self.prompt_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, prompt: Sequence[int]) -> tuple[int, LayerKV | None]:
        """(n, keys and values of `prompt[:n]`) for the stored sequence sharing the longest prefix
        with `prompt`; n < len(prompt), so the last prompt token is always fed (its logits start
        the reply). (0, None) when nothing is shared."""
        best, best_key = 0, None
        for key in self._entries:
            shared = _common_prefix(key, prompt)
            if shared > best:
                best, best_key = shared, key
        best = min(best, len(prompt) - 1)
        self.prompt_tokens += len(prompt)
        if best_key is None or best <= 0:
            return 0, None
        self._entries.move_to_end(best_key)
        self.reused_tokens += best
        return best, [(k[:, :best], v[:, :best]) for k, v in self._entries[best_key]]

    def put(self, tokens: Sequence[int], layers: LayerKV) -> None:
        """Store `layers` (keys and values of every one of `tokens`), evicting the least recent."""
        key = tuple(tokens)
        for stored in [k for k in self._entries if len(k) <= len(key) and key[: len(k)] == k]:
            del self._entries[stored]          # superseded: the new sequence extends it
        self._entries[key] = layers
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
