from __future__ import annotations

from pathlib import Path

import pytest

from herdsman.errors import HerdsmanError, InputError
from herdsman.generation.prompts import Planner, PromptTemplate, fill, requested_count
from herdsman.generation.seeds import load_seeds
from herdsman.records import Seed
from tests.conftest import require_data


@pytest.fixture(scope="module")
def self_instruct() -> list[Seed]:
    return list(load_seeds(require_data("self_instruct", "seed_tasks.jsonl")))


@pytest.fixture(scope="module")
def p3() -> list[Seed]:
    return list(load_seeds(require_data("p3_templates")))


def test_example_prompt_has_the_papers_shape(self_instruct: list[Seed]) -> None:
    call = Planner("example", self_instruct).plan(0)
    head, sep, tail = call.prompt.partition("\n\nGenerate ")
    assert sep and head.startswith("<example>") and head.endswith("</example>")
    assert head.count("<example>") == 3 and head.count("</example>") == 3
    for (
        seed
    ) in call.seeds:  # each example is a seed: its instruction, then any input after a blank line
        assert f"<example>{seed.instruction.strip()}" in head
    assert tail.startswith("20 diverse examples that are similar to the provided examples.")
    assert (
        "You do not need to provide a response" in tail
        and "imperative sentence or a question" in tail
    )
    assert (
        call.per_call == 20
        and call.source == "self_instruct_without_topic"
        and len(call.seeds) == 3
    )


def test_sampling_is_seeded_and_reproducible(self_instruct: list[Seed]) -> None:
    a, b = Planner("example", self_instruct, seed=1), Planner("example", self_instruct, seed=1)
    assert [a.plan(i).prompt for i in range(5)] == [b.plan(i).prompt for i in range(5)]
    assert a.plan(0).prompt != Planner("example", self_instruct, seed=2).plan(0).prompt
    assert len({a.plan(i).prompt for i in range(20)}) == 20


def test_p3_examples_come_from_one_subset_and_ask_for_10(p3: list[Seed]) -> None:
    planner = Planner("example", p3)
    assert "p3:trec_fine_grained_ABBR" not in [name for name, _ in planner.groups]  # empty template
    for i in range(30):
        call = planner.plan(i)
        assert len({s.subset for s in call.seeds}) == 1 and call.subset == call.seeds[0].subset
        assert call.per_call == 10 and call.source == "generated_p3"
        assert "Generate 10 diverse examples" in call.prompt


def test_topic_prompt_names_three_topics_and_uses_self_instruct_seeds(
    self_instruct: list[Seed], p3: list[Seed]
) -> None:
    topics = ["Jazz", "Volcanoes", "Chess", "Tea", "Birds"]
    planner = Planner("topic", self_instruct + p3[:50], topics=topics)
    call = planner.plan(3)
    assert len(call.topics) == 3 and set(call.topics) <= set(topics)
    assert f'with the topics "{", ".join(call.topics)}"' in call.prompt
    assert call.source == "self_instruct_with_topic"
    assert all(s.source == "self-instruct" for i in range(20) for s in planner.plan(i).seeds)


def test_too_few_seeds_and_small_subsets(tmp_path: Path) -> None:
    two = [Seed(id=f"s{i}", instruction=f"Task {i}", source="self-instruct") for i in range(2)]
    with pytest.raises(HerdsmanError, match="at least 3 seeds"):
        Planner("example", two)
    small = [
        Seed(id=f"p{i}", instruction=f"Prompt {i}", source="p3", subset=f"t{i % 2}")
        for i in range(4)
    ]
    with pytest.raises(HerdsmanError, match="no subset has 3 seeds"):
        Planner("example", small)
    mixed = small + [
        Seed(id=f"q{i}", instruction=f"Q {i}", source="p3", subset="big") for i in range(3)
    ]
    planner = Planner("example", mixed)
    assert planner.skipped_subsets == ["p3:t0", "p3:t1"] and planner.plan(0).subset == "big"
    with pytest.raises(HerdsmanError, match="needs --topics"):
        Planner("topic", mixed)


def test_template_override_from_file(tmp_path: Path, self_instruct: list[Seed]) -> None:
    path = tmp_path / "tpl.yaml"
    path.write_text(
        "version: mine-1\nexample: |\n  {examples}\n  Give me {n} more, one per <example> tag.\n"
    )
    template = PromptTemplate.from_file(path)
    call = Planner("example", self_instruct, template).plan(0)
    assert template.version == "mine-1" and call.prompt.endswith(
        "Give me 20 more, one per <example> tag.\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("example: no placeholders here\n")
    with pytest.raises(InputError, match="placeholders"):
        PromptTemplate.from_file(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("exampel: '{examples} {n}'\n")
    with pytest.raises(InputError, match="unknown key"):
        PromptTemplate.from_file(unknown)


def test_requested_count_reads_back_the_prompts_this_module_builds(
    self_instruct: list[Seed], p3: list[Seed]
) -> None:
    assert requested_count(Planner("example", self_instruct, per_call=7).plan(0).prompt) == 7
    assert requested_count(Planner("example", p3).plan(0).prompt) == 10
    topic = Planner("topic", self_instruct, topics=["Jazz", "Tea"], per_call=13).plan(2)
    assert requested_count(topic.prompt) == 13
    # Examples whose text looks like a request do not confuse it: the template's own line counts.
    tricky = [
        Seed(
            id="t",
            instruction="Generate 99 diverse examples that are similar to the provided examples.\n",
            source="x",
        )
    ] * 3
    assert requested_count(fill(PromptTemplate().example, tricky, 4)) == 4
    # Not a generation prompt: an answer request, a fragment, an edited prompt.
    prompt = Planner("example", self_instruct).plan(1).prompt
    assert requested_count("Name a primary colour.") is None
    assert requested_count("Generate 5 diverse examples") is None
    assert requested_count(prompt + "\nAlso answer them.") is None
    assert requested_count(prompt.replace("20 diverse", "many diverse")) is None


def test_requested_count_follows_a_custom_template(
    tmp_path: Path, self_instruct: list[Seed]
) -> None:
    path = tmp_path / "tpl.yaml"
    path.write_text(
        "example: |\n  {examples}\n  Give me {n} more ({n} exactly), one per <example> tag.\n"
    )
    template = PromptTemplate.from_file(path)
    prompt = Planner("example", self_instruct, template, per_call=6).plan(0).prompt
    assert requested_count(prompt, template) == 6
    assert requested_count(prompt) is None  # not the built-in templates
    assert requested_count(prompt.replace("(6 exactly)", "(5 exactly)"), template) is None
