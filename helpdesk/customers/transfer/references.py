"""What rows name besides the customer: accounts (by name or account_ref) and relationship
managers (agents, by email). Both are few, so each is read once for the whole import."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.accounts import name_key as account_key
from helpdesk.customers.models import Account
from helpdesk.customers.transfer.columns import RowRejected
from helpdesk.staff.models import Agent


@dataclass(slots=True)
class AccountEntry:
    id: int | None
    name: str
    external_ref: str | None
    # Created by this import and not written yet, or given its account_ref by this import.
    new: bool = False
    ref_added: bool = False


@dataclass(slots=True)
class AccountBook:
    """Every account by its name and its reference; entries the import adds wait in `dirty`
    until the batch that needs them is written."""

    by_key: dict[str, AccountEntry] = field(default_factory=dict)
    by_ref: dict[str, AccountEntry] = field(default_factory=dict)
    dirty: list[AccountEntry] = field(default_factory=list)
    created: int = 0

    @classmethod
    async def load(cls, session: AsyncSession) -> AccountBook:
        book = cls()
        rows = await session.execute(select(Account.id, Account.name, Account.external_ref))
        for row in rows:
            entry = AccountEntry(row.id, row.name, row.external_ref)
            book.by_key[account_key(row.name)] = entry
            if row.external_ref:
                book.by_ref[row.external_ref] = entry
        return book

    def choose(self, name: str | None, ref: str | None) -> AccountEntry | None:
        """The account a row names, created (in memory) if new. Raises RowRejected."""
        if ref is not None:
            entry = self.by_ref.get(ref)
            if entry is not None:
                return entry
            if name is None:
                raise RowRejected(
                    f"account_ref {ref!r} is not known, and the row has no account name to "
                    "create the account with"
                )
            entry = self.by_key.get(account_key(name))
            if entry is not None:
                if entry.external_ref is not None:
                    raise RowRejected(
                        f"account {entry.name!r} has account_ref {entry.external_ref!r}, "
                        f"not {ref!r}"
                    )
                entry.external_ref, entry.ref_added = ref, True
                self.by_ref[ref] = entry
                self.dirty.append(entry)
                return entry
        elif name is None:
            return None
        else:
            entry = self.by_key.get(account_key(name))
            if entry is not None:
                return entry
        entry = AccountEntry(None, name, ref, new=True)
        self.by_key[account_key(name)] = entry
        if ref is not None:
            self.by_ref[ref] = entry
        self.dirty.append(entry)
        self.created += 1
        return entry


@dataclass(frozen=True, slots=True)
class Managers:
    """Active agents by email, and by the part before the @ where only one agent has it."""

    by_email: dict[str, int]
    by_local_part: dict[str, int | None]
    disabled: set[str]

    @classmethod
    async def load(cls, session: AsyncSession) -> Managers:
        by_email: dict[str, int] = {}
        by_local: dict[str, int | None] = {}
        disabled: set[str] = set()
        for row in await session.execute(select(Agent.id, Agent.email, Agent.active)):
            email = row.email.lower()
            local = email.partition("@")[0]
            if not row.active:
                disabled.update({email, local})
                continue
            by_email[email] = row.id
            # Two agents with the same name before the @: that name names nobody.
            by_local[local] = None if local in by_local else row.id
        return cls(by_email, by_local, disabled)

    def agent_id(self, given: str) -> int:
        key = given.strip().lower()
        found = self.by_email.get(key)
        if found is None and "@" not in key:
            found = self.by_local_part.get(key)
            if found is None and key in self.by_local_part:
                raise RowRejected(f"manager {given!r} names several agents: give the email")
        if found is None:
            if key in self.disabled:
                raise RowRejected(f"manager {given!r} is a disabled agent")
            raise RowRejected(f"manager {given!r} is not an agent (give an agent's email)")
        return found
