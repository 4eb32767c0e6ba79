"""The store of earlier turns' keys and values: longest shared prefix, bounded, superseded entries dropped."""

from __future__ import annotations

import pytest
import torch

from harness.llm.prefix_cache import LayerKV, PrefixCache


def kv(tokens: list[int], layers: int = 2) -> LayerKV:
    """Keys/values whose entries are the token ids, so a slice shows which tokens it holds."""
    t = torch.tensor(tokens, dtype=torch.float32).view(1, -1, 1)
    return [(t.clone(), -t.clone()) for _ in range(layers)]


def test_takes_the_longest_shared_prefix_and_slices_its_keys_and_values() -> None:
    cache = PrefixCache()
    cache.put([1, 2, 3, 4], kv([1, 2, 3, 4]))
    cache.put([1, 2, 9, 9, 9, 9], kv([1, 2, 9, 9, 9, 9]))
    n, layers = cache.take([1, 2, 3, 4, 5, 6])
    assert n == 4
    assert layers is not None and len(layers) == 2
    assert layers[0][0].flatten().tolist() == [1, 2, 3, 4] and layers[1][1].flatten().tolist() == [-1, -2, -3, -4]
    assert (cache.reused_tokens, cache.prompt_tokens) == (4, 6)


def test_the_last_prompt_token_is_always_left_to_feed() -> None:
    cache = PrefixCache()
    cache.put([1, 2, 3, 4, 5], kv([1, 2, 3, 4, 5]))
    n, layers = cache.take([1, 2, 3])          # the prompt is wholly inside a stored sequence
    assert n == 2 and layers is not None and layers[0][0].shape[1] == 2


def test_nothing_shared_gives_nothing() -> None:
    cache = PrefixCache()
    cache.put([1, 2, 3], kv([1, 2, 3]))
    assert cache.take([7, 8, 9]) == (0, None)
    assert PrefixCache().take([1, 2]) == (0, None)


def test_a_sequence_that_extends_a_stored_one_replaces_it() -> None:
    cache = PrefixCache()
    cache.put([1, 2], kv([1, 2]))
    cache.put([1, 2, 3, 4], kv([1, 2, 3, 4]))
    cache.put([1, 5], kv([1, 5]))              # shares a prefix, does not extend: both stay
    assert len(cache) == 2


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = PrefixCache(max_entries=2)
    cache.put([1, 1], kv([1, 1]))
    cache.put([2, 2], kv([2, 2]))
    cache.take([1, 1, 5])                      # [1, 1] used: [2, 2] is now the oldest
    cache.put([3, 3], kv([3, 3]))
    assert cache.take([2, 2, 5]) == (0, None)
    assert cache.take([1, 1, 5])[0] == 2


def test_a_store_of_no_entries_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        PrefixCache(max_entries=0)
