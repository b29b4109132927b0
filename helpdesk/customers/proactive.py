"""Whether we may write to a customer who did not ask us to: the one place that decides.

Until the customers issue records consent for proactive messages, a message the customer did not
ask for goes by email only (where an unasked business mail is ordinary and easy to ignore);
chat channels, where a message interrupts, need the customer's consent, which cannot be given
yet. When consent is recorded, this function reads it; callers stay as they are.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

# Channels where an unasked message is allowed without a recorded consent.
WITHOUT_CONSENT = frozenset({"email"})


async def unasked_refusal(session: AsyncSession, customer_id: int, channel: str) -> str | None:
    """None if a message the customer did not ask for may go to them on `channel`, else why
    not, in words an agent understands."""
    del session, customer_id  # read once consent records exist
    if channel in WITHOUT_CONSENT:
        return None
    return (
        f"the customer has not agreed to messages they did not ask for on {channel}; "
        "write by email, or set customer_asked if they asked to be contacted there"
    )
