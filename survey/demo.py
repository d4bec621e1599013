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
from sqlalchemy import func, insert, select, text

from survey.extensions import db
from survey.models import (
    Answer, Channel, Kiosk, Procedure, Questionnaire, Rating, ServiceVolume, Unit, UnitLevel, User,
    office_procedures,
)
from survey.models.users import NATIONAL_ADMIN, OFFICE_MANAGER
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
    current = select(Questionnaire).where(Questionnaire.retired_at.is_(None))  # a retired version is not rated
    questionnaires = {q.code: q for q in db.session.scalars(current)}

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


#: Ratings generated and inserted per batch: memory stays flat however many ratings are asked for.
SEED_BATCH = 50_000


@dataclass
class _Offices:
    """Per-office lookup arrays, so each batch is generated with numpy rather than row by row."""

    ids: np.ndarray
    kiosk_ids: np.ndarray
    kiosk_counter_ids: np.ndarray
    counter_ids: np.ndarray        # offices × most counters, padded with the first counter
    counter_counts: np.ndarray
    questionnaire_index: np.ndarray


def _office_arrays(offices, counters, kiosks, questionnaire_codes) -> _Offices:
    widest = max(len(counters[id(o)]) for o in offices)
    counter_ids = np.array([
        [c.id for c in counters[id(o)]] + [counters[id(o)][0].id] * (widest - len(counters[id(o)])) for o in offices
    ])
    return _Offices(
        ids=np.array([o.id for o in offices]),
        kiosk_ids=np.array([kiosks[o.id].id for o in offices]),
        kiosk_counter_ids=np.array([kiosks[o.id].counter_id for o in offices]),
        counter_ids=counter_ids,
        counter_counts=np.array([len(counters[id(o)]) for o in offices]),
        questionnaire_index=np.array([questionnaire_codes.index(o.questionnaire_code or "default") for o in offices]),
    )


def _seed_ratings(rng, n, end_date, offices, counters, procedures, kiosks, questionnaires) -> int:
    """Insert ``n`` ratings and their answers in batches of :data:`SEED_BATCH` (one executemany per
    table and batch), then the monthly service volumes. Ids are assigned here, so nothing is read back
    and memory stays flat: 10 million ratings need no more than 50,000 do."""
    n_offices = len(offices)
    # Office quality on the logit scale around the national ~83% (SIPAS 2024: 83.94%), a few clearly
    # better or worse; sizes skewed so some offices have very few ratings.
    quality = rng.normal(1.6, 0.45, n_offices)
    quality[rng.choice(n_offices, 4, replace=False)] += 1.2
    quality[rng.choice(n_offices, 4, replace=False)] -= 1.3
    size = rng.lognormal(0.0, 1.0, n_offices)
    size[rng.choice(n_offices, 6, replace=False)] = 0.01
    office_share = size / size.sum()

    codes = sorted(questionnaires)
    office = _office_arrays(offices, counters, kiosks, codes)
    procedure_ids = np.array([p.id for p in procedures])
    questionnaire_ids = np.array([questionnaires[c].id for c in codes])
    levels = np.array([len(questionnaires[c].overall_question.scale.points) for c in codes])
    overall_question = np.array([questionnaires[c].overall_question.id for c in codes])
    follow_ups = [[(q.id, np.array(q.scale.values)) for q in questionnaires[c].follow_up_questions] for c in codes]
    most_follow_ups = max(len(f) for f in follow_ups)

    first_day = np.datetime64(end_date - timedelta(days=364), "D")
    # Viet Nam keeps UTC+7 all year: one offset turns local times into the stored UTC times.
    utc_offset = int(LOCAL_TZ.utcoffset(datetime.combine(end_date, time())).total_seconds())
    next_id = (db.session.scalar(select(func.max(Rating.id))) or 0) + 1
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("PRAGMA cache_size = -65536"))  # 64 MiB, so the indexes stay in memory
    volumes: dict[tuple[int, int], int] = {}
    for batch_start in range(0, n, SEED_BATCH):
        m = min(SEED_BATCH, n - batch_start)
        office_of = rng.choice(n_offices, size=m, p=office_share)
        day_offset = rng.integers(0, 365, m)
        seconds = rng.integers(int(7.5 * 3600), 17 * 3600, m)
        procedure_of = rng.integers(0, len(procedures), m)
        trend = (day_offset / 365.0) * 0.3  # offices improve a little over the year
        p_satisfied = 1 / (1 + np.exp(-(quality[office_of] + PROCEDURE_EFFECT[procedure_of] + trend)))
        is_kiosk = rng.random(m) < 0.7
        follow_up = rng.random(m) < 0.4
        with_comment = rng.random(m) < 0.05
        comment_of = rng.integers(0, len(COMMENTS), m)
        jitter = rng.integers(-1, 2, size=(m, most_follow_ups))
        q_of = office.questionnaire_index[office_of]
        overall = np.empty(m, dtype=np.int64)
        for qi in range(len(codes)):
            mask = q_of == qi
            overall[mask] = _overall_values(rng, p_satisfied[mask], int(levels[qi]))

        days = first_day + day_offset
        created = days.astype("datetime64[s]") + (seconds - utc_offset).astype("timedelta64[s]")
        period = (days.astype("datetime64[Y]").astype(int) + 1970) * 100 + days.astype("datetime64[M]").astype(int) % 12 + 1
        ids = np.arange(next_id, next_id + m)
        next_id += m
        row_number = np.arange(batch_start, batch_start + m)
        phone_counter = office.counter_ids[office_of, row_number % office.counter_counts[office_of]]
        counter = np.where(is_kiosk, office.kiosk_counter_ids[office_of], phone_counter)
        comments = [COMMENTS[c] if w else None for c, w in zip(comment_of.tolist(), with_comment.tolist())]

        _bulk_insert(Rating.__table__, {
            "id": ids.tolist(),
            "idempotency_key": [f"demo{rating_id:012d}" for rating_id in ids.tolist()],
            "questionnaire_id": questionnaire_ids[q_of].tolist(),
            "office_id": office.ids[office_of].tolist(),
            "counter_id": counter.tolist(),
            "procedure_id": [p if f else None for p, f in zip(procedure_ids[procedure_of].tolist(), follow_up.tolist())],
            "kiosk_id": [k if f else None for k, f in zip(office.kiosk_ids[office_of].tolist(), is_kiosk.tolist())],
            "channel": [Channel.KIOSK if k else Channel.PHONE for k in is_kiosk.tolist()],
            "locale": ["vi"] * m,
            "overall_value": overall.tolist(),
            "comment": [COMMENTS[c] if w else None for c, w in zip(comment_of.tolist(), with_comment.tolist())],
            "created_at": created.astype(object).tolist(),
            "service_date": days.astype(object).tolist(),
            "period_month": period.tolist(),
        })
        _bulk_insert(Answer.__table__, _answer_columns(
            ids, q_of, overall, levels, overall_question, follow_ups, follow_up, jitter))
        keys, counts = np.unique(np.stack([office_of, period]), axis=1, return_counts=True)
        for (office_index, month), count in zip(keys.T.tolist(), counts.tolist()):
            key = (int(office.ids[office_index]), month)
            volumes[key] = volumes.get(key, 0) + count
    if n and db.session.get_bind().dialect.name == "postgresql":
        # Ids were given explicitly: move the sequence past them, for the ratings that come next.
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('ratings', 'id'), (SELECT max(id) FROM ratings))"))
    _seed_service_volumes(rng, volumes, offices)
    db.session.flush()
    return n


