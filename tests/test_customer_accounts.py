"""Accounts and tiers through the API (SQLite and PostgreSQL): admins create and change
accounts (one per name whatever its case), put customers in and out of them, set values and
overrides, and recompute tiers; supervisors read; agents neither. Every tier change is in the
record with its reason, and an override wins over the rule."""

from __future__ import annotations

import asyncio

from helpdesk.runtime import Runtime
from tests.conftest import People
from tests.customer_tier_helpers import ADMIN, api_as, customer_writing, make_admin
from tests.routing_helpers import agent_id


async def test_admins_keep_accounts_one_per_name_whatever_its_case(
    database_url: str, desk: Runtime
):
    people = People()
    await make_admin(desk)
    bob = await agent_id(desk, people.bob)
    alice = await agent_id(desk, people.alice)
    async with api_as(desk, ADMIN) as api:
        created = await api.post(
            "/api/accounts", json={"name": " Acme  Ltd ", "external_ref": "crm-1", "value": 500}
        )
        assert created.status_code == 201, created.text
        acme = created.json()
        assert acme["name"] == "Acme Ltd" and acme["value"] == 500 and acme["contacts"] == 0

        again = await api.post("/api/accounts", json={"name": "ACME LTD"})
        assert again.status_code == 409 and "already has this name" in again.json()["detail"]
        same_ref = await api.post("/api/accounts", json={"name": "Other", "external_ref": "crm-1"})
        assert same_ref.status_code == 409

        changed = await api.patch(
            f"/api/accounts/{acme['id']}", json={"manager_id": bob, "backup_id": alice}
        )
        assert changed.status_code == 200
        assert (changed.json()["manager_id"], changed.json()["backup_id"]) == (bob, alice)
        assert changed.json()["value"] == 500  # omitted fields stay as they are

        for body, problem in (
            ({"manager_id": alice}, "someone other than the manager"),
            ({"backup_id": 999_999}, "no active agent with id 999999"),
            ({"tier_override": "platinum"}, "unknown tier 'platinum'; the tiers are key, standard"),
        ):
            refused = await api.patch(f"/api/accounts/{acme['id']}", json=body)
            assert refused.status_code == 422 and problem in refused.json()["detail"], body
        negative = await api.patch(f"/api/accounts/{acme['id']}", json={"value": -1})
        assert negative.status_code == 422

        await api.post("/api/accounts", json={"name": "Globex"})
        found = (await api.get("/api/accounts", params={"name": "acme"})).json()
        assert [a["name"] for a in found["accounts"]] == ["Acme Ltd"]
        page = (await api.get("/api/accounts", params={"limit": 1})).json()
        assert len(page["accounts"]) == 1 and page["next_after_id"] == acme["id"]
        assert (await api.get("/api/accounts/424242")).status_code == 404


async def test_supervisors_read_and_only_admins_change(database_url: str, desk: Runtime):
    people = People()
    await make_admin(desk)
    customer, _ = await customer_writing(desk, "ann@example.test")
    async with api_as(desk, ADMIN) as api:
        account = (await api.post("/api/accounts", json={"name": "Acme"})).json()
    async with api_as(desk, people.supervisor) as api:
        assert (await api.get(f"/api/accounts/{account['id']}")).status_code == 200
        assert (await api.get(f"/api/customers/{customer}/standing")).status_code == 200
        assert (await api.post("/api/accounts", json={"name": "Mine"})).status_code == 403
        patch = await api.patch(f"/api/customers/{customer}/standing", json={"value": 10})
        assert patch.status_code == 403
        assert (await api.post("/api/customers/tiers/recompute")).status_code == 403
    async with api_as(desk, people.alice) as api:
        assert (await api.get("/api/accounts")).status_code == 403
        assert (await api.get(f"/api/customers/{customer}/tier-changes")).status_code == 403


async def test_a_contact_takes_the_account_s_tier_and_loses_it_on_leaving(
    database_url: str, desk: Runtime
):
    admin = await make_admin(desk)
    customer, _ = await customer_writing(desk, "ann@example.test")
    async with api_as(desk, ADMIN) as api:
        account = (
            await api.post("/api/accounts", json={"name": "Acme", "tier_override": "key"})
        ).json()
        assert account["effective_tier"] == "key"
        joined = await api.patch(
            f"/api/customers/{customer}/standing", json={"account_id": account["id"]}
        )
        assert joined.status_code == 200
        assert joined.json()["effective_tier"] == "key"
        assert joined.json()["account_name"] == "Acme"
        contacts = (await api.get(f"/api/accounts/{account['id']}/contacts")).json()
        assert [c["id"] for c in contacts] == [customer]
        assert (await api.get(f"/api/accounts/{account['id']}")).json()["contacts"] == 1

        left = await api.patch(f"/api/customers/{customer}/standing", json={"account_id": None})
        assert left.json()["effective_tier"] == "standard" and left.json()["account_id"] is None

        changes = (await api.get(f"/api/customers/{customer}/tier-changes")).json()
        assert [(c["from_tier"], c["to_tier"], c["reason"]) for c in changes] == [
            ("key", "standard", f"left account {account['id']} by admin {admin}"),
            ("standard", "key", f"joined account {account['id']} (Acme) by admin {admin}"),
        ]
        account_changes = (await api.get(f"/api/accounts/{account['id']}/tier-changes")).json()
        assert [(c["to_tier"], c["reason"]) for c in account_changes] == [
            ("key", f"override by admin {admin}")
        ]
        missing = await api.patch(f"/api/customers/{customer}/standing", json={"account_id": 999})
        assert missing.status_code == 404


