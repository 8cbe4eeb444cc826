"""Near-duplicate removal at millions of rows: MinHash LSH candidates, exact ROUGE-L decisions.

The exact index of :mod:`herdsman.generation.dedup` finds every pair the
Self-Instruct rule can drop, but on instructions that share template words
(what a teacher generates) its posting lists grow with the data and the cost
with its square. This mode trades a measured sliver of recall for time that
grows near-linearly:

- A pair the rule drops (ROUGE-L F > τ) has bag overlap o >= LCS > τ/2·(m+n),
  so the Jaccard similarity of the two *occurrence sets* (``the``, ``the#2``,
  ...) is above (τ/2)/(1-τ/2): 0.538 at τ = 0.7. MinHash signatures of those
  sets (vectorised in numpy, a batch of rows at a time) cut into ``bands``
  bands of ``rows`` values each make two such texts share a band with high
  probability and two unrelated texts rarely (the usual LSH S-curve, centred
  below that bound).
- Texts sharing a band are *candidates*. Walking the input in order, each
  text is checked against the earlier **kept** candidates only, with the same
  exact LCS and the same floating-point F as the exact mode, so every pair
  dropped is a true near duplicate (precision is exact); a true pair whose
  signatures share no band is missed (recall below 1, measured against the
  exhaustive rule by ``benchmarks/bench_scale.py``).

Why our own MinHash instead of datasketch: its ``MinHash.update`` hashes one
token at a time in Python and its ``MinHashLSH`` keeps every band key of every
text in Python dicts, which neither fits the time nor the memory at 2.58M
texts; here signatures are computed for a whole batch at once and texts are
stored as token ids in flat arrays (a few bytes per token).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from herdsman.generation.dedup import lcs_with_masks, match_masks, rouge_l_f

#: ``progress(phase, total)`` -> the function that advances the phase by a count.
Progress = Callable[[str, int], Callable[[int], None]]
_BATCH_TOKENS = 4_000_000  # tokens per signature batch (bounds the numpy temporaries)
_BATCH_TEXTS = 50_000  # and texts per batch (bounds the signature block for short texts)
BANDS = 64
MAX_ROWS = 6


def jaccard_bound(threshold: float) -> float:
    """Occurrence-set Jaccard that any pair with ROUGE-L F above ``threshold`` exceeds."""
    c = threshold / 2
    return c / (1 - c)


def rows_for(threshold: float, bands: int = BANDS, at_bound: float = 0.7) -> int:
    """The most rows per band (up to 6) that still find a pair *at* the Jaccard bound with
    probability ``at_bound``; pairs above the bound, most true ones, are found more often.
    """
    j = jaccard_bound(threshold)
    best = 1
    for rows in range(1, MAX_ROWS + 1):
        if 1 - (1 - j**rows) ** bands >= at_bound:
            best = rows
    return best


@dataclass(frozen=True)
class LshSettings:
    """Shape of the signatures (``bands`` x ``rows`` MinHash values per text) and two caps.

    More bands raise recall (and candidates); more rows per band lower both.
    :meth:`for_threshold` derives ``rows`` from the ROUGE-L threshold.

    The caps bound the work per text when a family of texts all look alike
    but stay below the threshold (one template with a few words changed),
    which would otherwise make every new member compare itself with all the
    earlier ones: ``max_bucket`` kept texts per bucket (later ones are not
    added to a full bucket), and ``max_checks`` exact comparisons per text,
    made in order of bands shared (the likeliest duplicates first). A true
    duplicate found only past either cap is missed; the counts of both
    events are reported.
    """

    bands: int = BANDS
    rows: int = MAX_ROWS
    seed: int = 1
    max_bucket: int = 64
    max_checks: int = 64

    @classmethod
    def for_threshold(cls, threshold: float) -> LshSettings:
        """The default shape for a ROUGE-L threshold (0.7: 64 bands of 6)."""
        return cls(rows=rows_for(threshold))


class TokenTable:
    """Texts as token ids in one flat array (the exact check reads them back)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.ids = array("i")
        self.offsets = array("q", [0])

    def add(self, tokens: Sequence[str]) -> None:
        """Append one text's tokens."""
        vocab = self.vocab
        get = vocab.get
        for token in tokens:
            i = get(token)
            if i is None:
                i = vocab[token] = len(vocab)
            self.ids.append(i)
        self.offsets.append(len(self.ids))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def tokens(self, i: int) -> array[int]:
        """Token ids of text ``i``."""
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def _occurrence_keys(ids: np.ndarray, row_of: np.ndarray, token_hash: np.ndarray) -> np.ndarray:
    """A 64-bit key per token occurrence: the k-th ``the`` of a text differs from the first."""
    order = np.lexsort((np.arange(ids.size), ids, row_of))
    sorted_pairs = row_of[order].astype(np.int64) * (1 << 32) + ids[order]
    starts = np.empty(ids.size, dtype=bool)
    starts[:1] = True
    starts[1:] = sorted_pairs[1:] != sorted_pairs[:-1]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(ids.size), 0))
    occurrence = np.empty(ids.size, dtype=np.uint64)
    occurrence[order] = (np.arange(ids.size) - run_start).astype(np.uint64)
    with np.errstate(over="ignore"):
        return token_hash[ids] ^ (occurrence * np.uint64(0x9E3779B97F4A7C15))


