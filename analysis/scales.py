"""Every answer scale the product ships, with its labels and its "satisfied" level: the one source
of truth read by the questionnaire templates (``survey.questionnaires.templates``), by the
statistics (:data:`analysis.indices.FIVE_LEVEL` and the others are built from here) and checked
against the methodology's table (``docs/methodology.md`` §1.2 / §2.2) by the tests.

A scale's ``satisfied_from`` is the lowest level counted as "satisfied" in a satisfaction index:
the top two levels of every satisfaction and agreement scale (as SIPAS publishes its elements), and
"1 point or more" on the 0–2 criterion scales of Circular 01/2018/TT-VPCP (the criterion is met at
least at the level the law sets as the norm: on time, one contact, ...). The official scoring of those
criteria is the mean of the points (:mod:`analysis.dossier`), not this share; the share is offered
beside it. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCALES", "ScaleDefinition", "ScalePointDefinition", "scale_definition"]


@dataclass(frozen=True)
class ScalePointDefinition:
    value: int
    label_vi: str
    label_en: str


@dataclass(frozen=True)
class ScaleDefinition:
    code: str
    #: Lowest level counted as satisfied (or, on a 0–2 criterion, as met).
    satisfied_from: int
    points: tuple[ScalePointDefinition, ...]
    #: Where the wording comes from; empty for the product's own wording.
    source: str = ""

    def __post_init__(self):
        values = [p.value for p in self.points]
        if values != list(range(min(values), max(values) + 1)):
            raise ValueError(f"scale {self.code}: levels must be consecutive integers, lowest first")
        if not min(values) < self.satisfied_from <= max(values):
            raise ValueError(f"scale {self.code}: satisfied_from must lie above the lowest level")

    @property
    def low(self) -> int:
        return self.points[0].value

    @property
    def high(self) -> int:
        return self.points[-1].value

    @property
    def satisfied_values(self) -> tuple[int, ...]:
        return tuple(p.value for p in self.points if p.value >= self.satisfied_from)


def _scale(code: str, satisfied_from: int, points, source: str = "") -> ScaleDefinition:
    return ScaleDefinition(code, satisfied_from, tuple(ScalePointDefinition(*p) for p in points), source)


C01 = "Thông tư 01/2018/TT-VPCP, Điều 13–15 (Circular 01/2018/TT-VPCP, Art. 13–15)"
#: Where the point wording of the ``c01-2018-index-*`` scales was checked word for word, and when.
C01_CHECKED = ("Pháp điển hệ thống quy phạm pháp luật, Điều 3.3.TT.34.13 (= Điều 13 Thông tư 01/2018/TT-VPCP, "
               "hiệu lực từ 06/01/2019), đối chiếu ngày 2026-11-24")
SDG = "UN SDG indicator 16.6.2 (UNDP/Oslo Governance Centre, 2020 metadata)"

_DEFINITIONS = [
    _scale("satisfaction-5", 4, [
        (1, "Rất không hài lòng", "Very dissatisfied"),
        (2, "Không hài lòng", "Dissatisfied"),
        (3, "Bình thường", "Neutral"),
        (4, "Hài lòng", "Satisfied"),
        (5, "Rất hài lòng", "Very satisfied"),
    ]),
    _scale("satisfaction-3", 2, [
        (1, "Không hài lòng", "Not satisfied"),
        (2, "Hài lòng", "Satisfied"),
        (3, "Rất hài lòng", "Very satisfied"),
    ]),
    # Dossier questionnaire version 1 only (invented labels, kept for the ratings that answered it).
    _scale("criterion-0-2", 1, [
        (0, "Không đạt", "Not met"),
        (1, "Đạt một phần", "Partly met"),
        (2, "Đạt", "Fully met"),
    ]),
    _scale("agreement-5", 4, [
        (1, "Hoàn toàn không đồng ý", "Strongly disagree"),
        (2, "Không đồng ý", "Disagree"),
        (3, "Không có ý kiến", "Neither agree nor disagree"),
        (4, "Đồng ý", "Agree"),
        (5, "Hoàn toàn đồng ý", "Strongly agree"),
    ]),
    # Circular 01/2018/TT-VPCP: each index has its own wording for 2, 1 and 0 points. These four were the
    # dossier questionnaire's version 2 (index 4's lower levels and index 7 as remembered, not the text);
    # kept unchanged for the ratings that answered them (labels of a stored scale are never edited).
    _scale("c01-index-1", 1, [
        (0, "Tổng thời gian dài hơn so với quy định", "Longer than the legal time limit"),
        (1, "Tổng thời gian bằng so với quy định", "Equal to the legal time limit"),
        (2, "Tổng thời gian ngắn hơn so với quy định", "Shorter than the legal time limit"),
    ], C01),
    _scale("c01-index-3", 1, [
        (0, "Phải liên hệ hơn một lần để hoàn thiện hồ sơ (trừ khi do lỗi của người nộp hồ sơ)",
         "More than once to complete the dossier (unless the applicant was at fault)"),
        (1, "Chỉ phải liên hệ một lần để hoàn thiện hồ sơ", "Only once to complete the dossier"),
        (2, "Không phải liên hệ lần nào để hoàn thiện hồ sơ", "Not once to complete the dossier"),
    ], C01),
    _scale("c01-index-4", 1, [
        (0, "Phải liên hệ với hai cơ quan, đơn vị, tổ chức trở lên", "Two or more agencies or organisations"),
        (1, "Phải liên hệ với một cơ quan, đơn vị, tổ chức", "One agency or organisation"),
        (2, "Không phải liên hệ với cơ quan, đơn vị, tổ chức nào", "No agency or organisation"),
    ], C01 + "; version 2 wording, not the official text"),
    _scale("c01-index-7", 1, [
        (0, "Gây phiền hà, sách nhiễu", "Caused trouble or harassed"),
        (1, "Chưa nhiệt tình, chưa chu đáo", "Not helpful or attentive enough"),
        (2, "Lịch sự, nhiệt tình, chu đáo", "Polite, helpful and attentive"),
    ], C01 + "; version 2 wording, not the official text"),
    # The official wording of Art. 13 (clauses 1, 3, 4, 7), checked word for word (C01_CHECKED): the
    # dossier questionnaire's version 3. Shortened only where the meaning stays exact; docs/methodology.md
    # quotes the full text (e.g. index 4's addition for field checks and appraisal councils).
    _scale("c01-2018-index-1", 1, [
        (0, "Tổng thời gian dài hơn so với quy định", "The total time was longer than the legal limit"),
        (1, "Tổng thời gian bằng thời gian quy định", "The total time was equal to the legal limit"),
        (2, "Tổng thời gian ngắn hơn so với quy định", "The total time was shorter than the legal limit"),
    ], C01),
    _scale("c01-2018-index-3", 1, [
        (0, "Phải hơn một lần liên hệ với nơi tiếp nhận hồ sơ để hoàn thiện hồ sơ (trừ trường hợp do lỗi "
            "của người nộp hồ sơ)",
         "More than once had to contact the receiving office to complete the dossier (unless the applicant "
         "was at fault)"),
        (1, "Chỉ phải một lần liên hệ với nơi tiếp nhận hồ sơ để hoàn thiện hồ sơ",
         "Had to contact the receiving office only once to complete the dossier"),
        (2, "Không phải liên hệ với nơi tiếp nhận hồ sơ lần nào để hoàn thiện hồ sơ",
         "Did not have to contact the receiving office at all to complete the dossier"),
    ], C01),
    _scale("c01-2018-index-4", 1, [
        (0, "Phải liên hệ với hơn một cơ quan, đơn vị, tổ chức",
         "Had to contact more than one agency, unit or organisation"),
        (1, "Phải liên hệ với một cơ quan, đơn vị, tổ chức là Bộ phận Một cửa",
         "Had to contact one body: the one-stop unit (Bộ phận Một cửa)"),
        (2, "Không phải liên hệ với cơ quan, đơn vị, tổ chức nào để hoàn thiện hồ sơ",
         "Did not have to contact any agency, unit or organisation to complete the dossier"),
    ], C01),
    _scale("c01-2018-index-7", 1, [
        (0, "Có ý kiến phản ánh, kiến nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà, không thực hiện "
            "hoặc thực hiện không đúng quy định pháp luật",
         "There is a complaint or petition about harassing or troublesome behaviour or attitude, or about "
         "not acting or acting against the law"),
        (1, "Tiếp nhận, xử lý, trả kết quả hồ sơ đúng thời hạn quy định và không có ý kiến phản ánh, kiến "
            "nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà",
         "Received, handled and returned on time, with no complaint or petition about harassing or "
         "troublesome behaviour or attitude"),
        (2, "Tiếp nhận, xử lý, trả kết quả hồ sơ sớm hơn thời hạn quy định và không có ý kiến phản ánh, "
            "kiến nghị về hành vi, thái độ nhũng nhiễu, gây phiền hà",
         "Received, handled and returned earlier than the time limit, with no complaint or petition about "
         "harassing or troublesome behaviour or attitude"),
    ], C01),
    # UN SDG 16.6.2: four points without a midpoint; the top two count as satisfied.
    _scale("sdg-agreement-4", 3, [
        (1, "Rất không đồng ý", "Strongly disagree"),
        (2, "Không đồng ý", "Disagree"),
        (3, "Đồng ý", "Agree"),
        (4, "Rất đồng ý", "Strongly agree"),
    ], SDG),
    _scale("sdg-satisfaction-4", 3, [
        (1, "Rất không hài lòng", "Very dissatisfied"),
        (2, "Không hài lòng", "Dissatisfied"),
        (3, "Hài lòng", "Satisfied"),
        (4, "Rất hài lòng", "Very satisfied"),
    ], SDG),
]

#: code → definition, in the order above.
SCALES: dict[str, ScaleDefinition] = {s.code: s for s in _DEFINITIONS}


def scale_definition(code: str) -> ScaleDefinition:
    try:
        return SCALES[code]
    except KeyError:
        raise LookupError(f"no scale {code!r}; known: {', '.join(SCALES)}") from None
