"""The retraining run's quality gate: reads the evaluation report and decides the new version's approval status."""
