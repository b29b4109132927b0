"""`helpdesk agent ...`: add, list, disable, enable, reset a password, change a role.

The shell of the server's host is the admin's: these commands need no login. Each is one
transaction; disabling ends the agent's sessions at once (`staff/admin.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.cli_support import check_storage, run, settings_or_exit
from helpdesk.staff.accounts import AccountError
from helpdesk.staff.models import Agent, Role

T = TypeVar("T")
ROLES = click.Choice([role.value for role in Role])


def _password_option(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        "--password",
        envvar="HELPDESK_AGENT_PASSWORD",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help=f"{help_text} [HELPDESK_AGENT_PASSWORD]",
    )


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def go() -> T:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.transaction() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return run(go)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def agent() -> None:
    """Manage agents: add, list, disable, enable, password, role."""


@agent.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name")
@click.option("--role", type=ROLES, default="agent", show_default=True)
@click.option(
    "--team",
    "teams",
    multiple=True,
    help="Team name, joined whatever its case (created if new); repeatable",
)
@_password_option("Asked for when not given")
def agent_add(email: str, name: str, role: str, teams: tuple[str, ...], password: str) -> None:
    """Add an agent who can log in to the API and workspace."""
    from helpdesk.common.clock import SystemClock
    from helpdesk.staff.accounts import add_agent

    async def add(session: AsyncSession) -> tuple[int, str, list[str]]:
        created = await add_agent(
            session,
            email=email,
            name=name,
            password=password,
            now=SystemClock().now(),
            role=Role(role),
            teams=teams,
        )
        return created.id, created.email, [team.name for team in created.teams]

    agent_id, stored_email, team_names = _in_transaction(add)
    joined = f" in {', '.join(team_names)}" if team_names else ""
    click.echo(f"agent {stored_email} added (id {agent_id}){joined}")


@agent.command("list")
def agent_list() -> None:
    """Every agent, disabled ones too."""
    from helpdesk.staff.admin import all_agents

    async def read(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                str(a.id),
                a.email,
                a.role.value,
                "active" if a.active else "disabled",
                ", ".join(t.name for t in a.teams) or "-",
                a.name,
            )
            for a in await all_agents(session)
        ]

    rows = _in_transaction(read)
    if not rows:
        click.echo("no agents yet: add one with `helpdesk agent add EMAIL --role admin`")
        return
    header = ("id", "email", "role", "state", "teams", "name")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


def _on_agent(email: str, change: Callable[[AsyncSession, Agent], Awaitable[object]]) -> Agent:
    from helpdesk.staff.admin import agent_by_email

    async def work(session: AsyncSession) -> Agent:
        found = await agent_by_email(session, email)
        await change(session, found)
        return found

    return _in_transaction(work)


@agent.command("disable")
@click.argument("email")
def agent_disable(email: str) -> None:
    """Disable an agent: their sessions end at once and they cannot log in."""
    from helpdesk.staff.admin import disable

    changed = _on_agent(email, disable)
    click.echo(f"agent {changed.email} disabled; their sessions have ended")


@agent.command("enable")
@click.argument("email")
def agent_enable(email: str) -> None:
    """Let a disabled agent log in again."""
    from helpdesk.staff.admin import enable

    changed = _on_agent(email, enable)
    click.echo(f"agent {changed.email} enabled")


@agent.command("password")
@click.argument("email")
@_password_option("The new password; asked for when not given")
def agent_password(email: str, password: str) -> None:
    """Set a new password for an agent; their sessions end."""
    from helpdesk.staff.admin import new_password_hash, set_password

    try:
        password_hash = asyncio.run(new_password_hash(password))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None

    async def reset(session: AsyncSession, found: Agent) -> None:
        await set_password(session, found, password_hash)

    changed = _on_agent(email, reset)
    click.echo(f"password of {changed.email} changed; their sessions have ended")


@agent.command("role")
@click.argument("email")
@click.argument("role", type=ROLES)
def agent_role(email: str, role: str) -> None:
    """Make an agent an agent, supervisor or admin."""
    from helpdesk.staff.admin import change_role

    async def change(session: AsyncSession, found: Agent) -> None:
        await change_role(session, found, Role(role))

    changed = _on_agent(email, change)
    click.echo(f"{changed.email} is now {changed.role.value}")


@agent.command("routing")
@click.argument("email")
@click.option("--skill", "skills", multiple=True, help="A skill; repeatable (replaces the list)")
@click.option("--language", "languages", multiple=True, help="A language code; repeatable")
@click.option("--channel", "channels", multiple=True, help="A channel answered; repeatable")
@click.option("--capacity", type=click.IntRange(0, 10_000), help="Open tickets at most")
@click.option("--weight", type=click.IntRange(1, 100), help="Share under the weighted strategy")
@click.option("--channel-weight", "channel_weights", multiple=True, help="CHANNEL=N; repeatable")
@click.option("--shift", help="HH:MM-HH:MM, or 'none' to clear it")
@click.option("--timezone", "shift_timezone", help="Time zone of the shift (default UTC)")
def agent_routing(
    email: str,
    skills: tuple[str, ...],
    languages: tuple[str, ...],
    channels: tuple[str, ...],
    capacity: int | None,
    weight: int | None,
    channel_weights: tuple[str, ...],
    shift: str | None,
    shift_timezone: str | None,
) -> None:
    """Set how tickets are routed to an agent, and print the profile."""
    from sqlalchemy import select

    from helpdesk.common.clock import SystemClock
    from helpdesk.routing.profiles import ProfileChanges, ProfileError, apply_changes, profile_of
    from helpdesk.staff.accounts import normalise_email
    from helpdesk.staff.models import Agent
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    weights: dict[str, int] | None = None
    if channel_weights:
        try:
            weights = {k: int(v) for k, v in (item.split("=", 1) for item in channel_weights)}
        except ValueError:
            raise click.BadParameter("use CHANNEL=N", param_hint="--channel-weight") from None
    start = end = None
    if shift and shift != "none":
        start, _, end = shift.partition("-")
    changes = ProfileChanges(
        skills=list(skills) or None,
        languages=list(languages) or None,
        channels=list(channels) or None,
        capacity=capacity,
        channel_weights=weights,
        weight=weight,
        shift_start=start,
        shift_end=end,
        shift_timezone=shift_timezone,
        clear_shift=shift == "none",
    )

    async def update() -> dict[str, object]:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.transaction() as session:
                found = await session.scalar(
                    select(Agent).where(Agent.email == normalise_email(email))
                )
                if found is None:
                    raise click.ClickException(f"there is no agent {email}")
                now = SystemClock().now()
                profile = await profile_of(session, found.id, settings.routing, now)
                apply_changes(profile, changes, now)
                return {
                    "skills": profile.skills,
                    "languages": profile.languages,
                    "channels": profile.channels or "all",
                    "capacity": profile.capacity,
                    "weight": profile.weight,
                    "channel_weights": profile.channel_weights,
                    "shift": f"{profile.shift_start}-{profile.shift_end} {profile.shift_timezone}"
                    if profile.shift_start
                    else "none",
                }
        finally:
            await db.dispose()

    try:
        shown = run(update)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    for key, value in shown.items():
        click.echo(f"{key}: {value}")
