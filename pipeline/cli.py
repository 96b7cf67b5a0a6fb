"""``python -m pipeline``: operate a deployed environment (``make retrain``, ``approve`` and ``reject`` call it).

``retrain`` starts a run on the newest complete dataset; ``models list|show|approve|reject``
shows the environment's model versions and records a decision on one (``pipeline.models``).

Exit status: 0 when the command did what it says (``retrain --wait``: the run succeeded;
approving an already approved version changes nothing and is 0 too); 1 when AWS refused or
could not be reached, or the run could not start or did not succeed; 2 for a usage error,
such as an unknown ``--env`` or a version the registry does not have.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from pipeline import models, retrain
from pipeline.environments import OperationError, environment
from stacks.config import ConfigError, EnvironmentConfig


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "retrain",
        help="start a run on the newest complete dataset",
        description="Start the environment's state machine on the newest dataset whose _SUCCESS marker exists. "
        "Uses your AWS credentials and region (AWS_PROFILE, AWS_REGION), or cdk.json's region if it sets one.",
    )
    command.add_argument("--env", default="dev", help="the cdk.json environment (default dev)")
    command.add_argument("--reason", default="started by hand (make retrain)", help="recorded with the run")
    command.add_argument("--wait", action="store_true", help="follow the run until it ends; exit 1 unless it succeeds")
    command.add_argument(
        "--poll-seconds", type=float, default=10.0, help="with --wait: how often to look (default 10 s)"
    )
    _models_parser(commands)
    return root


def _models_parser(commands: Any) -> None:
    group = commands.add_parser(
        "models",
        help="list the environment's model versions; approve or reject one",
        description="The environment's model registry (its model package group). Approving a version makes the "
        "deployment state machine deploy it; rejecting the live version makes it roll back to the newest other "
        "Approved version. Uses your AWS credentials, or offline mode's local AWS through AWS_ENDPOINT_URL.",
    )
    actions = group.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the versions, newest first, with the live one marked")
    listing.add_argument(
        "--limit", type=int, default=20, help="show at most this many versions (default 20; 0 shows all)"
    )
    shown = actions.add_parser("show", help="everything about one version")
    approve = actions.add_parser("approve", help="approve a version: the deployment state machine deploys it")
    reject = actions.add_parser(
        "reject", help="reject a version: if it is live, the deployment state machine rolls back"
    )
    for action in (listing, shown, approve, reject):
        action.add_argument("--env", default="dev", help="the cdk.json environment (default dev)")
    for action in (shown, approve, reject):
        action.add_argument("version", type=int, metavar="VERSION", help="the version number (models list shows them)")
    for action in (approve, reject):
        action.add_argument("--reason", default="", help="why; recorded in the version's approval description")


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.command == "retrain" and options.poll_seconds <= 0:
        print("error: --poll-seconds must be positive", file=sys.stderr)
        return 2
    if options.command == "models" and options.action == "list" and options.limit < 0:
        print("error: --limit must be 0 (all) or more", file=sys.stderr)
        return 2
    try:
        config = environment(options.env)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=config.region) if config.region else boto3.session.Session()
    if options.command == "models":
        return _models(options, config, session)
    return _retrain(options, config, session)


def _models(options: argparse.Namespace, config: EnvironmentConfig, session: Any) -> int:
    try:
        place = models.locate(session.client("cloudformation"), config)
        registry = models.Registry(session.client("sagemaker"), place)
        if options.action == "list":
            models.list_versions(registry, print, limit=options.limit or None)
        elif options.action == "show":
            models.show_version(registry, options.version, print)
        else:
            approve = options.action == "approve"
            decision = models.Decision(
                status="Approved" if approve else "Rejected",
                verb="approved" if approve else "rejected",
                caller=str(session.client("sts").get_caller_identity()["Arn"]),
                reason=" ".join(options.reason.split()),
            )
            models.decide(registry, options.version, decision, print)
    except models.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OperationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS refused or could not be reached: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _retrain(options: argparse.Namespace, config: EnvironmentConfig, session: Any) -> int:
    stack = config.stack_name("Pipeline")
    try:
        sfn = session.client("stepfunctions")
        started = retrain.start(
            cloudformation=session.client("cloudformation"),
            s3=session.client("s3"),
            sfn=sfn,
            stack_name=stack,
            reason=options.reason,
        )
        print(f"started {started.execution_arn}\n  on the newest complete dataset, {started.dataset}")
        print(f"  console: {started.console_url}")
        if not options.wait:
            print(f"  follow it: aws stepfunctions describe-execution --execution-arn {started.execution_arn}")
            return 0
        status = retrain.follow(sfn, started.execution_arn, report=print, poll_seconds=options.poll_seconds)
    except OperationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS refused or could not be reached: {error}", file=sys.stderr)
        return 1
    print(f"run {status}")
    return 0 if status == "SUCCEEDED" else 1
