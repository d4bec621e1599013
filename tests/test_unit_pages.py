"""The manager's unit page (details, children, mergers, settings, entered scores and the forms each
role may use) and the procedure catalogue page."""

from __future__ import annotations

import io
import json
import re

from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditEntry, Procedure, UnitIndexScore
from tests.test_dashboard import signed_in
from tests.test_procedures_import import CATALOGUE
from tests.test_units import get, tree  # noqa: F401  (the fixture)


def token(html: str, prefix: str = "") -> dict[str, str]:
    """The CSRF token of the form whose fields carry ``prefix`` (``rename-`` …)."""
    name = f"{prefix}-csrf_token" if prefix else "csrf_token"
    match = re.search(rf'name="{name}" type="hidden" value="([^"]+)"', html)
    assert match, name
    return {name: match.group(1)}


def actions() -> list[str]:
    """The audit trail, without the sign-in's own entries (an administrator enrols a second factor)."""
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if not e.action.startswith("two_factor_")]


def test_each_role_sees_the_forms_it_may_use(tree):  # noqa: F811
    admin = signed_in(tree, "admin-hn@x.vn")
    html = admin.get("/manager/units/HN-A").get_data(as_text=True)
    for form in ("rename", "settings", "merge", "score", "add"):
        assert f'name="{form}-csrf_token"' in html, form
    assert "Unit HN-A-Q1" in html  # its counter, listed below
    province = admin.get("/manager/units/HN").get_data(as_text=True)
    assert 'name="add-csrf_token"' in province and 'name="rename-csrf_token"' not in province
    assert admin.get("/manager/units/HUE-A").status_code == 404

    manager = signed_in(tree, "manager-hna@x.vn")
    html = manager.get("/manager/units/HN-A").get_data(as_text=True)
    assert 'name="settings-csrf_token"' in html
    assert not [f for f in ("rename", "merge", "score", "add") if f'name="{f}-csrf_token"' in html]
    assert manager.get("/manager/units/HN-B").status_code == 404


