"""The closing-the-loop stories: batch scoring with batch transform, and drift that retrains.

* ``batch`` (dev): after version 1 deploys, a 100,000-row file (a header line and one malformed
  row among them) lands under ``batch/incoming/<name>/`` with its marker. The batch state machine
  scores it with batch transform; the output has one line per input line, in order, each the input
  line with ``probability,label,error`` appended, and its probabilities are the endpoint's for the
  same rows. The malformed row is answered with an error naming it; the rest are scored.
* ``drift`` (stage: its drift job has a schedule): after version 1 deploys, traffic drawn from
  ``training.synthetic``'s shifted distribution goes through the local API and is captured;
  labels for those requests arrive under ``labels/``. The drift job, started as its schedule
  would, reports the shifted features (JSON, HTML, metrics) and live precision and recall, and
  starts a retraining run with ``trigger: drift``; a second check within the cooldown is
  rate-limited.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import numpy as np

from offline.run import loop_support as support
from offline.run.progress import Log
from offline.run.scenarios import Story, output_value
from offline.run.session import LocalPipeline, post_prediction
from training import synthetic
from training.feature_schema import FEATURE_NAMES

#: The batch file: rows, and the line (1-based, the header is line 1) that is malformed.
BATCH_ROWS = 100_000
BAD_LINE = 5_001
#: Drifted traffic: requests of ``ROWS_PER_REQUEST`` rows drawn with ``training.synthetic``'s shift.
DRIFT = 2.0
DRIFT_REQUESTS = 80
ROWS_PER_REQUEST = 30
SHIFTED_FEATURES = ("amount", "distance_from_home_km", "transactions_last_24h", "merchant_risk_score")


# --- batch -----------------------------------------------------------------------------------


def _batch_file(seed: int) -> tuple[str, list[str]]:
    """The batch file's text and its data lines (the malformed one included)."""
    features, _labels = synthetic.generate(BATCH_ROWS, seed)
    buffer = io.StringIO()
    np.savetxt(buffer, features, delimiter=",", fmt="%.10g")
    lines = buffer.getvalue().splitlines()
    lines[BAD_LINE - 2] = "abc," + lines[BAD_LINE - 2].split(",", 1)[1]  # line BAD_LINE of the file
    return "\n".join([",".join(FEATURE_NAMES), *lines]) + "\n", lines


def _endpoint_probabilities(pipeline: LocalPipeline, lines: list[str]) -> list[str]:
    """The endpoint's probability for each line, as text, asked in two requests through SageMaker Runtime."""
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=pipeline.runtime_url,
        region_name=pipeline.aws.region,
        aws_access_key_id=pipeline.aws.environment()["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=pipeline.aws.environment()["AWS_SECRET_ACCESS_KEY"],
    )
    endpoint = output_value(pipeline, "EndpointName")
    probabilities: list[str] = []
    half = len(lines) // 2
    for chunk in (lines[:half], lines[half:]):
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="\n".join(chunk))
        predictions = json.loads(answer["Body"].read())["predictions"]
        probabilities += [repr(float(p["probability"])) for p in predictions]
    return probabilities


