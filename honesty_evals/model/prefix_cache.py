"""Shared-prefix KV caching for the local engine: which prefixes to encode once, and a
bounded store of recent ones.

Many requests of one batch begin with the same tokens: the 48 lie-detection follow-ups
after one conversation, both option orders after one question stem, every question after
one system prompt, the N sampled draws of one prompt. Serving engines encode such a prefix
once and run each continuation on its KV cache (vLLM's automatic prefix caching); this
module decides *what* to encode once (`plan_prefixes`) and keeps recently encoded prefixes
across batches (`PrefixStore`), so that follow-ups arriving in a later batch still hit. The
forward passes themselves live in `engine.py`.

Nothing here changes what a request computes: a continuation attends to exactly the keys
and values its own full forward pass would have produced for the prefix, at the same
positions. Only floating-point rounding differs (other matrix shapes), which the engine's
tests bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

# A prefix is encoded on its own only when that saves enough work to pay for the extra
# forward pass it costs (each level of shared prefixes is one more pass over the batch, on
# 2 CPU cores roughly the price of a handful of tokens): its own length beyond the prefix it
# extends, and the tokens it saves ((rows sharing it - 1) x that length).
MIN_SEGMENT_TOKENS = 8
MIN_SAVED_TOKENS = 16

# The default bound of the cross-batch store: 256 MiB holds ~5,700 tokens of SmolLM2-135M's
# float32 KV (30 layers x 3 KV heads x 64 x 2 x 4 bytes = 46 kB a token), i.e. ~70
# conversation prefixes of the lie-detection follow-ups, and ~2,000 tokens of a 7B model's
# bfloat16 KV.
DEFAULT_PREFIX_CACHE_MB = 256

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values): [1, heads, n, dim]


@dataclass(eq=False)
class Prefix:
    """A token prefix whose KV cache is (or will be, within one `generate` call) encoded.

    `base` is the shorter prefix it is computed from (None: from the first token); `layers`
    holds its keys and values once computed; `owner` is the row its computation is counted
    against (the first row that needed it), so per-row token counts add up to the work done.
    """

    tokens: tuple[int, ...]
    base: Prefix | None = None
    layers: Layers | None = None
    owner: int = -1

    @property
    def length(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        if self.layers is None:
            return 0
        return sum(t.numel() * t.element_size() for layer in self.layers for t in layer)


@dataclass
class Plan:
    """What one batch encodes: prefixes wave by wave (a wave's prefixes extend only stored
    prefixes or those of earlier waves), then each row from its start prefix (or None)."""

    waves: list[list[Prefix]]
    start: list[Prefix | None]

    @property
    def prefix_tokens(self) -> int:
        """Prompt tokens the waves compute (each prefix beyond the one it extends)."""
        return sum(p.length - (p.base.length if p.base else 0) for w in self.waves for p in w)


class _Node:
    __slots__ = ("children", "entry")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.entry: Prefix | None = None


@dataclass
class StoreStats:
    lookups: int = 0  # longest-prefix lookups
    hits: int = 0  # lookups that found a stored prefix
    added: int = 0
    evicted: int = 0


class PrefixStore:
    """Recently used prefixes' KV caches, bounded in bytes; least recently used goes first.

    A trie over token ids finds, in one walk, the longest prefix a sequence shares with any
    stored one. The stored prefix need not end there: causal attention makes the keys and
    values of its first d tokens those of that d-token prefix, so a stored 42-token prefix
    (a conversation plus the first word its follow-ups shared in that batch) also serves
    the 41 tokens a later batch's follow-ups share with it.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("the prefix store needs a positive size")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._root = _Node()
        self._lru: OrderedDict[tuple[int, ...], Prefix] = OrderedDict()
        # views of stored prefixes' first d tokens handed out (one object per prefix, so a
        # batch copies each once); dropped whenever an entry goes, so none outlives its data
        self._views: dict[tuple[int, ...], Prefix] = {}
        self.stats = StoreStats()

    def __len__(self) -> int:
        return len(self._lru)

    @property
    def trie_nodes(self) -> int:
        """Nodes in the trie. Every node lies on a stored prefix's path, so this never
        exceeds the stored tokens: evicting a prefix removes the branch only it used."""
        count, stack = 0, [self._root]
        while stack:
            node = stack.pop()
            count += len(node.children)
            stack.extend(node.children.values())
        return count

    def longest(self, tokens: Sequence[int], limit: int | None = None) -> Prefix | None:
        """The longest prefix of `tokens[:limit]` whose KV is stored (in a stored prefix that
        begins with it), marked as recently used; None when not even one token is."""
        self.stats.lookups += 1
        node, depth = self._root, 0
        end = len(tokens) if limit is None else min(limit, len(tokens))
        for token in tokens[:end]:
            child = node.children.get(token)
            if child is None:
                break
            node, depth = child, depth + 1
        if depth == 0:
            return None
        while node.entry is None:  # every branch of the trie ends at an entry
            node = next(iter(node.children.values()))
        entry = node.entry
        self.stats.hits += 1
        self._lru.move_to_end(entry.tokens)
        if depth == entry.length:
            return entry
        key = entry.tokens[:depth]
        view = self._views.get(key)
        if view is None:
            assert entry.layers is not None
            layers = [(k[:, :, :depth], v[:, :, :depth]) for k, v in entry.layers]
            view = self._views[key] = Prefix(key, layers=layers)
        return view

    def add(self, prefix: Prefix) -> bool:
        """Keep a computed prefix (evicting the least recently used); False if it cannot fit."""
        size = prefix.nbytes
        if prefix.layers is None or size > self.max_bytes or not prefix.tokens:
            return False
        if prefix.tokens in self._lru:
            self._lru.move_to_end(prefix.tokens)
            return True
        while self.nbytes + size > self.max_bytes and self._lru:
            self._remove(next(iter(self._lru)))
        node = self._root
        for token in prefix.tokens:
            node = node.children.setdefault(token, _Node())
        node.entry = prefix
        self._lru[prefix.tokens] = prefix
        self.nbytes += size
        self.stats.added += 1
        return True

    def clear(self) -> None:
        self._root = _Node()
        self._lru.clear()
        self._views.clear()
        self.nbytes = 0

    def _remove(self, tokens: tuple[int, ...]) -> None:
        entry = self._lru.pop(tokens)
        self._views.clear()
        self.nbytes -= entry.nbytes
        self.stats.evicted += 1
        path = [self._root]
        for token in tokens:
            path.append(path[-1].children[token])
        path[-1].entry = None
        # prune the branch that now leads to no entry
        for depth in range(len(tokens), 0, -1):
            node = path[depth]
            if node.entry is not None or node.children:
                break
            del path[depth - 1].children[tokens[depth - 1]]


