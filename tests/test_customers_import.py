"""`helpdesk customers import` and `export`, run as an admin runs them (the real command in a
process of its own), on SQLite and PostgreSQL: what is stored, what is reported, and that a bad
row is rejected whole with its reason while the good rows around it are imported."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from helpdesk.customers.models import Account, Customer, Identity, TierChange
from helpdesk.routing.models import CustomerManager
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from tests.conftest import seed_staff
from tests.support.cli import run_cli

HEADER = "external_ref,name,email,phone,language,account,value,tier_override,manager\n"


async def customers_cli(database_url: str, data_dir: Path, *args: str) -> Any:
    return await run_cli(
        "customers",
        *args,
        HELPDESK_DATABASE_URL=database_url,
        HELPDESK_DATA_DIR=str(data_dir),
    )


async def stored(database_url: str) -> dict[str, Any]:
    """Every customer by reference (or email), with what an agent would see of them."""
    db = Database(database_url)
    try:
        await db.migrate()  # the import may have been refused before it made the schema
        async with db.read() as session:
            rows = await session.execute(
                select(Customer, Account.name, Agent.email)
                .outerjoin(Account, Account.id == Customer.account_id)
                .outerjoin(CustomerManager, CustomerManager.customer_id == Customer.id)
                .outerjoin(Agent, Agent.id == CustomerManager.manager_id)
            )
            people = {}
            for customer, account, manager in rows:
                identities = await session.execute(
                    select(Identity.channel, Identity.address, Identity.verified).where(
                        Identity.customer_id == customer.id
                    )
                )
                people[customer.external_ref or customer.email] = {
                    "name": customer.name,
                    "email": customer.email,
                    "phone": customer.phone,
                    "language": customer.language,
                    "account": account,
                    "value": customer.value,
                    "tier_override": customer.tier_override,
                    "manager": manager,
                    "identities": sorted(tuple(i) for i in identities),
                }
            accounts = await session.scalar(select(func.count()).select_from(Account))
            changes = (await session.execute(select(TierChange.to_tier, TierChange.reason))).all()
        return {"customers": people, "accounts": accounts, "tier_changes": changes}
    finally:
        await db.dispose()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


async def test_an_import_stores_customers_and_the_same_file_again_changes_nothing(
    database_url: str, tmp_path: Path
):
    await seed_staff(database_url)
    file = write(
        tmp_path / "crm.csv",
        HEADER + "C-1,Ann Lee,Ann.Lee@Example.TEST,+44 (20) 7946-0000,en,Acme Ltd,1200.50,key,"
        "alice@example.test\n"
        + "C-2,Bo Chen,bo@example.test,,pt-BR,ACME LTD,80,,bob\n"
        + ",Cleo,cleo@example.test,,,,,,\n",
    )
    first = await customers_cli(database_url, tmp_path, "import", str(file))
    assert first.returncode == 0, first.stderr
    assert "3 rows: 3 created, 0 updated, 0 unchanged, 0 rejected; 1 accounts created" in (
        first.stdout
    )
    data = await stored(database_url)
    ann = data["customers"]["C-1"]
    assert ann == {
        "name": "Ann Lee",
        "email": "ann.lee@example.test",
        "phone": "+442079460000",
        "language": "en",
        "account": "Acme Ltd",
        "value": 1200.5,
        "tier_override": "key",
        "manager": "alice@example.test",
        # Trusted admin data: the address is proven, so the customer's next mail joins them.
        "identities": [("email", "ann.lee@example.test", True)],
    }
    # The account is matched whatever its case; a manager may be named by the part before @.
    assert data["customers"]["C-2"]["account"] == "Acme Ltd"
    assert data["customers"]["C-2"]["manager"] == "bob@example.test"
    assert data["customers"]["cleo@example.test"]["name"] == "Cleo"
    assert data["accounts"] == 1
    assert data["tier_changes"] == [("key", "tier override imported from crm.csv, row 2")]

    again = await customers_cli(database_url, tmp_path, "import", str(file))
    assert again.returncode == 0, again.stderr
    assert "3 rows: 0 created, 0 updated, 3 unchanged, 0 rejected" in again.stdout
    assert await stored(database_url) == data

    # Matched by reference, or by email where the row has none: changes are updates.
    changed = write(
        tmp_path / "changed.csv",
        "external_ref,email,value,manager\nC-1,,99,\n,cleo@example.test,5,carol@example.test\n",
    )
    update = await customers_cli(database_url, tmp_path, "import", str(changed))
    assert "2 rows: 0 created, 2 updated, 0 unchanged, 0 rejected" in update.stdout
    after = (await stored(database_url))["customers"]
    assert (after["C-1"]["value"], after["C-1"]["manager"]) == (99, None)
    assert after["C-1"]["name"] == "Ann Lee"  # a column the file lacks stays as it was
    assert (after["cleo@example.test"]["value"], after["cleo@example.test"]["manager"]) == (
        5,
        "carol@example.test",
    )


async def test_bad_rows_are_rejected_whole_with_their_reasons(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    huge = "x" * 1024 * 1024
    file = write(
        tmp_path / "crm.csv",
        HEADER
        + "C-1,Good One,one@example.test,,en,Good Co,10,,\n"  # row 2
        + "C-2,Bad Value,two@example.test,,en,Bad Value Co,abc,,\n"  # 3
        + "C-1,Same Ref,three@example.test,,en,,1,,\n"  # 4
        + "C-4,Same Email,ONE@example.test,,en,,1,,\n"  # 5
        + f"C-5,{huge},five@example.test,,en,Huge Co,1,,\n"  # 6
        + "C-6,Bad Email,not-an-address,,en,,1,,\n"  # 7
        + "C-7,Bad Tier,seven@example.test,,en,,1,platinum,\n"  # 8
        + "C-8,Nobody Manages,eight@example.test,,en,,1,,zed@example.test\n"  # 9
        + "C-9,Short Row,nine@example.test\n"  # 10
        + "C-10,Dash Value,ten@example.test,,,,-,,\n"  # 11
        + ",No Key,,,,,,,\n"  # 12
        + "C-12,Good Three,twelve@example.test,,fr,good co,,,\n",  # 13
    )
    rejects = tmp_path / "rejects.csv"
    dry = await customers_cli(
        database_url, tmp_path, "import", str(file), "--dry-run", "--rejects", str(rejects)
    )
    assert dry.returncode == 1
    assert "12 rows: dry run, nothing written: would be 2 created" in dry.stdout
    assert "10 rejected" in dry.stdout
    dry_rejects = rejects.read_text(encoding="utf-8")
    assert (await stored(database_url))["customers"] == {}
    assert (await stored(database_url))["accounts"] == 0

    result = await customers_cli(
        database_url, tmp_path, "import", str(file), "--rejects", str(rejects), "--batch-size", "3"
    )
    assert result.returncode == 1
    assert "12 rows: 2 created, 0 updated, 0 unchanged, 10 rejected; 1 accounts created" in (
        result.stdout
    )
    assert "Traceback" not in result.stderr
    csv.field_size_limit(2 * 1024 * 1024)  # the 1 MB cell
    reasons = {int(row["row"]): row["reason"] for row in csv.DictReader(rejects.open())}
    assert reasons == {
        3: "value 'abc' is not a number (write 1234.5)",
        4: "external_ref C-1 is also on row 2",
        5: "email one@example.test is also on row 2",
        6: "name is 1,048,576 characters long; at most 200",
        7: "'not-an-address' is not an email address",
        8: "tier_override 'platinum' is not a tier: key, standard",
        9: "manager 'zed@example.test' is not an agent (give an agent's email)",
        10: "the row has 3 cells; the header has 9",
        11: "value '-' is not a number (write 1234.5)",
        12: "neither external_ref nor email: nothing to match the customer by",
    }
    # The dry run reported exactly what the import then did.
    assert dry_rejects == rejects.read_text(encoding="utf-8")
    # The rejects file keeps each rejected row whole, the 1 MB cell too: nothing is lost.
    rows = list(csv.DictReader(rejects.open(), strict=True))
    assert rows[3]["name"] == huge
    for line in result.stderr.splitlines()[:3]:
        assert line.startswith("row ")

    data = await stored(database_url)
    # Only the good rows; nothing of a rejected row (its account, its address) was stored.
    assert sorted(data["customers"]) == ["C-1", "C-12"]
    assert data["accounts"] == 1
    assert data["customers"]["C-12"]["account"] == "Good Co"
    db = Database(database_url)
    try:
        async with db.read() as session:
            addresses = set(await session.scalars(select(Identity.address)))
    finally:
        await db.dispose()
    assert addresses == {"one@example.test", "twelve@example.test"}


async def test_a_file_that_cannot_be_read_is_refused_whole(database_url: str, tmp_path: Path):
    latin = write(
        tmp_path / "latin.csv", "external_ref,name\nC-1,Zoë Müller\nC-2,Renée\n", "latin-1"
    )
    refused = await customers_cli(database_url, tmp_path, "import", str(latin))
    assert refused.returncode == 1
    assert "is not utf-8 text: byte 0xeb on line 2" in refused.stderr
    assert "--encoding cp1252" in refused.stderr and "nothing was imported" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (await stored(database_url))["customers"] == {}

    given = await customers_cli(
        database_url, tmp_path, "import", str(latin), "--encoding", "cp1252"
    )
    assert given.returncode == 0, given.stderr
    assert (await stored(database_url))["customers"]["C-1"]["name"] == "Zoë Müller"

    # Excel's "CSV UTF-8" starts with a byte order mark; its first column is still found.
    bom = write(tmp_path / "bom.csv", "\ufeffexternal_ref;name\nC-3;Åsa\n")
    with_bom = await customers_cli(database_url, tmp_path, "import", str(bom))
    assert with_bom.returncode == 0, with_bom.stderr
    assert (await stored(database_url))["customers"]["C-3"]["name"] == "Åsa"

    for text, expected in [
        ("", "is empty: the first line must name the columns"),
        ("name,phone\nAnn,+4420794600\n", "needs an external_ref or an email column"),
        ("external_ref,name,shoe size\nC-9,Ann,38\n", "unknown columns: 'shoe size'"),
        ("external_ref,name,Name\nC-9,Ann,Ann\n", "two columns give name"),
    ]:
        bad = write(tmp_path / "bad.csv", text)
        result = await customers_cli(database_url, tmp_path, "import", str(bad))
        assert result.returncode == 1, text
        assert expected in result.stderr, result.stderr
        assert "nothing was imported" in result.stderr
    assert sorted((await stored(database_url))["customers"]) == ["C-1", "C-2", "C-3"]

    # Told to, the import leaves an unknown column out and says so.
    ignored = await customers_cli(database_url, tmp_path, "import", str(bad), "--ignore-unknown")
    assert "unknown columns" not in ignored.stderr
    header = write(tmp_path / "unknown.csv", "external_ref,name,shoe size\nC-9,Ann,38\n")
    ignored = await customers_cli(database_url, tmp_path, "import", str(header), "--ignore-unknown")
    assert ignored.returncode == 0, ignored.stderr
    assert "columns left out: shoe size" in ignored.stderr
    assert (await stored(database_url))["customers"]["C-9"]["name"] == "Ann"


async def test_columns_are_mapped_from_the_files_own_headers(database_url: str, tmp_path: Path):
    file = write(
        tmp_path / "shop.csv",
        "Customer No,Full Name,E-mail,Notes,Company\nS-1,Ann Lee,ann@example.test,VIP,Acme\n",
    )
    mapping = write(tmp_path / "mapping.txt", "# our shop's export\nCustomer No=external_ref\n")
    result = await customers_cli(
        database_url,
        tmp_path,
        "import",
        str(file),
        "--mapping",
        str(mapping),
        "--map",
        "Full Name=name",
        "--map",
        "E-mail=email",
        "--map",
        "Notes=-",
        "--map",
        "company=account",
    )
    assert result.returncode == 0, result.stderr
    ann = (await stored(database_url))["customers"]["S-1"]
    assert (ann["name"], ann["email"], ann["account"]) == ("Ann Lee", "ann@example.test", "Acme")

    wrong = await customers_cli(database_url, tmp_path, "import", str(file), "--map", "Notes=memo")
    assert wrong.returncode == 1
    assert "'memo' is not a column" in wrong.stderr


async def test_an_address_held_by_another_customer_is_never_taken(
    database_url: str, tmp_path: Path
):
    """The import never merges customers, and an address a chat customer typed but has not
    proven joins nobody: the row is rejected and both customers stay as they were."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            chat = Customer(name="chat visitor", created_at=now)
            mailer = Customer(name="Mailer", email="mailer@example.test", created_at=now)
            session.add_all([chat, mailer])
            await session.flush()
            session.add_all(
                [
                    Identity(
                        customer_id=chat.id,
                        channel="email",
                        address="victim@example.test",
                        verified=False,
                        created_at=now,
                    ),
                    Identity(
                        customer_id=mailer.id,
                        channel="email",
                        address="mailer@example.test",
                        created_at=now,
                    ),
                ]
            )
            mailer_id = mailer.id
    finally:
        await db.dispose()
    file = write(
        tmp_path / "crm.csv",
        "external_ref,name,email\n"
        "V-1,Victim,victim@example.test\n"
        "M-1,Mailer Inc,mailer@example.test\n",
    )
    result = await customers_cli(database_url, tmp_path, "import", str(file))
    assert "row 2: email victim@example.test was given by customer id" in result.stderr
    assert "not proven yet" in result.stderr
    # A person who mailed us before gets the reference: the same customer, now matched by it.
    assert "2 rows: 0 created, 1 updated, 0 unchanged, 1 rejected" in result.stdout
    people = (await stored(database_url))["customers"]
    assert people["M-1"]["name"] == "Mailer Inc"
    db = Database(database_url)
    try:
        async with db.read() as session:
            owner = await session.scalar(
                select(Identity.customer_id).where(Identity.address == "mailer@example.test")
            )
            claim = (
                await session.execute(
                    select(Identity.verified).where(Identity.address == "victim@example.test")
                )
            ).scalar_one()
    finally:
        await db.dispose()
    assert owner == mailer_id
    assert claim is False


