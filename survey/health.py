"""``/healthz``: answers "ok" without touching the database, for load balancers and as the load
benchmark's floor (the cheapest request the same app can serve)."""

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def show_health():
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
