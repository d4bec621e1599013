"""The secret key: where it comes from, how it is rotated, and the separate keys derived from it.

The operator configures one **master secret** (``SURVEY_SECRET_KEY``, or a file named by
``SURVEY_SECRET_KEY_FILE``), and may keep previous ones in ``SURVEY_SECRET_KEY_FALLBACKS`` while
they are being rotated out. Nothing signs with the master secret itself: each purpose gets its own
key derived with HKDF-SHA256 (RFC 5869), so a key leaked from one purpose says nothing about the
others. After :func:`init_app`, ``app.config["SECRET_KEY"]`` and ``SECRET_KEY_FALLBACKS`` hold the
derived session keys (Flask ≥ 3.1 verifies sessions with the fallbacks), ``WTF_CSRF_SECRET_KEY``
the derived CSRF keys, and :func:`derived_key` / :func:`derived_keys` give any other purpose its key
(the kiosk form HMAC uses ``"kiosk-form"``).

In production (see :mod:`survey.config`) a configured secret of at least
:data:`MIN_PRODUCTION_KEY_LENGTH` characters is required: generating one per machine would give
every node its own key. Development (the SQLite demo) generates ``instance/secret_key`` once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as _stdlib_secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from survey.config import ConfigurationError

#: Shortest master secret accepted in production (a ``token_urlsafe(48)`` has 64 characters).
MIN_PRODUCTION_KEY_LENGTH = 32
#: HKDF salt: fixed and public, it only separates this application's keys from other uses of the secret.
HKDF_SALT = b"survey:secret-key-derivation:v1"
#: Purposes of the keys Flask and its extensions sign with.
SESSION_PURPOSE = "flask-session"
CSRF_PURPOSE = "wtf-csrf"
GENERATE_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) with SHA-256: extract a pseudo-random key from ``ikm``, expand it for ``info``."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length must be between 1 and 8160 bytes")
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


@dataclass(frozen=True)
class KeyRing:
    """The master secret and the previous ones still accepted, newest first."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def derive(self, purpose: str) -> bytes:
        return hkdf_sha256(self.current, salt=HKDF_SALT, info=purpose.encode())

    def derive_all(self, purpose: str) -> list[bytes]:
        """The key for ``purpose`` from the current secret first, then from each previous one."""
        return [hkdf_sha256(key, salt=HKDF_SALT, info=purpose.encode()) for key in (self.current, *self.previous)]


def _keyring(app: Flask | None = None) -> KeyRing:
    return (app or current_app).extensions["survey.keyring"]


def derived_key(purpose: str) -> bytes:
    """The current app's key for ``purpose`` (e.g. ``"kiosk-form"``): sign with this one."""
    return _keyring().derive(purpose)


def derived_keys(purpose: str) -> list[bytes]:
    """Every key still accepted for ``purpose``, current first: verify against any of these."""
    return _keyring().derive_all(purpose)


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file: the first line is the current secret, further lines previous ones."""
    try:
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the secret key file {path}: {exc}") from exc
    keys = [line for line in lines if line]
    if not keys:
        raise ConfigurationError(
            f"The secret key file {path} is empty. Put a secret in it (for example the output of "
            f"`{GENERATE_HINT}`), or delete it to have the development server generate one."
        )
    return keys


def create_key_file(path: Path) -> None:
    """Write a fresh secret to ``path`` if no file is there: private (0600) from the first byte, and
    complete or absent, never empty, even when several processes start at once."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(_stdlib_secrets.token_urlsafe(48) + "\n")
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)  # atomic, and fails if another process created the key first
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp_name)


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v)]
    return [str(value)]


def resolve_keys(app: Flask) -> KeyRing:
    """Find the master secret and the previous ones for this app's configuration, or refuse to start."""
    config = app.config
    production = config["ENV"] == "production"
    configured = config.get("SECRET_KEY")
    key_file = config.get("SECRET_KEY_FILE")
    if configured not in (None, "") and key_file:
        raise ConfigurationError("Set SECRET_KEY or SECRET_KEY_FILE, not both.")
    previous = _as_list(config.get("SECRET_KEY_FALLBACKS"))
    if configured not in (None, ""):
        current = str(configured)  # an all-digit secret arrives from the environment as a number
    elif key_file:
        current, *older = read_key_file(Path(key_file))
        previous += older
    elif production:
        raise ConfigurationError(
            "No secret key configured. In production every node must share one secret: set "
            "SURVEY_SECRET_KEY, or SURVEY_SECRET_KEY_FILE naming a file that holds it "
            f"(generate one with `{GENERATE_HINT}`)."
        )
    else:
        path = Path(app.instance_path) / "secret_key"
        if not path.exists():
            create_key_file(path)
        current, *older = read_key_file(path)
        previous += older
    if production and len(current) < MIN_PRODUCTION_KEY_LENGTH:
        raise ConfigurationError(
            f"The secret key is too short for production ({len(current)} characters; at least "
            f"{MIN_PRODUCTION_KEY_LENGTH}). Generate one with `{GENERATE_HINT}`."
        )
    return KeyRing(current.encode(), tuple(key.encode() for key in previous if key != current))


def init_app(app: Flask) -> None:
    """Resolve the keys and hand Flask, Flask-WTF and Flask-Login their derived keys."""
    ring = resolve_keys(app)
    app.extensions["survey.keyring"] = ring
    session_keys = [key.hex() for key in ring.derive_all(SESSION_PURPOSE)]
    app.config["SECRET_KEY"] = session_keys[0]
    app.config["SECRET_KEY_FALLBACKS"] = session_keys[1:]
    # itsdangerous signs with the last key of a list and verifies with all of them.
    app.config["WTF_CSRF_SECRET_KEY"] = [key.hex() for key in reversed(ring.derive_all(CSRF_PURPOSE))]
