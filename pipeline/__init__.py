"""Operating a deployed environment from a shell: ``python -m pipeline --help``."""
