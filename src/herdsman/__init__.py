"""herdsman: distil a strong teacher model into a herd of small students (LaMini-LM as a tool)."""

__version__ = "0.1.0"
