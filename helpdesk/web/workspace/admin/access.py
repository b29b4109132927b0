"""Who may open the admin pages: supervisors and admins read them; what a form may change is
the API's to decide (most changes are admins' only)."""

from __future__ import annotations

from fastapi import Request, status
from fastapi.responses import Response

from helpdesk.staff.models import Agent, Role
from helpdesk.staff.permissions import has_role, sees_all
from helpdesk.web.workspace.pages import page


def refused(request: Request, agent: Agent) -> Response | None:
    """The 403 page for an agent who is neither a supervisor nor an admin, else None."""
    if sees_all(agent):
        return None
    answer = page(request, agent, "dashboard_refused.html")
    answer.status_code = status.HTTP_403_FORBIDDEN
    return answer


def is_admin(agent: Agent) -> bool:
    return has_role(agent, {Role.ADMIN})
