"""``gridwork users …`` and ``gridwork buildings …``: what used to take SQL, from the shell."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from server.models import AuditLog, Building, LoginFailure, User
from tests.factories import PASSWORD


def gridwork(app: Any, *args: str, stdin: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


def me(client: Any, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/me", headers=headers).status_code)


def login(client: Any, username: str, password: str = PASSWORD, *,
          address: str = "203.0.113.7", **extra: Any) -> Any:
    return client.post("/api/v1/auth/tokens", json={"username": username, "password": password,
                                                     **extra},
                       environ_base={"REMOTE_ADDR": address})


def test_disable_and_enable_a_user_from_the_shell(app, client, factory, db):
    worker = factory.actor("grid_worker", username="zhou")
    done = gridwork(app, "users", "disable", "zhou")
    assert done.exit_code == 0, done.output
    assert "Disabled zhou; ended 1 tokens" in done.output
    assert me(client, worker.headers) == 401 and login(client, "zhou").status_code == 401
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user_disabled"))
    assert gridwork(app, "users", "enable", "zhou").exit_code == 0
    assert login(client, "zhou").status_code == 201


def test_reset_password_from_stdin_ends_the_old_tokens(app, client, factory, db):
    worker = factory.actor("grid_worker", username="zhou")
    done = gridwork(app, "users", "reset-password", "zhou", "--password-stdin",
                    stdin="a new password 2026\n")
    assert done.exit_code == 0, done.output
    assert me(client, worker.headers) == 401
    assert login(client, "zhou", "a new password 2026").status_code == 201
    short = gridwork(app, "users", "reset-password", "zhou", "--password-stdin", stdin="x\n")
    assert short.exit_code == 1 and "8 characters" in short.output


def test_revoke_a_lost_phones_tokens_from_the_shell(app, client, factory):
    factory.actor("grid_worker", username="zhou")
    lost = login(client, "zhou", device_id="lost-phone").json["token"]
    kept = login(client, "zhou", device_id="tablet").json["token"]
    done = gridwork(app, "users", "revoke-tokens", "zhou", "--device", "lost-phone")
    assert done.exit_code == 0 and "Revoked 1 tokens of device lost-phone" in done.output
    assert me(client, {"Authorization": f"Bearer {lost}"}) == 401
    assert me(client, {"Authorization": f"Bearer {kept}"}) == 200


def test_unlock_and_list_from_the_shell(app, client, factory, db):
    factory.actor("grid_worker", username="zhou")
    factory.actor("secretary", username="shuji")
    for _ in range(5):  # someone elsewhere guessing
        assert login(client, "zhou", "wrong", address="198.51.100.9").status_code == 401
    listing = gridwork(app, "users", "list", "--role", "grid_worker")
    assert listing.exit_code == 0, listing.output
    rows = listing.output.splitlines()
    assert len(rows) == 2 and rows[1].startswith("zhou") and "G1" in rows[1]
    assert rows[1].rstrip().endswith("+00:00")  # locked until
    assert gridwork(app, "users", "unlock", "zhou").output.strip() == "Unlocked zhou."
    assert db.session.scalar(select(LoginFailure)) is None
    assert login(client, "zhou").status_code == 201
    gridwork(app, "users", "disable", "shuji")
    disabled = gridwork(app, "users", "list", "--disabled").output.splitlines()
    assert [line.split()[0] for line in disabled[1:]] == ["shuji"]


def test_an_unknown_user_is_one_line_and_exit_1(app, factory):
    factory.world()
    for action in ("disable", "enable", "unlock", "revoke-tokens"):
        failed = gridwork(app, "users", action, "nobody")
        assert failed.exit_code == 1 and "No user named 'nobody'" in failed.output, action


def test_buildings_create_and_import_from_the_shell(app, factory, db, tmp_path):
    factory.world()
    lat, lon = factory.G1_CENTER
    made = gridwork(app, "buildings", "create", "B3", "3号楼", "--lat", str(lat),
                    "--lon", str(lon), "--units", "2")
    assert made.exit_code == 0 and "in grid G1" in made.output, made.output
    sheet = tmp_path / "buildings.csv"
    sheet.write_text(f"楼栋编号,名称,网格,纬度,经度\nB4,4号楼,G1,{lat},{lon}\n", encoding="utf-8")
    dry = gridwork(app, "buildings", "import", str(sheet), "--dry-run")
    assert dry.exit_code == 0 and "Would create 1" in dry.output
    real = gridwork(app, "buildings", "import", str(sheet))
    assert real.exit_code == 0 and "Created 1" in real.output
    codes = set(db.session.scalars(select(Building.code)))
    assert {"B3", "B4"} <= codes
    bad = tmp_path / "bad.csv"
    bad.write_text("楼栋编号,名称,网格,纬度,经度\nB5,5号楼,G9,28.8,113.07\n", encoding="utf-8")
    failed = gridwork(app, "buildings", "import", str(bad))
    assert failed.exit_code == 1 and "row 2: grid: No grid with code G9" in failed.output
    assert db.session.scalar(select(Building).where(Building.code == "B5")) is None
    assert db.session.scalar(select(User)) is None  # no account was needed for any of it
