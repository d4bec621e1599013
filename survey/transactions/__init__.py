"""Transactions (dossiers) registered by provinces' one-stop systems: validation (``codes.py``) and
registration (``operations.py``); their single-use rating links live in :mod:`survey.rating.invitations`."""
