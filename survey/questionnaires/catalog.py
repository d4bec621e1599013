"""The questionnaire texts as catalog entries, so a new language translates them like any other string.

Questions, questionnaire titles and scale words are data with Vietnamese and English columns; in any
third language they are looked up in that language's catalog under the ``questionnaire`` context with
the English text as the msgid (:class:`survey.models._common.Bilingual`). This Babel extractor puts
every shipped text into ``messages.pot`` (``babel.cfg`` maps it to ``survey/questionnaires/templates.py``),
so ``survey add-language CODE`` gives the translator the questionnaires too.
"""

from __future__ import annotations

from collections.abc import Iterator

from survey.models._common import QUESTIONNAIRE_CONTEXT


def shipped_texts() -> list[tuple[str, str]]:
    """``(english, vietnamese)`` of every title, question and scale word the shipped templates install."""
    from survey.questionnaires.templates import SCALES, TEMPLATES

    texts: dict[str, str] = {}
    for title_vi, title_en, questions in TEMPLATES.values():
        texts.setdefault(title_en, title_vi)
        for _key, _scale, text_vi, text_en in questions:
            texts.setdefault(text_en, text_vi)
    for _satisfied_from, points in SCALES.values():
        for _value, label_vi, label_en in points:
            texts.setdefault(label_en, label_vi)
    return list(texts.items())


def extract_questionnaire_texts(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """Babel extraction method: one ``pgettext("questionnaire", english)`` entry per shipped text,
    with the Vietnamese text as the translator's comment."""
    for number, (english, vietnamese) in enumerate(shipped_texts(), start=1):
        yield number, "pgettext", (QUESTIONNAIRE_CONTEXT, english), [f"vi: {vietnamese}"]
