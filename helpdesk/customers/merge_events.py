"""Events of merging customers, recorded with the merge or its undo."""

from __future__ import annotations

from dataclasses import dataclass

from helpdesk.events.types import Event


@dataclass(frozen=True, slots=True)
class CustomersMerged(Event):
    """`source_id`'s identities, tickets and the rest moved to `target_id`; the source is gone."""

    merge_id: int
    source_id: int
    target_id: int


@dataclass(frozen=True, slots=True)
class CustomerMergeUndone(Event):
    """The merge was undone: the source is back as `restored_id`, with the rows that moved."""

    merge_id: int
    restored_id: int
    target_id: int
