"""The questionnaire templates the platform ships, and the function that installs them.

(a) ``default``: one overall question on Vietnam's five satisfaction levels, then the five
    elements the national satisfaction survey (SIPAS) measures, each optional.
(b) ``dossier``: the per-dossier evaluation of the one-stop mechanism as the law has it (version 3):
    the three-level overall rating that one-stop systems record, then the four indices Circular
    01/2018/TT-VPCP (Art. 13–15) collects from the citizen, 1, 3, 4 and 7, with the circular's wording
    for 2, 1 and 0 points, checked word for word (:mod:`analysis.dossier`; the other five come from
    transactions and units). Version 1 asked all nine with invented labels; version 2 had the right
    indices but index 4's lower levels and index 7 as remembered; their ratings keep them.
(c) ``sdg-16.6.2``: the UN SDG 16.6.2 instrument for government services: overall satisfaction and
    five attributes (accessibility, affordability, effective delivery, equal treatment, timeliness) on
    four points without a midpoint.
(d) ``us-cx``: the US federal post-transaction customer-experience questions (OMB Circular A-11
    §280) on a five-point agreement scale, to show the model is general.
"""

from __future__ import annotations

from sqlalchemy import select

from analysis.dossier import CITIZEN_INDICES
from analysis.scales import SCALES as SCALE_DEFINITIONS
from survey.extensions import db
from survey.models import Question, Questionnaire, Scale, ScalePoint
from survey.models._common import utcnow

#: code → (satisfied_from, [(value, label vi, label en)]), read from :mod:`analysis.scales`, the one source.
SCALES = {
    code: (definition.satisfied_from, [(p.value, p.label_vi, p.label_en) for p in definition.points])
    for code, definition in SCALE_DEFINITIONS.items()
}

