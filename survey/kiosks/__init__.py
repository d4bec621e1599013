"""Kiosk tablets: the one service that registers and revokes them (CLI and dashboard alike)."""
