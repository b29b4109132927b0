"""Email's complaint path: a subject that carries a complaint keyword ("Complaint: order 1042",
"Beschwerde") opens a complaint, as the button does in the web chat and /complaint on Telegram."""

from __future__ import annotations

import re
from collections.abc import Sequence

from helpdesk import payloads


def complaint_payload(subject: str, keywords: Sequence[str]) -> str | None:
    """`payloads.COMPLAINT` when a keyword stands as a whole word in the subject."""
    words = [re.escape(k.strip()) for k in keywords if k.strip()]
    if not subject or not words:
        return None
    pattern = rf"(?<!\w)({'|'.join(words)})(?!\w)"
    return payloads.COMPLAINT if re.search(pattern, subject, re.IGNORECASE) else None
