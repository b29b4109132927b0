"""Routing rules: what is known about a ticket -> a team, required skills and a priority.

Each rule is a small named unit that says whether it matched and why (the Zammad filter idea).
Conditions, all of which must hold when given:

- `channel`: a channel name or a list of them
- `mailbox`: the mailbox (by its configured name) the ticket's first mail came in at, or a list
- `trigger`: "created", "handed_over" (the bot stepped aside), "reopened", ...
- `language`: a language code or a list (the customer's language)
- `kind`: "question", "request", "complaint" (or a list)
- `keywords`: words of which one must appear in the subject or the first message
- `tier`: the customer's tier ("standard", "key")
- `key_account`: true or false
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CONDITIONS = frozenset(
    {"channel", "mailbox", "trigger", "language", "kind", "keywords", "tier", "key_account"}
)


class RuleError(ValueError):
    """A rule cannot be used; the message says which condition is wrong."""


@dataclass(frozen=True, slots=True)
class TicketFacts:
    ticket_id: int
    channel: str
    kind: str
    priority: str
    text: str
    language: str | None
    tier: str
    key_account: bool
    trigger: str
    customer_id: int
    # Where the first message came in within its channel (an email's mailbox name).
    entry_point: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    conditions: dict[str, object]
    team_id: int | None = None
    team_name: str | None = None
    skills: tuple[str, ...] = ()
    priority: str | None = None
    _keywords: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        name: str,
        conditions: Mapping[str, object],
        *,
        team_id: int | None = None,
        team_name: str | None = None,
        skills: Iterable[str] = (),
        priority: str | None = None,
    ) -> Rule:
        unknown = set(conditions) - CONDITIONS
        if unknown:
            raise RuleError(
                f"rule {name!r}: unknown condition {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(CONDITIONS))}"
            )
        keywords = None
        if "keywords" in conditions:
            words = _as_list(conditions["keywords"])
            if not words:
                raise RuleError(f"rule {name!r}: keywords needs at least one word")
            alternatives = "|".join(re.escape(w.lower()) for w in words)
            keywords = re.compile(rf"\b({alternatives})\b")
        return cls(name, dict(conditions), team_id, team_name, tuple(skills), priority, keywords)

    def matches(self, facts: TicketFacts) -> bool:
        c = self.conditions
        if "channel" in c and facts.channel not in _as_list(c["channel"]):
            return False
        if "mailbox" in c and (facts.entry_point or "") not in _as_list(c["mailbox"]):
            return False
        if "trigger" in c and facts.trigger not in _as_list(c["trigger"]):
            return False
        if "language" in c and (facts.language or "") not in _as_list(c["language"]):
            return False
        if "kind" in c and facts.kind not in _as_list(c["kind"]):
            return False
        if "tier" in c and facts.tier not in _as_list(c["tier"]):
            return False
        if "key_account" in c and bool(c["key_account"]) != facts.key_account:
            return False
        return not (
            self._keywords is not None and self._keywords.search(facts.text.lower()) is None
        )

    def describe(self) -> str:
        conditions = ", ".join(f"{k}={v}" for k, v in sorted(self.conditions.items()))
        return f"rule {self.name!r} ({conditions or 'always'})"


def first_match(rules: Sequence[Rule], facts: TicketFacts) -> Rule | None:
    return next((rule for rule in rules if rule.matches(facts)), None)


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]
