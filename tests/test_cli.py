"""The ``survey`` command: init-db, seed-demo, demo (addresses), register-kiosk."""

from __future__ import annotations

import re
import subprocess
import sys

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Kiosk, Rating
from tests.conftest import hidden_fields


def test_seed_demo_command(app, runner):
    result = runner.invoke(args=["seed-demo", "--ratings", "300", "--seed", "3", "--end-date", "2026-10-31"])
    assert result.exit_code == 0, result.output
    assert "34 provinces" in result.output and "300 ratings" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) == 300
    again = runner.invoke(args=["seed-demo", "--ratings", "10"])
    assert again.exit_code != 0 and "empty database" in again.output


def test_demo_command_prints_the_four_addresses_and_they_work(app, runner):
    result = runner.invoke(args=["demo", "--no-serve", "--ratings", "200"])
    assert result.exit_code == 0, result.output
    lines = dict(re.findall(r"^(Kiosk \(tablet\)|Phone \(counter QR\)|Public results|Manager sign-in):\s+(\S+)",
                            result.output, re.M))
    assert len(lines) == 4
    client = app.test_client()
    for address in lines.values():
        assert address.startswith("http://127.0.0.1:5000/")
        assert client.get(address.removeprefix("http://127.0.0.1:5000")).status_code == 200
    email, password = re.search(r"email (\S+), password (\S+)\)", result.output).groups()
    page = client.get("/manager/sign-in").get_data(as_text=True)
    signed_in = client.post("/manager/sign-in", data={**hidden_fields(page), "email": email, "password": password})
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/manager/")


def test_register_kiosk_prints_a_working_address(app, runner, place):
    result = runner.invoke(args=["register-kiosk", place.office_code, "--counter", place.counter_code, "--label", "K2"])
    assert result.exit_code == 0, result.output
    address = result.output.strip().splitlines()[-1]
    assert app.test_client().get(address).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Kiosk.id))) == 2
    unknown = runner.invoke(args=["register-kiosk", "NOPE"])
    assert unknown.exit_code != 0 and "No office" in unknown.output


def test_console_script_is_the_flask_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from survey.cli import main; main()", "--help"],
        capture_output=True, text=True, env={"SURVEY_INSTANCE_PATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    for command in ("init-db", "seed-demo", "demo", "register-kiosk", "run", "db"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), command


def test_demo_command_serves_what_it_prints(tmp_path):
    """The README's first command, end to end: a real process, a real port, the printed addresses."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", "from survey.cli import main; main()", "demo", "--ratings", "100", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"SURVEY_INSTANCE_PATH": str(tmp_path / "instance"), "PATH": ""},
    )
    try:
        addresses = []
        for line in process.stdout:
            addresses += re.findall(rf"(http://127\.0\.0\.1:{port}/\S*)", line)
            if line.startswith("Manager sign-in"):
                break
        assert len(addresses) == 4, addresses
        deadline = time.monotonic() + 30
        def status(address):
            with urllib.request.urlopen(address, timeout=5) as response:
                return response.status

        while True:
            try:
                statuses = [status(address) for address in addresses]
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo server never answered"
                time.sleep(0.2)
        assert statuses == [200, 200, 200, 200]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
