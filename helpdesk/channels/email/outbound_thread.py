"""Mail we send first: a message that answers nothing opens a thread of its own.

Its subject is the ticket's, tagged with the ticket number and without "Re:"; its Message-ID
is ours (`threads.MessageIds`) like every outbound mail's. The customer's reply names that
Message-ID (In-Reply-To, References) or carries the tag, and the importer threads it into the
ticket by either.
"""

from __future__ import annotations

from helpdesk.channels.email.threads import SubjectTag


def outbound_subject(subject: str, ticket_id: int, tag: SubjectTag, *, answers: bool) -> str:
    """The Subject of an outbound mail: "Re: ..." only when it answers a mail of the thread."""
    if answers and not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return tag.add(subject, ticket_id)
