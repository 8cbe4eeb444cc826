"""herdsman's Jinja environments: a package's templates, HTML-escaped or as Markdown.

The rating app and the report each keep their HTML templates beside their code
(``rating/templates``, ``report/templates``); the dataset, model and selection cards
keep Markdown templates the same way (``dataset/templates``, ``train/templates``,
``selection/templates``). All render through the factories here so that escaping
is configured in exactly one place.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def template_env(package: str) -> Environment:
    """Templates from ``PACKAGE/templates``, every value HTML-escaped unless marked safe.

    Args:
        package: The importable package that holds a ``templates`` folder
            (``herdsman.rating`` or ``herdsman.report``).
    """
    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def markdown_cell(value: Any) -> str:
    """``value`` as text safe inside a Markdown table cell: ``|`` escaped, newlines as spaces."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_env(package: str) -> Environment:
    """Markdown templates from ``PACKAGE/templates``, values written as they are.

    Markdown is not HTML, so nothing is HTML-escaped; a value that goes into a
    table cell passes through the ``cell`` filter (:func:`markdown_cell`). Block
    tags on lines of their own leave no blank line behind (``trim_blocks``,
    ``lstrip_blocks``), the template's final newline is kept, and an undefined
    name is an error rather than an empty string.

    Args:
        package: The importable package that holds a ``templates`` folder
            (``herdsman.dataset``, ``herdsman.train`` or ``herdsman.selection``).
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.filters["cell"] = markdown_cell
    return env
