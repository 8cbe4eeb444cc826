"""Test and dry-run helpers: no herdsman stage imports this package.

``stub_server`` is a deterministic OpenAI-compatible server on loopback. It
answers generation and grading prompts through the readers that the modules
owning those prompts provide (:func:`herdsman.generation.prompts.requested_count`,
:func:`herdsman.evaluate.judge.answer_under_grading`), so it never parses
prompt text itself.
"""
