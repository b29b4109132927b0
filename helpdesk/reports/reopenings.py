"""Which tickets were ever reopened, from the audit trail: `ticket.reopened` (the customer wrote
again within the reopen window, a call or visit was logged after resolution, or the customer
said a complaint's fix did not work), an agent set a resolved ticket back to an open status
(`ticket.changed`), or `complaint.follow_up_answered` with worked = false (the same answer, in
audit trails written before it also wrote `ticket.reopened`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, case, false, null, or_, select

from helpdesk.tickets.models import OPEN_STATUSES, AuditEntry, TicketStatus

DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
FOLLOW_UP = "complaint.follow_up_answered"


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
            # Read as a boolean only on the entries known to hold one: SQL may evaluate the
            # terms of an AND in any order, and a CASE keeps the cast off other entries.
            case((AuditEntry.action == FOLLOW_UP, worked), else_=null()) == false(),
        ),
    )
