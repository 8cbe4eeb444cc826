"""Where the public third-party data for tests and benchmarks lives (see docs/testing.md).

Self-Instruct's seed tasks, user-oriented instructions and three models'
predictions, 5,000 Alpaca records and a P3 template sample are not shipped
with herdsman: ``$HERDSMAN_TEST_DATA`` names their folder, and by default it
is ``shared/data`` beside the checkout's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def public_data() -> Path:
    """The folder of public test data (``$HERDSMAN_TEST_DATA`` or the default beside the checkout)."""
    env = os.environ.get("HERDSMAN_TEST_DATA")
    return Path(env).resolve() if env else (CHECKOUT.parent / "shared" / "data").resolve()
