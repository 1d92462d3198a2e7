"""``gridwork odk qr USER`` and the demo's Collect login."""

from __future__ import annotations

import base64
import json
import zlib

from server.extensions import db
from server.openrosa import demo
from tests.openrosa.test_openrosa_forms import basic


def _decode(payload: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(payload)))


def test_qr_payload_is_collects_settings_with_a_working_password(app, client, factory):
    worker = factory.actor("grid_worker")
    result = app.test_cli_runner().invoke(args=[
        "odk", "qr", worker.user.username, "--url", "https://gridwork.example.org/",
        "--payload"])
    assert result.exit_code == 0, result.output
    general = _decode(result.output.strip())["general"]
    assert general["server_url"] == "https://gridwork.example.org/openrosa"
    assert general["username"] == worker.user.username
    probe = client.head("/openrosa/submission",
                        headers=basic(worker.user.username, general["password"]))
    assert probe.status_code == 204


def test_qr_writes_a_png_and_each_run_mints_another_password(app, factory, tmp_path):
    worker = factory.actor("grid_worker")
    runner = app.test_cli_runner()
    out = tmp_path / "collect.png"
    first = runner.invoke(args=["odk", "qr", worker.user.username, "--url",
                                "http://192.168.1.20:5000", "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "Digest" in first.output
    again = runner.invoke(args=["odk", "qr", worker.user.username, "--url",
                                "https://x.example", "--payload"])
    assert _decode(again.output.strip())["general"]["password"] not in first.output


def test_qr_refuses_a_role_without_forms_and_an_unknown_user(app, factory):
    department = factory.actor("department")
    runner = app.test_cli_runner()
    for name in (department.user.username, "nobody"):
        result = runner.invoke(args=["odk", "qr", name, "--url", "https://x.example"])
        assert result.exit_code == 1


def test_demo_collect_login_is_the_same_on_every_run(app, client, factory):
    worker = factory.actor("grid_worker")
    community = factory.world()
    first = list(demo.seed(db.session, community))
    db.session.commit()
    again = list(demo.seed(db.session, community))
    db.session.commit()
    assert first == again and worker.user.username in first[0]
    password = first[0].split(" password ")[1].split()[0]
    probe = client.head("/openrosa/submission", headers=basic(worker.user.username, password))
    assert probe.status_code == 204


def test_xlsform_export_is_the_xlsform_the_served_xform_is_made_from(app, tmp_path):
    """pyxform turns the exported spreadsheet into the very XForm the server serves."""
    from pyxform.xls2xform import convert

    from server.openrosa.forms import VISIT_FORM, xform

    out = tmp_path / "visit.xlsx"
    result = app.test_cli_runner().invoke(args=["odk", "xlsform", "gridwork_visit", "-o",
                                                str(out)])
    assert result.exit_code == 0, result.output
    served, _version = xform(db.session, VISIT_FORM)
    made = convert(out.read_bytes(), form_name="gridwork_visit", pretty_print=True)
    assert made.xform.encode() == served
