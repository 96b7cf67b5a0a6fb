"""Offline mode: the whole pipeline on one machine, from the synthesized app (see README.md).

The package is laid out the way the work flows:

* ``deploy/``: the deploy step. ``assembly`` synthesizes the app (or loads an existing
  cloud assembly), ``intrinsics`` resolves CloudFormation's functions, ``provision``
  creates the stacks' resources in the local AWS.
* ``services/``: one module per AWS service or integration that moto lacks or that offline
  mode has to run for real (IAM evaluation, CodeBuild, SageMaker training, hosting and
  runtime, Step Functions integrations, EventBridge, Lambda, API Gateway, ...). Each
  docstring names the AWS behaviour it reproduces and where AWS documents it.
* ``moto_patches/``: the only place that changes moto's internals; each patch hands over
  to a ``services`` module. Pinned by ``tests/offline/test_moto_internals.py``.
* ``run/``: the run itself: the CLI, the session that starts the local AWS and follows
  executions, progress output, fault injection and child processes.
"""
