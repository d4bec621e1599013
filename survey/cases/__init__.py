"""Complaint cases (issue #11)."""
