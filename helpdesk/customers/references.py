"""Every table whose rows belong to a customer: what a merge moves and an undo moves back.

A table that gains a customer column is one more line in `MOVED` (or, when its rows must not
follow a merge, in `NOT_MOVED` with the reason). `tests/test_customer_merges.py` fails while a
column that points at `customers.id`, or is named `customer_id`, is in neither, because a merge
would otherwise delete its rows with the source customer (ON DELETE CASCADE) or fail on them.

Tables are named, not imported, so a channel's table (Telegram link codes) is listed here while
the core still imports no channel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import TableClause, column, table


@dataclass(frozen=True, slots=True)
class Reference:
    """Rows of `table` whose `column` names their customer. `key` is an integer column that
    tells the rows apart (recorded per merge, to move back exactly those). A table with at most
    one row per customer (`one_per_customer`, the customer column is its key) keeps the
    target's own row in a merge; the source's row is then stored in the merge record instead
    and put back by an undo."""

    table: str
    column: str = "customer_id"
    key: str = "id"
    one_per_customer: bool = False

    def clause(self) -> TableClause:
        """The table with only the columns a move needs, for Core statements; always the same
        object, so that statements built in parts name one table."""
        return _clause(self.table, self.column, self.key)


@functools.cache
def _clause(name: str, customer: str, key: str) -> TableClause:
    return table(name, *(column(c) for c in dict.fromkeys((customer, key))))


MOVED: tuple[Reference, ...] = (
    Reference("identities"),
    Reference("tickets"),
    Reference("messages"),
    Reference("tier_changes"),
    Reference("customer_managers", key="customer_id", one_per_customer=True),
    Reference("telegram_link_codes"),
    # Every grant and withdrawal: the same person's, so the merged history keeps them.
    Reference("customer_consents"),
)

# Columns that name a customer but stay where they are, and why.
NOT_MOVED: dict[tuple[str, str], str] = {
    ("duplicate_dismissals", "first_id"): "a dismissal is about one pair; the merge ends it",
    ("duplicate_dismissals", "second_id"): "a dismissal is about one pair; the merge ends it",
    ("customer_merges", "source_id"): "the merge records themselves",
    ("customer_merges", "target_id"): "the merge records themselves",
    ("email_claims", "customer_id"): "an unproven address proves nothing about the merged "
    "customer: the source's claims go with it (cascade); the customer can claim again",
    ("relationship_tasks", "customer_id"): "a task is about the evidence the signals saw; the "
    "source's go with it (cascade) and the next scan judges the merged history again",
}
