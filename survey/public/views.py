"""Public results: per-agency indices with intervals, fair comparison, open data, methodology."""

from flask import Blueprint, render_template

bp = Blueprint("public", __name__)


@bp.route("/")
def show_index():
    return render_template("public/index.html")


@bp.route("/results")
def show_results():
    # The results page is the next issue; until then it says so plainly.
    return render_template("public/coming_soon.html")
