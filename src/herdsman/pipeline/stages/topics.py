"""Stage ``topics``: the topic list for topic-guided generation, from a category dump or a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.config import TopicsConfig
from herdsman.console import console
from herdsman.errors import HerdsmanError
from herdsman.pipeline.context import (
    TOPICS,
    Context,
    Stage,
)


def _topic_input(ctx: Context) -> dict[str, Path]:
    topics = ctx.config.topics
    source = topics.dump or topics.file if topics is not None else None
    return {"topics": ctx.loaded.resolve(source)} if source else {}


def filter_topics(
    dump: Path, out: Path, cfg: TopicsConfig, *, skip_bad: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """The topics operation (``herdsman topics`` and the stage): filter a category dump.

    Returns:
        Counts: categories read and topics kept.
    """
    from herdsman.generation.topics import TopicFilter, read_topics, write_topics

    filt = TopicFilter(
        max_words=cfg.max_words, min_subcats=cfg.min_subcats, min_pages=cfg.min_pages
    )
    topics, stats = read_topics(dump, filt, skip_bad=skip_bad)
    if not stats.statements:
        raise HerdsmanError(
            f"{dump}: no INSERT INTO statement: not a MediaWiki category table dump "
            "(enwiki-latest-category.sql.gz); for a ready topic list use topics.file"
        )
    write_topics(out, topics)
    if not quiet:
        console.print(
            f"wrote {stats.kept} topics to {out} from {stats.rows:,} categories in "
            f"{stats.statements} INSERT statements"
        )
        if stats.malformed:
            console.print(
                f"skipped {stats.malformed} malformed tuple(s), first at "
                f"{stats.malformed_examples[0]}"
            )
    return {"categories": stats.rows, "topics": stats.kept}


def _run_topics(ctx: Context) -> dict[str, Any]:
    from herdsman.generation.topics import Topic, load_topic_list, write_topics

    cfg = ctx.config.topics
    source = _topic_input(ctx)["topics"]
    if cfg is not None and cfg.dump:
        return filter_topics(source, ctx.path(TOPICS), cfg, quiet=True)
    titles = load_topic_list(source)
    write_topics(ctx.path(TOPICS), [Topic(t, 0, 0) for t in titles])
    return {"topics": len(titles)}


STAGE = Stage(
    "topics",
    "topics for topic-guided generation",
    outputs=lambda ctx: [ctx.path(TOPICS)],
    inputs=_topic_input,
    settings=lambda ctx: ctx.config.topics.model_dump(mode="json") if ctx.config.topics else None,
    run=_run_topics,
    enabled=lambda ctx: ctx.config.topics is not None,
)
