"""Teacher backends: one small interface (:class:`herdsman.teachers.base.Teacher`), several implementations.

Kept free of imports so that the command line starts fast; import from the
submodules (``base``, ``factory``, ``openai_http``, ``local``).
"""

#: The OpenAI API; any OpenAI-compatible server is reached with ``--base-url``.
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