def band_keys(
    table: TokenTable, settings: LshSettings, advance: Callable[[int], None] | None = None
) -> np.ndarray:
    """``len(table) x bands`` band keys (uint64); a text without tokens gets a row of zeros."""
    rng = np.random.default_rng(settings.seed)
    perms = settings.bands * settings.rows
    token_hash = rng.integers(0, 2**63, size=max(1, len(table.vocab)), dtype=np.uint64) * 2 + 1
    mult = rng.integers(0, 2**63, size=perms, dtype=np.uint64) * 2 + 1
    add = rng.integers(0, 2**63, size=perms, dtype=np.uint64)
    mix = rng.integers(0, 2**63, size=settings.rows, dtype=np.uint64) * 2 + 1
    n = len(table)
    keys = np.zeros((n, settings.bands), dtype=np.uint64)
    offsets = np.frombuffer(table.offsets, dtype=np.int64)
    ids_all = np.frombuffer(table.ids, dtype=np.int32)
    first = 0
    while first < n:
        last = int(np.searchsorted(offsets, offsets[first] + _BATCH_TOKENS, side="right")) - 1
        last = min(n, first + _BATCH_TEXTS, max(last, first + 1))
        lo, hi = int(offsets[first]), int(offsets[last])
        lengths = np.diff(offsets[first : last + 1])
        nonempty = np.flatnonzero(lengths)
        if nonempty.size:
            ids = ids_all[lo:hi]
            row_of = np.repeat(np.arange(last - first), lengths)
            occ = _occurrence_keys(ids, row_of, token_hash)
            starts = (offsets[first:last] - lo)[nonempty]
            sig = np.empty((nonempty.size, perms), dtype=np.uint64)
            with np.errstate(over="ignore"):
                for p in range(perms):
                    sig[:, p] = np.minimum.reduceat(
                        (occ * mult[p] + add[p]) >> np.uint64(32), starts
                    )
                for band in range(settings.bands):
                    block = sig[:, band * settings.rows : (band + 1) * settings.rows]
                    keys[first + nonempty, band] = (block * mix).sum(axis=1) | np.uint64(1)
        if advance:
            advance(last - first)
        first = last
    return keys


def candidate_groups(keys: np.ndarray) -> tuple[array[int], array[int], array[int], int]:
    """Per text, the band buckets it shares with another text.

    Returns CSR offsets per text, the bucket id of each membership, the text
    of each membership, and the number of buckets. A bucket is a (band, key)
    pair; buckets holding one text are left out, so a text with none has no
    candidates at all.
    """
    n, bands = keys.shape
    rows_parts: list[np.ndarray] = []
    group_parts: list[np.ndarray] = []
    next_id = 0
    for band in range(bands):
        column = keys[:, band]
        _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
        members = np.flatnonzero((counts[inverse] > 1) & (column != 0)).astype(np.int32)
        if members.size == 0:
            continue
        _, renumbered = np.unique(inverse[members], return_inverse=True)
        del inverse, counts
        rows_parts.append(members)
        group_parts.append((renumbered + next_id).astype(np.int32))
        next_id += int(renumbered.max()) + 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    if not rows_parts:
        return array("q", offsets.tobytes()), array("i"), array("i"), 0
    rows = np.concatenate(rows_parts)
    rows_parts.clear()
    order = np.argsort(rows, kind="stable")
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    groups = np.concatenate(group_parts)
    group_parts.clear()
    group_ids = array("i")
    group_ids.frombytes(groups[order].tobytes())
    del groups
    texts = array("i")
    texts.frombytes(rows[order].tobytes())
    return array("q", offsets.tobytes()), group_ids, texts, next_id


