"""Large exports prepared in the background, with progress (small ones stream directly)."""