Lookup = Callable[[Sequence[int], int], "Prefix | None"]


@dataclass
class _Planner:
    rows: Sequence[Sequence[int]]
    lookup: Lookup | None
    min_segment: int
    min_saved: int
    order: list[int] = field(default_factory=list)
    start: list[Prefix | None] = field(default_factory=list)
    computed: list[Prefix] = field(default_factory=list)

    def cacheable(self, row: int) -> Sequence[int]:
        # a row's last token is always computed by its own pass: its logits are the answer
        return self.rows[row][:-1]

    def stored(self, tokens: Sequence[int], limit: int) -> Prefix | None:
        return self.lookup(tokens, limit) if self.lookup is not None and limit > 0 else None

    def run(self) -> Plan:
        n = len(self.rows)
        self.order = sorted(range(n), key=lambda i: tuple(self.cacheable(i)))
        self.start = [None] * n
        if n:
            self._visit(0, n - 1, None)
        waves: list[list[Prefix]] = []
        level: dict[int, int] = {}
        for prefix in self.computed:  # parents are appended before their children
            base = prefix.base
            k = level[id(base)] + 1 if base is not None and id(base) in level else 0
            level[id(prefix)] = k
            while len(waves) <= k:
                waves.append([])
            waves[k].append(prefix)
        return Plan(waves=waves, start=self.start)

    def _visit(self, lo: int, hi: int, parent: Prefix | None) -> None:
        """Sorted positions lo..hi share `parent` (or nothing); choose their next prefix."""
        if lo == hi:
            self._leaf(self.order[lo], parent)
            return
        first, last = self.cacheable(self.order[lo]), self.cacheable(self.order[hi])
        # sorted lexicographically, the first and last rows share what all of them share
        depth = _common_length(first, last)
        chosen = parent
        if depth > (parent.length if parent else 0):
            tokens = tuple(first[:depth])
            stored = self.stored(tokens, depth)
            base = _longer(parent, stored)
            if stored is not None and stored.length == depth:
                chosen = stored
            else:
                segment = depth - (base.length if base else 0)
                saved = (hi - lo) * segment
                if segment >= self.min_segment and saved >= self.min_saved:
                    chosen = Prefix(tokens, base=base, owner=min(self.order[lo : hi + 1]))
                    self.computed.append(chosen)
                else:
                    chosen = base
        # rows that end at this depth are leaves here; the others split by their next token
        k = lo
        while k <= hi:
            row = self.order[k]
            if len(self.cacheable(row)) <= depth:
                self._leaf(row, chosen)
                k += 1
                continue
            token = self.cacheable(row)[depth]
            end = k
            while end + 1 <= hi and self.cacheable(self.order[end + 1])[depth] == token:
                end += 1
            self._visit(k, end, chosen)
            k = end + 1

    def _leaf(self, row: int, parent: Prefix | None) -> None:
        tokens = self.cacheable(row)
        floor = parent.length if parent else 0
        stored = self.stored(tokens, len(tokens)) if len(tokens) > floor else None
        self.start[row] = _longer(parent, stored)


