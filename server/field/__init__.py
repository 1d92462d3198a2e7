"""The grid worker's field app under /field/: an offline-first web app for the phone.

A static shell (HTML, one script bundle, a stylesheet, a photo-shrinking worker) that the
service worker keeps, talking to the JSON API with a bearer token, exactly as ``client_sync``
does (``docs/sync-protocol.md``). Its sources and build are in ``frontend/field/``.
"""

from server.field.views import bp, register_field

__all__ = ["bp", "register_field"]