async def test_export_then_import_into_an_empty_helpdesk_gives_the_same_customers(
    database_url: str, tmp_path: Path, postgres: Any
):
    await seed_staff(database_url)
    file = write(
        tmp_path / "crm.csv",
        "external_ref,name,email,phone,language,account,account_ref,value,tier_override,manager\n"
        'C-1,"Lee, Ann",ann@example.test,+442079460000,en,Acme,ACC-1,1200.5,key,'
        "alice@example.test\n"
        'C-2,"Bo ""the boss"" Chen",bo@example.test,,pt-BR,Acme,ACC-1,80,,\n'
        ",Cleo Ünal,cleo@example.test,,,,,,standard,\n"
        "C-4,No Email,,+15551234567,,Solo,,0.25,,carol@example.test\n",
    )
    imported = await customers_cli(database_url, tmp_path, "import", str(file))
    assert imported.returncode == 0, imported.stderr
    exported = tmp_path / "export.csv"
    result = await customers_cli(database_url, tmp_path, "export", str(exported))
    assert result.returncode == 0, result.stderr
    assert "4 customers written to" in result.stdout

    empty = (
        f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        if database_url.startswith("sqlite")
        else postgres.create_database("customers_round_trip")
    )
    await seed_staff(empty)
    again = await customers_cli(empty, tmp_path, "import", str(exported))
    assert again.returncode == 0, again.stderr
    assert "4 rows: 4 created" in again.stdout
    assert (await stored(empty))["customers"] == (await stored(database_url))["customers"]
    second = tmp_path / "second.csv"
    await customers_cli(empty, tmp_path, "export", str(second))
    assert second.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")


