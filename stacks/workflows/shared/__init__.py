"""Pieces both state machines use."""
