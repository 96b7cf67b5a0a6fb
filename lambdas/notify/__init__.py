"""Turns a state machine's state into a message for people: run outcomes, registered versions, deployments."""
