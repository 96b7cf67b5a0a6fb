"""The deployment state machine's first step: which model package version to put live, if any."""
