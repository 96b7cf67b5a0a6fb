"""The drift job's parts: capture reading, statistics, ground truth, the HTML report, CloudWatch metrics.

``python -m training.monitor`` composes them (see that module for the Processing contract and
``docs/drift.md`` for what is computed and why). Each module is usable and testable on its own.
"""