def test_renaming_and_settings_through_the_page(tree):  # noqa: F811
    admin = signed_in(tree, "admin-hn@x.vn")
    page = admin.get("/manager/units/HN-A").get_data(as_text=True)
    response = admin.post("/manager/units/HN-A/rename", data={
        **token(page, "rename"), "rename-name_vi": "Trung tâm Hành chính công A", "rename-name_en": "Centre A"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/units/HN-A")
    assert "Trung tâm Hành chính công A" in admin.get("/manager/units/HN-A?lang=vi").get_data(as_text=True)
    # No CSRF token: refused, nothing changed.
    assert admin.post("/manager/units/HN-A/rename", data={"rename-name_vi": "X"}).status_code == 400

    manager = signed_in(tree, "manager-hna@x.vn")
    page = manager.get("/manager/units/HN-A").get_data(as_text=True)
    response = manager.post("/manager/units/HN-A/rename", data={**token(page, "settings"), "rename-name_vi": "X"})
    assert response.status_code == 403
    response = manager.post("/manager/units/HN-A/settings", data={
        **token(page, "settings"), "settings-complaint_contact": "Đường dây nóng 1900 1234",
        "settings-questionnaire_code": ""})
    assert response.status_code == 302
    with tree.app_context():
        office = get("HN-A")
        assert (office.name_vi, office.name_en, office.complaint_contact) == (
            "Trung tâm Hành chính công A", "Centre A", "Đường dây nóng 1900 1234")
        assert actions() == ["user_created"] * 3 + ["unit_renamed", "unit_settings_changed"]


def test_adding_a_counter_and_recording_a_merger_through_the_page(tree):  # noqa: F811
    admin = signed_in(tree, "admin-hn@x.vn")
    page = admin.get("/manager/units/HN-A").get_data(as_text=True)
    response = admin.post("/manager/units/HN-A/children", data={
        **token(page, "add"), "add-level": "counter", "add-code": "HN-A-Q2", "add-name_vi": "Quầy 2",
        "add-name_en": "Counter 2", "add-valid_from": "2026-10-01"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/manager/units/HN-A-Q2")
    taken = admin.post("/manager/units/HN-A/children", data={
        **token(page, "add"), "add-level": "counter", "add-code": "HN-A-Q2", "add-name_vi": "Quầy 2"})
    assert taken.status_code == 400 and "This code is already used" in taken.get_data(as_text=True)

    # Huế's office is not offered (another province) and a date is needed.
    assert 'value="HUE-A"' not in page and 'value="HN-B"' in page
    refused = admin.post("/manager/units/HN-A/merge", data={**token(page, "merge"), "merge-successor": "HUE-A",
                                                             "merge-on": "2026-10-01"})
    assert refused.status_code == 400
    response = admin.post("/manager/units/HN-A/merge", data={**token(page, "merge"), "merge-successor": "HN-B",
                                                              "merge-on": "2026-10-01"})
    assert response.status_code == 302
    successor = admin.get("/manager/units/HN-B").get_data(as_text=True)
    assert "Units merged into this one" in successor and "Unit HN-A (HN-A)" in successor
    merged = admin.get("/manager/units/HN-A").get_data(as_text=True)
    assert 'name="merge-csrf_token"' not in merged and "Merged into" in merged
    audit = admin.get("/manager/audit").get_data(as_text=True)
    assert "Unit added (units" in audit and "Merger recorded (units" in audit
    with tree.app_context():
        assert get("HN-A").successor.code == "HN-B" and get("HN-A-Q2").parent.code == "HN-A"
        assert actions()[3:] == ["unit_created", "unit_merged"]


def test_scores_are_entered_and_shown_with_the_official_wording(tree):  # noqa: F811
    admin = signed_in(tree, "admin-hn@x.vn", lang="vi")
    page = admin.get("/manager/units/HN-A").get_data(as_text=True)
    # The titles of Circular 01/2018/TT-VPCP, as analysis.dossier has them.
    assert "5. Thực hiện tổ chức tiếp nhận hồ sơ, giải quyết, trả kết quả tại Bộ phận Một cửa" in page
    assert "9. Tiến độ và chất lượng cung cấp dịch vụ công trực tuyến của cơ quan có thẩm quyền" in page
    response = admin.post("/manager/units/HN-A/index-scores", data={
        **token(page, "score"), "score-index_number": "5", "score-points": "0", "score-valid_from": "2026-10-01",
        "score-note": "Biên bản kiểm tra số 7"})
    assert response.status_code == 302
    html = admin.get("/manager/units/HN-A?lang=en").get_data(as_text=True)
    assert re.search(r"5\. Dossier received, handled and its result returned at the one-stop unit</th><td>0</td>", html)
    assert "Biên bản kiểm tra số 7" in html
    bad = admin.post("/manager/units/HN-A/index-scores", data={
        **token(page, "score"), "score-index_number": "7", "score-points": "2", "score-valid_from": "2026-10-01"})
    assert bad.status_code == 400  # index 7 is asked of citizens, not offered
    with tree.app_context():
        [score] = db.session.scalars(select(UnitIndexScore))
        assert (score.index_number, score.points, score.source_note) == (5, 0, "Biên bản kiểm tra số 7")
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "index_score_added"))
        assert json.loads(entry.data)["points"] == 0


def test_the_catalogue_page_imports_a_file_for_a_national_administrator_only(tree):  # noqa: F811
    national = signed_in(tree, "national@x.vn")
    page = national.get("/manager/procedures").get_data(as_text=True)
    response = national.post("/manager/procedures", data={
        **token(page), "file": (io.BytesIO(CATALOGUE.encode()), "catalogue.csv")}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "8 rows read: 3 procedures added, 0 updated, 0 unchanged, 5 refused." in html
    assert "Line 5: “1.5169” is not a national catalogue code (like 1.005169)." in html
    assert "<th scope=\"row\">1.005169</th><td>Birth registration</td><td>Hộ tịch</td><td>0</td>" in html
    broken = national.post("/manager/procedures", data={
        **token(page), "file": (io.BytesIO(b"code,name\n"), "x.csv")}, content_type="multipart/form-data")
    assert broken.status_code == 400 and "The header line must name the columns" in broken.get_data(as_text=True)
    assert national.post("/manager/procedures", data={"file": (io.BytesIO(b"x"), "x.csv")},
                         content_type="multipart/form-data").status_code == 400  # no CSRF token
    for email in ("admin-hn@x.vn", "manager-hna@x.vn"):
        assert signed_in(tree, email).get("/manager/procedures").status_code == 403
    with tree.app_context():
        assert len(list(db.session.scalars(select(Procedure)))) == 3


def test_the_evaluation_page_shows_the_circulars_figures_and_staff_totals_only_to_the_office(tree):  # noqa: F811
    """Worked by hand: at HN-A in October 2026, two dossiers of officer CB-1, returned 5 October (due the
    10th: index 2 = 2 points) and 12 October (due the 10th: 0 points); index 5 entered as 2 points.
    Index 2 = (2 + 0) / 2 = 1.0; the unit's total = 1.0 + 2 = 3.0 of 18 (< 6: weak), the seven indices
    without information left out (Art. 15(4)(b)); CB-1's total = 1.0 of 10 (< 3.5: under 70 %)."""
    from datetime import date, datetime

    from survey.models import Transaction
    from survey.transactions.evaluation import record_unit_index_score

    with tree.app_context():
        office = get("HN-A")
        for number, (returned, due) in enumerate([(datetime(2026, 10, 5, 2), datetime(2026, 10, 10, 9)),
                                                  (datetime(2026, 10, 12, 2), datetime(2026, 10, 10, 9))]):
            db.session.add(Transaction(dossier_code=f"000.00.16.H26-261001-{number:04d}", office_id=office.id,
                                       procedure_code="1.005169", officer_code="CB-1",
                                       received_at=datetime(2026, 10, 1), due_at=due, returned_at=returned))
        record_unit_index_score("HN-A", 5, 2, date(2026, 1, 1))
        db.session.commit()

    manager = signed_in(tree, "manager-hna@x.vn", lang="en")
    html = manager.get("/manager/units/HN-A/evaluation?period=2026-10").get_data(as_text=True)
    assert re.search(r"<strong>3\.0</strong> / 18 – Weak", html)
    assert "2 / 9" in html and "1, 3, 4, 6, 7, 8, 9" in html
    assert re.search(r"2\. Time taken by each agency[^<]*</th>\s*<td>1\.0</td><td>2</td>", html)
    assert "Staff totals" in html and re.search(r"<th scope=\"row\">CB-1</th>(<td>[^<]*</td>){2}", html)
    assert "Tasks completed: under 70%" in html
    # In Vietnamese, with the decimal comma.
    vi = manager.get("/manager/units/HN-A/evaluation?period=2026-10&lang=vi").get_data(as_text=True)
    assert re.search(r"<strong>3,0</strong> / 18", vi)

    # Administrators in scope see the unit's evaluation but never the officers' totals.
    for email in ("admin-hn@x.vn", "national@x.vn"):
        page = signed_in(tree, email, lang="en").get("/manager/units/HN-A/evaluation?period=2026-10")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "<strong>3.0</strong> / 18" in text and "CB-1" not in text and "Staff totals" not in text
    # Out of scope, a counter, a bad period.
    assert manager.get("/manager/units/HN-B/evaluation").status_code == 404
    assert signed_in(tree, "admin-hn@x.vn").get("/manager/units/HUE-A/evaluation").status_code == 404
    assert manager.get("/manager/units/HN-A-Q1/evaluation").status_code == 404
    assert manager.get("/manager/units/HN-A/evaluation?period=2026-13").status_code == 400
    # The unit page links to it.
    assert "/manager/units/HN-A/evaluation" in manager.get("/manager/units/HN-A").get_data(as_text=True)
