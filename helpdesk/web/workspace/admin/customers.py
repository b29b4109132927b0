"""Tiers and relationship managers: the configured tiers, the accounts with their value, tier
and manager, and a button that recomputes every tier now. Changes go through the customers'
API (`/api/accounts…`, `/api/customers/tiers/recompute`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from helpdesk.staff.models import Agent
from helpdesk.web import customer_accounts_api
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.admin.access import is_admin
from helpdesk.web.workspace.pages import PageAgent, overseers_only, page

router = APIRouter(include_in_schema=False)
LISTED = 200


@router.get("/workspace/admin/customers", response_class=HTMLResponse)
async def tiers_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    runtime = runtime_of(request)
    name = request.query_params.get("name", "")[:200] or None
    listed = await customer_accounts_api.list_accounts(agent, request, name=name, limit=LISTED)
    async with runtime.db.read() as session:
        agents = dict(
            (await session.execute(select(Agent.id, Agent.name).where(Agent.active))).tuples().all()
        )
    return page(
        request,
        agent,
        "admin/customers.html",
        is_admin=is_admin(agent),
        accounts=listed.accounts,
        more=listed.next_after_id is not None,
        agents=agents,
        tiers=runtime.settings.customers.tiers,
        searched=name or "",
    )
