"""IFD with the embedded SmolLM2 (decoder-only) and a tiny T5 (encoder-decoder), on real Alpaca pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError
from herdsman.selection.ifd import IfdScorer, score_pairs
from tests.conftest import require_data
from tests.helpers.tiny_models import tiny_t5


def alpaca_pairs(n: int) -> list[tuple[str, str]]:
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())[:n]
    return [
        (r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""), r["output"]) for r in rows
    ]


@pytest.fixture(scope="module")
def smollm2() -> IfdScorer:
    return IfdScorer("smollm2-135m-instruct", max_length=128)


def test_batched_scores_equal_one_at_a_time(smollm2: IfdScorer) -> None:
    pairs = alpaca_pairs(6)
    together = smollm2.score_batch(pairs)
    for pair, batched in zip(pairs, together, strict=True):
        (alone,) = smollm2.score_batch([pair])
        assert batched.conditioned == pytest.approx(alone.conditioned, rel=2e-3)
        assert batched.unconditioned == pytest.approx(alone.unconditioned, rel=2e-3)
        assert batched.ifd == pytest.approx(alone.ifd, rel=3e-3)


def test_the_instruction_helps_its_own_answer_more_than_another(smollm2: IfdScorer) -> None:
    pairs = alpaca_pairs(8)
    own = smollm2.score_batch(pairs)
    shifted = [(pairs[(n + 1) % len(pairs)][0], pairs[n][1]) for n in range(len(pairs))]
    other = smollm2.score_batch(shifted)
    # Same responses, same unconditioned loss; a mismatched instruction predicts them worse.
    for a, b in zip(own, other, strict=True):
        assert a.unconditioned == pytest.approx(b.unconditioned, rel=2e-3)
    pairs_ifd = [(a.ifd or 0.0, b.ifd or 0.0) for a, b in zip(own, other, strict=True)]
    assert sum(a < b for a, b in pairs_ifd) >= 6, pairs_ifd
    mean_own, mean_other = (sum(x) / len(pairs_ifd) for x in zip(*pairs_ifd, strict=True))
    assert mean_own < 0.8 * mean_other, pairs_ifd


def test_an_empty_response_has_no_ifd(smollm2: IfdScorer) -> None:
    (score,) = smollm2.score_batch([("Say nothing.", "")])
    assert score.ifd is None and score.conditioned is None


class CountingScorer:
    """The real scorer, counting the pairs it is asked to score."""

    def __init__(self, inner: IfdScorer) -> None:
        self.inner, self.scored = inner, 0

    def identity(self) -> str:
        return self.inner.identity()

    def score_batch(self, pairs):  # type: ignore[no-untyped-def]
        self.scored += len(pairs)
        return self.inner.score_batch(pairs)


def test_an_interrupted_scoring_resumes_from_its_cache(smollm2: IfdScorer, tmp_path: Path) -> None:
    pairs = alpaca_pairs(7)
    cache = tmp_path / "ifd.jsonl"
    first = CountingScorer(smollm2)
    done = score_pairs(first, pairs[:4], cache, batch_size=2)  # type: ignore[arg-type]
    assert first.scored == 4
    with cache.open("ab") as f:
        f.write(b'{"key": "half a line')  # a crash in the middle of a write
    second = CountingScorer(smollm2)
    again = score_pairs(second, pairs, cache, batch_size=2)  # type: ignore[arg-type]
    assert second.scored == 3  # only the pairs not yet in the cache
    assert [s.ifd for s in again[:4]] == [s.ifd for s in done]
    # Everything cached: a new scorer never loads its weights.
    fresh = IfdScorer("smollm2-135m-instruct", max_length=128)
    assert [s.ifd for s in score_pairs(fresh, pairs, cache)] == [s.ifd for s in again]
    assert fresh._model is None
    # Duplicate pairs are scored once.
    third = CountingScorer(smollm2)
    score_pairs(third, [pairs[0], pairs[0]], tmp_path / "other.jsonl")  # type: ignore[arg-type]
    assert third.scored == 1


def test_encoder_decoder_scorer(tmp_path: Path) -> None:
    scorer = IfdScorer(str(tiny_t5(tmp_path / "t5")), max_length=64)
    assert scorer.architecture == "seq2seq"
    pairs = alpaca_pairs(4)
    together = scorer.score_batch(pairs)
    for pair, batched in zip(pairs, together, strict=True):
        (alone,) = scorer.score_batch([pair])
        assert batched.ifd is not None and batched.ifd > 0
        assert batched.ifd == pytest.approx(alone.ifd, rel=2e-3)


def test_a_scorer_that_cannot_load_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(HerdsmanError, match="not a local folder"):
        IfdScorer("no-such-model/anywhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(HerdsmanError, match="not a complete model folder"):
        IfdScorer(str(broken))
