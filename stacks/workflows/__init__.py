"""The state machines: ``retraining`` (train, evaluate, gate, register), ``deployment`` (version → endpoint).

The model registry is the contract between them: retraining registers a version, and the
approval event of a version starts a deployment. ``shared`` holds what both use: the failure
route with its catch-all, and the SageMaker task builder.
"""
