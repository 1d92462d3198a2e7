"""OpenRosa 1.0: ODK Collect, KoboCollect and Enketo as phone apps for visits and reports.

A facade over the services the JSON API uses (``server/services``): the same users, roles
and scopes, the same replay rules (an instance's ``meta/instanceID`` is the record's
``client_uuid``) and the same flags. ``docs/odk.md`` says how a community sets Collect up.
"""

from __future__ import annotations

from flask import Flask

__all__ = ["register_openrosa"]


def register_openrosa(app: Flask) -> None:
    """Register the ``/openrosa`` blueprint on ``app``."""
    from server.openrosa.views import bp

    app.register_blueprint(bp)
