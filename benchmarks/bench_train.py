"""Training throughput: herdsman's padding reduction vs plain padded random batches, same run.

1. SmolLM2-135M-Instruct (full fine-tuning) for one epoch on the demo dataset,
   twice: ``padding: packing`` (herdsman's default for decoder-only students:
   best-fit packing, padding-free, per-example position ids) and ``padding:
   none`` (padded random batches, the usual baseline). Throughput counts real
   tokens only (prompt + answer, no padding), so the ratio is the speed-up.
2. Train time per 1,000 examples for each embedded student (one epoch).

The demo dataset is ``demo-run/dataset`` (``make demo``); when it is missing,
the bundled demo config is run up to its dataset stage into a temporary folder
first (a few minutes with the embedded teacher).

Usage: python benchmarks/bench_train.py [--data demo-run/dataset] [--skip-herd]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from herdsman.config import StudentConfig, load_config
from herdsman.io.bundled import bundled_file
from herdsman.pipeline.runner import run_pipeline
from herdsman.train.student import train_student


def demo_dataset(data: Path, tmp: Path) -> Path:
    if (data / "train.jsonl").is_file():
        return data
    print(f"{data} not found: building the demo dataset (seeds -> ... -> dataset)")
    loaded = load_config(bundled_file("demo.yaml"), {"run_dir": str(tmp / "demo")})
    run_pipeline(loaded, ["seeds", "topics", "generate", "respond", "dataset"])
    return tmp / "demo" / "dataset"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("demo-run/dataset"))
    parser.add_argument("--skip-herd", action="store_true")
    parser.add_argument("--per-device", type=int, default=8, help="Rows per forward pass.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = demo_dataset(args.data, tmp)
        common = dict(
            base="smollm2-135m-instruct",
            learning_rate=5e-5,
            epochs=1,
            batch_size=8,
            per_device_batch_size=args.per_device,
            max_length=512,
            save_steps=1_000_000,  # measure training, not checkpoint writing
        )
        results = {}
        for padding in ("none", "packing"):
            cfg = StudentConfig(name=f"smollm2-{padding}", padding=padding, **common)
            results[padding] = train_student(cfg, data, tmp / padding)
        base, ours = results["none"], results["packing"]
        print(
            f"SmolLM2-135M, 1 epoch on {ours.examples} demo examples ({ours.real_tokens:,} real tokens), "
            f"{args.per_device} rows per forward pass:"
        )
        print(
            f"  padded random batches : {base.train_seconds:7.1f} s  {base.tokens_per_second:7.1f} real tokens/s"
        )
        print(
            f"  packed, padding-free  : {ours.train_seconds:7.1f} s  {ours.tokens_per_second:7.1f} real tokens/s"
        )
        print(
            f"  ratio                 : {ours.tokens_per_second / base.tokens_per_second:.2f}x  (target >= 1.5x)"
        )
        if args.skip_herd:
            return
        herd = [
            StudentConfig(
                **(common | {"name": "gemma", "base": "gemma-3-270m", "wrapper": "alpaca"})
            ),
            StudentConfig(
                **(
                    common
                    | {
                        "name": "t5",
                        "base": "t5-scratch",
                        "per_device_batch_size": 8,
                        "max_length": 256,
                    }
                )
            ),
            StudentConfig(**(common | {"name": "smollm2-lora", "method": "lora"})),
        ]
        print("train time per 1,000 examples (one epoch, on the machine running this script):")
        print(f"  {'smollm2-135m full':<22} {ours.train_seconds / ours.examples * 1000:8.0f} s")
        for cfg in herd:
            outcome = train_student(cfg, data, tmp / cfg.name)
            label = f"{cfg.base} {cfg.method}"
            print(f"  {label:<22} {outcome.train_seconds / outcome.examples * 1000:8.0f} s")


if __name__ == "__main__":
    main()
