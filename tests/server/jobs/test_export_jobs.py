"""Spreadsheet exports as a job: ask (202, Location), the job writes the sheet, fetch it;
only the asker can, and the sheet is the direct export's (both databases, in process)."""

from __future__ import annotations

from sqlalchemy import select

from server.extensions import db
from server.jobs import runner
from server.models import AuditLog


def _households(factory, n: int) -> None:
    secretary = factory.actor("secretary")
    building = factory.building("G1").id
    for i in range(n):
        answer = factory.client.post("/api/v1/households", headers=secretary.headers, json={
            "building_id": building, "unit": "1", "door": str(100 + i),
            "head_name": f"住户{i}", "phone": f"1380000{i:04d}"})
        assert answer.status_code == 201, answer.get_json()


def test_an_export_is_asked_for_made_by_the_job_and_fetched_by_its_asker(client, factory):
    _households(factory, 3)
    secretary = factory.actor("secretary")
    asked = client.post("/api/v1/households/exports?community=C1&format=csv",
                        headers=secretary.headers)
    assert asked.status_code == 202 and asked.headers["Retry-After"] == "2"
    href = asked.headers["Location"]
    assert href == asked.get_json()["href"] and href.startswith("/api/v1/exports/")
    fetched = client.get(href, headers=secretary.headers)  # the job ran at the commit
    assert fetched.status_code == 200, fetched.get_json()
    assert fetched.headers["Cache-Control"] == "no-store"
    assert "households-C1.csv" in fetched.headers["Content-Disposition"]
    direct = client.get("/api/v1/households/export?community=C1&format=csv",
                        headers=secretary.headers)
    assert fetched.data == direct.data and fetched.data.count(b"\n") == 4
    audits = db.session.scalars(select(AuditLog.action).where(
        AuditLog.action == "households_export")).all()
    assert len(audits) == 2  # the job's, and the direct export's

    for other in (factory.actor("admin"), factory.actor("secretary")):
        assert client.get(href, headers=other.headers).status_code == 404
    forged = href[:-3] + ("AAA" if not href.endswith("AAA") else "BBB")
    assert client.get(forged, headers=secretary.headers).status_code == 404


def test_until_the_job_has_run_the_export_answers_202(make_app, factory):
    app = make_app(JOBS_INLINE_SYNC=False)
    client, held = app.test_client(), []
    jobs = runner(app)
    real_submit = jobs.submit
    jobs.submit = lambda task, kwargs, *, lock=None: held.append((task, kwargs, lock))
    secretary = factory.actor("secretary")
    href = client.post("/api/v1/households/exports?community=C1&format=xlsx",
                       headers=secretary.headers).headers["Location"]
    pending = client.get(href, headers=secretary.headers)
    assert pending.status_code == 202 and pending.headers["Retry-After"] == "2"
    assert [task for task, _kwargs, _lock in held] == ["exports.households"]
    for task, kwargs, lock in held:
        real_submit(task, kwargs, lock=lock)
    jobs.drain()
    done = client.get(href, headers=secretary.headers)
    assert done.status_code == 200 and done.data[:2] == b"PK"  # an XLSX is a zip


def test_a_role_without_the_registry_cannot_ask(client, factory):
    for role in ("dispatcher", "grid_worker"):
        answer = client.post("/api/v1/households/exports?community=C1",
                             headers=factory.actor(role).headers)
        assert answer.status_code == 403
