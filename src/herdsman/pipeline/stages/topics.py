"""Stage ``topics``: the topic list for topic-guided generation, from a category dump or a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herdsman.pipeline.context import (
    TOPICS,
    Context,
    Stage,
)


def _topic_input(ctx: Context) -> dict[str, Path]:
    topics = ctx.config.topics
    if topics is None:
        return {}
    return {"topics": ctx.loaded.resolve(topics.dump or topics.file)}


def _run_topics(ctx: Context) -> dict[str, Any]:
    from herdsman.generation.topics import (
        Topic,
        TopicFilter,
        load_topic_list,
        read_topics,
        write_topics,
    )

    cfg = ctx.config.topics
    source = _topic_input(ctx)["topics"]
    if cfg.dump:
        filt = TopicFilter(
            max_words=cfg.max_words, min_subcats=cfg.min_subcats, min_pages=cfg.min_pages
        )
        topics, stats = read_topics(source, filt)
        write_topics(ctx.path(TOPICS), topics)
        return {"categories": stats.rows, "topics": stats.kept}
    titles = load_topic_list(source)
    write_topics(ctx.path(TOPICS), [Topic(t, 0, 0) for t in titles])
    return {"topics": len(titles)}


STAGE = Stage(
    "topics",
    "topics for topic-guided generation",
    outputs=lambda ctx: [ctx.path(TOPICS)],
    inputs=_topic_input,
    settings=lambda ctx: ctx.config.topics.model_dump(mode="json"),
    run=_run_topics,
    enabled=lambda ctx: ctx.config.topics is not None,
)
