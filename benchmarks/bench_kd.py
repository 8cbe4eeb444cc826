"""Logit distillation's price: capturing the teacher's top-k, and training on it, against sft.

1. Capture: the embedded SmolLM2-135M-Instruct (local backend, batches of 16,
   greedy) answers the same real instructions (Self-Instruct's user-oriented
   set) twice, each run with a fresh run store: plainly, and keeping the top-K
   log-probabilities of every answer token. Prints answer tokens/s of both (the
   ratio is the capture's overhead) and the bytes stored per answer token
   (the Parquet export's, and the run store's growth).
2. Training: the teacher cut to 20 of its 30 layers (``init: prune``) trains
   for the same steps on those answers with ``objective: kd`` (the stored
   top-K) and with ``objective: sft`` (the text). Prints training tokens/s of
   both and their ratio.
3. With ``--demo DIR`` (a finished ``herdsman demo`` run): the demo-scale kd
   minus sft comparison from its ``ablation/ablation.json``.

Usage: python benchmarks/bench_kd.py [--instructions 48] [--k 20] [--steps 12] [--demo demo-run]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.helpers
from herdsman.config import StudentConfig
from herdsman.generation.respond import RespondSettings, respond
from herdsman.io.jsonl import iter_json_objects, write_jsonl_atomic
from herdsman.io.logprobs import LogprobsMeta, bytes_per_token, vocab_fingerprint, write_logprobs
from herdsman.records import SamplingParams
from herdsman.store.run_store import RunStore
from herdsman.teachers.local import LocalTeacher
from herdsman.train.student import train_student
from tests.helpers.data import public_data


def capture(instructions: Path, work: Path, k: int) -> Path:
    """Answer twice (plain, with top-k); return a dataset folder of the answers with logprobs."""
    sampling = SamplingParams(temperature=0.0, max_tokens=128)
    teacher = LocalTeacher(batch_size=16)
    teacher.load()
    rates = {}
    for name, logprobs in (("plain", None), (f"top-{k}", k)):
        store_path = work / f"{name}.sqlite"
        out = work / f"{name}.jsonl"
        with RunStore(store_path) as store:
            start = time.perf_counter()
            respond(
                teacher,
                store,
                instructions,
                out,
                RespondSettings(sampling=sampling, logprobs=logprobs),
            )
            seconds = time.perf_counter() - start
            tokens = sum(int(r.get("completion_tokens") or 0) for _, r in iter_json_objects(out))
            rates[name] = tokens / seconds
            if logprobs:
                rows = [r for _, r in iter_json_objects(out)]
                stored = store.get_tokens([r["call_key"] for r in rows])
        print(
            f"  {name:7s}: {tokens} answer tokens in {seconds:.1f} s = {rates[name]:.1f} tokens/s"
        )
    print(f"  capture overhead: {rates['plain'] / rates[f'top-{k}']:.2f}x the time per token")
    data = work / "dataset"
    write_jsonl_atomic(data / "train.jsonl", rows)
    export = data / "logprobs" / "train.parquet"
    write_logprobs(export, ((r["call_key"], stored[r["call_key"]]) for r in rows))
    n_tokens = sum(len(t) for t in stored.values())
    print(
        f"  bytes per answer token: {bytes_per_token(k)} by design (4 + {k} x 6); Parquet "
        f"{export.stat().st_size / n_tokens:.1f}; run store growth "
        f"{((work / f'top-{k}.sqlite').stat().st_size - (work / 'plain.sqlite').stat().st_size) / n_tokens:.1f}"
    )
    vocab = vocab_fingerprint(dict(teacher._tokenizer.get_vocab()))
    LogprobsMeta(str(teacher.path), vocab, k, "local").write(data / "logprobs")
    teacher.close()
    return data


def training(data: Path, work: Path, steps: int) -> None:
    """The pruned teacher trained the same steps with kd and with sft: tokens/s of each."""
    rates = {}
    for objective in ("kd", "sft"):
        student = StudentConfig(
            name=f"pruned-{objective}", base="smollm2-135m-instruct", init="prune",
            keep_layers=20, objective=objective, learning_rate=3e-4, batch_size=4,
            per_device_batch_size=4, max_length=256, max_steps=steps, padding="none",
        )  # fmt: skip
        outcome = train_student(student, data, work / objective)
        rates[objective] = outcome.tokens_per_second
        print(
            f"  {objective}: {outcome.steps} steps, {outcome.real_tokens} tokens in "
            f"{outcome.train_seconds:.1f} s = {outcome.tokens_per_second:.0f} tokens/s, "
            f"final loss {outcome.final_loss}"
        )
    print(f"  kd / sft training speed: {rates['kd'] / rates['sft']:.2f}x")


def demo_comparison(run: Path) -> None:
    """kd minus sft on the demo's held-out items, as its ablation stage measured it."""
    found = json.loads((run / "ablation" / "ablation.json").read_text())
    print(
        f"\n3. demo-scale {' minus '.join(found['labels'])} ({found['student']}, {found['pairs']} pairs)"
    )
    for name, arm in found["arms"].items():
        print(f"  {name}: {arm['steps']} steps, final loss {arm['final_loss']}")
    for row in found["comparisons"]:
        print(f"  {row['measure']}: {row['verdict']}")


def main() -> None:
    """Run the benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=48)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--data", type=Path, default=public_data())
    parser.add_argument("--demo", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = args.data / "self_instruct" / "user_oriented_instructions.jsonl"
        rows = []
        for _, task in iter_json_objects(source):
            instance = task["instances"][0]
            rows.append(
                {"id": task["id"], "instruction": task["instruction"], "input": instance["input"]}
            )
            if len(rows) == args.instructions:
                break
        instructions = work / "instructions.jsonl"
        write_jsonl_atomic(instructions, rows)
        print(f"1. capture, {len(rows)} instructions, embedded SmolLM2-135M-Instruct on CPU")
        data = capture(instructions, work, args.k)
        print(f"\n2. training the teacher cut to 20 of 30 layers, {args.steps} steps, batch 4")
        training(data, work, args.steps)
    if args.demo is not None:
        demo_comparison(args.demo)


if __name__ == "__main__":
    main()
