"""The ``herdsman`` command line: every command module registered on one app."""

from __future__ import annotations

import os
import sys
import warnings

# Each module registers its commands on `app` when imported.
# isort: off
from herdsman.cli import generation, dataset, selection, train, evaluate, rating, run  # noqa: F401

# isort: on
from herdsman.cli.app import EXIT_USER_ERROR, app, debugging, describe_error
from herdsman.console import error_line
from herdsman.io.hub import set_hub_mode


def main() -> None:
    """Console-script entry point."""
    # Nothing is fetched from the hub unless `--hub online` (or a config's hub: online) says so.
    set_hub_mode("offline")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # lm-eval's and transformers' bars; ours are rich
    # Deprecation notices meant for the libraries' own callers, not for herdsman's users.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)\.")
    try:
        app(prog_name="herdsman")
    except Exception as exc:  # outside a command's own user_errors() block
        line = None if debugging() else describe_error(exc)
        if line is None:
            raise
        error_line(line)
        sys.exit(EXIT_USER_ERROR)
    sys.exit(0)


if __name__ == "__main__":
    main()
