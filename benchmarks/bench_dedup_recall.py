"""``herdsman dedup`` recall at full size, on planted near duplicates that are recorded.

The scale corpus (:mod:`scale_corpus`: real texts, LaMini's source mix, 3%
exact and 10% near duplicates) is written with every near duplicate's row
and the instruction it was made from recorded. ``herdsman dedup`` (``--method
auto``: the LSH candidates above 50,000 rows, each confirmed by the exact
ROUGE-L rule) runs on it as a user runs it, in its own process (time and peak
RSS). Recall is then measured on the pairs the Self-Instruct rule says must
go: a planted near duplicate whose ROUGE-L F to its original is above the
threshold and whose original was kept; recall is the share of them dropped.
Every drop is a true near duplicate by construction (the exact rule confirms
each), so recall is the figure at stake.

Rows carry only ``id`` and ``instruction`` (dedup reads nothing else).

Usage: python benchmarks/bench_dedup_recall.py [--rows 2580000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers

import scale_corpus

from herdsman.generation.dedup import lcs_with_masks, match_masks, rouge_l_f, rouge_tokens
from tests.helpers.data import public_data

THRESHOLD = 0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_580_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dedup-recall-", dir=args.dir))
    corpus, kept_path = work / "corpus.jsonl", work / "kept.jsonl"
    planted: list[tuple[int, str]] = []
    started = time.perf_counter()
    with corpus.open("wb") as out:
        pools = scale_corpus.load_pools(public_data())
        for row in scale_corpus.rows(pools, args.rows, planted=planted):
            out.write(orjson.dumps({"id": row["id"], "instruction": row["instruction"]}) + b"\n")
    print(f"corpus: {args.rows:,} rows, {len(planted):,} planted near duplicates "
          f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip

    command = [sys.executable, "-m", "herdsman", "dedup", str(corpus), "-o", str(kept_path),
               "--threshold", str(THRESHOLD)]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(output[-3000:])
    print(output.strip())

    texts: list[str] = []
    with corpus.open("rb") as f:
        for line in f:
            texts.append(orjson.loads(line)["instruction"])
    kept_rows = {int(orjson.loads(line)["id"].split("-")[1]) for line in kept_path.open("rb")}
    kept_texts = {texts[n] for n in kept_rows}
    relevant = dropped = 0
    for n, original in planted:
        if original not in kept_texts or texts[n] == original:
            continue
        a, b = rouge_tokens(original), rouge_tokens(texts[n])
        if not a or not b:
            continue
        if rouge_l_f(lcs_with_masks(match_masks(a), len(a), b), len(a), len(b)) <= THRESHOLD:
            continue
        relevant += 1
        dropped += n not in kept_rows
    result = {
        "rows": args.rows,
        "kept": len(kept_rows),
        "seconds": seconds,
        "rss_bytes": usage.ru_maxrss * 1024,
        "planted": len(planted),
        "planted_relevant": relevant,
        "planted_dropped": dropped,
        "recall": dropped / relevant if relevant else None,
    }
    (work / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(
        f"dedup {args.rows:,} rows: {seconds:.0f} s, {usage.ru_maxrss / 1024:.0f} MB; "
        f"recall of planted near duplicates {dropped:,}/{relevant:,} = "
        f"{dropped / max(relevant, 1):.4f}"
    )
    corpus.unlink()
    kept_path.unlink()


if __name__ == "__main__":
    main()
