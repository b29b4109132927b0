"""The signed links of the email survey: one per score, each naming one ticket.

The token is the authority (no login, no cookie): it names the ticket and its customer, and
carries its own expiry, compared with the runtime's clock so that tests move time instead of
waiting. The signature's own age limit is a backstop a day longer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from helpdesk.common.security import Signer, TokenError

PURPOSE = "satisfaction-survey"
SCORES = range(1, 6)
RECOMMEND_SCORES = range(0, 11)


class LinkError(Exception):
    """The link cannot be used; `expired` tells an old link from a broken or forged one."""

    def __init__(self, expired: bool) -> None:
        super().__init__("link expired" if expired else "link invalid")
        self.expired = expired


@dataclass(frozen=True, slots=True)
class SurveyTicket:
    ticket_id: int
    customer_id: int


class SurveyLinks:
    def __init__(self, secret_key: str, public_url: str, valid_days: int) -> None:
        self._valid = timedelta(days=valid_days)
        self._signer = Signer(
            secret_key, PURPOSE, (self._valid + timedelta(days=1)).total_seconds()
        )
        self._base = public_url.rstrip("/")

    def token(self, ticket_id: int, customer_id: int, *, now: datetime) -> str:
        expires = int((now + self._valid).timestamp())
        return self._signer.sign({"t": ticket_id, "c": customer_id, "e": expires})

    def url(self, token: str, score: int) -> str:
        return f"{self._base}/satisfaction/{token}?score={score}"

    def page_url(self, token: str) -> str:
        return f"{self._base}/satisfaction/{token}"

    def read(self, token: str, *, now: datetime) -> SurveyTicket:
        try:
            payload = self._signer.load(token)
        except TokenError as exc:
            raise LinkError(expired=exc.reason == "token expired") from None
        ticket_id, customer_id, expires = payload.get("t"), payload.get("c"), payload.get("e")
        if not all(isinstance(v, int) for v in (ticket_id, customer_id, expires)):
            raise LinkError(expired=False)
        assert isinstance(ticket_id, int) and isinstance(customer_id, int)
        assert isinstance(expires, int)
        if now.timestamp() > expires:
            raise LinkError(expired=True)
        return SurveyTicket(ticket_id, customer_id)
