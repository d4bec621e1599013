"""The questionnaire templates the platform ships, and the function that installs them.

(a) ``default``: one overall question on Vietnam's five satisfaction levels, then the five
    elements the national satisfaction survey (SIPAS) measures, each optional.
(b) ``dossier``: the per-dossier evaluation used with the one-stop mechanism: three-level
    satisfaction, then nine criteria scored 0–2 (total 18).
(c) ``us-cx``: the US federal post-transaction customer-experience questions (OMB Circular A-11
    §280) on a five-point agreement scale, to show the model is general.
"""

from __future__ import annotations

from sqlalchemy import select

from survey.extensions import db
from survey.models import Question, Questionnaire, Scale, ScalePoint

SCALES = {
    "satisfaction-5": (4, [
        (1, "Rất không hài lòng", "Very dissatisfied"),
        (2, "Không hài lòng", "Dissatisfied"),
        (3, "Bình thường", "Neutral"),
        (4, "Hài lòng", "Satisfied"),
        (5, "Rất hài lòng", "Very satisfied"),
    ]),
    "satisfaction-3": (2, [
        (1, "Không hài lòng", "Not satisfied"),
        (2, "Hài lòng", "Satisfied"),
        (3, "Rất hài lòng", "Very satisfied"),
    ]),
    "criterion-0-2": (2, [
        (0, "Không đạt", "Not met"),
        (1, "Đạt một phần", "Partly met"),
        (2, "Đạt", "Fully met"),
    ]),
    "agreement-5": (4, [
        (1, "Hoàn toàn không đồng ý", "Strongly disagree"),
        (2, "Không đồng ý", "Disagree"),
        (3, "Không có ý kiến", "Neither agree nor disagree"),
        (4, "Đồng ý", "Agree"),
        (5, "Hoàn toàn đồng ý", "Strongly agree"),
    ]),
}

#: code → (title vi, title en, [(key, scale, text vi, text en)]); the first question is the overall one.
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
        "Đánh giá giải quyết hồ sơ thủ tục hành chính", "Evaluation of a dossier's handling",
        [
            ("overall", "satisfaction-3",
             "Ông/Bà hài lòng như thế nào với việc giải quyết hồ sơ?",
             "How satisfied are you with how your dossier was handled?"),
            ("handling_time", "criterion-0-2",
             "Tổng thời gian giải quyết so với thời hạn quy định",
             "Total handling time against the legal time limit"),
            ("agency_time", "criterion-0-2",
             "Thời gian thực hiện tại từng cơ quan, đơn vị tham gia giải quyết",
             "Time taken at each agency involved"),
            ("contacts", "criterion-0-2",
             "Số lần phải liên hệ để hoàn thiện hồ sơ",
             "Number of contacts needed to complete the dossier"),
            ("agencies", "criterion-0-2",
             "Số cơ quan, đơn vị phải liên hệ",
             "Number of agencies you had to contact"),
            ("one_stop", "criterion-0-2",
             "Tiếp nhận và trả kết quả tại Bộ phận Một cửa",
             "Dossier received and result returned at the one-stop counter"),
            ("publicity", "criterion-0-2",
             "Công khai thủ tục hành chính",
             "Publicity of the administrative procedure"),
            ("attitude", "criterion-0-2",
             "Thái độ của cán bộ, công chức",
             "Attitude of the staff"),
            ("feedback", "criterion-0-2",
             "Tiếp nhận, giải trình ý kiến phản ánh, kiến nghị",
             "How feedback was received and explained"),
            ("online", "criterion-0-2",
             "Chất lượng dịch vụ công trực tuyến",
             "Quality of the online public service"),
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
    scales = {s.code: s for s in db.session.scalars(select(Scale))}
    for code, (satisfied_from, points) in SCALES.items():
        if code not in scales:
            scales[code] = Scale(
                code=code,
                satisfied_from=satisfied_from,
                points=[ScalePoint(value=v, label_vi=vi, label_en=en) for v, vi, en in points],
            )
            db.session.add(scales[code])
    db.session.flush()
    return scales


def install_questionnaire_templates() -> list[Questionnaire]:
    """Create version 1 of each template that is missing; never edits an existing version."""
    scales = install_scales()
    installed = []
    for code, (title_vi, title_en, questions) in TEMPLATES.items():
        existing = db.session.scalar(select(Questionnaire).where(Questionnaire.code == code))
        if existing is not None:
            continue
        questionnaire = Questionnaire(
            code=code, version=1, title_vi=title_vi, title_en=title_en,
            questions=[
                Question(position=i, key=key, scale=scales[scale], text_vi=vi, text_en=en, is_overall=(i == 0))
                for i, (key, scale, vi, en) in enumerate(questions)
            ],
        )
        db.session.add(questionnaire)
        installed.append(questionnaire)
    db.session.flush()
    return installed
