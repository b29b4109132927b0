"""Reactions survive a crash: kill -9 between the commit of a customer's message and its
reaction (the hand-over, the bot's answer, the satisfaction question, the email acknowledgement),
and again while the reactions run; after the restarts each reaction has happened exactly once.
On PostgreSQL, two processes share the reactions and each still happens exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk.conversation.handover import HANDED_OVER_TEXT
from helpdesk.conversation.models import Acknowledgement
from helpdesk.conversation.satisfaction import ASKED, QUESTION_TEXT
from helpdesk.customers.models import Identity
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.models import ArticleStatus, BotAnswer
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import EVENTS, ReactionCheckpoint
from helpdesk.tickets.models import AuditEntry, AuthorType, Direction, Message, Ticket
from tests.conftest import seed_staff
from tests.support.server import REPO_ROOT, HelpdeskServer

COUNT = 25
# Small rounds, so that a kill lands while the reactions are half done.
SLOW = {"HELPDESK_EVENTS__BATCH_SIZE": "2"}
REACTIONS = {
    "conversation": "MessageReceived",
    "acknowledgement": "TicketCreated",
    "satisfaction-survey": "TicketChanged",
}


async def prepare(database_url: str, data_dir: Path) -> None:
    """Staff, a published article for the bot, and one run of the server so that the
    reactions have their checkpoints, as on any helpdesk that has been running."""
    await seed_staff(database_url)
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await kb_articles.create(
                session,
                ArticleFields(
                    title="Reset your password",
                    body="Open Sign in, choose Forgot password and follow the link.",
                    phrasings=["how do I reset my password", "I forgot my password"],
                    status=ArticleStatus.PUBLISHED,
                ),
                now=db.clock.now(),
            )
    finally:
        await db.dispose()
    HelpdeskServer(data_dir, database_url).start().stop()


def commit_and_die(database_url: str, data_dir: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.commit_scenario",
            database_url,
            str(data_dir),
            str(COUNT),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.readline()
    assert output.strip() == "committed", output + process.stdout.read()
    process.kill()  # SIGKILL: the reactions never ran in this process
    process.wait(10)


async def pending(db: Database) -> dict[str, int]:
    """Per reaction: events of its type committed after its checkpoint."""
    found = {}
    async with db.read() as session:
        for name, event_type in REACTIONS.items():
            checkpoint = await session.scalar(
                select(ReactionCheckpoint.last_event_id).where(ReactionCheckpoint.name == name)
            )
            assert checkpoint is not None, f"no checkpoint for {name}"
            found[name] = await session.scalar(
                select(func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.id > checkpoint, EVENTS.c.type == event_type)
            )
    return found


async def wait_for(db: Database, done: bool, timeout: float = 60.0) -> dict[str, int]:
    """Until every reaction is done (`done`), or until some but not all of the work is."""
    deadline = time.monotonic() + timeout
    first = await pending(db)
    while time.monotonic() < deadline:
        now = await pending(db)
        if done and not any(now.values()):
            return now
        if not done and now != first:
            return now
        await asyncio.sleep(0.005)
    raise AssertionError(f"reactions did not get there in {timeout} s: {await pending(db)}")


async def assert_each_reaction_happened_once(db: Database) -> None:
    async with db.read() as session:

        async def tickets_of(prefix: str) -> list[int]:
            rows = await session.scalars(
                select(Ticket.id)
                .join(Identity, Identity.customer_id == Ticket.customer_id)
                .where(Identity.address.startswith(prefix))
            )
            return list(rows)

        async def outbound(ticket_id: int, **where: object) -> int:
            query = select(func.count()).where(
                Message.ticket_id == ticket_id, Message.direction == Direction.OUT
            )
            for column, value in where.items():
                query = query.where(getattr(Message, column) == value)
            return int(await session.scalar(query) or 0)

        async def audits(ticket_id: int, action: str) -> int:
            return int(
                await session.scalar(
                    select(func.count()).where(
                        AuditEntry.ticket_id == ticket_id, AuditEntry.action == action
                    )
                )
                or 0
            )

        people = await tickets_of("person-")
        assert len(people) == COUNT
        for ticket_id in people:
            assert await audits(ticket_id, "ticket.handed_over") == 1
            assert await outbound(ticket_id, text=HANDED_OVER_TEXT) == 1

        askers = await tickets_of("asker-")
        assert len(askers) == COUNT
        for ticket_id in askers:
            answers = await session.scalar(
                select(func.count()).where(BotAnswer.ticket_id == ticket_id)
            )
            assert answers == 1
            assert await outbound(ticket_id, author_type=AuthorType.BOT) == 1

        writers = await tickets_of("writer-")
        assert len(writers) == COUNT
        for ticket_id in writers:
            assert await session.get(Acknowledgement, ticket_id) is not None
            assert await outbound(ticket_id, author_type=AuthorType.SYSTEM) == 1

        served = await tickets_of("served-")
        assert len(served) == COUNT
        for ticket_id in served:
            assert await audits(ticket_id, ASKED) == 1
            assert await outbound(ticket_id, text=QUESTION_TEXT) == 1


@pytest.mark.kills_processes
async def test_kill_between_commit_and_reaction_then_mid_reaction(
    database_url: str, tmp_path: Path
):
    data_dir = tmp_path / "server"
    await prepare(database_url, data_dir)
    commit_and_die(database_url, data_dir)
    db = Database(database_url)
    try:
        at_the_kill = await pending(db)
        # Every reaction had committed work waiting when the committing process died.
        assert all(count >= COUNT for count in at_the_kill.values()), at_the_kill

        kills_mid_way = 0
        for _ in range(3):
            server = HelpdeskServer(data_dir, database_url, **SLOW).start()
            try:
                left = await wait_for(db, done=False)
            finally:
                server.kill()
            if any(left.values()):
                kills_mid_way += 1
        last = HelpdeskServer(data_dir, database_url, **SLOW).start()
        try:
            await wait_for(db, done=True)
        finally:
            last.stop()
        assert kills_mid_way >= 1, "no kill landed while reactions were under way"
        await assert_each_reaction_happened_once(db)
    finally:
        await db.dispose()


@pytest.mark.kills_processes
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_share_the_reactions_exactly_once(database_url: str, tmp_path: Path):
    data_dir = tmp_path / "server"
    await prepare(database_url, data_dir)
    commit_and_die(database_url, data_dir)
    db = Database(database_url)
    one = HelpdeskServer(tmp_path / "one", database_url, **SLOW)
    two = HelpdeskServer(tmp_path / "two", database_url, **SLOW)
    try:
        # Both come up at once and claim rounds of the same reactions side by side.
        await asyncio.gather(asyncio.to_thread(one.start), asyncio.to_thread(two.start))
        one.kill()  # mid-way or not, the other process carries on with everything, once
        await wait_for(db, done=True)
        await assert_each_reaction_happened_once(db)
        assert "Traceback" not in two.log()
    finally:
        one.kill()
        two.stop()
        await db.dispose()
