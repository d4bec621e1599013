"""The public results pages."""
