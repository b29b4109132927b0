"""Jinja2 pages from `helpdesk/templates`, always autoescaped."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_environment = Environment(
    loader=PackageLoader("helpdesk", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(name: str, **context: Any) -> str:
    return _environment.get_template(name).render(**context)
