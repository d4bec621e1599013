"""Reading a results request (``level``, ``period``, ``questionnaire``, ``unit``…) from query arguments.

Shared by the public pages and the open-data API, so both accept exactly the same requests and
answer with the same numbers. Bad values raise :class:`~survey.results.service.ResultsError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

import analysis
from survey.results.service import LEVELS, ResultsError, last_complete_quarter, parse_period
from survey.results.tree import unit_tree

FORMATS = ("json", "csv")


@dataclass(frozen=True)
class ResultsQuery:
    period: str
    level: str = "province"
    questionnaire: str = "default"
    #: A unit code: only rows at or under it (the numbers stay those of the whole level).
    unit: str | None = None
    revision: int | None = None

    def as_args(self, **changes) -> dict[str, str]:
        """Query arguments that ask for the same results (for links and forms)."""
        values = {"level": self.level, "period": self.period, "questionnaire": self.questionnaire,
                  "unit": self.unit, "revision": self.revision, **changes}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def parse_query(args: Mapping[str, str], *, default_level: str = "province") -> ResultsQuery:
    period = (args.get("period") or "").strip() or last_complete_quarter()
    label = analysis.period_label(parse_period(period))
    level = (args.get("level") or default_level).strip()
    if level not in LEVELS:
        raise ResultsError("bad_level", _l("Unknown level %(level)s; use province, commune or office.",
                                           level=level[:40]))
    questionnaire = (args.get("questionnaire") or "default").strip()[:64]
    unit = (args.get("unit") or "").strip() or None
    if unit is not None and unit not in unit_tree().by_code:
        raise ResultsError("unknown_unit", _l("There is no unit with the code %(code)s.", code=unit[:64]))
    revision = (args.get("revision") or "").strip() or None
    if revision is not None:
        if not revision.isdigit() or not 0 < int(revision) < 10**6:
            raise ResultsError("bad_revision", _l("A revision is a whole number from 1."))
        revision = int(revision)
    return ResultsQuery(label, level, questionnaire, unit, revision)
