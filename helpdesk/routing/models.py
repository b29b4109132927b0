"""Routing's tables: agents' routing profiles, teams' strategies, customers' relationship
managers and their handovers, rules kept through the API, the holding queue and the decisions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId, enum_column


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Strategy(enum.StrEnum):
    # The least loaded agent; ties go to whoever was given a ticket longest ago.
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"
    # Least load relative to the agent's weight: weight 2 takes twice the share of weight 1.
    WEIGHTED = "weighted"


class RoutingProfile(Base):
    """What routing knows of one agent. Empty skills/languages/channels lists mean: none
    required of them / any language / every channel."""

    __tablename__ = "routing_profiles"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    # {"webchat": 2}: how much one open ticket of that channel counts against the capacity.
    channel_weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    presence: Mapped[Presence] = mapped_column(enum_column(Presence), default=Presence.OFFLINE)
    heartbeat_at: Mapped[datetime | None]
    # When the agent went offline (said so, or stopped sending heartbeats).
    offline_since: Mapped[datetime | None]
    # The offline spell whose unanswered tickets were re-routed already.
    released_at: Mapped[datetime | None]
    # Optional shift, "HH:MM" in `shift_timezone`; outside it the agent gets no new tickets.
    shift_start: Mapped[str | None] = mapped_column(String(5))
    shift_end: Mapped[str | None] = mapped_column(String(5))
    shift_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The weighted open tickets, as of the last claim or release (claims recount it).
    load: Mapped[int] = mapped_column(Integer, default=0)
    last_assigned_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TeamRouting(Base):
    __tablename__ = "team_routing"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    strategy: Mapped[Strategy] = mapped_column(enum_column(Strategy), default=Strategy.LEAST_LOADED)


class CustomerManager(Base):
    """A customer's relationship manager, the backup, and whether they are a key account
    (a flag an admin sets until customer tiers are computed)."""

    __tablename__ = "customer_managers"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    key_account: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class PortfolioHandover(Base):
    """One admin action: every customer of one manager given to another."""

    __tablename__ = "portfolio_handovers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    from_agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    to_agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    customer_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class RoutingRule(Base):
    """A rule kept through the API: `conditions` (see `rules.py`) map a ticket to a team,
    required skills and a priority. Lower positions are tried first."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=100)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class HeldTicket(Base):
    """The holding queue: a ticket nobody eligible could take yet, most urgent then oldest
    first. `wait_for_id` is a key account's manager it waits for until `wait_until`."""

    __tablename__ = "routing_holds"
    __table_args__ = (Index("ix_routing_holds_order", "urgency", "held_since"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    # 0 is the most urgent (urgent), 3 the least (low).
    urgency: Mapped[int] = mapped_column(Integer)
    held_since: Mapped[datetime]
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    wait_for_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    wait_until: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text, default="")


TRIGGER_LENGTH = 64


def short_trigger(text: str) -> str:
    """What set a decision off, cut to fit its column (a bot's hand-over reason can be long;
    the whole reason stays in the ticket's history)."""
    return text if len(text) <= TRIGGER_LENGTH else text[: TRIGGER_LENGTH - 1] + "…"


class RoutingDecision(Base):
    """Why a ticket went to whom (or waits): one row per decision, automatic or manual."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    # "assigned", "held", "released", "manual", "taken", "handed_back"
    outcome: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    trigger: Mapped[str] = mapped_column(String(TRIGGER_LENGTH), default="")
    # Readable lines: the rule, who was eligible, who was skipped and why, who was chosen.
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_routing_decisions_ticket", "ticket_id", "id"),)
