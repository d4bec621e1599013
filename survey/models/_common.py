"""Small helpers shared by the model modules."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC now: timestamps are stored naive-UTC so SQLite and PostgreSQL compare them alike."""
    return datetime.now(UTC).replace(tzinfo=None)


class Bilingual:
    """Mixin for rows with ``<field>_vi`` / ``<field>_en`` columns: Vietnamese is the fallback."""

    def localized(self, field: str, locale: str | None) -> str:
        if locale and not locale.startswith("vi"):
            text = getattr(self, f"{field}_en", None)
            if text:
                return text
        return getattr(self, f"{field}_vi")
