"""Printable QR posters for the phone rating address of a counter or an office (SVG and PDF, A4/A5).

The code is made by segno (error correction H, so a scratched or sun-faded print still scans) and
drawn as one vector path from segno's own module matrix, with a quiet zone wider than the
standard's four modules. The text is set in DejaVu Sans, the font matplotlib ships in its mpl-data:
it has every Vietnamese letter, and the PDF embeds it (TrueType, subset), so the poster prints the
same on any machine with no download. The SVG keeps its text as text (small, searchable, readable
by screen readers) and names DejaVu Sans first, then common fonts with Vietnamese glyphs.

The poster is bilingual whatever the reader's language: it hangs in an office where both are read,
so its instruction is fixed Vietnamese and English text, not a translated string. This module never
imports Flask: callers give it the unit's names and the address (see :mod:`survey.manager.views`
and the ``survey poster`` command).
"""

from __future__ import annotations

import io
import re
import textwrap
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path

import matplotlib
import segno
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import PathPatch
from matplotlib.path import Path as DrawPath

# The PDF embeds the TrueType font (Type 42) so its text can be copied and searched; the SVG keeps
# text as <text> (the same value the charts set). Both are constants of this process, never toggled.
matplotlib.rcParams["pdf.fonttype"] = 42
matplotlib.rcParams["svg.fonttype"] = "none"

#: Paper sizes, portrait, in millimetres (ISO 216).
PAPER_MM = {"a4": (210.0, 297.0), "a5": (148.0, 210.0)}
FORMATS = ("pdf", "svg")
MEDIA_TYPES = {"pdf": "application/pdf", "svg": "image/svg+xml"}

#: The one-line instruction, in both languages on every poster.
INSTRUCTION_VI = "Quét mã để đánh giá mức độ hài lòng"
INSTRUCTION_EN = "Scan to rate our service"
#: Said under the address, for people who type it in instead of scanning.
ADDRESS_HINT = "Hoặc mở địa chỉ / Or open:"

#: Quiet zone around the code, in modules (the standard asks for at least 4).
QUIET_ZONE = 6
INK = "#000000"
MUTED = "#333333"

_MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
REGULAR = FontProperties(fname=_MPL_FONTS / "DejaVuSans.ttf")
BOLD = FontProperties(fname=_MPL_FONTS / "DejaVuSans-Bold.ttf", weight="bold")
SVG_FONTS = "'DejaVu Sans', 'Noto Sans', Arial, sans-serif"

MM_PER_INCH = 25.4
# matplotlib's fonts and figures share one global cache and state: draw one poster at a time.
_draw_lock = threading.Lock()


class PosterError(ValueError):
    """A poster that cannot be drawn as asked (unknown format or paper size)."""


@dataclass(frozen=True)
class PosterContent:
    """What a poster says: the office, the counter (if the code is a counter's) and the address."""

    office_name: str
    counter_name: str | None
    address: str


def make_qr(address: str) -> segno.QRCode:
    """The code on the poster: high error correction (about 30 % of it may be damaged)."""
    return segno.make(address, error="h", micro=False)


def poster(content: PosterContent, *, kind: str = "pdf", size: str = "a4") -> bytes:
    """The poster as a PDF or SVG document of one page, ``size`` ("a4" or "a5") portrait."""
    if kind not in FORMATS:
        raise PosterError(f"unknown poster format {kind!r}; use pdf or svg")
    if size not in PAPER_MM:
        raise PosterError(f"unknown paper size {size!r}; use a4 or a5")
    with _draw_lock:
        fig = _draw(content, size)
        buffer = io.BytesIO()
        if kind == "pdf":
            fig.savefig(buffer, format="pdf", metadata={
                "Title": _title(content), "Creator": None, "Producer": None, "CreationDate": None})
            return buffer.getvalue()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _tidy_svg(buffer.getvalue().decode(), content).encode()