async def test_recompute_makes_the_pareto_set_key_with_reasons_and_an_override_wins(
    database_url: str, desk: Runtime
):
    admin = await make_admin(desk)
    ids = []
    for n in range(6):
        customer, _ = await customer_writing(desk, f"c{n}@example.test")
        ids.append(customer)
    unknown, _ = await customer_writing(desk, "nobody@example.test")
    async with api_as(desk, ADMIN) as api:
        for customer, value in zip(ids, (50, 20, 10, 8, 7, 5), strict=True):
            set_value = await api.patch(
                f"/api/customers/{customer}/standing", json={"value": value}
            )
            assert set_value.json()["value"] == value
        done = await api.post("/api/customers/tiers/recompute")
        assert done.status_code == 200
        assert done.json()["units"] == 7 and done.json()["tiers"] == {"key": 3, "standard": 4}
        assert done.json()["changed"] == 3  # everyone starts as standard

        tiers = [
            (await api.get(f"/api/customers/{c}/standing")).json()["effective_tier"]
            for c in [*ids, unknown]
        ]
        assert tiers == ["key", "key", "key", "standard", "standard", "standard", "standard"]
        changes = (await api.get(f"/api/customers/{ids[0]}/tier-changes")).json()
        assert changes[0]["reason"] == "pareto: top 80% of value"
        assert changes[0]["actor_id"] == admin

        overridden = await api.patch(
            f"/api/customers/{ids[0]}/standing",
            json={"tier_override": "standard", "note": "asked to be treated like everyone"},
        )
        assert overridden.json()["effective_tier"] == "standard"
        assert overridden.json()["tier"] == "key"
        latest = (await api.get(f"/api/customers/{ids[0]}/tier-changes")).json()[0]
        assert latest["reason"] == f"override by admin {admin}: asked to be treated like everyone"

        # Nothing changed in value: a second run changes nothing, and the override still wins.
        again = (await api.post("/api/customers/tiers/recompute")).json()
        assert again["changed"] == 0
        stand = (await api.get(f"/api/customers/{ids[0]}/standing")).json()
        assert stand["effective_tier"] == "standard"

        # The fourth customer grows: now 50 + 40 of 130 is over 80% alone with the first two.
        await api.patch(f"/api/customers/{ids[3]}/standing", json={"value": 40})
        moved = (await api.post("/api/customers/tiers/recompute")).json()
        assert moved["tiers"] == {"key": 3, "standard": 4}
        assert moved["changed"] == 2
        demoted = (await api.get(f"/api/customers/{ids[2]}/tier-changes")).json()[0]
        assert (demoted["from_tier"], demoted["to_tier"]) == ("key", "standard")
        assert demoted["reason"] == "pareto: outside the top 80% of value"


async def test_an_account_without_its_own_value_is_worth_what_its_contacts_bring(
    database_url: str, desk: Runtime
):
    await make_admin(desk)
    small, _ = await customer_writing(desk, "solo@example.test")
    contacts = [(await customer_writing(desk, f"staff{n}@acme.test"))[0] for n in range(3)]
    async with api_as(desk, ADMIN) as api:
        acme = (await api.post("/api/accounts", json={"name": "Acme"})).json()
        for contact in contacts:
            await api.patch(
                f"/api/customers/{contact}/standing", json={"account_id": acme["id"], "value": 30}
            )
        await api.patch(f"/api/customers/{small}/standing", json={"value": 10})
        done = (await api.post("/api/customers/tiers/recompute")).json()
        # Two units: Acme (90, from its contacts) and the lone customer (10).
        assert done["units"] == 2 and done["tiers"] == {"key": 1, "standard": 1}
        for contact in contacts:
            stand = (await api.get(f"/api/customers/{contact}/standing")).json()
            assert stand["effective_tier"] == "key"
        changes = (await api.get(f"/api/accounts/{acme['id']}/tier-changes")).json()
        assert [(c["from_tier"], c["to_tier"], c["reason"]) for c in changes] == [
            (None, "key", "pareto: top 80% of value")
        ]
        # An admin's value for the account replaces the sum of its contacts'.
        await api.patch(f"/api/accounts/{acme['id']}", json={"value": 1})
        await api.patch(f"/api/customers/{small}/standing", json={"value": 10})
        await api.post("/api/customers/tiers/recompute")
        stand = (await api.get(f"/api/customers/{contacts[0]}/standing")).json()
        assert stand["effective_tier"] == "standard"
        lone = (await api.get(f"/api/customers/{small}/standing")).json()
        assert lone["effective_tier"] == "key"


async def test_two_admins_creating_the_same_account_at_once_get_one_account(
    database_url: str, desk: Runtime
):
    await make_admin(desk)
    async with api_as(desk, ADMIN) as api:
        answers = await asyncio.gather(
            *(api.post("/api/accounts", json={"name": f"Initech{' ' * n}"}) for n in range(6))
        )
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]
        listed = (await api.get("/api/accounts", params={"name": "initech"})).json()
        assert len(listed["accounts"]) == 1
