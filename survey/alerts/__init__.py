"""Alerts for managers: index drops, overdue complaint cases and misuse spikes."""
