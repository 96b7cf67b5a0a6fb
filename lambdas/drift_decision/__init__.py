"""The drift state machine's decision: read the drift report, start a rate-limited retraining on drift."""
