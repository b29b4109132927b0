"""Who may do what: the one place that reads an agent's role."""

from __future__ import annotations

from collections.abc import Iterable

from helpdesk.staff.models import Agent, Role

# Supervisors and admins oversee the whole desk: every ticket, drafts, channel administration.
OVERSEERS: tuple[Role, ...] = (Role.SUPERVISOR, Role.ADMIN)


def has_role(agent: Agent, roles: Iterable[Role]) -> bool:
    return agent.role in tuple(roles)


def sees_all(agent: Agent) -> bool:
    """Every ticket and every draft, not only the agent's own and its teams'."""
    return has_role(agent, OVERSEERS)


def role_names(roles: Iterable[Role]) -> str:
    """'supervisors and admins': for messages that say who may do something."""
    names = [f"{role.value}s" for role in roles]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
