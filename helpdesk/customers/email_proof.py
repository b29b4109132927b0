"""Proving an email address a customer gave (in the chat): a one-time code mailed to it, typed
back within its lifetime and a few attempts.

Until it is proven the address is only a claim (`email_claims.py`): shown to agents as
unverified, joining nothing. Proven, it becomes a verified email identity of the customer; if
another customer already holds that address verified, they are the same person and the two are
merged, so agents see one customer with both histories. A history is never joined on a claim.

The code exists in plain only in the process that mails it; the database keeps an HMAC of it
under the server's secret. Every function runs in the caller's transaction; a refusal is
returned, not raised, so the wrong attempt it counted is committed with it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import lookup
from helpdesk.customers.email_claims import EmailClaim, EmailCodeSend
from helpdesk.customers.merge import merge_customers
from helpdesk.customers.models import Customer, Identity
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType

EMAIL = "email"
CODE_DIGITS = 6


class CodeMailer(Protocol):
    """Sends one plain-text mail (the email channel's SMTP in production)."""

    async def send(self, email: str, name: str, subject: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ProofPolicy:
    code_lifetime: timedelta
    max_attempts: int
    sends_per_requester: int
    sends_per_address: int
    send_window: timedelta


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a code was not sent or not accepted, in words for the customer."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Proven:
    """The address is now a verified identity of `customer_id` (the customer merged into, when
    `merged_from` names the claimant that was merged away)."""

    customer_id: int
    merged_from: int | None = None


def normalise(address: str) -> str:
    """The address as email identities store it; raises `lookup.BadAddress` if it is none."""
    return lookup.normalise(EMAIL, address)


async def claim(
    session: AsyncSession, customer_id: int, address: str, *, now: datetime
) -> EmailClaim | None:
    """Record that the customer gave `address` (normalised) without proof. An earlier unproven
    address of the customer is dropped (a corrected typo). None when the customer already holds
    the address verified: there is nothing to prove."""
    held = await session.scalar(
        select(Identity.id).where(
            Identity.channel == EMAIL,
            Identity.address == address,
            Identity.customer_id == customer_id,
            Identity.verified,
        )
    )
    await session.execute(
        delete(EmailClaim).where(
            EmailClaim.customer_id == customer_id, EmailClaim.address != address
        )
    )
    if held is not None:
        await session.execute(delete(EmailClaim).where(EmailClaim.customer_id == customer_id))
        return None
    existing = await claim_of(session, customer_id, address)
    if existing is not None:
        return existing
    made = EmailClaim(customer_id=customer_id, address=address, created_at=now, attempts=0)
    session.add(made)
    await session.flush()
    return made


async def claim_of(session: AsyncSession, customer_id: int, address: str) -> EmailClaim | None:
    return await session.scalar(
        select(EmailClaim)
        .where(EmailClaim.customer_id == customer_id, EmailClaim.address == address)
        .with_for_update()
    )


async def claims_of(session: AsyncSession, customer_ids: list[int]) -> dict[int, list[str]]:
    """The unproven addresses of each customer, for showing them to agents as unverified."""
    found: dict[int, list[str]] = {}
    if customer_ids:
        rows = await session.execute(
            select(EmailClaim.customer_id, EmailClaim.address)
            .where(EmailClaim.customer_id.in_(customer_ids))
            .order_by(EmailClaim.id)
        )
        for customer_id, address in rows:
            found.setdefault(customer_id, []).append(address)
    return found


def code_hash(secret: str, claim_id: int, code: str) -> str:
    message = f"email-code:{claim_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def issue_code(
    session: AsyncSession,
    claim: EmailClaim,
    requester: str,
    policy: ProofPolicy,
    *,
    now: datetime,
    secret: str,
) -> str | Refusal:
    """A fresh code for the claim (the previous one stops working), counted against the limits
    per requester (one chat) and per address, so nobody can make us mail-bomb an address."""
    since = now - policy.send_window
    for column, key, limit in (
        (EmailCodeSend.requester, requester, policy.sends_per_requester),
        (EmailCodeSend.address, claim.address, policy.sends_per_address),
    ):
        await session.execute(
            delete(EmailCodeSend).where(column == key, EmailCodeSend.sent_at < since)
        )
        sent = await session.execute(
            select(func.count(), func.min(EmailCodeSend.sent_at)).where(
                column == key, EmailCodeSend.sent_at >= since
            )
        )
        count, oldest = sent.one()
        if count >= limit:
            wait = max(1, math.ceil(((oldest + policy.send_window) - now).total_seconds() / 60))
            return Refusal(
                "rate_limited", f"too many codes sent; ask for a new one in {wait} minutes"
            )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    claim.code_hash = code_hash(secret, claim.id, code)
    claim.code_expires_at = now + policy.code_lifetime
    claim.attempts = 0
    session.add(EmailCodeSend(requester=requester[:100], address=claim.address, sent_at=now))
    return code


async def check_code(
    session: AsyncSession,
    claim: EmailClaim,
    code: str,
    policy: ProofPolicy,
    *,
    now: datetime,
    secret: str,
) -> Proven | Refusal:
    """Accept the right code within its lifetime and the attempts allowed, and prove the
    address; refuse anything else with a reason (a wrong code counts as an attempt)."""
    if claim.code_hash is None or claim.code_expires_at is None:
        return Refusal("no_code", "no code was sent for this address; ask for a code")
    if claim.attempts >= policy.max_attempts:
        return Refusal("too_many_attempts", "too many wrong codes; ask for a new code")
    if now >= claim.code_expires_at:
        return Refusal("code_expired", "this code has expired; ask for a new code")
    typed = "".join(code.split())
    if not hmac.compare_digest(code_hash(secret, claim.id, typed), claim.code_hash):
        claim.attempts += 1
        left = policy.max_attempts - claim.attempts
        if left <= 0:
            return Refusal("too_many_attempts", "that code is not right; ask for a new code")
        return Refusal("wrong_code", f"that code is not right; {left} attempts left")
    return await _prove(session, claim, now=now)


async def _prove(session: AsyncSession, claim: EmailClaim, *, now: datetime) -> Proven:
    customer_id, address = claim.customer_id, claim.address
    await session.execute(delete(EmailClaim).where(EmailClaim.id == claim.id))
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.CUSTOMER,
        actor_id=customer_id,
        ticket_id=None,
        action="customer.email_verified",
        address=address,
    )
    identity = await lookup.find(session, EMAIL, address)
    if identity is None:
        name = await session.scalar(select(Customer.name).where(Customer.id == customer_id))
        await lookup.create(
            session, EMAIL, address, name=name or "", now=now, customer_id=customer_id
        )
        customer = await session.get(Customer, customer_id)
        if customer is not None and customer.email is None:
            customer.email = address
        return Proven(customer_id)
    if identity.customer_id == customer_id or not identity.verified:
        # Ours already, or another customer's unproven address (imported, say): it proves
        # nothing of theirs, so their history stays theirs and the address is now ours.
        identity.customer_id = customer_id
        identity.verified = True
        return Proven(customer_id)
    # Another customer holds the address proven: the same person. One customer, both histories;
    # the older record (the one with the proven address) is the one kept.
    owner = identity.customer_id
    await merge_customers(
        session,
        customer_id,
        owner,
        now=now,
        reason=f"the chat customer proved {address} with a code mailed to it",
        actor_type=AuthorType.CUSTOMER,
        actor_id=customer_id,
    )
    return Proven(owner, merged_from=customer_id)
