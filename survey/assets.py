"""Static files with long-lived fingerprinted addresses, and compressed responses.

Every ``url_for("static", filename=…)`` gets ``?v=<content hash>``. A request carrying the hash of
the file as it is now is answered ``Cache-Control: public, max-age=31536000, immutable``: a kiosk
or phone loads the stylesheet and script once, and a new release changes the address. Any other
static request (no hash, or the hash of an older release) is served ``no-cache``, so it is
revalidated (ETag, 304) and never pinned to stale content.

Responses are compressed (Flask-Compress: zstd, brotli, gzip or deflate, as the client accepts),
except HTML pages of the rating and manager blueprints: they carry a CSRF token (and a kiosk page
its secret address) next to query arguments reflected into the page, which is what the BREACH
attack needs to read a secret from compressed sizes. Their pages are small; the assets they load
are compressed and cached.
"""

from __future__ import annotations

import hashlib
import os
from threading import Lock

from flask import Flask, Response, request
from werkzeug.security import safe_join

from survey.extensions import compress

#: Fingerprinted static files are kept by browsers and proxies for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: Blueprints whose HTML holds per-visitor secrets beside reflected input (see the module docstring).
UNCOMPRESSED_HTML_BLUEPRINTS = frozenset({"rating", "manager"})

_fingerprints: dict[str, tuple[int, int, str]] = {}
_lock = Lock()


def static_fingerprint(static_folder: str, filename: str) -> str | None:
    """A short hash of the file's content; recomputed only when its size or mtime changes."""
    path = safe_join(static_folder, filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except (OSError, ValueError):  # ValueError: an embedded NUL byte in a crafted path
        return None
    cached = _fingerprints.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    with _lock:
        _fingerprints[path] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_REGISTER", False)  # compressed by our own hook below, with the policy
    compress.init_app(app)

    @app.url_defaults
    def fingerprint_static_urls(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and app.static_folder:
            fingerprint = static_fingerprint(app.static_folder, values.get("filename", ""))
            if fingerprint:
                values["v"] = fingerprint

    @app.after_request
    def cache_and_compress(response: Response) -> Response:
        if request.endpoint == "static":
            _static_caching(app, response)
        if response.mimetype == "text/html" and request.blueprint in UNCOMPRESSED_HTML_BLUEPRINTS:
            return response
        return compress.after_request(response)


def _static_caching(app: Flask, response: Response) -> None:
    filename = (request.view_args or {}).get("filename", "")
    current = static_fingerprint(app.static_folder, filename) if app.static_folder else None
    immutable = current is not None and request.args.get("v") == current
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    if response.status_code in (200, 304) and response.direct_passthrough:
        # Read the (small) file now, so it is compressed whole (streamed bodies would not be gzipped);
        # a 304 sends no body at all.
        source = response.response
        try:
            data = b"".join(source) if response.status_code == 200 else b""
        finally:
            if hasattr(source, "close"):
                source.close()
        response.direct_passthrough = False
        response.response = [data]
