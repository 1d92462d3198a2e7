"""Security headers on every answer: a strict CSP, no sniffing, no framing."""

from __future__ import annotations

from flask import Flask, Response, request

__all__ = ["install_security_headers", "CONTENT_SECURITY_POLICY"]

# No inline scripts anywhere; styles may be inline because Leaflet and ECharts set element
# styles from JavaScript. Map tiles come from the configured tile host only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _tile_origin(template: str | None) -> str:
    if not template or "://" not in template:
        return ""
    scheme, rest = template.split("://", 1)
    host = rest.split("/", 1)[0]
    # Tile hosts often use {s} subdomains: allow them with a wildcard.
    host = host.replace("{s}.", "*.").replace("{s}", "*")
    return f" {scheme}://{host}"


def install_security_headers(app: Flask) -> None:
    """Add the headers in an after_request hook."""
    policy = CONTENT_SECURITY_POLICY.format(tiles=_tile_origin(app.config.get("MAP_TILE_URL")))

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        return response