@dataclass
class LshOutcome:
    """Decisions of one LSH run: for each dropped text, why and against which kept one."""

    kept: bytearray
    reasons: dict[int, tuple[str, int, float]]
    candidates_checked: int = 0
    full_buckets: int = 0
    over_budget: int = 0


def decide(
    table: TokenTable,
    exact_keys: Sequence[int],
    threshold: float,
    settings: LshSettings | None = None,
    progress: Progress | None = None,
) -> LshOutcome:
    """Walk the texts in order: drop exact repeats, then near duplicates of earlier kept texts.

    Kept texts are chained per bucket in flat arrays (``head`` of each bucket,
    ``chain`` per membership), not in per-bucket Python lists: a few bytes per
    membership at millions of texts.

    Args:
        table: Every text's rouge tokens, in input order.
        exact_keys: A hash of each text's normalised form (exact duplicates).
        threshold: ROUGE-L F above which a text is a near duplicate.
        settings: Signature shape.
        progress: ``progress(phase, total)`` returns the function that
            advances that phase's count (signatures, then decisions).
    """
    settings = settings or LshSettings.for_threshold(threshold)
    n = len(table)
    keys = band_keys(table, settings, progress("signatures", n) if progress else None)
    group_offsets, group_ids, entry_text, buckets = candidate_groups(keys)
    del keys
    head = array("i", [-1]) * buckets
    size = array("i", [0]) * buckets
    chain = array("i", [-1]) * len(group_ids)
    cap = settings.max_bucket
    advance = progress("deciding", n) if progress else None
    ratio = (1 - threshold / 2) / (threshold / 2) * (1 + 1e-9)
    kept = bytearray(n)
    reasons: dict[int, tuple[str, int, float]] = {}
    first_of: dict[int, int] = {}
    ids, offsets = table.ids, table.offsets
    checked = full = skipped = 0
    checks = settings.max_checks
    for j in range(n):
        if advance and j % 10_000 == 0 and j:
            advance(10_000)
        mine = ids[offsets[j] : offsets[j + 1]]
        exact = first_of.get(exact_keys[j])
        if exact is not None and ids[offsets[exact] : offsets[exact + 1]] == mine:
            reasons[j] = ("exact", exact, 1.0)  # (a 64-bit hash collision fails the token check)
            continue
        lo, hi = group_offsets[j], group_offsets[j + 1]
        hit = None
        if lo < hi:
            shared: dict[int, int] = {}  # kept text -> bands it shares with this one
            for e in range(lo, hi):
                link = head[group_ids[e]]
                while link >= 0:
                    c = entry_text[link]
                    shared[c] = shared.get(c, 0) + 1
                    link = chain[link]
            if shared:
                m = len(mine)
                masks = match_masks(mine)
                budget = checks
                # Most shared bands first (the likeliest duplicates), then the earliest.
                for c in sorted(shared, key=lambda c: (-shared[c], c)):
                    other = offsets[c + 1] - offsets[c]
                    if other * ratio < m or m * ratio < other:
                        continue
                    if budget == 0:
                        skipped += 1
                        break
                    budget -= 1
                    checked += 1
                    score = rouge_l_f(
                        lcs_with_masks(masks, m, ids[offsets[c] : offsets[c + 1]]), m, other
                    )
                    if score > threshold:
                        hit = (c, score)
                        break
        if hit is not None:
            reasons[j] = ("near", hit[0], hit[1])
            continue
        kept[j] = 1
        first_of.setdefault(exact_keys[j], j)
        for e in range(lo, hi):
            g = group_ids[e]
            if size[g] >= cap:
                full += size[g] == cap
                size[g] = cap + 1
                continue
            size[g] += 1
            chain[e] = head[g]
            head[g] = e
    if advance and n % 10_000:
        advance(n % 10_000)
    return LshOutcome(
        kept=kept,
        reasons=reasons,
        candidates_checked=checked,
        full_buckets=full,
        over_budget=skipped,
    )
