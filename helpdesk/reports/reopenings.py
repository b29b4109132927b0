"""Which tickets were ever reopened, from the audit trail: the customer wrote again within the
reopen window (`ticket.reopened`, written by intake), an agent set a resolved ticket back to an
open status (`ticket.changed`), or the customer said a complaint's fix did not work
(`complaint.follow_up_answered` with worked = false)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false, or_, select

from helpdesk.tickets.models import OPEN_STATUSES, AuditEntry, TicketStatus

DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def reopened_tickets() -> Select[Any]:
    """The ids of tickets reopened at least once (a ticket may appear more than once)."""
    detail = AuditEntry.detail
    before = detail[("before", "status")].as_string()
    after = detail[("after", "status")].as_string()
    worked = detail["worked"].as_boolean()
    return select(AuditEntry.ticket_id).where(
        AuditEntry.ticket_id.is_not(None),
        or_(
            AuditEntry.action == "ticket.reopened",
            and_(
                AuditEntry.action == "ticket.changed",
                before.in_([s.value for s in DONE]),
                after.in_([s.value for s in OPEN_STATUSES]),
            ),
            and_(AuditEntry.action == "complaint.follow_up_answered", worked == false()),
        ),
    )
