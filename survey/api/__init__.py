"""The versioned JSON/CSV API under ``/api/v1``: open data today (no key needed to read results).

Structure, so later capabilities slot in: ``errors.py`` (``{code, message}`` for every error of the
blueprint), ``views.py`` (one function per endpoint). API keys, the OpenAPI document and the
transactions endpoint register on the same :data:`bp`.
"""

from flask import Blueprint

bp = Blueprint("api", __name__)

from survey.api import errors, transactions, views  # noqa: E402,F401  (register handlers and routes on bp)