def plan_prefixes(
    rows: Sequence[Sequence[int]],
    lookup: Lookup | None = None,
    min_segment: int = MIN_SEGMENT_TOKENS,
    min_saved: int = MIN_SAVED_TOKENS,
) -> Plan:
    """Which shared prefixes to encode once for `rows` (token ids), and where each row starts.

    A trie over the rows (found by sorting them: the rows sharing a prefix are contiguous)
    gives every prefix shared by two or more rows; one is encoded on its own when that saves
    at least `min_saved` tokens and it is at least `min_segment` tokens longer than the
    prefix it extends. A prefix that `lookup(tokens, limit)` finds stored (the longest
    stored prefix of tokens[:limit]) costs nothing and is always used. A row never starts
    from its whole self: its last token's logits are its answer.
    """
    return _Planner(rows, lookup, min_segment, min_saved).run()


def extend_prefixes(
    rows: Sequence[Sequence[int]], lengths: Sequence[int], starts: Sequence[Prefix | None]
) -> tuple[list[Prefix | None], list[Prefix]]:
    """Each row's start prefix (from `plan_prefixes`, at most `lengths[i]` tokens) extended to
    exactly its first `lengths[i]` tokens: (every row's prefix, the new ones to compute, one
    per distinct token sequence, each from its first row's start). A persona row starts
    exactly at its marker (`engine.LocalEngine._generate_persona`)."""
    made: dict[tuple[int, ...], Prefix] = {}
    out: list[Prefix | None] = []
    for row, (tokens, length, start) in enumerate(zip(rows, lengths, starts)):
        if start is not None and start.length == length:
            out.append(start)
            continue
        key = tuple(tokens[:length])
        if key not in made:
            made[key] = Prefix(key, base=start, owner=row)
        out.append(made[key])
    return out, list(made.values())


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _longer(a: Prefix | None, b: Prefix | None) -> Prefix | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.length > a.length else a
