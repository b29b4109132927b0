"""Agents, their roles and teams."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from helpdesk.storage.base import Base, BigId, enum_column


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    # Routing reads the teams of many agents at once.
    Index("ix_team_members_agent_id", "agent_id"),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The name folded to one case: "support" and "Support" are one team (unique index below).
    name_key: Mapped[str] = mapped_column(String(100))
    members: Mapped[list[Agent]] = relationship(secondary=team_members, back_populates="teams")

    __table_args__ = (Index("uq_teams_name_key", "name_key", unique=True),)

    @validates("name")
    def _fold_name(self, _key: str, name: str) -> str:
        self.name_key = team_key(name)
        return name


def team_key(name: str) -> str:
    """What makes two team names the same team: case and surrounding spaces do not count."""
    return name.strip().casefold()


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.AGENT)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", lazy="selectin"
    )


class AgentSession(Base):
    """A logged-in agent's session. The token is random and only its hash is stored; deleting
    the row ends the session at once (logout, password change, the agent disabled)."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginAttempt(Base):
    """One login attempt, kept for the throttle (failures) and to know an agent's usual
    addresses (successes). Shared by every process through the database."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_login_attempts_email_address", "email", "address", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )
