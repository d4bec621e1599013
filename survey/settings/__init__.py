"""Settings a national administrator changes in the manager pages (audited)."""