async def test_a_row_the_database_refuses_costs_only_itself(database_url: str, tmp_path: Path):
    """A refusal no check foresaw (here a trigger, as another process taking the address would
    be): the batch is written again row by row, and only the refused row is rejected."""
    from sqlalchemy import text

    db = Database(database_url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            if db.is_sqlite:
                await session.execute(
                    text(
                        "CREATE TRIGGER refuse BEFORE INSERT ON identities "
                        "WHEN NEW.address = 'refused@example.test' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
                    )
                )
            else:
                await session.execute(
                    text(
                        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                        "IF NEW.address = 'refused@example.test' THEN "
                        "RAISE EXCEPTION 'refused by the test trigger'; END IF; "
                        "RETURN NEW; END $$ LANGUAGE plpgsql"
                    )
                )
                await session.execute(
                    text(
                        "CREATE TRIGGER refuse BEFORE INSERT ON identities "
                        "FOR EACH ROW EXECUTE FUNCTION refuse()"
                    )
                )
    finally:
        await db.dispose()
    file = write(
        tmp_path / "crm.csv",
        "external_ref,name,email,account\n"
        "C-1,One,one@example.test,First Co\n"
        "C-2,Refused,refused@example.test,Refused Co\n"
        "C-3,Three,three@example.test,\n",
    )
    result = await customers_cli(database_url, tmp_path, "import", str(file))
    assert result.returncode == 1
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected; 1 accounts created" in (
        result.stdout
    )
    assert "row 3: the database refused the row:" in result.stderr
    assert "refused by the test trigger" in result.stderr
    data = await stored(database_url)
    assert sorted(data["customers"]) == ["C-1", "C-3"]
    assert data["accounts"] == 1  # the refused row's account went with it


async def test_an_imported_customers_next_mail_joins_them(
    runtime: Any, database_url: str, tmp_path: Path
):
    from helpdesk.messages import InboundMessage

    file = write(tmp_path / "crm.csv", "external_ref,name,email\nC-1,Ann Lee,Ann@Example.test\n")
    result = await customers_cli(database_url, tmp_path, "import", str(file))
    assert result.returncode == 0, result.stderr
    async with runtime.db.read() as session:
        ann = await session.scalar(select(Customer.id).where(Customer.external_ref == "C-1"))
    receipt = await runtime.intake.receive(
        InboundMessage("email", "m:1", "ann@example.test", "Hello", continues_latest=False)
    )
    assert receipt.customer_id == ann
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1