#: code → (title vi, title en, [(key, scale, text vi, text en)]); the first question is the overall one.
#: The version of each template as shipped now: a changed template gets a new number and is installed
#: as a new version beside the old one, which is retired (its ratings keep pointing at it).
VERSIONS = {"default": 1, "dossier": 3, "sdg-16.6.2": 1, "us-cx": 1}
TEMPLATES = {
    "default": (
        "Đánh giá mức độ hài lòng", "Satisfaction rating",
        [
            ("overall", "satisfaction-5",
             "Ông/Bà hài lòng như thế nào với dịch vụ vừa nhận được?",
             "How satisfied are you with the service you just received?"),
            ("access", "satisfaction-5",
             "Tiếp cận dịch vụ (địa điểm, trang thiết bị, sự thuận tiện)",
             "Access to the service (location, facilities, convenience)"),
            ("procedure", "satisfaction-5",
             "Thủ tục hành chính (công khai, dễ hiểu, hồ sơ, phí)",
             "The administrative procedure (published, clear, paperwork, fees)"),
            ("civil_servant", "satisfaction-5",
             "Công chức trực tiếp giải quyết công việc",
             "The civil servant who handled your case"),
            ("result", "satisfaction-5",
             "Kết quả và thời gian giải quyết",
             "The result, and whether it came on time"),
            ("feedback", "satisfaction-5",
             "Tiếp nhận, xử lý góp ý, phản ánh, kiến nghị",
             "How feedback and complaints are received and handled"),
        ],
    ),
    "dossier": (
        "Đánh giá việc giải quyết hồ sơ thủ tục hành chính (theo Thông tư 01/2018/TT-VPCP)",
        "Evaluation of how a dossier was handled (Circular 01/2018/TT-VPCP)",
        [
            ("overall", "satisfaction-3",
             "Ông/Bà hài lòng như thế nào với việc giải quyết hồ sơ?",
             "How satisfied are you with how your dossier was handled?"),
            *[(index.key, index.scale, f"Chỉ số {index.number}. {index.title_vi}",
               f"Index {index.number}. {index.title_en}") for index in CITIZEN_INDICES],
        ],
    ),
    "sdg-16.6.2": (
        "Mức độ hài lòng với dịch vụ hành chính công (chỉ tiêu SDG 16.6.2)",
        "Satisfaction with government services (SDG indicator 16.6.2)",
        [
            ("overall", "sdg-satisfaction-4",
             "Nhìn chung, Ông/Bà hài lòng như thế nào với lần sử dụng dịch vụ vừa rồi?",
             "Overall, how satisfied were you with this use of the service?"),
            ("accessibility", "sdg-agreement-4",
             "Nơi cung cấp dịch vụ dễ tiếp cận (khoảng cách, giờ làm việc).",
             "The place providing the service was easy to reach (distance, opening hours)."),
            ("affordability", "sdg-agreement-4",
             "Phí, lệ phí của dịch vụ ở mức chi trả được.",
             "The fees for the service were affordable."),
            ("effective_delivery", "sdg-agreement-4",
             "Quy trình để nhận dịch vụ đơn giản, dễ hiểu.",
             "The process to obtain the service was simple and easy to understand."),
            ("equal_treatment", "sdg-agreement-4",
             "Mọi người đều được đối xử bình đẳng khi nhận dịch vụ này.",
             "Everyone is treated equally in receiving this service."),
            ("timeliness", "sdg-agreement-4",
             "Thời gian để nhận được dịch vụ là hợp lý.",
             "The time it took to obtain the service was reasonable."),
        ],
    ),
    "us-cx": (
        "Trải nghiệm dịch vụ (chuẩn A-11 của Hoa Kỳ)", "Customer experience (US OMB A-11 §280)",
        [
            ("satisfaction", "agreement-5",
             "Tôi hài lòng với dịch vụ đã nhận được.",
             "I am satisfied with the service I received."),
            ("trust", "agreement-5",
             "Lần giao dịch này làm tôi tin tưởng hơn vào cơ quan.",
             "This interaction increased my confidence in this agency."),
            ("effectiveness", "agreement-5",
             "Nhu cầu của tôi đã được giải quyết.",
             "My need was addressed."),
            ("ease", "agreement-5",
             "Tôi dễ dàng hoàn thành việc cần làm.",
             "It was easy to complete what I needed to do."),
            ("efficiency", "agreement-5",
             "Thời gian để hoàn thành việc cần làm là hợp lý.",
             "It took a reasonable amount of time to do what I needed to do."),
            ("equity_transparency", "agreement-5",
             "Tôi được đối xử công bằng và hiểu rõ những gì được yêu cầu.",
             "I was treated fairly and understood what was being asked of me."),
            ("employee", "agreement-5",
             "Nhân viên làm việc với tôi rất nhiệt tình giúp đỡ.",
             "Employees I interacted with were helpful."),
        ],
    ),
}


def install_scales() -> dict[str, Scale]:
    """Create the missing scales; bring every shipped scale's "satisfied" level to :mod:`analysis.scales`
    (labels and values of an existing scale are never edited: answers point at them)."""
    scales = {s.code: s for s in db.session.scalars(select(Scale))}
    for code, (satisfied_from, points) in SCALES.items():
        if code not in scales:
            scales[code] = Scale(
                code=code,
                satisfied_from=satisfied_from,
                points=[ScalePoint(value=v, label_vi=vi, label_en=en) for v, vi, en in points],
            )
            db.session.add(scales[code])
        elif scales[code].satisfied_from != satisfied_from:
            scales[code].satisfied_from = satisfied_from
    db.session.flush()
    return scales


def install_questionnaire_templates() -> list[Questionnaire]:
    """Create each template's shipped version (:data:`VERSIONS`) unless it or a newer one exists; older
    versions of that code are retired, never edited, so ratings keep the version they answered."""
    scales = install_scales()
    installed = []
    for code, (title_vi, title_en, questions) in TEMPLATES.items():
        version = VERSIONS[code]
        existing = db.session.scalars(select(Questionnaire).where(Questionnaire.code == code)).all()
        if any(q.version >= version for q in existing):
            continue
        for older in existing:
            older.retired_at = older.retired_at or utcnow()
        questionnaire = Questionnaire(
            code=code, version=version, title_vi=title_vi, title_en=title_en,
            questions=[
                Question(position=i, key=key, scale=scales[scale], text_vi=vi, text_en=en, is_overall=(i == 0))
                for i, (key, scale, vi, en) in enumerate(questions)
            ],
        )
        db.session.add(questionnaire)
        installed.append(questionnaire)
    db.session.flush()
    return installed
