"""The package as users get it: catalogs compiled into the wheel, an installed copy serving Vietnamese
without writing into its own tree, and the catalog rules of a source checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from survey import create_app
from survey.catalogs import CATALOG_DIR
from tests.conftest import ROOT, Browser, free_port, running_survey

VI_PO = CATALOG_DIR / "vi" / "LC_MESSAGES" / "messages.po"
#: A sentence of the kiosk start page, from the message catalog (not from the database).
HINT = "One tap is enough. Your answer is anonymous."


def vietnamese(msgid: str) -> str:
    with VI_PO.open("rb") as f:
        return read_po(f)[msgid].string


def tree_state(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_built_wheel_installs_in_a_fresh_venv_and_serves_vietnamese(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURVEY_", "PYTHON", "VIRTUAL_ENV"))}
    run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--quiet", "--wheel-dir", tmp_path / "dist"],
        timeout=600, env=env)
    [wheel] = (tmp_path / "dist").glob("survey-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for lang in ("vi", "en"):
        assert f"survey/translations/{lang}/LC_MESSAGES/messages.mo" in names
    assert not any(name.startswith(("tests/", "translations/")) for name in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=300)
    run([venv / "bin" / "pip", "install", "--quiet", wheel], timeout=900, env=env, cwd=tmp_path)
    installed = Path(run([venv / "bin" / "python", "-c", "import survey, os; print(os.path.dirname(survey.__file__))"],
                         env=env, cwd=tmp_path).stdout.strip())
    assert installed.is_relative_to(venv), installed
    before = tree_state(installed)

    instance = tmp_path / "instance"
    survey_cmd = [venv / "bin" / "survey"]
    env.update(SURVEY_INSTANCE_PATH=str(instance))
    run([*survey_cmd, "seed-demo", "--ratings", "50"], env=env, cwd=tmp_path, timeout=300)
    kiosk = run([*survey_cmd, "register-kiosk", "HN-TTHCC"], env=env, cwd=tmp_path, timeout=120).stdout.split()[-1]
    port = free_port()
    with running_survey(["serve", "--workers", "1", "--bind", f"127.0.0.1:{port}"], env, tmp_path / "serve.log",
                        port=port, command=[str(c) for c in survey_cmd], cwd=tmp_path) as server:
        status, html, _ = Browser().request(f"http://127.0.0.1:{port}{kiosk}")
        english_status, english, _ = Browser().request(f"http://127.0.0.1:{port}{kiosk}?lang=en")
    assert status == 200, server.output()
    assert '<html lang="vi"' in html and vietnamese(HINT) in html and HINT not in html
    assert english_status == 200 and HINT in english
    assert tree_state(installed) == before  # nothing written into the installed package


def test_an_installed_tree_without_compiled_catalogs_refuses_to_start(tmp_path):
    copy = tmp_path / "translations"
    shutil.copytree(CATALOG_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    config = {"TESTING": True, "SECRET_KEY": "x" * 40, "BABEL_TRANSLATION_DIRECTORIES": str(copy),
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"}
    with pytest.raises(RuntimeError, match="Compiled message catalogs missing"):
        create_app(config)
    assert not list(copy.rglob("*.mo"))  # and it did not write them itself
    run([sys.executable, "-c", f"from survey.catalogs import compile_catalogs; from pathlib import Path; "
                               f"compile_catalogs(Path({str(copy)!r}))"])
    before = tree_state(copy)
    create_app(config)
    assert tree_state(copy) == before


def test_a_source_checkout_recompiles_a_changed_catalog_at_start(tmp_path):
    mo = VI_PO.with_suffix(".mo")
    create_app({"TESTING": True, "SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.sqlite"})
    compiled = mo.stat().st_mtime_ns
    os.utime(VI_PO)  # as an edit of the .po would
    os.utime(mo, ns=(compiled - 10**9, compiled - 10**9))
    create_app({"TESTING": True, "SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/b.sqlite"})
    assert mo.stat().st_mtime_ns >= VI_PO.stat().st_mtime_ns
    assert not [p for p in mo.parent.iterdir() if p.name.startswith(".messages-")]  # no temporary file left


def test_compile_catalogs_command_writes_every_catalog():
    result = run([sys.executable, "-c", "from survey.cli import main; main()", "compile-catalogs"],
                 env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert sorted(result.stdout.split()[1::2]) == sorted(
        str(p.with_suffix(".mo")) for p in CATALOG_DIR.glob("*/LC_MESSAGES/messages.po"))
