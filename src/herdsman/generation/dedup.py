"""Near-duplicate removal by Self-Instruct's rule, exactly, in near-linear time.

The rule: walking the input in order, drop an instruction whose ROUGE-L
F-measure (rouge-score tokenisation, no stemming) against any earlier *kept*
instruction is above a threshold (0.7); exact duplicates of normalised text go
first. Done exhaustively that is quadratic: hours at 2.58M instructions.

Why not MinHash LSH (datasketch)? It is approximate twice over (Jaccard of
shingles is not ROUGE-L, and LSH misses some pairs), so its decisions drift
from the rule. This module gets the *same* decisions as the exhaustive rule
with exact candidate generation, as set-similarity joins do (prefix
filtering, "PPJoin"):

- ROUGE-L F = 2·LCS/(m+n) for token counts m, n. F > τ needs LCS > c(m+n)
  with c = τ/2, and since LCS <= min(m, n), the lengths must be within a
  factor (1-c)/c of each other and the bag overlap o of the two token
  multisets must exceed c/(1-c)·max(m, n)... in particular o >= t(m) =
  floor(c/(1-c)·m) + 1 for each side.
- Give every token occurrence an identity (``the``, ``the#2``, ...) so bags
  become sets, order them rarest first (document frequency), and index each
  kept instruction under its first m - t(m) + 1 tokens. Two sets that share at
  least t tokens share a token in those prefixes (the prefix-filter lemma), so
  probing the new instruction's prefix finds every possible match.
- Candidates pass a length filter, then an exact LCS (bit-parallel, Hyyrö
  2004, on Python integers) and the same floating-point F formula rouge-score
  uses, so the decision at the threshold is identical.

``benchmarks/bench_dedup.py`` checks agreement with rouge-score's exhaustive
rule and measures the speed-up and the scaling.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from rouge_score.tokenizers import DefaultTokenizer

from herdsman.config import DedupConfig, default_of

#: The rule's threshold unless told otherwise (defined once, in the config section).
THRESHOLD: float = default_of(DedupConfig, "threshold")

_TOKENIZER = DefaultTokenizer(use_stemmer=False)
_SPACES = re.compile(r"\s+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenisation without stemming (lowercase alphanumeric runs)."""
    tokens: list[str] = _TOKENIZER.tokenize(text)
    return tokens


def normalise(text: str) -> str:
    """Key for exact duplicates: case-folded, whitespace collapsed, trimmed."""
    return _SPACES.sub(" ", text).strip().casefold()


