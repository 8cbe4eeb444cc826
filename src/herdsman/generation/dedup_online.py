"""Online near-duplicate checks for ``generate`` at millions of instructions: MinHash LSH, kept growing.

``generate`` decides on each new instruction as it arrives, against every
instruction kept so far. The exact index (:class:`~herdsman.generation.dedup.Deduplicator`)
prunes nothing on template-heavy text (what teachers write: most words
shared), so its cost grows with the square of what it keeps. This index gives
the LSH mode of :mod:`herdsman.generation.dedup_lsh` (the same MinHash over
token-occurrence sets, the same ``bands`` x ``rows`` shape derived from the
threshold, the same caps) to a stream:

- Signatures are computed for a wave of new instructions at once (numpy),
  with token hashes that do not depend on what came before, so a text's band
  keys are the same whenever it arrives.
- Kept texts are indexed per band in sorted runs of ``(key, slot)`` pairs,
  merged in the logarithmic way (a run is merged with the last one while the
  last is not larger): each pair is copied O(log n) times, a wave's lookups
  are a few vectorised binary searches per run, and nothing is kept in
  per-bucket Python lists.
- Each candidate (a kept text sharing a band) is confirmed with the exact
  ROUGE-L F of the Self-Instruct rule, most shared bands first, at most
  ``max_checks`` per text: every drop is a true near duplicate; a true pair
  whose signatures share no band, or that lies past a cap, is missed (recall
  measured by ``benchmarks/bench_generate.py``).

Memory per kept instruction: ``bands`` x 8 bytes of band entries (a 32-bit key
and a 32-bit slot; keys are per band, so 32 bits collide rarely), its token ids
(4 bytes a token) and offsets (8 bytes), plus the exact-duplicate key (a Python
int in a set). With 64 bands that is about 0.6 KB per kept instruction.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence

import numpy as np

from herdsman.generation.dedup import (
    THRESHOLD,
    DedupDecision,
    DedupStats,
    lcs_with_masks,
    match_masks,
    normalise,
    rouge_l_f,
    rouge_tokens,
)
from herdsman.generation.dedup_lsh import LshSettings

#: Kept texts held in the recent dict before they move to the sorted runs.
FLUSH = 4096


class SortedRuns:
    """A multimap from 32-bit keys to slots, as sorted runs merged in the logarithmic way."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, slots: np.ndarray) -> None:
        """Insert pairs (any order)."""
        if keys.size == 0:
            return
        order = np.argsort(keys, kind="stable")
        run = (keys[order], slots[order])
        while self.runs and self.runs[-1][0].size <= run[0].size:
            last = self.runs.pop()
            merged_keys = np.concatenate([last[0], run[0]])
            order = np.argsort(merged_keys, kind="stable")
            run = (merged_keys[order], np.concatenate([last[1], run[1]])[order])
        self.runs.append(run)

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(query index, slot)`` whose key equals the query's."""
        found_q, found_s = [], []
        for keys, slots in self.runs:
            lo = np.searchsorted(keys, queries, side="left")
            hi = np.searchsorted(keys, queries, side="right")
            counts = hi - lo
            total = int(counts.sum())
            if not total:
                continue
            q = np.repeat(np.arange(queries.size), counts)
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            found_q.append(q)
            found_s.append(slots[starts + np.arange(total)])
        if not found_q:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(found_q), np.concatenate(found_s)

    def __len__(self) -> int:
        return sum(keys.size for keys, _ in self.runs)


