"""Suspected misuse: flagging ratings (never deleting them) and clearing flags."""
