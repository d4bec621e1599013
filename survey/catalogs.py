"""Compiling the message catalogs (``.po`` → ``.mo``) with Babel alone.

No Flask here: the wheel's build hook (``hatch_build.py``) loads this file directly, before the
package's dependencies exist. The app never writes into an installed package; in a source checkout
``survey compile-catalogs`` (or the first start, see :mod:`survey.i18n`) compiles them in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

#: The catalogs shipped inside the package: ``messages.pot`` and ``<lang>/LC_MESSAGES/messages.po``.
CATALOG_DIR = Path(__file__).resolve().parent / "translations"


def po_files(source: Path = CATALOG_DIR) -> list[Path]:
    return sorted(source.glob("*/LC_MESSAGES/messages.po"))


def stale_catalogs(source: Path = CATALOG_DIR) -> list[Path]:
    """The ``.po`` files whose ``.mo`` beside them is missing or older."""
    return [
        po for po in po_files(source)
        if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]


def compile_catalog(po_path: Path, mo_path: Path) -> None:
    """Write ``mo_path`` atomically: readers (other workers) see the old file or the new one, never half."""
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file)
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, prefix=".messages-", suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def compile_catalogs(source: Path = CATALOG_DIR, target: Path | None = None, *, only_stale: bool = True) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` under ``source`` into the same layout under
    ``target`` (default: beside the ``.po``); return the ``.mo`` files written."""
    written = []
    for po in (stale_catalogs(source) if only_stale and target is None else po_files(source)):
        mo = (target / po.relative_to(source)).with_suffix(".mo") if target is not None else po.with_suffix(".mo")
        compile_catalog(po, mo)
        written.append(mo)
    return written


def catalog_languages(source: Path = CATALOG_DIR, default: str = "vi") -> dict[str, str]:
    """``{code: name}`` for every catalog present, the default first, each named in its own language."""
    codes = sorted(po.parent.parent.name for po in po_files(source))
    codes.sort(key=lambda code: code != default)
    return {code: language_name(code) for code in codes}


def language_name(code: str) -> str:
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def add_language(code: str, source: Path = CATALOG_DIR) -> Path:
    """Create ``<code>/LC_MESSAGES/messages.po`` from ``messages.pot`` (untranslated entries fall back to
    the msgid) and return its path. Refuses a code Babel does not know and an existing catalog."""
    try:
        locale = Locale.parse(code)
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"Babel does not know the locale {code!r}") from exc
    if str(locale) != code:
        raise ValueError(f"Write the locale as Babel does: {str(locale)!r}, not {code!r}")
    po_path = source / code / "LC_MESSAGES" / "messages.po"
    if po_path.exists():
        raise FileExistsError(f"{po_path} exists already")
    with (source / "messages.pot").open("rb") as pot_file:
        catalog = read_po(pot_file, locale=locale)
    catalog.locale = locale
    catalog.revision_date = catalog.creation_date
    catalog.fuzzy = False  # the header is complete; a fuzzy header would drop the plural rule from the .mo
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as po_file:
        write_po(po_file, catalog, width=100)
    compile_catalog(po_path, po_path.with_suffix(".mo"))
    return po_path
