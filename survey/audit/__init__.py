"""The audit log (see :mod:`survey.audit.log`)."""
