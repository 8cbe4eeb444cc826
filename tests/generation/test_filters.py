from __future__ import annotations

import pytest

from herdsman.generation.filters import FilterConfig, QualityFilter


def test_each_filter_and_its_count() -> None:
    q = QualityFilter()
    texts = {
        "Name a fruit.": "too_short",
        " ".join(["word"] * 151): "too_long",
        "Describe the image below in detail.": "unsuitable",
        "Plot the data as a bar chart.": "unsuitable",
        "Write a program that sorts a list.": "program",
        '"Quoted start" is not allowed here.': "punctuation",
        "Écris un poème sur la mer.": "non_english",
        "Explain why the sky is blue.": None,
    }
    for text, reason in texts.items():
        assert q.reason(text) == reason, text
    kept = [t for t in texts if q.keep(t)]
    assert kept == ["Explain why the sky is blue."]
    assert q.removed == {
        "too_short": 1,
        "too_long": 1,
        "unsuitable": 2,
        "program": 1,
        "punctuation": 1,
        "non_english": 1,
    }


def test_word_boundaries_for_unsuitable_words() -> None:
    q = QualityFilter()
    assert q.reason("Give a profile of a famous scientist.") is None  # "file" inside "profile"
    assert q.reason("Summarize the attached file for me.") == "unsuitable"


def test_filters_can_be_switched_off() -> None:
    q = QualityFilter(FilterConfig().without(["unsuitable", "too_short"]))
    assert q.keep("Draw a cat.")
    with pytest.raises(ValueError, match="unknown filter"):
        FilterConfig().without(["nonsense"])