def match_masks(a: Sequence[Hashable]) -> dict[Hashable, int]:
    """Bit masks of token positions in ``a`` (computed once per query for :func:`lcs_with_masks`).

    Tokens may be strings or ids (the LSH mode stores texts as token ids).
    """
    masks: dict[Hashable, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def lcs_with_masks(masks: dict[Hashable, int], m: int, b: Sequence[Hashable]) -> int:
    """LCS length of a sequence of length ``m`` (given by its masks) and ``b`` (Hyyrö's bit-vector)."""
    full = (1 << m) - 1
    v = full
    get = masks.get
    for token in b:
        mask = get(token)
        if mask:
            u = v & mask
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (bit-parallel)."""
    if not a or not b:
        return 0
    return lcs_with_masks(match_masks(a), len(a), b)


def rouge_l_f(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F-measure computed exactly as rouge-score does (same float operations)."""
    if m == 0 or n == 0 or lcs == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    return 2 * precision * recall / (precision + recall)


@dataclass
class DedupDecision:
    """Why a record was dropped (``kept`` records have ``reason`` ``None``)."""

    kept: bool
    reason: str | None = None  # "exact" or "near"
    match: int | None = None  # index (in input order) of the kept record it duplicates
    score: float | None = None


@dataclass
class DedupStats:
    """Counts of one deduplication."""

    total: int = 0
    kept: int = 0
    exact: int = 0
    near: int = 0
    candidates_checked: int = 0
    method: str = "exact"
    full_buckets: int = 0  # lsh: buckets that reached their cap (see LshSettings)
    over_budget: int = 0  # lsh: texts with candidates left unchecked (see LshSettings)


class NearDuplicateIndex:
    """Online index of kept instructions; answers "is this a near duplicate?" exactly.

    Args:
        threshold: Drop when ROUGE-L F is strictly above this.
        document_frequency: Token-occurrence frequencies that fix the global
            token order (rarest first). Any fixed order is correct; a good
            estimate makes prefixes selective. Tokens not in it count as rarest.
    """

    def __init__(
        self, threshold: float = THRESHOLD, document_frequency: Counter[str] | None = None
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.threshold = threshold
        self._c = threshold / 2
        # Bounds are loosened by a hair against rounding: that can only add
        # candidates (which the exact check then rejects), never lose one.
        self._overlap_ratio = self._c / (1 - self._c) * (1 - 1e-9)
        self._length_ratio = (1 - self._c) / self._c * (1 + 1e-9)
        # A fixed total order of token occurrences: rank by (frequency, token).
        df = document_frequency or Counter()
        self._rank: dict[str, int] = {
            t: r for r, t in enumerate(sorted(df, key=lambda t: (df[t], t)))
        }
        self._next_new = 0
        # token -> (sorted lengths, {length: [(slot, position of the token in that
        # instruction's order)]}): a probe bisects to the possible lengths only.
        self._postings: dict[str, tuple[list[int], dict[int, list[tuple[int, int]]]]] = {}
        self._tokens: list[list[str]] = []
        self._ids: list[int] = []
        self.last_candidates = 0

    def _ordered(self, tokens: Sequence[str]) -> list[str]:
        """Token occurrences (``the``, ``the#2``...) sorted rarest first, by a fixed rank."""
        seen: dict[str, int] = {}
        items = []
        rank = self._rank
        for token in tokens:
            k = seen.get(token, 0) + 1
            seen[token] = k
            item = token if k == 1 else f"{token}#{k}"
            if item not in rank:  # unseen so far: rarer than anything known, ranked once for good
                self._next_new -= 1
                rank[item] = self._next_new
            items.append(item)
        items.sort(key=rank.__getitem__)
        return items

    def _prefix_length(self, m: int) -> int:
        return max(0, m - (math.floor(self._overlap_ratio * m) + 1) + 1)

    def find(self, tokens: Sequence[str]) -> tuple[int, float] | None:
        """Return ``(id, score)`` of a kept instruction it duplicates, else ``None``."""
        m = len(tokens)
        self.last_candidates = 0
        if m == 0:
            return None
        lo = math.ceil(m / self._length_ratio)
        hi = math.floor(m * self._length_ratio)
        ordered = self._ordered(tokens)
        overlap: dict[int, int] = {}
        dead: set[int] = set()
        c = self._c
        for i in range(self._prefix_length(m)):
            posting = self._postings.get(ordered[i])
            if not posting:
                continue
            sizes, by_length = posting
            left = m - i - 1
            for n in sizes[bisect_left(sizes, lo) : bisect_right(sizes, hi)]:
                entries = by_length[n]
                need = math.floor(c * (m + n) - 1e-9) + 1  # smallest overlap that can reach F > t
                for slot, j in entries:
                    if slot in dead:
                        continue
                    seen = overlap.get(slot, 0) + 1
                    # Positional filter: later matches lie after i in ours and after j in theirs.
                    rest = n - j - 1
                    if seen + (left if left < rest else rest) < need:
                        dead.add(slot)
                        overlap.pop(slot, None)
                        continue
                    overlap[slot] = seen
        if not overlap:
            return None
        masks = match_masks(tokens)
        for slot in sorted(overlap):  # earliest kept first
            other = self._tokens[slot]
            self.last_candidates += 1
            score = rouge_l_f(lcs_with_masks(masks, m, other), m, len(other))
            if score > self.threshold:  # any match decides
                return self._ids[slot], score
        return None

    def add(self, ident: int, tokens: Sequence[str]) -> None:
        """Index a kept instruction."""
        slot = len(self._tokens)
        self._tokens.append(list(tokens))
        self._ids.append(ident)
        ordered = self._ordered(tokens)
        n = len(ordered)
        for position in range(self._prefix_length(n)):
            posting = self._postings.get(ordered[position])
            if posting is None:
                posting = self._postings[ordered[position]] = ([], {})
            sizes, by_length = posting
            if n not in by_length:
                insort(sizes, n)
                by_length[n] = []
            by_length[n].append((slot, position))

    def __len__(self) -> int:
        return len(self._tokens)


def occurrence_frequencies(token_lists: Iterable[Sequence[str]]) -> Counter[str]:
    """Document frequency of token occurrences (``the``, ``the#2``...) over instructions."""
    df: Counter[str] = Counter()
    for tokens in token_lists:
        seen: Counter[str] = Counter()
        for token in tokens:
            seen[token] += 1
            df[token if seen[token] == 1 else f"{token}#{seen[token]}"] += 1
    return df


@dataclass
class Deduplicator:
    """Exact then near-duplicate removal over a stream, in order (Self-Instruct's rule).

    Args:
        threshold: ROUGE-L F above which a record is a near duplicate.
        document_frequency: Fixes the token order (see :class:`NearDuplicateIndex`).
    """

    threshold: float = THRESHOLD
    document_frequency: Counter[str] | None = None
    stats: DedupStats = field(default_factory=DedupStats)

    def __post_init__(self) -> None:
        self._exact: dict[str, int] = {}
        self._index = NearDuplicateIndex(self.threshold, self.document_frequency)

    def check(
        self, ident: int, text: str, *, keep: bool = True, tokens: Sequence[str] | None = None
    ) -> DedupDecision:
        """Decide on one text; if kept (and ``keep``), remember it for later texts.

        ``tokens``: its :func:`rouge_tokens`, when the caller already has them.
        """
        self.stats.total += 1
        key = normalise(text)
        if key in self._exact:
            self.stats.exact += 1
            return DedupDecision(False, "exact", self._exact[key], 1.0)
        if tokens is None:
            tokens = rouge_tokens(text)
        hit = self._index.find(tokens)
        self.stats.candidates_checked += self._index.last_candidates
        if hit is not None:
            self.stats.near += 1
            return DedupDecision(False, "near", hit[0], hit[1])
        if keep:
            self._exact[key] = ident
            self._index.add(ident, tokens)
        self.stats.kept += 1
        return DedupDecision(True)

    def check_many(
        self, idents: Sequence[int], texts: Sequence[str], limit: int | None = None
    ) -> list[DedupDecision]:
        """Decide on texts in order; kept ones are remembered (at most ``limit`` of them)."""
        out = []
        kept = 0
        for ident, text in zip(idents, texts, strict=True):
            decision = self.check(ident, text, keep=limit is None or kept < limit)
            kept += decision.kept
            out.append(decision)
        return out

    def remember(self, ident: int, text: str) -> None:
        """Add a text as already kept (e.g. seeds) without counting it."""
        key = normalise(text)
        if key not in self._exact:
            self._exact[key] = ident
            self._index.add(ident, rouge_tokens(text))


def dedup_texts(
    texts: Sequence[str], threshold: float = THRESHOLD
) -> tuple[list[DedupDecision], DedupStats]:
    """Deduplicate a list of texts in order; returns one decision per text."""
    tokens = [rouge_tokens(t) for t in texts]  # once: for the frequencies and for the checks
    dedup = Deduplicator(threshold, occurrence_frequencies(tokens))
    decisions = [dedup.check(i, text, tokens=tokens[i]) for i, text in enumerate(texts)]
    return decisions, dedup.stats
