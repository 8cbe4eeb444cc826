"""The Jinja environment of herdsman's HTML pages: a package's templates, autoescaped.

The rating app and the report each keep their templates beside their code
(``rating/templates``, ``report/templates``); both render through this one
environment factory so that escaping is configured in exactly one place.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape


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
