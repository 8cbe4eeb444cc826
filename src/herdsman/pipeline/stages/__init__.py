"""One module per pipeline stage: what it reads, writes and does (order: :mod:`herdsman.pipeline.order`)."""
