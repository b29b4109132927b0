"""The routing decision, as a pure function of what is known: rules -> eligible agents ->
preference (the customer's manager, the backup, the team) -> the team's strategy.

Nothing here reads the database or the clock, so the same state always gives the same choice
and the property tests can drive it directly; `router.py` loads the state and claims the choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from helpdesk.routing.models import Presence, Strategy
from helpdesk.routing.rules import Rule, TicketFacts

T = TypeVar("T")

# Names listed in a reason before "and N more": a reason stays readable with 1,000 agents.
LISTED = 12


@dataclass(slots=True)
class Candidate:
    """An agent as routing sees them at one moment; `load` is updated as tickets are given."""

    agent_id: int
    name: str
    active: bool
    presence: Presence
    in_shift: bool
    teams: frozenset[int]
    skills: frozenset[str]
    languages: frozenset[str]
    channels: frozenset[str]
    capacity: int
    load: int
    weight: int = 1
    channel_weights: dict[str, int] = field(default_factory=dict)
    last_assigned_at: datetime | None = None
    # Whose turn it is: when they were last given a ticket, as a number (never: -1).
    turn: float = -1.0

    def __post_init__(self) -> None:
        if self.last_assigned_at is not None:
            self.turn = self.last_assigned_at.timestamp()

    def given(self, weight: int, now: datetime) -> None:
        """Count a ticket just given to the agent."""
        self.load += weight
        self.last_assigned_at = now
        self.turn = now.timestamp()

    def ticket_weight(self, channel: str, defaults: dict[str, int]) -> int:
        return self.channel_weights.get(channel, defaults.get(channel, 1))


@dataclass(frozen=True, slots=True)
class Relationship:
    """Who looks after a customer (`managers.relationship_for`)."""

    manager_id: int | None = None
    backup_id: int | None = None
    key_account: bool = False
    tier: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    agent_id: int | None
    reason: str
    # Set when the ticket must wait: for a key account's manager, until `wait_until`.
    wait_for_id: int | None = None
    wait_until: datetime | None = None
    chosen_as: str = ""
    team_id: int | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the decision depends on besides the agents."""

    channel_weights: dict[str, int]
    key_account_wait: timedelta
    strategy: Strategy = Strategy.LEAST_LOADED


def skip_reason(
    candidate: Candidate,
    facts: TicketFacts,
    rule: Rule | None,
    context: Context,
    *,
    need_team: bool,
) -> str | None:
    """Why this agent cannot take this ticket now, or None when they can."""
    return standing_reason(candidate, facts, rule, need_team=need_team) or _capacity_reason(
        candidate, facts, context
    )


def standing_reason(
    candidate: Candidate, facts: TicketFacts, rule: Rule | None, *, need_team: bool
) -> str | None:
    """Why the agent cannot take the ticket whatever their load (the same for every ticket of
    one team, channel, language and skills: a batch screens each agent once per kind)."""
    if not candidate.active:
        return "disabled"
    if candidate.presence != Presence.ONLINE:
        return candidate.presence.value
    if not candidate.in_shift:
        return "outside shift hours"
    team_id = rule.team_id if need_team and rule is not None else None
    if team_id is not None and team_id not in candidate.teams:
        return "not in the team"
    if candidate.channels and facts.channel not in candidate.channels:
        return f"does not answer {facts.channel}"
    if facts.language and candidate.languages and facts.language not in candidate.languages:
        return f"does not speak {facts.language}"
    if rule is not None:
        missing = [s for s in rule.skills if s not in candidate.skills]
        if missing:
            return f"lacks skill {', '.join(missing)}"
    return None


def _capacity_reason(candidate: Candidate, facts: TicketFacts, context: Context) -> str | None:
    weight = candidate.ticket_weight(facts.channel, context.channel_weights)
    if candidate.load + weight > candidate.capacity:
        return f"at capacity ({candidate.load}/{candidate.capacity})"
    return None


Screened = dict[tuple[object, ...], list[tuple[Candidate, str | None]]]


