"""Serving the app: gunicorn for ``survey serve``, access logs without secrets, LAN addresses.

Kiosk addresses (``/kiosk/<token>``) and single-use links (``/l/<token>``) are credentials: whoever
reads them can rate as that kiosk or use that link. :class:`RedactingLogger` removes them from every
field of gunicorn's access log (request line, path, referer, headers, ``Location``).
"""

from __future__ import annotations

import ipaddress
import os
import socket

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from survey.redaction import redact_secret_paths


class RedactingLogger(glogging.Logger):
    """gunicorn's logger, with secret path segments removed from every access-log field."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact_secret_paths(value) if isinstance(value, str) else value for key, value in atoms.items()}


#: Settings that only newer gunicorn versions have.
OPTIONAL_SETTINGS = {"control_socket_disable"}


class SurveyApplication(BaseApplication):
    """gunicorn running :func:`survey.create_app` in each worker (configured from the environment)."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in OPTIONAL_SETTINGS and key not in self.cfg.settings:
                continue  # an older gunicorn without this setting
            self.cfg.set(key, value)

    def load(self):
        from survey import create_app

        return create_app()


def gunicorn_options(*, bind: list[str], workers: int, threads: int, timeout: int, access_log: str | None) -> dict:
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "graceful_timeout": min(timeout, 30),
        "accesslog": access_log,
        "errorlog": "-",
        "logger_class": RedactingLogger,
        # Forwarded headers are ProxyFix's business (TRUSTED_PROXIES), not gunicorn's built-in list.
        "forwarded_allow_ips": "",
        "proc_name": "survey",
        # gunicorn ≥ 24's control socket has one default path per user: several servers would share it.
        "control_socket_disable": True,
    }


def default_workers(shared_limits: bool) -> int:
    """gunicorn's usual 2 × CPUs + 1, but one process when rate limits are counted in memory."""
    return 2 * (os.cpu_count() or 1) + 1 if shared_limits else 1


def is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")  # nosec B104 - a comparison; nothing binds here


def lan_address() -> str | None:
    """This machine's address on its local network (the interface of the default route), or None.

    Connecting a UDP socket sends nothing: it only asks the kernel which source address it would use.
    """
    for probe in ("10.255.255.255", "192.168.255.255", "172.31.255.255"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                address = sock.getsockname()[0]
        except OSError:
            continue
        if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":  # nosec B104 - a comparison
            return address
    try:
        candidates = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    for *_, sockaddr in candidates:
        if not ipaddress.ip_address(sockaddr[0]).is_loopback:
            return sockaddr[0]
    return None
