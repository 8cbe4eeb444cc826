"""Training students: both paths, no cross-talk in packed/padded batches, LoRA, resume, bad input."""

from __future__ import annotations

import itertools
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from herdsman.config import StudentConfig
from herdsman.errors import HerdsmanError
from herdsman.evaluate.benchmarks import run_benchmarks
from herdsman.evaluate.models import collect_models
from herdsman.train.bases import resolve_base
from herdsman.train.causal import build_causal_trainer
from herdsman.train.data import build_training_data
from herdsman.train.plan import TrainPlan
from herdsman.train.seq2seq import build_seq2seq_trainer
from herdsman.train.student import _load_model, train_student
from tests.conftest import assert_one_line_error, run_cli
from tests.helpers.tiny_models import alpaca_dataset, run_lm_eval, tiny_causal, tiny_t5


@pytest.fixture(scope="module")
def t5(work: Path) -> Path:
    return tiny_t5(work / "tiny-t5")


def student(base: Path, **kw) -> StudentConfig:
    defaults = dict(
        name="s", base=str(base), batch_size=8, per_device_batch_size=4, max_length=256, epochs=1
    )
    return StudentConfig(**(defaults | kw))


def causal_trainer(base: Path, dataset: Path, out: Path, **kw):
    cfg = student(base, **kw)
    resolved = resolve_base(cfg.base)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolved.path)
    data = build_training_data(dataset, tok, "alpaca", cfg.max_length, "causal")
    plan = TrainPlan.make(cfg, resolved, "alpaca", data, out)
    model = _load_model(resolved.path, "causal", "sdpa")
    return build_causal_trainer(cfg, plan, model, tok, []), model


def segment_losses(logits, labels, bounds: list[int]) -> list[float | None]:
    """Mean next-token loss of each segment ``bounds[i]:bounds[i+1]`` of one row."""
    token_loss = F.cross_entropy(
        logits[0, :-1].float(), labels[0, 1:], ignore_index=-100, reduction="none"
    )
    valid = labels[0, 1:] != -100
    out: list[float | None] = []
    for s, e in itertools.pairwise(bounds):
        seg = slice(s, e - 1)
        out.append(float(token_loss[seg][valid[seg]].mean()) if valid[seg].any() else None)
    return out


def test_packed_batch_has_no_cross_talk(dataset: Path, work: Path) -> None:
    sharp = tiny_causal(work / "tiny-llama-sharp", initializer_range=0.5)
    trainer, model = causal_trainer(sharp, dataset, work / "xt")
    model.eval()
    batch = next(iter(trainer.get_train_dataloader()))
    ids, labels, pos = batch["input_ids"], batch["labels"], batch["position_ids"]
    assert ids.shape[0] == 4 and "attention_mask" not in batch  # 4 packed rows, no mask
    with torch.no_grad():  # exactly what the trainer feeds the model
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    checked = 0
    for r in range(ids.shape[0]):
        starts = (pos[r] == 0).nonzero().flatten().tolist()
        bounds = [*starts, ids.shape[1]]
        assert len(starts) >= 2  # several examples share each row
        packed = segment_losses(logits[r : r + 1], labels[r : r + 1], bounds)
        for (s, e), in_batch in zip(itertools.pairwise(bounds), packed, strict=True):
            if in_batch is None:  # the pad tail
                continue
            with torch.no_grad():
                solo = model(input_ids=ids[r : r + 1, s:e], position_ids=torch.arange(e - s)[None])
            alone = segment_losses(solo.logits, labels[r : r + 1, s:e], [0, e - s])[0]
            assert in_batch == pytest.approx(alone, abs=1e-4)
            checked += 1
        if r == 0:
            # Control: the same row as one sequence lets later examples see earlier ones.
            with torch.no_grad():
                joined = model(
                    input_ids=ids[:1], position_ids=torch.arange(ids.shape[1])[None]
                ).logits
            mixed = segment_losses(joined, labels[:1], bounds)
            assert any(
                m is not None and abs(m - p) > 1e-3
                for m, p in zip(mixed[1:], packed[1:], strict=True)
            )
    assert checked >= 8


