"""Offline mode: the whole pipeline on one machine, from the synthesized app (see README.md)."""
