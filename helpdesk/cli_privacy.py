"""`helpdesk customers export-data ID FILE` and `helpdesk customers erase ID`: a customer's
data as one ZIP file, and erasing it (docs/customers.md#export-and-erasure)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from helpdesk.cli_support import check_storage, run, settings_or_exit

if TYPE_CHECKING:
    from helpdesk.customers.privacy import Privacy

T = TypeVar("T")


def _with_privacy(work: Callable[[Privacy], Awaitable[T]]) -> T:
    from helpdesk.channels.email.erasure import erase_email
    from helpdesk.channels.telegram.erasure import erase_telegram
    from helpdesk.common.clock import SystemClock
    from helpdesk.customers.privacy import Privacy
    from helpdesk.storage.attachments import AttachmentStore
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def go() -> T:
        clock = SystemClock()
        db = Database(settings.database_url, clock=clock)
        try:
            await db.migrate()
            store = AttachmentStore(db, clock, legacy_root=settings.data_dir / "attachments")
            privacy = Privacy(
                db, clock, store, settings.customers, erasers=(erase_email, erase_telegram)
            )
            return await work(privacy)
        finally:
            await db.dispose()

    return run(go)


@click.command("export-data")
@click.argument("customer_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_data(customer_id: int, file: Path) -> None:
    """Write everything stored about a customer to FILE (a ZIP: customer.json and the
    attachments). Recorded in the audit trail."""
    from helpdesk.customers.export import CustomerNotFound

    async def work(privacy: Privacy) -> bytes:
        return await privacy.export(customer_id, actor_id=None)

    try:
        data = _with_privacy(work)
    except CustomerNotFound:
        raise click.ClickException(f"there is no customer {customer_id}") from None
    file.write_bytes(data)
    click.echo(f"wrote {len(data)} bytes about customer {customer_id} to {file}")


@click.command("erase")
@click.argument("customer_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def erase(customer_id: int, yes: bool) -> None:
    """Erase a customer's personal data and their tickets' content for good, keeping the
    anonymous counts reports need. Recorded in the audit trail."""
    from helpdesk.customers.erasure import CustomerNotFound

    if not yes:
        click.confirm(f"Erase customer {customer_id}? This cannot be undone", abort=True)

    async def work(privacy: Privacy) -> str:
        erased = await privacy.erase(customer_id, actor_id=None)
        return (
            f"erased customer {customer_id}: {erased.tickets} tickets, "
            f"{erased.messages} messages, {erased.files} files"
        )

    try:
        click.echo(_with_privacy(work))
    except CustomerNotFound:
        raise click.ClickException(f"there is no customer {customer_id}") from None
