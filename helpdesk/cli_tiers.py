"""`helpdesk customers tiers recompute`: every tier from value, now (the same run as the API's
and the schedule's; it waits for one under way in a server)."""

from __future__ import annotations

import click

from helpdesk.cli_support import check_storage, run, settings_or_exit


@click.group()
def tiers() -> None:
    """Customers' tiers, computed from value by rule (`customers.tiers`)."""


@tiers.command("recompute")
def recompute() -> None:
    """Recompute every account's and customer's tier now; print how many are in each."""
    from helpdesk.common.clock import SystemClock
    from helpdesk.customers.tier_recompute import Outcome, TierRecompute
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def go() -> Outcome | None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await TierRecompute(db, settings.customers, SystemClock()).run()
        finally:
            await db.dispose()

    outcome = run(go)
    assert outcome is not None  # a waiting run always runs
    counts = ", ".join(f"{n} {tier}" for tier, n in outcome.tiers.items())
    click.echo(
        f"tiers recomputed: {outcome.units} accounts and customers ({counts}); "
        f"{outcome.changed} changed in {outcome.seconds:.1f} s"
    )
