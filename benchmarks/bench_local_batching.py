"""`local` backend: batched generation vs one prompt at a time, same model and settings.

The same 32 prompts are answered twice by the embedded SmolLM2-135M-Instruct
with greedy decoding and the same max_tokens: once one prompt per
``generate()`` call (the baseline), once in a left-padded batch of 32. The
ratio of generated tokens per second is printed; the issue asks for >= 3x.

Usage: python benchmarks/bench_local_batching.py [--max-tokens 48] [--model PATH]
"""

from __future__ import annotations

import argparse
import time

from herdsman.records import SamplingParams
from herdsman.teachers.base import ChatRequest, Completion
from herdsman.teachers.local import LocalTeacher

TOPICS = [
    "photosynthesis", "the French Revolution", "black holes", "compound interest", "the water cycle",
    "machine learning", "volcanoes", "the immune system", "supply and demand", "plate tectonics",
    "the printing press", "climate change", "DNA replication", "the Roman Empire", "electric cars",
    "vaccines", "the stock market", "renewable energy", "the human heart", "quantum computing",
    "coral reefs", "the Internet", "jazz music", "the Great Wall of China", "honeybees",
    "recycling", "the Moon landing", "antibiotics", "earthquakes", "the Olympic Games",
    "chess", "rainforests",
]  # fmt: skip


def tokens(results: list[Completion]) -> int:
    return sum(r.completion_tokens or 0 for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    requests = [
        ChatRequest(
            key=str(i),
            messages=({"role": "user", "content": f"Explain {topic} in two sentences."},),
            sampling=sampling,
        )
        for i, topic in enumerate(TOPICS)
    ]
    teacher = LocalTeacher(args.model, batch_size=32)
    teacher.load()
    teacher.generate(requests[:2])  # warm-up

    started = time.perf_counter()
    single = [teacher.generate([r])[0] for r in requests]
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    batched = teacher.generate(requests)
    batched_s = time.perf_counter() - started

    single_tps = tokens(single) / single_s
    batched_tps = tokens(batched) / batched_s
    same = sum(a.text == b.text for a, b in zip(single, batched, strict=True))
    print(f"local backend ({teacher.model}), 32 prompts, greedy, max_tokens={args.max_tokens}")
    print(
        f"  one at a time (baseline): {single_tps:7.1f} tokens/s  ({tokens(single)} tokens, {single_s:.1f} s)"
    )
    print(
        f"  batch of 32             : {batched_tps:7.1f} tokens/s  ({tokens(batched)} tokens, {batched_s:.1f} s)"
    )
    print(f"  ratio                   : {batched_tps / single_tps:7.2f}x  (target >= 3x)")
    print(f"  identical answers       : {same}/32")


if __name__ == "__main__":
    main()
