"""``python -m pipeline``: operate a deployed environment (``make retrain ENV=...`` calls it).

Exit status: 0 when the run started (with ``--wait``: and succeeded); 1 when it could not
start or did not succeed; 2 for a usage error, such as an unknown ``--env``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from pipeline import retrain
from pipeline.environments import OperationError, environment
from stacks.config import ConfigError


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
    return root


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.poll_seconds <= 0:
        print("error: --poll-seconds must be positive", file=sys.stderr)
        return 2
    try:
        config = environment(options.env)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=config.region) if config.region else boto3.session.Session()
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