def _answer_columns(ids, q_of, overall, levels, overall_question, follow_ups, follow_up, jitter) -> dict:
    """The overall answer of every rating, and the follow-up answers of those that gave them."""
    rating_ids, question_ids, values = [ids], [overall_question[q_of]], [overall]
    for qi, questions in enumerate(follow_ups):
        chosen = np.flatnonzero(follow_up & (q_of == qi))
        # Follow-up answers lean the same way as the overall answer.
        position = (overall[chosen] - 1) / (levels[qi] - 1)
        for j, (question_id, scale_values) in enumerate(questions):
            index = np.round(position * (len(scale_values) - 1)).astype(int) + jitter[chosen, j]
            rating_ids.append(ids[chosen])
            question_ids.append(np.full(chosen.size, question_id))
            values.append(scale_values[np.clip(index, 0, len(scale_values) - 1)])
    return {"rating_id": np.concatenate(rating_ids).tolist(), "question_id": np.concatenate(question_ids).tolist(),
            "value": np.concatenate(values).tolist()}


def _bulk_insert(table, columns: dict[str, list]) -> None:
    """One ``insert()`` executemany of equally long column lists, converted by each column's own type
    (as SQLAlchemy would, but per column instead of per row: the demo inserts millions of rows)."""
    connection = db.session.connection()
    dialect = connection.dialect
    length = len(next(iter(columns.values()), []))
    # Columns left out take their scalar Python-side default (e.g. ``ratings.count_state``), which the
    # compiled statement asks for as a parameter like any other column.
    for column in table.columns:
        if column.key not in columns and column.default is not None and column.default.is_scalar:
            columns = {**columns, column.key: [column.default.arg] * length}
    names = list(columns)
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    converted = {}
    for name in names:
        process = table.c[name].type._cached_bind_processor(dialect)
        converted[name] = [None if v is None else process(v) for v in columns[name]] if process else columns[name]
    if compiled.positional:
        order = [compiled.binds[key].key for key in compiled.positiontup]
        rows = list(zip(*(converted[name] for name in order)))
    else:
        rows = [dict(zip(names, values)) for values in zip(*(converted[name] for name in names))]
    if rows:
        connection.exec_driver_sql(compiled.string, rows)


def _seed_service_volumes(rng, volumes: dict[tuple[int, int], int], offices) -> None:
    """Transactions served per office and month, so response rates can be shown (20–70% respond)."""
    response_rate = {o.id: float(rng.uniform(0.2, 0.7)) for o in offices}
    db.session.execute(insert(ServiceVolume), [
        {"office_id": office_id, "period_month": month,
         "transactions": max(count, int(round(count / response_rate[office_id])))}
        for (office_id, month), count in sorted(volumes.items())
    ])


def ensure_demo_manager(password: str) -> User:
    """The demo manager, an office manager of the Hà Nội service centre, with a fresh password (in a
    database without the demo tree, a national administrator: there is no office to bind to)."""
    user = db.session.scalar(select(User).where(User.email == DEMO_MANAGER_EMAIL))
    if user is None:
        scope = db.session.scalar(select(Unit).where(Unit.code == "HN-TTHCC"))
        role = OFFICE_MANAGER if scope is not None else NATIONAL_ADMIN
        user = User(email=DEMO_MANAGER_EMAIL, name="Quản lý demo", scope_unit=scope, role=role)
        db.session.add(user)
    user.set_password(password)
    db.session.flush()
    return user


def reissue_demo_kiosk_token(office_code: str = "HN-TTHCC") -> str:
    """A fresh token for the demo office's kiosk (tokens are stored hashed, so they cannot be reprinted)."""
    office = db.session.scalar(select(Unit).where(Unit.code == office_code))
    kiosk = db.session.scalar(select(Kiosk).where(Kiosk.office_id == office.id).order_by(Kiosk.id).limit(1))
    return kiosk.issue_token()
