"""The LSH dedup mode: every drop is a true near duplicate, few are missed, the file path and CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

from rouge_score.rouge_scorer import _score_lcs

from herdsman.generation.dedup import dedup_texts, rouge_tokens
from herdsman.generation.dedup_file import AUTO_EXACT_MAX, dedup_file, exact_key
from herdsman.generation.dedup_lsh import LshSettings, TokenTable, band_keys, decide
from tests.conftest import assert_one_line_error, require_data, run_cli
from tests.generation.test_dedup import exhaustive, perturbed


def lsh(
    texts: list[str], settings: LshSettings | None = None
) -> tuple[list[bool], dict[int, tuple[str, int, float]]]:
    table = TokenTable()
    for text in texts:
        table.add(rouge_tokens(text))
    outcome = decide(table, [exact_key(t) for t in texts], 0.7, settings)
    return [bool(k) for k in outcome.kept], outcome.reasons


def alpaca(n: int) -> list[str]:
    rows = json.loads(require_data("alpaca", "alpaca_5000.json").read_text())
    return [r["instruction"] + (" " + r["input"] if r["input"] else "") for r in rows[:n]]


def test_every_drop_is_a_true_near_duplicate_and_recall_is_high() -> None:
    texts = perturbed(alpaca(250), seed=3)  # 1,000 texts, a quarter of them originals
    kept, reasons = lsh(texts)
    reference = exhaustive(texts)
    tokens = [rouge_tokens(t) for t in texts]
    for i, (reason, match, score) in reasons.items():
        assert match < i and kept[match]  # against an earlier *kept* text
        if reason == "near":
            assert _score_lcs(tokens[match], tokens[i]).fmeasure == score > 0.7
        else:
            assert texts[i].split() and " ".join(texts[i].lower().split()) == " ".join(
                texts[match].lower().split()
            )
    dropped_ref = {i for i, k in enumerate(reference) if not k}
    dropped = {i for i, k in enumerate(kept) if not k}
    assert len(dropped_ref) > 300
    assert len(dropped & dropped_ref) / len(dropped_ref) >= 0.98  # recall
    agree = sum(a == b for a, b in zip(kept, reference, strict=True)) / len(texts)
    assert agree >= 0.98


def test_template_heavy_texts_are_checked_not_dropped_wholesale() -> None:
    # Instructions that share a template but differ in what matters stay.
    rng = random.Random(0)
    words = " ".join(alpaca(300)).split()
    texts = [
        f"Write a short poem about {rng.choice(words)} {rng.choice(words)} and "
        f"{rng.choice(words)} {rng.choice(words)} for {rng.choice(words)}"
        for _ in range(600)
    ]
    kept, _ = lsh(texts)
    reference = exhaustive(texts)
    assert sum(reference) > 400 and sum(kept) >= sum(reference)  # LSH misses, never adds, drops
    assert sum(a == b for a, b in zip(kept, reference, strict=True)) >= 0.98 * len(texts)


def test_empty_texts_and_signature_shape() -> None:
    kept, reasons = lsh(["你好世界", "!!!", "你好世界", "Name a river.", "name a  river."])
    assert kept == [True, True, False, True, False]
    assert reasons[2][0] == reasons[4][0] == "exact"
    table = TokenTable()
    for text in ["", "a b c", "a b c d"]:
        table.add(rouge_tokens(text))
    keys = band_keys(table, LshSettings(bands=7, rows=3))
    assert keys.shape == (3, 7) and not keys[0].any() and keys[1:].all()


def test_more_bands_more_recall() -> None:
    texts = perturbed(alpaca(200), seed=5)
    reference = exhaustive(texts)
    misses = []
    for settings in (LshSettings(bands=4, rows=8), LshSettings()):
        kept, _ = lsh(texts, settings)
        misses.append(sum(k and not r for k, r in zip(kept, reference, strict=True)))
    assert misses[0] > misses[1]  # a narrow S-curve misses pairs the default finds


def test_file_methods(tmp_path: Path) -> None:
    texts = perturbed(alpaca(150), seed=7)
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"instruction": t, "n": i}) + "\n" for i, t in enumerate(texts))
    )
    outs = {}
    for method in ("exact", "lsh", "auto"):
        out = tmp_path / f"{method}.jsonl"
        stats = dedup_file(src, out, method=method, dropped_path=tmp_path / f"{method}.dropped")
        outs[method] = [json.loads(x)["n"] for x in out.read_text().splitlines()]
        assert stats.method == ("lsh" if method == "lsh" else "exact")
        assert stats.kept == len(outs[method]) and stats.total == len(texts)
        dropped = [json.loads(x) for x in (tmp_path / f"{method}.dropped").read_text().splitlines()]
        assert len(dropped) == stats.exact + stats.near
        assert all(d["duplicate_of_line"] < d["line"] for d in dropped)
    assert outs["auto"] == outs["exact"] == [i for i, k in enumerate(exhaustive(texts)) if k]
    assert len(texts) < AUTO_EXACT_MAX
    decisions, _ = dedup_texts(texts)
    assert (
        len(set(outs["lsh"]) ^ {i for i, d in enumerate(decisions) if d.kept}) <= len(texts) // 50
    )


def test_cli_method(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in alpaca(50) * 2))
    out = tmp_path / "out.jsonl"
    result = run_cli("dedup", str(src), "-o", str(out), "--method", "lsh")
    assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 50 and "lsh method" in result.stderr
    assert_one_line_error(
        run_cli("dedup", str(src), "-o", str(tmp_path / "x.jsonl"), "--method", "minhash"),
        "--method",
        "'minhash' is not allowed",
    )
