"""Customers who are probably one person, for an agent to confirm (a merge) or dismiss.

Two reasons make a suggestion: the same email address or phone number held by two customers
(an identity on one channel, the customer's recorded email or phone on another), and names that
read alike among the contacts of one account. A claim the customer never proved (an unverified
identity, such as an email typed into the chat) still shows up, marked unverified: confirming
such a suggestion takes the agent's explicit word (`accept_unverified`), and nothing here ever
merges by itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import ColumnElement, String, func, literal, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.merge_models import DuplicateDismissal
from helpdesk.customers.models import Customer, Identity
from helpdesk.customers.settings import DuplicateSettings

# Shorter phone numbers are extensions and short codes, not a person.
MIN_PHONE_DIGITS = 6
PHONE_CHANNELS = ("phone", "sms", "whatsapp")


@dataclass(frozen=True, slots=True)
class Reason:
    kind: str  # "email", "phone" or "name"
    detail: str  # in words an agent can read
    # False when the reason rests on an address a customer has not proven.
    verified: bool = True


@dataclass(slots=True)
class Suggestion:
    """Two customers, lower id first, and why they look like one person."""

    first_id: int
    second_id: int
    reasons: list[Reason] = field(default_factory=list)
    score: float = 0.0

    @property
    def unverified(self) -> bool:
        """Some reason rests on an unproven claim: confirming takes the agent's explicit word."""
        return any(not reason.verified for reason in self.reasons)


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _phone_digits(column: Any) -> ColumnElement[str]:
    """A phone number with the separators people write taken out, in SQL (both databases)."""
    value: ColumnElement[str] = column
    for separator in (" ", "-", "(", ")", ".", "/", "+"):
        value = func.replace(value, separator, "")
    return value


def _claims(kind: str) -> Any:
    """(customer_id, value, verified, seen) for every address of this kind a customer holds."""
    if kind == "email":
        identity_value: ColumnElement[str] = func.lower(Identity.address)
        identity_where = Identity.address.like("%@%")
        record_value: ColumnElement[str] = func.lower(Customer.email)
        record_where = Customer.email.like("%@%")
    else:
        identity_value = _phone_digits(Identity.address)
        identity_where = Identity.channel.in_(PHONE_CHANNELS)
        record_value = _phone_digits(Customer.phone)
        record_where = Customer.phone.is_not(None)
    identities = select(
        Identity.customer_id.label("customer_id"),
        identity_value.label("value"),
        Identity.verified.label("verified"),
        Identity.channel.label("seen"),
    ).where(identity_where)
    records = select(
        Customer.id.label("customer_id"),
        record_value.label("value"),
        true().label("verified"),
        literal("record", String(32)).label("seen"),
    ).where(record_where)
    return union_all(identities, records).subquery()


async def _same_address(
    session: AsyncSession, kind: str, settings: DuplicateSettings, among: set[int] | None
) -> dict[tuple[int, int], list[Reason]]:
    claims = _claims(kind)
    shared = (
        select(claims.c.value)
        .group_by(claims.c.value)
        .having(func.count(claims.c.customer_id.distinct()) > 1)
        .having(func.count(claims.c.customer_id.distinct()) <= settings.max_customers_per_address)
    )
    # Whether an address is shared is counted over every customer, even when asked about two.
    query = select(claims).where(claims.c.value.in_(shared))
    if among is not None:
        query = query.where(claims.c.customer_id.in_(among))
    rows = await session.execute(query)
    # value -> customer -> (identity claims verified?, recorded on the customer?, channels seen)
    holders: dict[str, dict[int, tuple[list[bool], bool, set[str]]]] = defaultdict(dict)
    for row in rows:
        if kind == "phone" and len(row.value or "") < MIN_PHONE_DIGITS:
            continue
        proofs, recorded, seen = holders[row.value].get(row.customer_id, ([], False, set()))
        if row.seen == "record":
            recorded = True
        else:
            proofs.append(bool(row.verified))
        holders[row.value][row.customer_id] = (proofs, recorded, seen | {row.seen})
    found: dict[tuple[int, int], list[Reason]] = defaultdict(list)
    for value, customers in holders.items():
        ids = sorted(customers)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                sides = [customers[a], customers[b]]
                # A customer's claim is proven by a verified identity, or by the address being on
                # their record with no unproven identity behind it.
                proven = all(
                    any(proofs) or (recorded and all(proofs)) for proofs, recorded, _ in sides
                )
                where = " and ".join(
                    f"customer {c} ({', '.join(sorted(s))})"
                    for c, s in ((a, sides[0][2]), (b, sides[1][2]))
                )
                found[(a, b)].append(
                    Reason(
                        kind,
                        f"the same {kind} {value} on {where}"
                        + ("" if proven else "; one of them is an unverified claim"),
                        verified=proven,
                    )
                )
    return found


