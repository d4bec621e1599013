"""The methodology page's text: ``docs/methodology.md`` rendered with markdown-it-py, one language at a time.

The document is bilingual: its top-level (``## ``) sections whose heading names a language
("Tiếng Việt", "English") belong to that language; every other section (the references, say)
is shown in both. The file ships inside the package (``survey/docs/methodology.md`` in the wheel,
see ``pyproject.toml``); from a source checkout it is read from ``docs/`` directly.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from markdown_it import MarkdownIt

PACKAGED = Path(__file__).resolve().parent.parent / "docs" / "methodology.md"
SOURCE = Path(__file__).resolve().parent.parent.parent / "docs" / "methodology.md"
LANGUAGE_MARKERS = {"vi": ("tiếng việt",), "en": ("english",)}


def methodology_path() -> Path:
    for path in (PACKAGED, SOURCE):
        if path.exists():
            return path
    raise FileNotFoundError("methodology.md is neither in the package (survey/docs/) nor in docs/")


def split_by_language(text: str, locale: str) -> str:
    """The preamble and the sections for ``locale`` (or for every language)."""
    parts = re.split(r"(?m)^(?=## )", text)
    other = [m for lang, markers in LANGUAGE_MARKERS.items() if lang != locale for m in markers]
    kept = []
    for part in parts:
        heading = part.splitlines()[0].lower() if part.startswith("## ") else ""
        if heading and any(marker in heading for marker in other):
            continue
        kept.append(part)
    return "".join(kept)


@functools.lru_cache(maxsize=8)
def _render(locale: str, mtime: float) -> str:
    text = methodology_path().read_text(encoding="utf-8")
    markdown = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    html = markdown.render(split_by_language(text, "en" if locale == "en" else "vi"))
    # The page's own <h1> is the title; the document's headings move one level down.
    html = re.sub(r"<(/?)h([1-5])>", lambda m: f"<{m[1]}h{int(m[2]) + 1}>", html)
    # Wide tables and formulas scroll inside their own box on a phone, reachable by keyboard.
    html = html.replace("<table>", '<div class="table-scroll" tabindex="0"><table>').replace(
        "</table>", "</table></div>")
    return html.replace("<pre>", '<pre tabindex="0">')


def render(locale: str) -> str:
    """HTML of the methodology in ``locale`` (raw HTML in the Markdown is escaped, not passed through)."""
    return _render(locale, methodology_path().stat().st_mtime)
