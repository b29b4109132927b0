"""Whether we may write to a customer who did not ask us to: the one place that decides.

A message the customer did not ask for (an agent writing first) goes only where the customer
agreed to such messages (`consent.py`): chat channels always need it, since a message there
interrupts; email needs it too unless an operator sets `customers.proactive_email_needs_consent`
to false (an unasked business mail used to be allowed). Answers to the customer's own messages
never come here: they are always allowed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent import has_consent


async def unasked_refusal(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    *,
    email_needs_consent: bool = True,
) -> str | None:
    """None if a message the customer did not ask for may go to them on `channel`, else why
    not, in words an agent understands."""
    if channel == "email" and not email_needs_consent:
        return None
    if await has_consent(session, customer_id, channel):
        return None
    return (
        f"the customer has not agreed to messages they did not ask for on {channel}; "
        "record their consent first, or set customer_asked if they asked to be contacted there"
    )
