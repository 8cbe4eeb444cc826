"""The Jinja environment of herdsman's HTML (rating app and report): package templates, autoescaped."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape


def template_env() -> Environment:
    """Templates from ``herdsman/templates``; every value is HTML-escaped unless marked safe."""
    return Environment(
        loader=PackageLoader("herdsman", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
