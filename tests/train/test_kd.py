"""objective: kd: the loss by hand, position alignment with stored teacher tokens, training, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from herdsman.config import StudentConfig
from herdsman.errors import HerdsmanError
from herdsman.io.logprobs import LogprobsMeta, TeacherTokens, vocab_fingerprint, write_logprobs
from herdsman.train.kd import KDCollator, build_kd_data, kd_loss, kd_position_losses
from herdsman.train.student import train_student
from herdsman.train.wrappers import wrap
from tests.helpers.tiny_models import alpaca_dataset, tiny_causal, tiny_t5

K = 4
NEW_TOKENS = 12


# ----------------------------------------------------------------------------- the loss


def _softmax(xs: list[float]) -> list[float]:
    top = max(xs)
    e = [math.exp(x - top) for x in xs]
    return [v / sum(e) for v in e]


def test_kd_loss_by_hand() -> None:
    """Vocabulary 5, k=2, two positions (the second with one padded entry), tau = 2."""
    tau = 2.0
    logits = [[0.5, 1.0, -0.3, 2.0, 0.1], [1.5, -1.0, 0.7, 0.2, -0.4]]
    top_ids = [[1, 3], [2, -1]]
    teacher: list[list[float | None]] = [
        [0.5, 0.3],
        [0.6, None],
    ]  # position 2: one real candidate, then padding
    expected = []
    for pos in range(2):
        probs = [p for p in teacher[pos] if p is not None]
        ids = [i for i in top_ids[pos] if i >= 0]
        tail = 1 - sum(probs)
        q_t = _softmax([math.log(p) / tau for p in [*probs, tail]])
        s = _softmax([x / tau for x in logits[pos]])
        q_s = [s[i] for i in ids] + [1 - sum(s[i] for i in ids)]
        expected.append(tau**2 * sum(a * math.log(a / b) for a, b in zip(q_t, q_s, strict=True)))
    want = sum(expected) / 2

    lp = torch.tensor([[math.log(0.5), math.log(0.3)], [math.log(0.6), -math.inf]])
    got = kd_loss(
        torch.tensor(logits),
        torch.tensor(top_ids),
        lp.to(torch.float16).float(),  # stored values are float16
        torch.tensor([True, True]),
        temperature=tau,
    )
    # float16 storage of the log-probabilities moves the value by well under 1e-3
    assert got.item() == pytest.approx(want, rel=2e-3)
    exact = kd_loss(
        torch.tensor(logits), torch.tensor(top_ids), lp, torch.ones(2, dtype=torch.bool), tau
    )
    assert exact.item() == pytest.approx(want, rel=1e-5)
    assert want == pytest.approx(0.677976, abs=1e-6)  # the number, written down once
    # A masked-out position does not count.
    only_first = kd_loss(
        torch.tensor(logits), torch.tensor(top_ids), lp, torch.tensor([True, False]), tau
    )
    assert only_first.item() == pytest.approx(expected[0], rel=1e-5)


def test_kd_loss_is_zero_when_the_student_matches() -> None:
    # teacher: p(1)=0.5, p(3)=0.3, tail 0.2; the student spreads its 0.2 over the other three tokens
    student = torch.tensor([[0.05, 0.5, 0.1, 0.3, 0.05]]).log()
    ids = torch.tensor([[1, 3]])
    lp = torch.tensor([[math.log(0.5), math.log(0.3)]])
    mask = torch.tensor([True])
    assert kd_loss(student, ids, lp, mask, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.tensor([[0.05, 0.3, 0.1, 0.5, 0.05]]).log()
    assert kd_loss(other, ids, lp, mask, 1.0).item() > 0.05
    # all the teacher's mass on the top-k (no tail) and the student agrees there: still 0
    full = torch.tensor([[0.0, 0.625, 0.0, 0.375, 0.0]]).clamp(min=1e-30).log()
    lp_full = torch.tensor([[math.log(0.625), math.log(0.375)]])
    assert kd_position_losses(full, ids, lp_full, 1.0).item() == pytest.approx(0.0, abs=1e-5)


def test_kd_loss_gradients_stay_finite() -> None:
    """A student with all its mass on the top-k, a padding-only row, a peaked teacher: no NaN."""
    logits = torch.tensor(
        [
            [-200.0, 50.0, -200.0, 49.0, -200.0],
            [0.1, 0.2, 0.3, 0.4, 0.5],
            [1.0, 2.0, 3.0, 4.0, 5.0],
        ],
        requires_grad=True,
    )
    ids = torch.tensor([[1, 3], [-1, -1], [4, 2]])
    lp = torch.tensor([[-0.1, -2.4], [-math.inf, -math.inf], [0.0, -30.0]])
    for tau in (1.0, 3.0):
        loss = kd_loss(logits, ids, lp, torch.ones(3, dtype=torch.bool), tau)
        loss.backward()
        assert logits.grad is not None and math.isfinite(loss.item())
        assert torch.isfinite(logits.grad).all()
        logits.grad = None
    # the padding-only row has the whole teacher mass in the tail, and so has the student: 0
    row = kd_position_losses(logits[1:2].detach(), ids[1:2], lp[1:2])
    assert row.item() == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- stored teacher data


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kd")


@pytest.fixture(scope="module")
def teacher(work: Path) -> Path:
    return tiny_causal(work / "teacher", seed=1, initializer_range=0.2)


def _greedy_tokens(model: Any, tokenizer: Any, prompt: str) -> tuple[list[int], TeacherTokens]:
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]),
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
        )
    answer = out.sequences[0, len(prompt_ids) :].tolist()
    rows = []
    for step in out.logits:
        lp = torch.log_softmax(step[0].float(), -1)
        values, ids = lp.topk(K)
        rows.append(list(zip(ids.tolist(), values.tolist(), strict=True)))
    return prompt_ids, TeacherTokens.build(answer, rows, K)


@pytest.fixture(scope="module")
def kd_dataset(work: Path, teacher: Path) -> Path:
    """A dataset folder whose answers are the tiny teacher's greedy answers, with their top-k."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = alpaca_dataset(work / "dataset", n=24, held_out=0.25)
    tok = AutoTokenizer.from_pretrained(teacher)
    model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    (folder / "logprobs").mkdir()
    for split in ("train", "held_out"):
        path = folder / f"{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        stored = []
        for i, row in enumerate(rows):
            _, tokens = _greedy_tokens(model, tok, wrap(row["instruction"], "chat", tok))
            row["call_key"] = f"{split}-{i:03d}"
            row["response"] = tok.decode(tokens.token_ids, skip_special_tokens=True) or "x"
            stored.append((row["call_key"], tokens))
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        write_logprobs(folder / "logprobs" / f"{split}.parquet", stored)
    LogprobsMeta(str(teacher), vocab_fingerprint(tok.get_vocab()), K, "local").write(
        folder / "logprobs"
    )
    return folder


