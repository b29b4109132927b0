"""HTML pages, from the templates the runtime loads (the operator's first), always autoescaped."""

from __future__ import annotations

from typing import Any

from helpdesk.templating import Templates


def render(templates: Templates, name: str, **context: Any) -> str:
    return templates.environment(autoescape=True).get_template(name).render(**context)
