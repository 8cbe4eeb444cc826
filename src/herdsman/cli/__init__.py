"""The ``herdsman`` command line: one module per command group, the app in :mod:`herdsman.cli.app`."""
