"""The pipeline: one module per stage, their order, the runner that skips what is up to date, the demo and dry run."""
