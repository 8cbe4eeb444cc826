"""Prompt wrappers: how an instruction is shown to a decoder-only student.

- ``alpaca``: the paper's wrapper for base models;
- ``chat``: the model's own chat template (a user turn, then the generation prompt);
- ``none``: the instruction, a newline, the answer;
- ``auto``: ``chat`` when the tokenizer has a chat template, else ``alpaca``.

Encoder-decoder students take the raw instruction as encoder input, as in the paper.
The same wrapper must be used at evaluation; the student folder records it.
"""

from __future__ import annotations

from typing import Any

ALPACA = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
WRAPPERS = ("alpaca", "chat", "none")


def choose_wrapper(requested: str, tokenizer: Any, architecture: str) -> str:
    """The concrete wrapper for a student (``none`` for encoder-decoder models)."""
    if architecture == "seq2seq":
        return "none"
    if requested == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "alpaca"
    return requested


def wrap(instruction: str, wrapper: str, tokenizer: Any = None) -> str:
    """The prompt text a student sees for ``instruction``.

    Raises:
        ValueError: ``chat`` without a tokenizer that has a chat template.
    """
    if wrapper == "alpaca":
        return ALPACA.format(instruction=instruction.strip())
    if wrapper == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("the chat wrapper needs a tokenizer with a chat template")
        text: str = tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction.strip()}],
            tokenize=False,
            add_generation_prompt=True,
        )
        return text
    return instruction.strip() + "\n"
