"""``gridsync`` finds a household offline: its id in ``households`` and ``agenda``, and
``visit --household CODE``, against a live server's pulled data."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from sqlalchemy import select

from client_sync import cli
from client_sync.testing import LiveServer
from server.extensions import db
from server.models import Household, Visit, YellowRibbonRequest
from tests.client_sync.test_cli import latest, logged_in, run  # noqa: F401 - fixtures
from tests.factories import PASSWORD, Actor, Factory

G1 = Factory.G1_CENTER
AT_G1 = ("--lat", str(G1[0]), "--lon", str(G1[1]))


def add_households(live_server: LiveServer, worker: Actor, factory: Factory, *doors: str,
                   tags: tuple[str, ...] = ()) -> dict[str, SimpleNamespace]:
    """Households of G1's building made through the live server (its keys encrypt them)."""
    with requests.Session() as http:
        answer = http.post(f"{live_server.url}/api/v1/auth/tokens", timeout=10, json={
            "username": worker.user.username, "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        made = {}
        for door in doors:
            answer = http.post(f"{live_server.url}/api/v1/households", timeout=10, json={
                "building_id": factory.building("G1").id, "unit": "1", "door": door,
                "head_name": f"户主{door}", "tags": list(tags)})
            assert answer.status_code == 201, answer.text
            made[door] = SimpleNamespace(**answer.json())
    return made


@pytest.fixture
def pulled(logged_in: Any, live_server: LiveServer, worker: Actor,  # noqa: F811
           factory: Factory) -> dict[str, SimpleNamespace]:
    """Three households of G1 on the server, never visited (so overdue), pulled."""
    made = add_households(live_server, worker, factory, "301", "302", "303")
    code, _, err = logged_in("pull")
    assert code == 0, err
    return made


def test_households_lists_each_with_the_id_a_visit_takes(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    code, out, _ = logged_in("households")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["id", "code"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [str(h.id), h.code] for h in pulled.values()]


def test_households_search_finds_by_code_or_name_offline(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    code, out, _ = logged_in("--server", "http://127.0.0.1:9", "households",  # no signal
                             "--search", "户主302")
    assert code == 0
    assert out.splitlines()[1:] == [f"{pulled['302'].id:>6}  {pulled['302'].code:<12} "
                                    f"overdue   户主302"]
    code, out, _ = logged_in("households", "--search", "nobody")
    assert code == 0 and "No household found" in out


def test_agenda_shows_ids_and_says_how_many_it_left_out(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    code, out, _ = logged_in("agenda", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    ids = {str(h.id) for h in pulled.values()}
    assert len(lines) == 4  # the header, two households, the count
    assert all(line.split()[1] in ids for line in lines[1:3])
    assert lines[3] == "2 of 3, --limit to see more."
    code, out, _ = logged_in("agenda")
    assert "of 3" not in out and len(out.splitlines()) == 4


def test_visit_by_household_code_goes_to_that_household(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    target = pulled["302"]
    code, _, err = logged_in("visit", "--household", target.code, "--outcome", "met", *AT_G1)
    assert code == 0, err
    assert logged_in("push")[0] == 0
    assert latest(Visit).household_id == target.id


def test_visit_by_unknown_household_code_exits_3_and_says_how_to_find_it(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    code, _, err = logged_in("visit", "--household", "99-9-999", "--outcome", "met", *AT_G1)
    assert code == cli.EXIT_INVALID
    assert "household: No household 99-9-999 in the offline cache" in err
    assert "gridsync households --search" in err
    assert "0 to send" in logged_in("status")[1]


def test_visit_by_a_code_two_households_share_exits_3_naming_both(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    taken = pulled["301"]
    code, out, _ = logged_in("household", "add", "--door", "301", "--head-name", "重码",
                             "--code", taken.code, *AT_G1)
    uid = out.split()[2].rstrip(".")
    assert code == 0
    code, _, err = logged_in("visit", "--household", taken.code, "--outcome", "met", *AT_G1)
    assert code == cli.EXIT_INVALID
    assert f"2 households have the code {taken.code} (id {taken.id}, uuid {uid})" in err


def test_visit_follow_up_on_reaches_the_server(
        logged_in: Any, pulled: dict[str, SimpleNamespace]) -> None:  # noqa: F811
    day = date.today() + timedelta(days=3)
    code, _, err = logged_in("visit", "--household-id", str(pulled["303"].id),
                             "--outcome", "not_home", "--follow-up-on", day.isoformat(), *AT_G1)
    assert code == 0, err
    assert logged_in("push")[0] == 0
    assert latest(Visit).follow_up_on == day


def test_visit_follow_up_on_that_is_not_a_day_is_a_usage_error(
        logged_in: Any, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    with pytest.raises(SystemExit) as stop:
        cli.main(["visit", "--household-id", "1", "--outcome", "met", "--follow-up-on",
                  "next week", *AT_G1])
    assert stop.value.code == cli.EXIT_USAGE
    assert "'next week' is not a day: give YYYY-MM-DD" in capsys.readouterr().err


def test_a_met_visit_closes_the_households_yellow_ribbon(
        logged_in: Any, live_server: LiveServer, worker: Actor,  # noqa: F811
        factory: Factory) -> None:
    """The README's promise: meeting the family closes its open yellow ribbon (黄丝带)."""
    household = add_households(live_server, worker, factory, "401",
                               tags=("yellow_ribbon",))["401"]
    logged_in("pull")
    assert "yellow_ribbon_open" in logged_in("agenda")[1]
    # A second after the ribbon went up (visits are timed to the second).
    after = datetime.fromisoformat(household.created_at) + timedelta(seconds=1)
    code, _, err = logged_in("visit", "--household", household.code, "--outcome", "met",
                             "--visited-at", after.isoformat(), *AT_G1)
    assert code == 0, err
    assert logged_in("push")[0] == 0
    db.session.commit()
    ribbon = db.session.scalar(select(YellowRibbonRequest))
    assert ribbon is not None and ribbon.closed_at is not None
    assert "yellow_ribbon" not in db.session.get(Household, household.id).tags
    assert "yellow_ribbon_open" not in logged_in("agenda")[1]
