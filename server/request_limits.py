"""Our own 414 and 431 for a request line or headers too long, as problem+json under /api/.

gunicorn refuses a request line or a header over its limits itself, with an HTML page: an
answer outside the API's contract. ``gridwork serve`` therefore starts gunicorn with limits
above the app's (``GUNICORN_LIMITS``), and the app refuses at gunicorn's old defaults, in
the API's own language. Only a request over gunicorn's raised limits (a request line over
8190 bytes, gunicorn's ceiling, or a header over 64 kB) still gets gunicorn's HTML.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge

__all__ = ["MAX_REQUEST_LINE", "MAX_HEADER_FIELD", "MAX_HEADER_FIELDS", "GUNICORN_LIMITS",
           "check_request_size", "install_request_limits"]

# The app's limits: gunicorn's defaults, which clients and proxies already live within.
MAX_REQUEST_LINE = 4094  # bytes of "GET /path?query HTTP/1.1"
MAX_HEADER_FIELD = 8190  # bytes of one "Name: value" line
MAX_HEADER_FIELDS = 100

# gunicorn's, for ``gridwork serve``: above the app's, so the app decides. 8190 is the most
# gunicorn allows for the request line; 64 kB a header takes in a tus Upload-Metadata with a
# hostile 10,000-character file name. gunicorn buffers at most fields x field size (8 MB),
# less than one request body may be.
GUNICORN_LIMITS = ("--limit-request-line", "8190",
                   "--limit-request-field_size", "65536",
                   "--limit-request-fields", "128")


def _request_line_bytes() -> int:
    environ = request.environ
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri is None:
        query = environ.get("QUERY_STRING", "")
        uri = quote(environ.get("PATH_INFO", "")) + (f"?{query}" if query else "")
    return len(f"{request.method} {uri} {environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}")


def check_request_size() -> None:
    """Refuse a request whose line or headers are over the app's limits (414, 431)."""
    if _request_line_bytes() > MAX_REQUEST_LINE:
        raise RequestURITooLarge(
            f"The request line is over {MAX_REQUEST_LINE} bytes: send long data in the body.")
    fields = 0
    for name, value in request.headers.items():
        fields += 1
        if len(name) + 2 + len(value) > MAX_HEADER_FIELD:
            raise RequestHeaderFieldsTooLarge(
                f"The {name} header is over {MAX_HEADER_FIELD} bytes.")
    if fields > MAX_HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge(f"The request has over {MAX_HEADER_FIELDS} headers.")


def install_request_limits(app: Flask) -> None:
    """Check every request's line and headers before any other hook or view reads them."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_size)
