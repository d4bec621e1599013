"""An embeddable SVG badge per unit: the index with its interval, n and the period — always all three.

Drawn by hand (two rectangles and two lines of text, like the familiar README badges); the values
are the unit's public row, so a withheld unit's badge says so instead of showing a number.
"""

from __future__ import annotations

from html import escape

from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _

HEIGHT = 40
#: Average advance of the badge's 11 px system font, per character; generous, so text never overflows.
CHAR_WIDTH = 6.6


def _pct(value: float) -> str:
    return format_percent(value, "#,##0%")


def badge_text(row: dict | None, period: str, provisional: bool, min_n: int) -> tuple[str, str]:
    """``(headline, detail)``, e.g. ("Hài lòng 87% (83–90%)", "412 đánh giá · Quý 3/2026")."""
    n = int(row["n"]) if row else 0
    if row and row.get("publishable") and row.get("index") is not None:
        headline = _("Satisfied %(index)s (%(low)s–%(high)s)", index=_pct(row["index"]),
                     low=format_decimal(round(100 * row["ci_low"]), "#,##0"), high=_pct(row["ci_high"]))
    else:
        headline = _("Not enough ratings to publish (n < %(min_n)s)", min_n=min_n)
    detail = _("%(n)s ratings · %(period)s", n=format_decimal(n, "#,##0"), period=period)
    if provisional:
        detail += " · " + _("provisional")
    return headline, detail


def badge_svg(row: dict | None, period: str, provisional: bool, min_n: int) -> str:
    headline, detail = badge_text(row, period, provisional, min_n)
    label = _("Citizen satisfaction")
    label_width = round(len(label) * CHAR_WIDTH * 0.92 + 16)
    text_width = round(max(len(headline), len(detail)) * CHAR_WIDTH + 16)
    width = label_width + text_width
    title = f"{label}: {headline}, {detail}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{label_width}" height="{HEIGHT}" rx="4" fill="#1b1b1b"/>'
        f'<rect x="{label_width}" width="{text_width}" height="{HEIGHT}" rx="4" fill="#0b5cad"/>'
        f'<rect x="{label_width}" width="6" height="{HEIGHT}" fill="#0b5cad"/>'
        f'<g fill="#fff" font-family="system-ui,Segoe UI,Roboto,Noto Sans,Arial,sans-serif" font-size="11">'
        f'<text x="8" y="24" font-weight="700">{escape(label)}</text>'
        f'<text x="{label_width + 8}" y="17" font-weight="700">{escape(headline)}</text>'
        f'<text x="{label_width + 8}" y="32">{escape(detail)}</text>'
        f"</g></svg>"
    )
