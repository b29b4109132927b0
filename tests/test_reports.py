"""Reports through the API, on a hand-built desk (tests/report_data.py has the table every
figure here is computed from), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from helpdesk.runtime import Runtime
from tests.conftest import People
from tests.email_helpers import api_as
from tests.report_data import build

DAY = {"from": "2026-03-01", "to": "2026-03-01"}


async def rows(api: httpx.AsyncClient, name: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/api/reports/{name}", params={**DAY, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


async def one(api: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    [row] = await rows(api, name, **params)
    assert row.pop("group") is None
    return row


def by_name(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row.pop("group")["name"]: row for row in found}


async def test_every_figure_over_the_whole_desk_is_the_hand_computed_one(desk: Runtime):
    await build(desk)
    async with api_as(desk, People.supervisor) as api:
        assert await one(api, "first-contact-resolution") == {
            "resolved": 4,
            "first_contact": 1,
            "rate": 0.25,
        }
        assert await one(api, "reopen-rate") == {"resolved": 5, "reopened": 3, "rate": 0.6}
        assert await one(api, "first-response-time") == {
            "count": 5,
            "average_seconds": 960.0,
            "p50_seconds": 900.0,
            "p90_seconds": 1560.0,
        }
        assert await one(api, "resolution-time") == {
            "count": 5,
            "average_seconds": 5412.0,
            "p50_seconds": 5400.0,
            "p90_seconds": 9360.0,
        }
        assert await one(api, "satisfaction") == {
            "rated": 3,
            "satisfied": 2,
            "share_satisfied": 0.6667,
            "average": 4.0,
        }
        assert await one(api, "recommend-score") == {
            "answered": 4,
            "promoters": 2,
            "passives": 1,
            "detractors": 1,
            "score": 25.0,
        }
        assert await one(api, "complaints") == {
            "complaints": 2,
            "unresolved": 1,
            "by_root_cause": {"price": 1},
        }
        assert await one(api, "sla-breaches") == {
            "tickets": 3,
            "breached": 2,
            "rate": 0.6667,
            "by_metric": {
                "first_response": {"timers": 3, "breached": 1, "rate": 0.3333},
                "resolution": {"timers": 2, "breached": 1, "rate": 0.5},
            },
        }
        assert await one(api, "bot") == {
            "answered": 1,
            "handed_over": 1,
            "refused": 1,
            "total": 3,
        }
        assert await rows(api, "value-share") == [
            {"tier": "key", "holders": 2, "value": 850.0, "share": 0.85},
            {"tier": "standard", "holders": 1, "value": 150.0, "share": 0.15},
        ]


async def test_figures_per_team_and_per_agent(desk: Runtime):
    await build(desk)
    async with api_as(desk, People.supervisor) as api:
        teams = by_name(await rows(api, "first-contact-resolution", group_by="team"))
        assert teams == {
            "Billing": {"resolved": 1, "first_contact": 0, "rate": 0.0},
            "Support": {"resolved": 3, "first_contact": 1, "rate": 0.3333},
        }
        teams = by_name(await rows(api, "first-response-time", group_by="team"))
        assert teams["Support"] == {
            "count": 3,
            "average_seconds": 1200.0,
            "p50_seconds": 1200.0,
            "p90_seconds": 1680.0,
        }
        assert teams["Billing"] == {
            "count": 2,
            "average_seconds": 600.0,
            "p50_seconds": 600.0,
            "p90_seconds": 840.0,
        }
        assert set(teams) == {"Support", "Billing"}  # ticket 6 had no first response
        agents = by_name(await rows(api, "resolution-time", group_by="agent"))
        assert {name: row["count"] for name, row in agents.items()} == {
            "Alice Agent": 2,
            "Bob Agent": 1,
            "Carol Agent": 1,
            "unassigned": 1,
        }
        assert agents["unassigned"]["p50_seconds"] == 60.0
        agents = by_name(await rows(api, "reopen-rate", group_by="agent"))
        assert agents["Alice Agent"] == {"resolved": 2, "reopened": 1, "rate": 0.5}
        assert agents["Bob Agent"] == {"resolved": 1, "reopened": 1, "rate": 1.0}
        breaches = by_name(await rows(api, "sla-breaches", group_by="team"))
        assert breaches["Support"]["rate"] == 0.5 and breaches["Billing"]["rate"] == 1.0
        bot = by_name(await rows(api, "bot", group_by="team"))
        assert bot["no team"]["answered"] == 1 and bot["Billing"]["handed_over"] == 1
        # Filters narrow the tickets counted.
        alice = await one(api, "satisfaction", agent=str((await _ids(desk))["alice"]))
        assert alice == {"rated": 2, "satisfied": 1, "share_satisfied": 0.5, "average": 4.0}


async def _ids(desk: Runtime) -> dict[str, int]:
    from tests.report_data import ids

    async with desk.db.read() as session:
        return await ids(session)


async def test_the_period_is_read_in_the_time_zone_given(desk: Runtime):
    await build(desk)
    async with api_as(desk, People.supervisor) as api:
        # 1 March in New York is 05:00 UTC on 1 March to 05:00 UTC on 2 March: ticket 6 only.
        response = await api.get(
            "/api/reports/resolution-time", params={**DAY, "tz": "America/New_York"}
        )
        body = response.json()
        assert body["period"] == {
            "start": "2026-03-01T05:00:00Z",
            "end": "2026-03-02T05:00:00Z",
            "time_zone": "America/New_York",
        }
        assert body["rows"][0]["count"] == 1 and body["rows"][0]["p90_seconds"] == 60.0
        # Times: from 02:00 (included) to 04:00 (excluded) UTC: tickets 3 and 4.
        times = {"from": "2026-03-01T02:00:00+00:00", "to": "2026-03-01T04:00:00Z"}
        response = await api.get("/api/reports/first-response-time", params=times)
        assert response.json()["rows"][0]["count"] == 2
        # Nothing in the period: counts of zero and no figures, not an error.
        empty = await one(api, "first-response-time", **{"from": "2025-01-01", "to": "2025-01-02"})
        assert empty == {
            "count": 0,
            "average_seconds": None,
            "p50_seconds": None,
            "p90_seconds": None,
        }
        assert (await one(api, "recommend-score", **{"from": "2025-01-01", "to": "2025-01-02"}))[
            "score"
        ] is None


async def test_an_agent_sees_its_own_teams_figures_only(desk: Runtime):
    known = await build(desk)
    async with api_as(desk, People.alice) as api:
        teams = by_name(await rows(api, "first-response-time", group_by="team"))
        assert set(teams) == {"Support"}
        summary = await api.get("/api/reports/summary", params=DAY)
        assert summary.status_code == 200
        reports = summary.json()["reports"]
        assert "value-share" not in reports
        assert reports["first-contact-resolution"] == [
            {"group": None, "resolved": 3, "first_contact": 1, "rate": 0.3333}
        ]
        other = await api.get(
            "/api/reports/satisfaction", params={**DAY, "team": str(known["Billing"])}
        )
        assert other.status_code == 403
        assert (await api.get("/api/reports/value-share")).status_code == 403
    async with api_as(desk, People.supervisor) as api:
        summary = await api.get("/api/reports/summary", params={**DAY, "group_by": "team"})
        reports = summary.json()["reports"]
        assert reports["value-share"][0]["tier"] == "key"
        assert {row["group"]["name"] for row in reports["complaints"]} == {"Billing"}


@pytest.mark.parametrize(
    ("path", "params", "code", "says"),
    [
        ("/api/reports/nps", {}, 404, "no report 'nps'"),
        ("/api/reports/satisfaction", {"tz": "Mars/Olympus"}, 400, "unknown time zone"),
        ("/api/reports/satisfaction", {"from": "2026-03-02", "to": "2026-03-01"}, 400, "end after"),
        ("/api/reports/satisfaction", {"from": "yesterday"}, 400, "not a date"),
        ("/api/reports/satisfaction", {"to": "9999-12-31"}, 400, "calendar"),
        ("/api/reports/summary", {"group_by": "planet"}, 422, ""),
    ],
)
async def test_bad_questions_get_clear_answers(
    desk: Runtime, path: str, params: dict[str, str], code: int, says: str
):
    async with api_as(desk, People.supervisor) as api:
        response = await api.get(path, params=params)
    assert response.status_code == code, response.text
    assert says in response.text


async def test_reports_need_a_login(desk: Runtime):
    from helpdesk.web.app import create_app

    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
        assert (await http.get("/api/reports/summary")).status_code == 401
