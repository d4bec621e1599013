"""Small helpers shared by the model modules."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC now: timestamps are stored naive-UTC so SQLite and PostgreSQL compare them alike."""
    return datetime.now(UTC).replace(tzinfo=None)


#: Message context of the questionnaire texts in the catalogs (``msgctxt "questionnaire"``).
QUESTIONNAIRE_CONTEXT = "questionnaire"


class Bilingual:
    """Mixin for rows with ``<field>_vi`` / ``<field>_en`` columns: Vietnamese is the fallback.

    A class that sets ``translated_by_catalog`` (the questionnaire texts) is shown in any other language
    through that language's catalog, its English text being the msgid under the ``questionnaire``
    context; untranslated, it stays English."""

    translated_by_catalog = False

    def localized(self, field: str, locale: str | None) -> str:
        if locale and not locale.startswith("vi"):
            text = getattr(self, f"{field}_en", None)
            if text:
                if self.translated_by_catalog and not locale.startswith("en"):
                    return catalog_text(text, locale)
                return text
        return getattr(self, f"{field}_vi")


def catalog_text(english: str, locale: str) -> str:
    """``english`` as the ``locale`` catalog translates it under the questionnaire context (outside an
    app, or untranslated: ``english``)."""
    from flask import has_app_context

    if not has_app_context():
        return english
    from flask_babel import force_locale, pgettext

    with force_locale(locale):
        return str(pgettext(QUESTIONNAIRE_CONTEXT, english))