def file_name(unit_code: str, kind: str, size: str) -> str:
    """A download name such as ``poster-HN-TTHCC-Q01-a4.pdf`` (unit codes are letters, digits, - and _)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", unit_code)
    return f"poster-{safe}-{size}.{kind}"


def _title(content: PosterContent) -> str:
    place = content.office_name if not content.counter_name else f"{content.office_name} · {content.counter_name}"
    return f"{place} — {INSTRUCTION_VI} / {INSTRUCTION_EN}"


def _draw(content: PosterContent, size: str) -> Figure:
    width_mm, height_mm = PAPER_MM[size]
    fig = Figure(figsize=(width_mm / MM_PER_INCH, height_mm / MM_PER_INCH))
    # One axes over the whole page, in millimetres from the top-left corner: layout reads like a ruler.
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width_mm)
    ax.set_ylim(height_mm, 0)
    ax.set_axis_off()
    # A5 is A4 shrunk by 1/√2: every length and font size follows the page width.
    unit = width_mm / PAPER_MM["a4"][0]
    centre = width_mm / 2
    margin = 16 * unit

    y = margin + 4 * unit
    y = _centred_lines(ax, content.office_name, centre, y, 26 * unit, BOLD, INK, width_chars=28)
    if content.counter_name:
        y = _centred_lines(ax, content.counter_name, centre, y + 3 * unit, 19 * unit, REGULAR, INK, width_chars=32)
    y += 10 * unit
    y = _centred_lines(ax, INSTRUCTION_VI, centre, y, 20 * unit, BOLD, INK, width_chars=40)
    y = _centred_lines(ax, INSTRUCTION_EN, centre, y + 1 * unit, 17 * unit, REGULAR, MUTED, width_chars=40)

    # The code takes the width left after the margins, but stops short of the address below it.
    qr = make_qr(content.address)
    footer = 46 * unit
    side = min(width_mm - 2 * margin, height_mm - footer - y - 4 * unit)
    _draw_qr(ax, qr, centre - side / 2, y + 4 * unit, side)

    y = y + 4 * unit + side + 2 * unit
    y = _centred_lines(ax, ADDRESS_HINT, centre, y, 11 * unit, REGULAR, MUTED, width_chars=60)
    _centred_lines(ax, content.address, centre, y + 1 * unit, 14 * unit, BOLD, INK, width_chars=44, split_anywhere=True)
    return fig


def _centred_lines(ax, text: str, x: float, top: float, points: float, font: FontProperties, colour: str, *,
                   width_chars: int, split_anywhere: bool = False) -> float:
    """Write ``text`` centred at ``x`` below ``top`` (mm), wrapped to ``width_chars``; the y below it."""
    line_mm = points * MM_PER_INCH / 72 * 1.25
    if split_anywhere:  # an address has no spaces: break it after a "/" or ".", never inside a part
        lines = _address_lines(text, width_chars)
    else:
        lines = _balanced_wrap(" ".join(text.split()), width_chars)
    for number, line in enumerate(lines):
        ax.text(x, top + (number + 0.8) * line_mm, line, ha="center", va="baseline", fontproperties=font,
                fontsize=points, color=colour)
    return top + len(lines) * line_mm


def _address_lines(address: str, width: int) -> list[str]:
    """``address`` in lines of at most ``width`` characters, broken only after a "/" or a "." so that no
    part (a host name label, the office's code with its hyphens) is split and typed wrong; a single part
    longer than a line is the only thing ever cut."""
    parts = re.findall(r"[^/.]*[/.]|[^/.]+$", address)
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        while len(part) > width:  # longer than a whole line on its own
            lines.append(part[:width])
            part = part[width:]
        line += part
    if line or not lines:
        lines.append(line)
    return lines


def _balanced_wrap(text: str, width: int) -> list[str]:
    """As few lines as ``width`` allows, of even length (no lone last word under a long first line)."""
    lines = textwrap.wrap(text, width, break_long_words=True) or [""]
    while width > 1:
        narrower = textwrap.wrap(text, width - 1, break_long_words=True)
        if len(narrower) > len(lines):
            break
        lines, width = narrower, width - 1
    return lines


def _draw_qr(ax, qr: segno.QRCode, left: float, top: float, side: float) -> None:
    """The code's dark modules as one filled path (no seams between modules), ``side`` mm square
    including the quiet zone."""
    modules = qr.symbol_size(scale=1, border=QUIET_ZONE)[0]
    cell = side / modules
    vertices, codes = [], []
    for row, line in enumerate(qr.matrix_iter(scale=1, border=QUIET_ZONE)):
        column = 0
        cells = list(line)
        while column < len(cells):
            if not cells[column]:
                column += 1
                continue
            start = column
            while column < len(cells) and cells[column]:
                column += 1
            x0, x1 = left + start * cell, left + column * cell
            y0, y1 = top + row * cell, top + (row + 1) * cell
            vertices += [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            codes += [DrawPath.MOVETO, DrawPath.LINETO, DrawPath.LINETO, DrawPath.LINETO, DrawPath.CLOSEPOLY]
    ax.add_patch(PathPatch(DrawPath(vertices, codes), facecolor=INK, edgecolor="none", linewidth=0,
                           antialiased=False))


def _tidy_svg(text: str, content: PosterContent) -> str:
    """matplotlib's SVG with an accessible title, our font list, and presentation attributes instead
    of ``style`` (the site's Content-Security-Policy refuses inline styles, so a style attribute would
    be ignored when a manager opens the poster in the browser; attributes are not styles)."""
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"\s*<defs>\s*<style[^>]*>.*?</style>\s*</defs>", "", text, flags=re.S)
    text = re.sub(r"font-family: [^;\"]*", f"font-family: {SVG_FONTS}", text)
    text = re.sub(r' style="([^"]*)"', _as_attributes, text)
    head = re.search(r"<svg[^>]*>", text).group(0)
    opening = head.replace("<svg", '<svg role="img" aria-labelledby="poster-title"', 1)
    title = f'<title id="poster-title">{escape(_title(content))}</title>'
    return text.replace(head, opening + title, 1)


def has_poster(unit) -> bool:
    """Whether ``unit`` (a :class:`survey.models.Unit`) gets a poster: an open office or counter,
    the places the phone rating address ``/r/<code>`` accepts."""
    return unit.level in ("office", "counter") and unit.valid_to is None


def content_for(unit, address: str) -> PosterContent:
    """The poster of ``unit`` (an office, or a counter with its office), in Vietnamese names."""
    if unit.level == "counter":
        return PosterContent(unit.parent.name("vi"), unit.name("vi"), address)
    return PosterContent(unit.name("vi"), None, address)


def _as_attributes(match: re.Match) -> str:
    """``style="fill: #000; font-size: 12px"`` → `` fill="#000" font-size="12px"``."""
    pairs = (item.split(":", 1) for item in match.group(1).split(";") if ":" in item)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)
