"""Phone and ID numbers are encrypted at rest, found by keyed hash, and keys rotate."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.crypto import FieldKeyError, field_cipher, generate_key
from server.models import Household
from tests.server.visit_support import add_household as make_household

PHONE = "13812345678"


@pytest.fixture
def household(factory, db):
    factory.world()
    return make_household(factory, "G1", door="101", phone=PHONE)


def _raw(db, column: str) -> str:
    return db.session.execute(text(f"SELECT {column} FROM household")).scalar_one()  # noqa: S608


def test_database_holds_no_plain_phone_or_id_number(household, db):
    raw_phone, raw_id = _raw(db, "phone"), _raw(db, "id_number")
    assert PHONE not in raw_phone and household.id_number not in raw_id
    assert raw_phone.startswith("gAAAA")  # a Fernet token
    db.session.expire_all()
    assert db.session.get(Household, household.id).phone == PHONE


def test_same_phone_encrypts_differently_but_hashes_the_same(factory, db):
    factory.world()
    first = make_household(factory, "G1", door="101", phone=PHONE)
    second = make_household(factory, "G1", door="102", phone="138-1234-5678")
    rows = db.session.execute(text("SELECT phone, phone_hash FROM household ORDER BY id")).all()
    assert rows[0][0] != rows[1][0]
    assert rows[0][1] == rows[1][1]
    assert first.id != second.id


def test_workers_find_a_household_by_phone_in_the_body(client, factory, household):
    worker = factory.actor("grid_worker", grids=("G1",))
    found = client.post("/api/v1/households/lookup", json={"phone": PHONE},
                        headers=worker.headers)
    assert found.status_code == 200
    assert [h["id"] for h in found.json["items"]] == [household.id]
    neighbour = factory.actor("grid_worker", grids=("G2",))
    assert client.post("/api/v1/households/lookup", json={"phone": PHONE},
                       headers=neighbour.headers).json["items"] == []
    dispatcher = factory.actor("dispatcher")
    assert client.post("/api/v1/households/lookup", json={"phone": PHONE},
                       headers=dispatcher.headers).status_code == 403


def test_key_rotation_keeps_every_value_readable(app, household, db):
    from server.services.field_keys import rotate_field_keys

    old_token = _raw(db, "phone")
    new_key = generate_key()
    old_cipher = field_cipher()
    # Step 1: the new key first, the old one still listed (what the servers restart with).
    app.config["FIELD_KEYS"] = f"{new_key},{_current_key(app)}"
    app.extensions.pop("gridwork_field_cipher")
    db.session.expire_all()
    assert db.session.get(Household, household.id).phone == PHONE
    # Step 2: rotate; every token is now under the new key.
    assert rotate_field_keys(db.session) == 1
    assert _raw(db, "phone") != old_token
    # Step 3: the old key removed; everything still reads.
    app.config["FIELD_KEYS"] = new_key
    app.extensions.pop("gridwork_field_cipher")
    db.session.expire_all()
    assert db.session.get(Household, household.id).phone == PHONE
    # And the old key alone cannot read the rotated data.
    with pytest.raises(FieldKeyError):
        old_cipher.decrypt(_raw(db, "phone"))
    app.config.pop("FIELD_KEYS")
    app.extensions.pop("gridwork_field_cipher")
    db.session.expire_all()


def _current_key(app) -> str:
    """The key derived from SECRET_KEY when FIELD_KEYS is unset."""
    import base64

    from server.crypto import _derive

    return base64.urlsafe_b64encode(_derive(app.config["SECRET_KEY"], b"field-encryption")).decode()