def batch(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    log("scenario batch, step 1: run 1 trains and deploys version 1")
    first = pipeline.run(rows=rows, seed=seed)
    story.runs.append(first)
    story.check("version 1 was approved and deployed", first.succeeded)
    text, lines = _batch_file(seed + 100)
    bucket, _prefix, marker = pipeline.data_location()
    name = "scenario-batch"
    key = f"batch/incoming/{name}/transactions.csv"
    log(f"scenario batch, step 2: {BATCH_ROWS:,} rows (a header, line {BAD_LINE} malformed) to s3://{bucket}/{key}")
    s3 = pipeline.aws.client("s3")
    delivered = len(pipeline.bridge.deliveries)
    first_note = len(pipeline.progress.notifications)
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    s3.put_object(Bucket=bucket, Key=f"batch/incoming/{name}/{marker}", Body=b"")
    support.settle(pipeline, delivered)
    started = [d.execution_arn for d in pipeline.bridge.deliveries[delivered:]]
    statuses = [pipeline.progress.status(arn) for arn in started]
    story.check("the marker started one batch execution, which succeeded", statuses == ["SUCCEEDED"], str(statuses))
    scored = support.notification(pipeline, first_note, " scored: ")
    story.check(
        "the notification gives the output and the counts",
        f"{BATCH_ROWS} rows" in scored and "1 bad" in scored,
        scored.splitlines()[0] if scored else "no batch notification",
    )
    output = s3.get_object(Bucket=bucket, Key=f"batch/output/{name}/transactions.csv.out")["Body"].read().decode()
    _check_batch_output(pipeline, story, output.splitlines(), lines, log)
    return story


def _check_batch_output(pipeline: LocalPipeline, story: Story, out: list[str], lines: list[str], log: Log) -> None:
    story.check(
        "one output line per input line (header included)",
        len(out) == len(lines) + 1,
        f"{len(out)} output lines for {len(lines) + 1} input lines",
    )
    in_order = all(o.startswith(i + ",") for o, i in zip(out[1:], lines, strict=False))
    story.check("each output line is its input line with the answer appended, in order", in_order)
    story.check("the header line is answered with the column names", out[0].endswith(",probability,label,error"))
    bad = out[BAD_LINE - 1] if len(out) >= BAD_LINE else ""
    story.check("the malformed line is answered with an error, the rest scored", ",,," in bad, bad[-120:])
    good = [i for i in range(len(lines)) if i != BAD_LINE - 2]
    batch_probabilities = [out[i + 1].rsplit(",", 3)[1] for i in good if len(out) > i + 1]
    endpoint = _endpoint_probabilities(pipeline, [lines[i] for i in good])
    matching = sum(
        abs(float(a) - float(b)) <= 1e-9 for a, b in zip(batch_probabilities, endpoint, strict=False) if a and b
    )
    story.check(
        "batch probabilities equal the endpoint's for the same rows",
        matching == len(good),
        f"{matching:,} of {len(good):,} rows match",
    )
    log(f"batch output (first 2 lines):\n  {out[0][-60:]}\n  {out[1][-60:]}\n  line {BAD_LINE}: {bad[-80:]}")


# --- drift -----------------------------------------------------------------------------------


def _send_drifted_traffic(pipeline: LocalPipeline, seed: int) -> dict[str, int]:
    """Shifted transactions through the local API; their labels by CSV line (for the ground truth)."""
    features, labels = synthetic.generate(DRIFT_REQUESTS * ROWS_PER_REQUEST, seed, drift=DRIFT)
    buffer = io.StringIO()
    np.savetxt(buffer, features, delimiter=",", fmt="%.10g")
    lines = buffer.getvalue().splitlines()
    truth = {line: int(label) for line, label in zip(lines, labels, strict=True)}
    for start in range(0, len(lines), ROWS_PER_REQUEST):
        status, body = post_prediction(pipeline.api.url, "\n".join(lines[start : start + ROWS_PER_REQUEST]))
        if status != 200:
            raise RuntimeError(f"the local API answered {status}: {body[:200]}")
    return truth


def _upload_labels(pipeline: LocalPipeline, truth: dict[str, int]) -> int:
    """Label each captured row, keyed ``<eventId>:<row>`` as the drift job joins them; the rows labelled."""
    artifacts = output_value(pipeline, "ArtifactsBucket")
    rows = ["event_id,is_fraud"]
    for key in support.keys_under(pipeline, artifacts, "data-capture/"):
        for record in support.read_object(pipeline, f"s3://{artifacts}/{key}").decode().splitlines():
            captured: dict[str, Any] = json.loads(record)
            event = captured["eventMetadata"]["eventId"]
            sent = captured["captureData"]["endpointInput"]["data"].splitlines()
            rows += [f"{event}:{index},{truth[line]}" for index, line in enumerate(sent) if line in truth]
    bucket, _prefix, _marker = pipeline.data_location()
    pipeline.aws.client("s3").put_object(Bucket=bucket, Key="labels/scenario-drift.csv", Body="\n".join(rows).encode())
    return len(rows) - 1


def _check_drift(pipeline: LocalPipeline, story: Story, first: int, log: Log) -> dict[str, Any]:
    """Run the scheduled drift check once; check its execution, report and notification."""
    drift_machine = pipeline.deployment.machine("drift")
    delivered, first_note = len(pipeline.bridge.deliveries), len(pipeline.progress.notifications)
    (started,) = pipeline.bridge.fire_schedule(drift_machine.arn)
    support.settle(pipeline, delivered)
    status = pipeline.progress.status(started.execution_arn)
    story.check(f"drift check {first} succeeded", status == "SUCCEEDED", status)
    output = support.execution_output(pipeline, started.execution_arn)
    drift: dict[str, Any] = output.get("drift") or {}
    drift["notification"] = support.notification(pipeline, first_note, "drift")
    return drift


def drift(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    log("scenario drift, step 1: run 1 trains and deploys version 1 (its baseline is the training data)")
    first = pipeline.run(rows=rows, seed=seed)
    story.runs.append(first)
    story.check("version 1 was approved and deployed", first.succeeded)
    requests = DRIFT_REQUESTS * ROWS_PER_REQUEST
    log(f"scenario drift, step 2: {requests:,} shifted transactions (drift {DRIFT}) through the local API")
    truth = _send_drifted_traffic(pipeline, seed + 200)
    pipeline.capture.flush()
    labelled = _upload_labels(pipeline, truth)
    log(f"scenario drift, step 3: {labelled:,} captured rows labelled under labels/; the drift job runs")
    found = _check_drift(pipeline, story, 1, log)
    drifted = set(found.get("drifted_features") or [])
    story.check("the report calls the shifted features drifted", set(SHIFTED_FEATURES) <= drifted, ", ".join(drifted))
    ground = found.get("ground_truth") or {}
    story.check(
        "live precision and recall from the labels",
        ground.get("precision") is not None and ground.get("recall") is not None,
        f"precision {ground.get('precision')}, recall {ground.get('recall')} on {ground.get('labelled')} rows",
    )
    story.check(
        "the notification names the drifted features and the retraining",
        "amount" in found["notification"] and "retraining started" in found["notification"],
        found["notification"].splitlines()[0] if found["notification"] else "none",
    )
    html = support.download(
        pipeline, str(found.get("report_html")), pipeline.workdir / "drift-reports" / "drift_report.html"
    )
    log(f"drift report: {found.get('report_json')}\nHTML report (open it in a browser): {html}")
    _check_retraining(pipeline, story)
    log("scenario drift, step 4: a second check within the cooldown")
    again = _check_drift(pipeline, story, 2, log)
    action = (again.get("retraining") or {}).get("action")
    story.check("the second drift is rate-limited: no second retraining", action == "rate_limited", str(action))
    runs = [e for e in support.executions(pipeline, "retraining") if e["name"].startswith("drift-")]
    story.check("one drift-triggered retraining in all", len(runs) == 1, f"{len(runs)} runs named drift-*")
    return story


def _check_retraining(pipeline: LocalPipeline, story: Story) -> None:
    runs = [e for e in support.executions(pipeline, "retraining") if e["name"].startswith("drift-")]
    story.check("the drift started one retraining run", len(runs) == 1, ", ".join(r["name"] for r in runs))
    if runs:
        started = support.execution_input(pipeline, runs[0]["executionArn"])
        story.check("its trigger is drift", started.get("trigger") == "drift", json.dumps(started)[:200])
        status = _status(pipeline, runs[0])
        story.check("the retraining run succeeded", status == "SUCCEEDED", status)


def _status(pipeline: LocalPipeline, execution: dict[str, Any]) -> str:
    described = pipeline.aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    return str(described["status"])