class OnlineLshDeduplicator:
    """Exact then near-duplicate removal over a stream of waves, by MinHash LSH candidates.

    The same decisions interface as :class:`~herdsman.generation.dedup.Deduplicator`
    (``stats``, :meth:`remember`), with :meth:`check_many` deciding a wave at once.

    Args:
        threshold: ROUGE-L F above which a text is a near duplicate.
        settings: Signature shape and caps (default: derived from the threshold).
    """

    def __init__(self, threshold: float = THRESHOLD, settings: LshSettings | None = None) -> None:
        self.threshold = threshold
        self.settings = settings or LshSettings.for_threshold(threshold)
        s = self.settings
        rng = np.random.default_rng(s.seed)
        perms = s.bands * s.rows
        self._mult = rng.integers(0, 2**63, size=perms, dtype=np.uint64) * 2 + 1
        self._add = rng.integers(0, 2**63, size=perms, dtype=np.uint64)
        self._mix = rng.integers(0, 2**63, size=s.rows, dtype=np.uint64) * 2 + 1
        self._token_hash: dict[str, int] = {}
        self._vocab: dict[str, int] = {}
        self._ids = array("i")
        self._offsets = array("q", [0])
        self._idents: list[int] = []
        self._bands = [SortedRuns() for _ in range(s.bands)]
        # Kept texts not yet in the sorted runs: looked up by dict, moved in by FLUSH texts.
        self._recent: dict[tuple[int, int], list[int]] = {}
        self._recent_keys: list[list[int]] = [[] for _ in range(s.bands)]
        self._recent_slots: list[list[int]] = [[] for _ in range(s.bands)]
        self._recent_texts = 0
        self._exact: dict[int, int] = {}
        self._ratio = (1 - threshold / 2) / (threshold / 2) * (1 + 1e-9)
        self.stats = DedupStats(method="lsh")

    # --- signatures -------------------------------------------------------------------
    def _hash(self, token: str) -> int:
        found = self._token_hash.get(token)
        if found is None:
            digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8)
            found = self._token_hash[token] = int.from_bytes(digest.digest(), "little") | 1
        return found

    def _keys(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """``len(texts) x bands`` 32-bit band keys (0 for a text without tokens)."""
        s = self.settings
        n = len(token_lists)
        keys = np.zeros((n, s.bands), dtype=np.uint32)
        occurrences: list[int] = []
        lengths = np.zeros(n, dtype=np.int64)
        for i, tokens in enumerate(token_lists):
            seen: dict[str, int] = {}
            for token in tokens:
                k = seen.get(token, 0)
                seen[token] = k + 1
                occurrences.append(self._hash(token) ^ ((k * 0x9E3779B97F4A7C15) & (2**64 - 1)))
            lengths[i] = len(tokens)
        nonempty = np.flatnonzero(lengths)
        if nonempty.size == 0:
            return keys
        occ = np.asarray(occurrences, dtype=np.uint64)
        starts = (np.cumsum(lengths) - lengths)[nonempty]
        perms = s.bands * s.rows
        sig = np.empty((nonempty.size, perms), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for p in range(perms):
                sig[:, p] = np.minimum.reduceat(
                    (occ * self._mult[p] + self._add[p]) >> np.uint64(32), starts
                )
            for band in range(s.bands):
                block = sig[:, band * s.rows : (band + 1) * s.rows]
                full = (block * self._mix).sum(axis=1)
                keys[nonempty, band] = ((full ^ (full >> np.uint64(32))) | np.uint64(1)).astype(
                    np.uint32
                )
        return keys

    # --- the stream -------------------------------------------------------------------
    def _store(self, ident: int, tokens: Sequence[str]) -> int:
        slot = len(self._idents)
        get = self._vocab.get
        for token in tokens:
            i = get(token)
            if i is None:
                i = self._vocab[token] = len(self._vocab)
            self._ids.append(i)
        self._offsets.append(len(self._ids))
        self._idents.append(ident)
        return slot

    def _ids_of(self, slot: int) -> array[int]:
        return self._ids[self._offsets[slot] : self._offsets[slot + 1]]

    def _exact_key(self, text: str) -> int:
        digest = hashlib.blake2b(normalise(text).encode("utf-8", "surrogatepass"), digest_size=8)
        return int.from_bytes(digest.digest(), "little")

    def remember(self, ident: int, text: str) -> None:
        """Add a text as already kept (e.g. the seeds) without counting it."""
        self.check_many([ident], [text], count=False)

    def check_many(
        self,
        idents: Sequence[int],
        texts: Sequence[str],
        limit: int | None = None,
        count: bool = True,
    ) -> list[DedupDecision]:
        """Decide on a wave of texts in order; kept ones join the index (at most ``limit``).

        Texts after the ``limit``-th kept one are decided but not remembered.
        """
        s = self.settings
        tokens = [rouge_tokens(t) for t in texts]
        keys = self._keys(tokens)
        # Candidates among texts kept before this wave: (text, slot) pairs over every band,
        # counted once per band they share.
        codes: list[np.ndarray] = []
        bucket_size: dict[tuple[int, int], int] = {}
        for band, runs in enumerate(self._bands):
            q, slots = runs.lookup(keys[:, band])
            if not q.size:
                continue
            codes.append((q.astype(np.int64) << 32) | slots.astype(np.int64))
            per_key = np.bincount(q, minlength=len(texts))
            for row in np.flatnonzero(per_key).tolist():
                bucket_size[(band, int(keys[row, band]))] = int(per_key[row])
        if codes:
            pairs, shared_counts = np.unique(np.concatenate(codes), return_counts=True)
            bounds = np.searchsorted(pairs >> 32, np.arange(len(texts) + 1))
        else:
            pairs = shared_counts = np.empty(0, dtype=np.int64)
            bounds = np.zeros(len(texts) + 1, dtype=np.int64)
        recent = self._recent
        decisions: list[DedupDecision] = []
        kept_now = 0
        for j, (ident, text) in enumerate(zip(idents, texts, strict=True)):
            if count:
                self.stats.total += 1
            exact_key = self._exact_key(text)
            first = self._exact.get(exact_key)
            if first is not None and list(self._ids_of(first)) == [
                self._vocab.get(t, -1) for t in tokens[j]
            ]:  # (a 64-bit hash collision fails the token check)
                if count:
                    self.stats.exact += 1
                decisions.append(DedupDecision(False, "exact", self._idents[first], 1.0))
                continue
            lo, hi = int(bounds[j]), int(bounds[j + 1])
            shared = dict(
                zip(
                    (pairs[lo:hi] & 0xFFFFFFFF).tolist(),
                    shared_counts[lo:hi].tolist(),
                    strict=True,
                )
            )
            for band in range(s.bands):
                key = int(keys[j, band])
                for slot in recent.get((band, key), ()):
                    shared[slot] = shared.get(slot, 0) + 1
            hit = self._confirm(tokens[j], shared)
            if hit is not None:
                if count:
                    self.stats.near += 1
                decisions.append(DedupDecision(False, "near", self._idents[hit[0]], hit[1]))
                continue
            if count:
                self.stats.kept += 1
            decisions.append(DedupDecision(True))
            if limit is not None and kept_now >= limit:
                continue
            kept_now += 1
            slot = self._store(ident, tokens[j])
            self._exact[exact_key] = slot
            if not tokens[j]:
                continue
            for band in range(s.bands):
                key = int(keys[j, band])
                bucket = recent.get((band, key))
                size = bucket_size.get((band, key), 0) + (len(bucket) if bucket else 0)
                if size >= s.max_bucket:
                    self.stats.full_buckets += size == s.max_bucket
                    continue
                if bucket is None:
                    recent[(band, key)] = [slot]
                else:
                    bucket.append(slot)
                self._recent_keys[band].append(key)
                self._recent_slots[band].append(slot)
            self._recent_texts += 1
        if self._recent_texts >= FLUSH:
            self.flush()
        return decisions

    def flush(self) -> None:
        """Move the recent kept texts into the sorted runs."""
        for band, runs in enumerate(self._bands):
            runs.add(
                np.asarray(self._recent_keys[band], dtype=np.uint32),
                np.asarray(self._recent_slots[band], dtype=np.int32),
            )
            self._recent_keys[band].clear()
            self._recent_slots[band].clear()
        self._recent.clear()
        self._recent_texts = 0

    def _confirm(self, tokens: Sequence[str], shared: dict[int, int]) -> tuple[int, float] | None:
        """The first candidate over the threshold (most shared bands first, then earliest)."""
        if not shared:
            return None
        mine = [self._vocab.get(t, -1 - n) for n, t in enumerate(tokens)]
        m = len(mine)
        masks = match_masks(mine)
        budget = self.settings.max_checks
        for slot in sorted(shared, key=lambda c: (-shared[c], c)):
            other = self._offsets[slot + 1] - self._offsets[slot]
            if other * self._ratio < m or m * self._ratio < other:
                continue
            if budget == 0:
                self.stats.over_budget += 1
                return None
            budget -= 1
            self.stats.candidates_checked += 1
            score = rouge_l_f(lcs_with_masks(masks, m, self._ids_of(slot)), m, other)
            if score > self.threshold:
                return slot, score
        return None

    def __len__(self) -> int:
        return len(self._idents)