def test_stored_positions_line_up_with_the_student_logits(kd_dataset: Path, teacher: Path) -> None:
    """top_ids[t][0] == token_ids[t]; the collator puts token_ids[t] where logits[t-1] predict it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from herdsman.io.logprobs import read_logprobs

    tok = AutoTokenizer.from_pretrained(teacher)
    stored = read_logprobs(kd_dataset / "logprobs" / "train.parquet")
    for (
        tokens
    ) in stored.values():  # greedy answers: the produced token is the teacher's first choice
        assert np.array_equal(tokens.top_ids[:, 0], tokens.token_ids)
    data = build_kd_data(kd_dataset, tok, "chat", 512)
    batch = KDCollator(tok.pad_token_id)(data.train[:3])
    model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    for row, example in enumerate(data.train[:3]):
        start = example["prompt_length"]
        key = sorted(stored)[row]  # train rows keep their file order; keys sort the same
        tokens = stored[key]
        n = len(tokens)
        assert batch["labels"][row, :start].eq(-100).all()
        assert batch["labels"][row, start : start + n].tolist() == tokens.token_ids.tolist()
        assert batch["teacher_top_ids"][row, start : start + n].tolist() == tokens.top_ids.tolist()
        for t in range(n):
            # the logits one position before the label are the distribution that produced it
            predicted = logits[row, start + t - 1]
            assert int(predicted.argmax()) == int(tokens.token_ids[t])
            assert predicted.topk(K).indices.tolist() == tokens.top_ids[t].tolist()
    # The teacher as its own student: the shifted loss is ~0 (float16 storage), unshifted it is not.
    ids, lp = batch["teacher_top_ids"], batch["teacher_top_logprobs"]
    mask = batch["labels"] != -100
    aligned = kd_loss(logits[:, :-1], ids[:, 1:], lp[:, 1:], mask[:, 1:])
    misaligned = kd_loss(logits[:, 1:], ids[:, 1:], lp[:, 1:], mask[:, 1:])
    assert aligned.item() < 1e-3 < misaligned.item()


def _student(base: Path, **kw: Any) -> StudentConfig:
    defaults = dict(
        name="kd",
        base=str(base),
        objective="kd",
        batch_size=4,
        per_device_batch_size=4,
        max_length=256,
        max_steps=4,
        learning_rate=3e-3,
    )
    return StudentConfig(**(defaults | kw))


def test_kd_student_trains_and_loads(kd_dataset: Path, work: Path) -> None:
    from transformers import AutoModelForCausalLM

    base = tiny_causal(work / "student", seed=2)
    out = work / "students" / "kd"
    outcome = train_student(_student(base, kd_alpha=0.7, kd_temperature=2.0), kd_dataset, out)
    losses = [loss for _, loss in outcome.loss_curve]
    assert losses and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert outcome.objective == "kd" and outcome.held_out_loss is not None
    assert outcome.examples == 18 and outcome.steps == 4
    record = json.loads((out / "herdsman-train.json").read_text())
    assert record["objective"] == "kd" and record["init"] == {"kind": "base", "from": str(base)}
    model = AutoModelForCausalLM.from_pretrained(out)
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    assert "alpha 0.7, temperature 2" in (out / "README.md").read_text()


def test_kd_refusals(kd_dataset: Path, work: Path, tmp_path: Path) -> None:
    import shutil

    base = tiny_causal(work / "student", seed=2)

    def refused(cfg: StudentConfig, data: Path) -> str:
        with pytest.raises(HerdsmanError) as caught:
            train_student(cfg, data, tmp_path / "out")
        message = str(caught.value)
        assert "\n" not in message
        return message

    no_logprobs = tmp_path / "plain"
    shutil.copytree(kd_dataset, no_logprobs, ignore=shutil.ignore_patterns("logprobs"))
    message = refused(_student(base), no_logprobs)
    assert "objective kd needs the teacher's log-probabilities" in message
    assert "--logprobs K" in message

    other_vocab = tmp_path / "other"
    shutil.copytree(kd_dataset, other_vocab)
    LogprobsMeta("some/other-teacher", "0123456789abcdef", K, "openai").write(
        other_vocab / "logprobs"
    )
    message = refused(_student(base), other_vocab)
    assert str(base) in message and "some/other-teacher" in message

    missing_key = tmp_path / "missing"
    shutil.copytree(kd_dataset, missing_key)
    from herdsman.io.logprobs import read_logprobs

    parquet = missing_key / "logprobs" / "train.parquet"
    kept = sorted(read_logprobs(parquet).items())[2:]
    write_logprobs(parquet, kept)
    message = refused(_student(base), missing_key)
    assert "2 of 18 training rows" in message and "train-000" in message

    t5 = tiny_t5(work / "t5")
    message = refused(_student(t5), kd_dataset)
    assert "decoder-only" in message and str(t5) in message
