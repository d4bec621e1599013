"""Compiling the message catalogs (``.po`` → ``.mo``) with Babel alone.

No Flask here: the wheel's build hook (``hatch_build.py``) loads this file directly, before the
package's dependencies exist. The app never writes into an installed package; in a source checkout
``survey compile-catalogs`` (or the first start, see :mod:`survey.i18n`) compiles them in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

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