def decide(
    facts: TicketFacts,
    rule: Rule | None,
    candidates: Sequence[Candidate],
    relationship: Relationship,
    context: Context,
    *,
    held_since: datetime,
    now: datetime,
    screened: Screened | None = None,
) -> Decision:
    """Choose an agent for the ticket, or say why it waits. `candidates` are the team's members
    (or every agent when no rule names a team) plus the customer's manager and backup.
    `screened` may carry the agents' standing reasons between decisions of one batch over the
    same candidates (their loads are read afresh each time)."""
    lines = [_rule_line(rule)]
    team_id = rule.team_id if rule else None
    priority = rule.priority if rule else None
    key = (team_id, facts.channel, facts.language, rule.skills if rule else ())
    standing = screened.get(key) if screened is not None else None
    if standing is None:
        standing = [
            (c, standing_reason(c, facts, rule, need_team=True))
            for c in candidates
            if team_id is None or team_id in c.teams
        ]
        if screened is not None:
            screened[key] = standing
    eligible: list[Candidate] = []
    skipped: list[tuple[Candidate, str]] = []
    channel = facts.channel
    usual = context.channel_weights.get(channel, 1)
    for candidate, why in standing:
        if why is None:
            own = candidate.channel_weights
            weight = own.get(channel, usual) if own else usual
            if candidate.load + weight <= candidate.capacity:
                eligible.append(candidate)
                continue
            why = f"at capacity ({candidate.load}/{candidate.capacity})"
        skipped.append((candidate, why))
    lines.append(_people("Eligible", eligible, _with_load))
    if skipped:
        lines.append(_people("Skipped", skipped, lambda item: f"{item[0].name} ({item[1]})"))

    def chosen(candidate: Candidate, why: str) -> Decision:
        lines.append(f"Chosen: {candidate.name}, {why}.")
        return Decision(
            candidate.agent_id,
            "\n".join(lines),
            chosen_as=why,
            team_id=team_id,
            priority=priority,
        )

    manager = _find(candidates, relationship.manager_id)
    if manager is not None:
        why = skip_reason(manager, facts, rule, context, need_team=False)
        if why is None:
            return chosen(manager, "the customer's relationship manager")
        lines.append(f"The relationship manager {manager.name} cannot take it: {why}.")
        waits = why in (Presence.OFFLINE.value, Presence.AWAY.value, "outside shift hours")
        until = held_since + context.key_account_wait
        if relationship.key_account and manager.active and waits and now < until:
            lines.append(
                f"Key account: waiting for {manager.name} until {until:%Y-%m-%d %H:%M} UTC, "
                "then the backup or the team."
            )
            return Decision(
                None,
                "\n".join(lines),
                wait_for_id=manager.agent_id,
                wait_until=until,
                team_id=team_id,
                priority=priority,
            )
    backup = _find(candidates, relationship.backup_id)
    if backup is not None:
        why = skip_reason(backup, facts, rule, context, need_team=False)
        if why is None:
            return chosen(backup, "the customer's backup relationship manager")
        lines.append(f"The backup manager {backup.name} cannot take it: {why}.")
    if not eligible:
        lines.append("Nobody eligible: the ticket waits in the holding queue.")
        return Decision(None, "\n".join(lines), team_id=team_id, priority=priority)
    pick, why = pick_by_strategy(eligible, context.strategy)
    return chosen(pick, why)


def pick_by_strategy(eligible: Sequence[Candidate], strategy: Strategy) -> tuple[Candidate, str]:
    """The team's strategy; ties go to whoever was given a ticket longest ago, then the lower
    id, so the choice is the same for the same state."""

    if strategy == Strategy.ROUND_ROBIN:
        pick = min(eligible, key=lambda c: (c.turn, c.agent_id))
        return pick, "next in turn (round robin)"
    if strategy == Strategy.WEIGHTED:
        pick = min(eligible, key=lambda c: (c.load / max(c.weight, 1), c.turn, c.agent_id))
        return pick, f"least load for their weight {pick.weight} ({_load(pick)})"
    pick = min(eligible, key=lambda c: (c.load, c.turn, c.agent_id))
    return pick, f"least loaded ({_load(pick)}), longest since their last ticket"


def _find(candidates: Sequence[Candidate], agent_id: int | None) -> Candidate | None:
    if agent_id is None:
        return None
    return next((c for c in candidates if c.agent_id == agent_id), None)


def _rule_line(rule: Rule | None) -> str:
    if rule is None:
        return "No rule matched: any agent may take it."
    parts = [f"team {rule.team_name or rule.team_id}" if rule.team_id else "any team"]
    if rule.skills:
        parts.append("skills " + ", ".join(rule.skills))
    if rule.priority:
        parts.append(f"priority {rule.priority}")
    return f"Matched {rule.describe()}: {'; '.join(parts)}."


def _load(c: Candidate) -> str:
    return f"load {c.load}/{c.capacity}"


def _with_load(c: Candidate) -> str:
    return f"{c.name} ({_load(c)})"


def _people(title: str, items: Sequence[T], describe: Callable[[T], str]) -> str:
    """The first LISTED of them by name, then how many more: only those are formatted."""
    if not items:
        return f"{title}: nobody."
    shown = ", ".join(describe(item) for item in items[:LISTED])
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return f"{title}: {shown}{more}."
