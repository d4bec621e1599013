"""Administrative procedures: the national catalogue imported from CSV."""
