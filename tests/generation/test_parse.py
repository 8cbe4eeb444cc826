from __future__ import annotations

from herdsman.generation.parse import clean_item, parse_instructions


def test_tagged_examples_with_prose_numbering_labels_answers_and_repeats() -> None:
    reply = (
        "Sure! Here are some examples:\n"
        "<example>What is the capital of Peru?</example>\n"
        "<example>1. Write a poem about the sea.</example>\n"
        "<example>Instruction: Summarize the article.\nOutput: The article is about...</example>\n"
        "<example>what is the capital of Peru?</example>\n"
        "I hope these help!"
    )
    assert parse_instructions(reply) == [
        "What is the capital of Peru?",
        "Write a poem about the sea.",
        "Summarize the article.",
    ]


def test_missing_closing_tags() -> None:
    reply = "<example>Name three rivers in Asia.\n<example>Explain how rainbows form.\n<example>Give a synonym for happy."
    assert parse_instructions(reply) == [
        "Name three rivers in Asia.",
        "Explain how rainbows form.",
        "Give a synonym for happy.",
    ]


def test_truncated_reply_drops_the_unfinished_last_item() -> None:
    reply = "<example>Describe a sunset.</example>\n<example>Explain why the sky is"
    assert parse_instructions(reply, truncated=True) == ["Describe a sunset."]
    assert parse_instructions("1. Write about dogs\n2. Describe the proc", truncated=True) == [
        "Write about dogs"
    ]


def test_unclosed_last_item_after_closed_ones_loses_trailing_prose() -> None:
    reply = "<example>Describe a sunset.</example>\n<example>Plan a picnic.\n\nLet me know if you need more!"
    assert parse_instructions(reply) == ["Describe a sunset.", "Plan a picnic."]


def test_numbered_and_bulleted_lists_without_tags() -> None:
    reply = (
        "Here are 3 new instructions:\n"
        "1. Explain quantum computing to a child.\n"
        "2) List five fruits\n   that are red.\n"
        "- \"Translate 'hello' into Spanish.\"\n\nI hope this helps!"
    )
    assert parse_instructions(reply) == [
        "Explain quantum computing to a child.",
        "List five fruits\nthat are red.",
        "Translate 'hello' into Spanish.",
    ]


def test_plain_paragraphs_without_preambles() -> None:
    reply = "Sure, here are some ideas:\n\nPlan a weekend trip to the mountains.\n\nWhat makes a good cup of tea?\n\nWrite a"
    assert parse_instructions(reply, truncated=True) == [
        "Plan a weekend trip to the mountains.",
        "What makes a good cup of tea?",
    ]


def test_nothing_parseable() -> None:
    assert parse_instructions("I'm sorry, I can't help with that.") == []
    assert parse_instructions("") == []
    assert parse_instructions("<example></example><example>   </example>") == []


def test_clean_item_keeps_multiline_inputs() -> None:
    assert clean_item("Example 2: Sort the numbers.\n\n3, 1, 2") == "Sort the numbers.\n\n3, 1, 2"
