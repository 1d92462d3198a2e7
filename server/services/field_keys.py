"""Re-encrypting the sensitive fields under the newest field key (key rotation)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.crypto import field_cipher
from server.models import Household
from server.transactions import unit_of_work

__all__ = ["rotate_field_keys"]


def rotate_field_keys(session: Session, *, batch: int = 1000) -> int:
    """Rewrite every household's phone and ID number under the newest key; return the count.

    Reading works with any configured key, so the server can keep running meanwhile. The
    phone hash is recomputed too, in case the lookup key changed with the field keys.
    """
    cipher = field_cipher()
    done, last_id = 0, 0
    while True:
        rows = session.execute(
            select(Household.id, Household.phone, Household.id_number)
            .where(Household.id > last_id).order_by(Household.id).limit(batch)).all()
        if not rows:
            return done
        with unit_of_work(session):  # a slice at a time: the server keeps running meanwhile
            for household_id, phone, id_number in rows:
                # Writing the plain values back encrypts them under the newest key.
                session.execute(update(Household).where(Household.id == household_id).values(
                    phone=phone, id_number=id_number, phone_hash=cipher.lookup_hash(phone)))
        done += len(rows)
        last_id = rows[-1][0]
