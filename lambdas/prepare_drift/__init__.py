"""The drift state machine's first step: the live version, the window, and whether there is anything to examine."""
