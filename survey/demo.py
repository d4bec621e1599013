"""Demo data: the 34 provinces (and the 63 they were formed from), offices, counters, procedures,
kiosks and ratings with realistic differences between offices. Deterministic for a seed and end date.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert, select

from survey.extensions import db
from survey.models import (
    Answer, Channel, Kiosk, Procedure, Questionnaire, Rating, ServiceVolume, Unit, UnitLevel, User,
    office_procedures,
)
from survey.questionnaires import install_questionnaire_templates

PROVINCES_CSV = Path(__file__).parent / "data" / "provinces.csv"
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = ZoneInfo("UTC")
#: Provincial governments of the 34 units started work on this day (Resolution 202/2025/QH15).
MERGER_DAY = date(2025, 7, 1)
#: Thừa Thiên Huế became Huế city on this day.
HUE_DAY = date(2025, 1, 1)

DEMO_MANAGER_EMAIL = "quanly@demo.gov.vn"
DEMO_KIOSK_LABEL = "Kiosk quầy 1 (demo)"

COMMUNE_NAMES = [
    "Phường Quang Trung", "Xã Tân Lập", "Phường Hòa Bình", "Xã Thống Nhất", "Phường Tân An",
    "Xã Phú Thịnh", "Phường Đông Hải", "Xã Hòa Phú", "Phường Bình Minh", "Xã An Phước",
]

PROCEDURES = [
    ("DEMO-KS", "Đăng ký khai sinh", "Birth registration"),
    ("DEMO-KH", "Đăng ký kết hôn", "Marriage registration"),
    ("DEMO-CT", "Chứng thực bản sao từ bản chính", "Certified copy of an original document"),
    ("DEMO-DN", "Đăng ký thành lập doanh nghiệp", "Business registration"),
    ("DEMO-DD", "Cấp giấy chứng nhận quyền sử dụng đất", "Land-use right certificate"),
    ("DEMO-XD", "Cấp giấy phép xây dựng nhà ở", "Construction permit for a house"),
    ("DEMO-LLTP", "Cấp phiếu lý lịch tư pháp", "Judicial record certificate"),
    ("DEMO-HKD", "Đăng ký hộ kinh doanh", "Household business registration"),
]
#: Relative difficulty of each procedure: harder ones are rated lower everywhere.
PROCEDURE_EFFECT = np.array([0.3, 0.3, 0.4, -0.1, -0.6, -0.5, 0.0, 0.1])

COMMENTS = [
    "Cán bộ nhiệt tình, hướng dẫn rõ ràng.",
    "Phải chờ lâu, nên có thêm quầy tiếp nhận.",
    "Thủ tục nhanh gọn, cảm ơn.",
    "Hồ sơ phải bổ sung nhiều lần.",
    "Phòng chờ nóng, cần thêm quạt.",
    "Trả kết quả đúng hẹn.",
]


def ascii_slug(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in text).upper().split())


@dataclass
class DemoResult:
    provinces: int
    offices: int
    counters: int
    kiosks: int
    ratings: int
    #: office code → the secret token of its first kiosk (shown once; only hashes are stored).
    kiosk_tokens: dict[str, str]


def load_provinces() -> list[dict]:
    with PROVINCES_CSV.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def create_provinces() -> list[Unit]:
    """The 34 current provincial units, and each former province they were formed from."""
    provinces = []
    for row in load_provinces():
        predecessors = row["predecessors_vi"].split(";")
        unchanged = predecessors == [row["name_vi"]]
        start = HUE_DAY if row["code"] == "HUE" else MERGER_DAY
        province = Unit(
            code=row["code"], level=UnitLevel.PROVINCE, name_vi=row["name_vi"], name_en=row["name_en"],
            valid_from=date(1900, 1, 1) if unchanged else start,
        )
        db.session.add(province)
        if not unchanged:
            for name in predecessors:
                db.session.add(Unit(
                    code=f"OLD-{ascii_slug(name)}", level=UnitLevel.PROVINCE, name_vi=name, name_en=None,
                    valid_from=date(1900, 1, 1), valid_to=start - timedelta(days=1), successor=province,
                ))
        provinces.append(province)
    db.session.flush()
    return provinces


def seed_demo(*, ratings: int = 20000, seed: int = 2026, end_date: date | None = None) -> DemoResult:
    """Fill an empty database with demo data. Same seed and end date → same data."""
    if db.session.scalar(select(Unit.id).limit(1)) is not None:
        raise RuntimeError("The database already has units; seed-demo only fills an empty database.")
    rng = np.random.default_rng(seed)
    end_date = end_date or datetime.now(LOCAL_TZ).date()
    install_questionnaire_templates()
    questionnaires = {q.code: q for q in db.session.scalars(select(Questionnaire))}

    procedures = [Procedure(code=c, name_vi=vi, name_en=en) for c, vi, en in PROCEDURES]
    db.session.add_all(procedures)
    provinces = create_provinces()

    offices: list[Unit] = []
    counters: dict[int, list[Unit]] = {}
    for p_index, province in enumerate(provinces):
        center = Unit(
            code=f"{province.code}-TTHCC", level=UnitLevel.OFFICE, parent=province,
            name_vi=f"Trung tâm Phục vụ hành chính công {province.name_vi}",
            name_en=f"{province.name_en} Public Administration Service Centre",
            valid_from=province.valid_from if province.valid_from > date(1900, 1, 1) else MERGER_DAY,
        )
        office_list = [(center, 4)]
        for c_index in range(2):
            name = COMMUNE_NAMES[(2 * p_index + c_index) % len(COMMUNE_NAMES)]
            commune = Unit(
                code=f"{province.code}-X{c_index + 1:02d}", level=UnitLevel.COMMUNE, parent=province,
                name_vi=name, name_en=ascii_slug(name).replace("-", " ").title(), valid_from=MERGER_DAY,
            )
            office = Unit(
                code=f"{commune.code}-MC", level=UnitLevel.OFFICE, parent=commune,
                name_vi=f"Bộ phận Một cửa {name}", name_en=f"One-stop office, {commune.name_en}",
                valid_from=MERGER_DAY,
                # Two provinces' communes use the per-dossier evaluation, to show template (b).
                questionnaire_code="dossier" if province.code in ("NBH", "GLI") else None,
            )
            office_list.append((office, 2))
        for office, n_counters in office_list:
            db.session.add(office)
            counters[id(office)] = [
                Unit(code=f"{office.code}-Q{k:02d}", level=UnitLevel.COUNTER, parent=office,
                     name_vi=f"Quầy {k}", name_en=f"Counter {k}", valid_from=office.valid_from)
                for k in range(1, n_counters + 1)
            ]
            db.session.add_all(counters[id(office)])
            offices.append(office)
    db.session.flush()

    for office in offices:
        offered = rng.choice(len(procedures), size=min(len(procedures), 5 + int(rng.integers(0, 4))), replace=False)
        db.session.execute(insert(office_procedures), [
            {"office_id": office.id, "procedure_id": procedures[i].id} for i in sorted(offered)
        ])

    kiosk_tokens = {}
    for office in offices:
        kiosk = Kiosk(office=office, counter=counters[id(office)][0], label=DEMO_KIOSK_LABEL, token_hash="")
        kiosk_tokens[office.code] = kiosk.issue_token()
        db.session.add(kiosk)
    db.session.flush()
    kiosks = {k.office_id: k for k in db.session.scalars(select(Kiosk))}

    stored = _seed_ratings(rng, ratings, end_date, offices, counters, procedures, kiosks, questionnaires)
    return DemoResult(
        provinces=len(provinces), offices=len(offices), counters=sum(len(c) for c in counters.values()),
        kiosks=len(kiosks), ratings=stored, kiosk_tokens=kiosk_tokens,
    )


def _overall_values(rng, p_satisfied: np.ndarray, levels: int) -> np.ndarray:
    """Overall answers whose share in the top levels is ``p_satisfied``."""
    satisfied = rng.random(p_satisfied.size) < p_satisfied
    if levels == 3:
        top = np.where(rng.random(p_satisfied.size) < 0.35, 3, 2)
        return np.where(satisfied, top, 1)
    top = np.where(rng.random(p_satisfied.size) < 0.45, 5, 4)
    low = rng.choice([3, 2, 1], size=p_satisfied.size, p=[0.6, 0.3, 0.1])
    return np.where(satisfied, top, low)


def _seed_ratings(rng, n, end_date, offices, counters, procedures, kiosks, questionnaires) -> int:
    n_offices = len(offices)
    # Office quality on the logit scale around the national ~83% (SIPAS 2024: 83.94%), a few clearly
    # better or worse; sizes skewed so some offices have very few ratings.
    quality = rng.normal(1.6, 0.45, n_offices)
    quality[rng.choice(n_offices, 4, replace=False)] += 1.2
    quality[rng.choice(n_offices, 4, replace=False)] -= 1.3
    size = rng.lognormal(0.0, 1.0, n_offices)
    size[rng.choice(n_offices, 6, replace=False)] = 0.01
    office_of = rng.choice(n_offices, size=n, p=size / size.sum())
    start = end_date - timedelta(days=364)
    day_offset = rng.integers(0, 365, n)
    seconds = rng.integers(int(7.5 * 3600), 17 * 3600, n)
    procedure_of = rng.integers(0, len(procedures), n)
    trend = (day_offset / 365.0) * 0.3  # offices improve a little over the year
    logit = quality[office_of] + PROCEDURE_EFFECT[procedure_of] + trend
    p_satisfied = 1 / (1 + np.exp(-logit))
    channel_is_kiosk = rng.random(n) < 0.7
    follow_up = rng.random(n) < 0.4
    with_comment = rng.random(n) < 0.05
    comment_of = rng.integers(0, len(COMMENTS), n)
    key_bytes = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)

    levels = {code: len(q.overall_question.scale.points) for code, q in questionnaires.items()}
    q_of_office = [questionnaires[o.questionnaire_code or "default"] for o in offices]
    overall = np.empty(n, dtype=int)
    for code, q in questionnaires.items():
        mask = np.array([q_of_office[i].code == code for i in office_of], dtype=bool) if n else np.zeros(0, bool)
        overall[mask] = _overall_values(rng, p_satisfied[mask], levels[code])

    rows, answer_rows = [], []
    for i in range(n):
        office = offices[office_of[i]]
        questionnaire = q_of_office[office_of[i]]
        local_day = start + timedelta(days=int(day_offset[i]))
        local_dt = datetime.combine(local_day, time()) + timedelta(seconds=int(seconds[i]))
        created = local_dt.replace(tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)
        kiosk = kiosks[office.id]
        is_kiosk = bool(channel_is_kiosk[i])
        office_counters = counters[id(office)]
        rows.append({
            "idempotency_key": f"demo{int(key_bytes[i, 0]):016x}{int(key_bytes[i, 1]):016x}",
            "questionnaire_id": questionnaire.id,
            "office_id": office.id,
            "counter_id": kiosk.counter_id if is_kiosk else office_counters[i % len(office_counters)].id,
            "procedure_id": procedures[procedure_of[i]].id if follow_up[i] else None,
            "kiosk_id": kiosk.id if is_kiosk else None,
            "channel": Channel.KIOSK if is_kiosk else Channel.PHONE,
            "locale": "vi",
            "overall_value": int(overall[i]),
            "comment": COMMENTS[comment_of[i]] if with_comment[i] else None,
            "created_at": created,
            "service_date": local_day,
            "period_month": local_day.year * 100 + local_day.month,
        })
    if not rows:
        return 0
    db.session.execute(insert(Rating), rows)
    # Read the ids back by key: ordered RETURNING over executemany is far slower on large batches.
    id_of_key = dict(db.session.execute(
        select(Rating.idempotency_key, Rating.id).where(Rating.idempotency_key.like("demo%"))
    ).all())
    ids = [id_of_key[row["idempotency_key"]] for row in rows]
    overall_id = {code: q.overall_question.id for code, q in questionnaires.items()}
    follow_ups = {
        code: [(question.id, question.scale.values) for question in q.follow_up_questions]
        for code, q in questionnaires.items()
    }
    for i, rating_id in enumerate(ids):
        questionnaire = q_of_office[office_of[i]]
        answer_rows.append({"rating_id": rating_id, "question_id": overall_id[questionnaire.code],
                            "value": int(overall[i])})
        if follow_up[i]:
            for question_id, values in follow_ups[questionnaire.code]:
                # Follow-up answers lean the same way as the overall answer.
                position = (overall[i] - 1) / (levels[questionnaire.code] - 1) * (len(values) - 1)
                jitter = int(rng.integers(-1, 2))
                answer_rows.append({"rating_id": rating_id, "question_id": question_id,
                                    "value": values[int(np.clip(round(position) + jitter, 0, len(values) - 1))]})
    db.session.execute(insert(Answer), answer_rows)
    _seed_service_volumes(rng, rows, offices)
    db.session.flush()
    return len(ids)


def _seed_service_volumes(rng, rows, offices) -> None:
    """Transactions served per office and month, so response rates can be shown (20–70% respond)."""
    counts: dict[tuple[int, int], int] = {}
    for row in rows:
        key = (row["office_id"], row["period_month"])
        counts[key] = counts.get(key, 0) + 1
    response_rate = {o.id: float(rng.uniform(0.2, 0.7)) for o in offices}
    db.session.execute(insert(ServiceVolume), [
        {"office_id": office_id, "period_month": month,
         "transactions": max(count, int(round(count / response_rate[office_id])))}
        for (office_id, month), count in sorted(counts.items())
    ])


def ensure_demo_manager(password: str) -> User:
    """The demo manager, scoped to the Hà Nội service centre, with a fresh password."""
    user = db.session.scalar(select(User).where(User.email == DEMO_MANAGER_EMAIL))
    if user is None:
        scope = db.session.scalar(select(Unit).where(Unit.code == "HN-TTHCC"))
        user = User(email=DEMO_MANAGER_EMAIL, name="Quản lý demo", scope_unit=scope, role="manager")
        db.session.add(user)
    user.set_password(password)
    db.session.flush()
    return user


def reissue_demo_kiosk_token(office_code: str = "HN-TTHCC") -> str:
    """A fresh token for the demo office's kiosk (tokens are stored hashed, so they cannot be reprinted)."""
    office = db.session.scalar(select(Unit).where(Unit.code == office_code))
    kiosk = db.session.scalar(select(Kiosk).where(Kiosk.office_id == office.id).order_by(Kiosk.id).limit(1))
    return kiosk.issue_token()