def seq2seq_trainer(base: Path, dataset: Path, out: Path, **kw):
    cfg = student(base, max_length=128, **kw)
    resolved = resolve_base(cfg.base)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolved.path)
    data = build_training_data(dataset, tok, "none", cfg.max_length, "seq2seq")
    plan = TrainPlan.make(cfg, resolved, "none", data, out)
    model = _load_model(resolved.path, "seq2seq", "eager")
    return build_seq2seq_trainer(cfg, plan, model, tok, []), model


def test_padded_seq2seq_batch_has_no_cross_talk(t5: Path, dataset: Path, work: Path) -> None:
    trainer, model = seq2seq_trainer(t5, dataset, work / "xt5")
    model.eval()
    collate = trainer.data_collator  # exactly what the trainer batches with
    rows = [trainer.train_dataset[i] for i in range(6)]
    batch = collate(rows)
    assert (batch["attention_mask"] == 0).any()  # really padded
    assert (batch["labels"] == -100).any()  # and the labels too

    def losses(b) -> list[float]:
        with torch.no_grad():
            logits = model(**b).logits
        per_token = F.cross_entropy(
            logits.transpose(1, 2), b["labels"], ignore_index=-100, reduction="none"
        )
        mask = b["labels"] != -100
        return (per_token.sum(1) / mask.sum(1)).tolist()

    together = losses(batch)
    alone = [losses(collate([row]))[0] for row in rows]
    assert together == pytest.approx(alone, abs=1e-4)


def test_causal_student_trains_and_loads(causal: Path, dataset: Path, work: Path) -> None:
    from transformers import AutoModelForCausalLM, pipeline

    out = work / "students" / "llama"
    outcome = train_student(student(causal, epochs=2, learning_rate=3e-3), dataset, out)
    assert outcome.wrapper == "chat"  # SmolLM2's tokenizer has a chat template
    assert outcome.examples == 56 and outcome.held_out_examples == 8
    first, last = outcome.loss_curve[0][1], outcome.loss_curve[-1][1]
    assert last < first  # it learned something
    assert outcome.held_out_loss is not None and outcome.tokens_per_second > 0
    record = json.loads((out / "herdsman-train.json").read_text())
    if not torch.cuda.is_available():  # fp32 weights, autocast off, SDPA on CPU
        assert (record["precision"], record["attention"]) == ("fp32", "sdpa")
    assert record["parameters"] == sum(
        p.numel() for p in AutoModelForCausalLM.from_pretrained(out).parameters()
    )
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert {"README.md", "loss_curve.png", "herdsman-train.json"} <= names
    assert ".checkpoints" not in names
    card = (out / "README.md").read_text()
    assert "learning rate" in card and "held-out loss" in card and "loss_curve.png" in card
    model = AutoModelForCausalLM.from_pretrained(out)
    gen = pipeline("text-generation", model=model, tokenizer=str(out))
    assert gen("Hello", max_new_tokens=3)[0]["generated_text"].startswith("Hello")
    evaluated = run_lm_eval(out, work / "lm_eval_causal")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "herdsman_tiny_mc" in evaluated.stdout and "acc" in evaluated.stdout


