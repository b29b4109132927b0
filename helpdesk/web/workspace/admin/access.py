"""Who may change things from the admin pages: admins. Supervisors read them
(`pages.overseers_only` refuses everyone else); what a form may change is the API's to decide."""

from __future__ import annotations

from helpdesk.staff.models import Agent, Role
from helpdesk.staff.permissions import has_role


def is_admin(agent: Agent) -> bool:
    return has_role(agent, {Role.ADMIN})
