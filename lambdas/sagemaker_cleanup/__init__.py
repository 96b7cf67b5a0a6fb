"""Deletes the SageMaker models and endpoint configs the pipeline made: old ones after a deploy, all at teardown."""
