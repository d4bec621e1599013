"""The ``survey`` command: init-db, seed-demo, demo (addresses), register-kiosk."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Kiosk, Rating
from tests.conftest import SURVEY_COMMAND, Browser, free_port, hidden_fields, running_survey, survey_env


def test_seed_demo_command(app, runner):
    result = runner.invoke(args=["seed-demo", "--ratings", "300", "--seed", "3", "--end-date", "2026-10-31"])
    assert result.exit_code == 0, result.output
    assert "34 provinces" in result.output and "300 ratings" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Rating.id))) == 300
    again = runner.invoke(args=["seed-demo", "--ratings", "10"])
    assert again.exit_code != 0 and "empty database" in again.output


ADDRESS_LINE = re.compile(r"^(Kiosk \(tablet\)|Phone \(counter QR\)|Public results|Manager sign-in):[ \t]+(\S+)", re.M)


def test_demo_command_prints_the_four_addresses_and_they_work(app, runner):
    port = free_port()
    result = runner.invoke(args=["demo", "--no-serve", "--ratings", "200", "--port", str(port)])
    assert result.exit_code == 0, result.output
    lines = dict(ADDRESS_LINE.findall(result.output))
    assert len(lines) == 4
    assert "█" not in result.output  # no QR codes for addresses only this machine can open
    client = app.test_client()
    for address in lines.values():
        assert address.startswith(f"http://127.0.0.1:{port}/")
        assert client.get(address.removeprefix(f"http://127.0.0.1:{port}")).status_code == 200
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


def decode_terminal_qr_codes(text: str) -> list[str]:
    """Read back the QR codes segno printed in compact mode (two modules per character), with zxing-cpp."""
    import numpy as np
    import zxingcpp

    halves = {"█": (255, 255), " ": (0, 0), "▀": (255, 0), "▄": (0, 255)}
    found, block = [], []
    for line in [*text.splitlines(), ""]:
        if line and set(line) <= set(halves):
            block.append(line)
            continue
        if block:
            rows = [[halves[c][half] for c in row] for row in block for half in (0, 1)]
            image = np.array(rows, dtype=np.uint8).repeat(6, axis=0).repeat(6, axis=1)
            found += [code.text for code in zxingcpp.read_barcodes(image)]
            block = []
    return found


def test_demo_on_all_interfaces_prints_the_lan_address_and_qr_codes(app, runner):
    import ipaddress
    import socket

    port = free_port()
    result = runner.invoke(args=["demo", "--no-serve", "--host", "0.0.0.0", "--port", str(port), "--ratings", "50"])
    assert result.exit_code == 0, result.output
    if "No network address found" in result.output:
        pytest.skip("this machine has no network address besides loopback")
    lines = dict(ADDRESS_LINE.findall(result.output))
    host = re.match(r"http://([^:/]+):(\d+)/", lines["Kiosk (tablet)"]).group(1)
    address = ipaddress.ip_address(host)
    assert not address.is_loopback and not address.is_unspecified
    with socket.socket() as s:
        s.bind((host, 0))  # only an address of this machine can be bound
    assert all(value.startswith(f"http://{host}:{port}/") for value in lines.values())
    # A tablet and a phone scan the codes: they hold exactly the kiosk and phone addresses.
    assert decode_terminal_qr_codes(result.output) == [lines["Kiosk (tablet)"], lines["Phone (counter QR)"]]


def demo_addresses_printed(server, port: int) -> dict[str, str]:
    import time

    deadline = time.monotonic() + 60
    while len(lines := dict(ADDRESS_LINE.findall(server.output()))) < 4:
        assert server.process.poll() is None and time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    server.wait_for_port(port)
    return lines


def sign_in(address: str, email: str, password: str) -> int:
    browser = Browser()
    status, html, _ = browser.request(address)
    return browser.request(address, {**hidden_fields(html), "email": email, "password": password})[0]


def test_second_demo_on_a_busy_port_leaves_the_running_demo_alone(tmp_path):
    port = free_port()
    env = survey_env(tmp_path / "instance")
    with running_survey(["demo", "--ratings", "100", "--port", str(port)], env, tmp_path / "first.log") as first:
        lines = demo_addresses_printed(first, port)
        email, password = re.search(r"email (\S+), password (\S+)\)", first.output()).groups()
        for extra in ([], ["--no-serve"]):
            second = subprocess.run([*SURVEY_COMMAND, "demo", "--port", str(port), *extra], env=env,
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode != 0 and str(port) in second.stderr and "--port" in second.stderr
            assert "Kiosk (tablet)" not in second.stdout
        # The running demo's printed kiosk address and password still work.
        assert Browser().request(lines["Kiosk (tablet)"])[0] == 200
        assert sign_in(lines["Manager sign-in"], email, password) == 302
        first.stop()
    # Its request log names the kiosk page without its token.
    requests = [line for line in first.output().splitlines() if '"GET /kiosk/' in line]
    assert requests and all('"GET /kiosk/[redacted] HTTP/1.1" 200' in line for line in requests), requests