def test_seq2seq_student_trains_and_loads(t5: Path, dataset: Path, work: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM

    out = work / "students" / "t5"
    outcome = train_student(student(t5, epochs=2, learning_rate=3e-3), dataset, out)
    assert outcome.architecture == "seq2seq" and outcome.wrapper == "none"
    assert outcome.loss_curve[-1][1] < outcome.loss_curve[0][1]
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert model.config.is_encoder_decoder
    # lm-eval's HFLM (what `lm_eval --model hf --model_args backend=seq2seq` builds) scores it.
    scored = run_benchmarks(
        collect_models([out], with_bases=False), ["herdsman_sentiment"], limit=4
    )
    assert scored["models"][0]["scores"]["herdsman_sentiment"]["metric"] == "acc"


def test_lora_student_saves_adapter_and_merged(causal: Path, dataset: Path, work: Path) -> None:
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = work / "students" / "lora"
    # A large learning rate so that two steps move the adapter visibly away from zero.
    train_student(student(causal, method="lora", max_steps=2, learning_rate=0.05), dataset, out)
    assert PeftConfig.from_pretrained(out / "adapter").peft_type == "LORA"
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any("lora" in n for n, _ in merged.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(causal).eval()
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(causal), out / "adapter"
    ).eval()
    ids = AutoTokenizer.from_pretrained(out)(
        ["Give three tips for staying healthy.", "What is the capital of France?"],
        return_tensors="pt",
        padding=True,
    )
    with torch.no_grad():
        merged_logits = merged(**ids).logits
        adapted_logits = adapted(**ids).logits
        base_logits = base(**ids).logits
    assert torch.allclose(merged_logits, adapted_logits, atol=1e-4)  # merged = base + adapter
    assert (merged_logits - base_logits).abs().max() > 1e-2  # and the adapter changed it


def test_training_resumes_after_a_kill(causal: Path, dataset: Path, work: Path) -> None:
    out = work / "students" / "resume"
    args = [
        sys.executable, "-m", "herdsman", "train", "--base", str(causal), "--data", str(dataset),
        "-o", str(out), "--max-steps", "15", "--batch-size", "2", "--per-device-batch-size", "2",
        "--max-length", "128", "--padding", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / ".checkpoints").glob("checkpoint-6")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((out / ".checkpoints").glob("checkpoint-*")), "no checkpoint before the kill"
    assert not (out / "herdsman-train.json").exists()
    again = run_cli(*args[3:])
    assert again.returncode == 0, again.stderr
    assert "resuming from checkpoint-" in again.stderr
    record = json.loads((out / "herdsman-train.json").read_text())
    assert record["steps"] == 15 and record["resumed_from"].startswith("checkpoint-")


def test_bad_bases_and_data(causal: Path, dataset: Path, tmp_path: Path) -> None:
    # Each mistake in-process (the same HerdsmanError the CLI prints), then one through the
    # CLI to show it reaches the user as one line.
    out = tmp_path / "o"
    with pytest.raises(HerdsmanError, match="not a local folder"):
        train_student(student(tmp_path / "nowhere"), dataset, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HerdsmanError, match=r"no config\.json"):
        train_student(student(tmp_path / "empty"), dataset, out)
    with pytest.raises(HerdsmanError, match=r"max_length 20 is too short.*alpaca"):
        train_student(student(causal, max_length=20, wrapper="alpaca"), dataset, out)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"instruction": "a", "response": " "}) + "\n")
    with pytest.raises(HerdsmanError, match="no usable training rows"):
        train_student(student(causal), empty, tmp_path / "x")
    assert not (out / "model.safetensors").exists()
    base = ["train", "--data", str(dataset), "-o", str(out)]
    assert_one_line_error(run_cli(*base, "--base", str(tmp_path / "nowhere")), "not a local folder")


def test_out_of_memory_batch_gets_the_fix(t5: Path, work: Path, tmp_path: Path) -> None:
    # Under an 8 GB address-space limit (a container's memory limit, say), 320 real rows in
    # one padded batch need over 10 GB of decoder logits: the allocator refuses at once.
    data = alpaca_dataset(work / "big", n=320, held_out=0.0)
    args = [
        sys.executable, "-m", "herdsman", "train", "--base", str(t5), "--data", str(data),
        "-o", str(tmp_path / "oom"), "--per-device-batch-size", "320", "--batch-size", "320",
        "--max-length", "512", "--padding", "none", "--max-steps", "1",
    ]  # fmt: skip

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    result = subprocess.run(
        args, capture_output=True, text=True, preexec_fn=limit, timeout=300, check=False
    )
    assert_one_line_error(result, "out of memory", "lower per_device_batch_size")
    assert not (tmp_path / "oom" / "model.safetensors").exists()