async def _similar_names(
    session: AsyncSession, settings: DuplicateSettings, among: set[int] | None
) -> dict[tuple[int, int], tuple[Reason, float]]:
    query = (
        select(Customer.id, Customer.name, Customer.account_id)
        .where(Customer.account_id.is_not(None), Customer.name != "")
        .order_by(Customer.account_id, Customer.id.desc())
    )
    if among is not None:
        query = query.where(Customer.id.in_(among))
    by_account: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in await session.execute(query):
        contacts = by_account[row.account_id]
        # A name that is an address (a first-time sender's) says nothing about the person.
        if len(contacts) < settings.max_account_contacts and "@" not in row.name:
            contacts.append((row.id, row.name))
    found: dict[tuple[int, int], tuple[Reason, float]] = {}
    for account_id, contacts in by_account.items():
        if len(contacts) < 2:
            continue
        # Word order ignored: each name's words sorted once here, then a plain ratio, which is
        # what `token_sort_ratio` computes on every comparison.
        names = [" ".join(sorted(utils.default_process(name).split())) for _, name in contacts]
        scores = process.cdist(
            names, names, scorer=fuzz.ratio, score_cutoff=settings.name_similarity, workers=1
        )
        for i, j in zip(*scores.nonzero(), strict=True):
            if i < j:
                (a, name_a), (b, name_b) = contacts[i], contacts[j]
                score = float(scores[i, j])
                detail = (
                    f"names {name_a!r} and {name_b!r} alike ({score:.0f}/100) "
                    f"in account {account_id}"
                )
                found[pair(a, b)] = (Reason("name", detail), score)
    return found


async def _dismissed(session: AsyncSession, among: set[int] | None) -> set[tuple[int, int]]:
    query = select(DuplicateDismissal.first_id, DuplicateDismissal.second_id)
    if among is not None:
        query = query.where(
            or_(DuplicateDismissal.first_id.in_(among), DuplicateDismissal.second_id.in_(among))
        )
    return {(row.first_id, row.second_id) for row in await session.execute(query)}


async def find_suggestions(
    session: AsyncSession, settings: DuplicateSettings, among: Iterable[int] | None = None
) -> list[Suggestion]:
    """Every pair of customers that look like one person and nobody dismissed, strongest first:
    proven addresses, then unproven ones, then names alone. `among` limits it to those ids."""
    ids = set(among) if among is not None else None
    suggestions: dict[tuple[int, int], Suggestion] = {}
    for kind in ("email", "phone"):
        for key, reasons in (await _same_address(session, kind, settings, ids)).items():
            suggestion = suggestions.setdefault(key, Suggestion(*key))
            suggestion.reasons.extend(reasons)
            suggestion.score = 100.0
    for key, (reason, score) in (await _similar_names(session, settings, ids)).items():
        suggestion = suggestions.setdefault(key, Suggestion(*key, score=score))
        suggestion.reasons.append(reason)
    for key in await _dismissed(session, ids):
        suggestions.pop(key, None)
    return sorted(
        suggestions.values(),
        key=lambda s: (
            s.unverified,
            not any(r.kind != "name" for r in s.reasons),
            -s.score,
            s.first_id,
            s.second_id,
        ),
    )


async def suggestion_for(
    session: AsyncSession, settings: DuplicateSettings, a: int, b: int
) -> Suggestion | None:
    """The suggestion about these two customers, if they are one (and not dismissed)."""
    key = pair(a, b)
    found = await find_suggestions(session, settings, among=key)
    return next((s for s in found if (s.first_id, s.second_id) == key), None)


async def dismiss(
    session: AsyncSession, a: int, b: int, *, agent_id: int | None, now: datetime, note: str
) -> bool:
    """Remember that these two are different people; False if that was known already."""
    first, second = pair(a, b)
    known = await session.scalar(
        select(DuplicateDismissal.id).where(
            DuplicateDismissal.first_id == first, DuplicateDismissal.second_id == second
        )
    )
    if known is not None:
        return False
    session.add(
        DuplicateDismissal(
            first_id=first, second_id=second, dismissed_by=agent_id, at=now, note=note
        )
    )
    return True
