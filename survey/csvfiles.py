"""Reading the CSV files people upload (the procedure catalogue, transactions): UTF-8 text, a
spreadsheet's byte-order mark allowed, as lines for :mod:`csv`; and the error a file that cannot be
read as a whole raises, with a stable ``code`` and a ``message`` for a person."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class CsvFileError(ValueError):
    """The file as a whole cannot be read; ``message`` says why to a person, ``code`` to a program."""

    def __init__(self, code: str, message):
        super().__init__(code)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def decode_lines(data: bytes, *, max_bytes: int | None = None) -> list[str]:
    """``data`` as lines (ends kept, for :mod:`csv`): UTF-8, a leading byte-order mark dropped. Raises
    :class:`CsvFileError` ``too_large`` (over ``max_bytes``) or ``bad_encoding``."""
    if max_bytes is not None and len(data) > max_bytes:
        raise CsvFileError("too_large", _l("The file is larger than %(mb)d MB.", mb=max_bytes // 2**20))
    try:
        return data.decode("utf-8-sig").splitlines(keepends=True)
    except UnicodeDecodeError:
        raise CsvFileError("bad_encoding", _l("The file must be UTF-8 text.")) from None
