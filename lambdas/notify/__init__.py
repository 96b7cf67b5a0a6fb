"""Turns the state machine's success or failure state into a message for people."""
