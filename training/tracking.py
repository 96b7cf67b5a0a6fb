# ruff: noqa: N803 - X is the feature matrix, as in scikit-learn
"""Experiment tracking with MLflow: optional, and never in the way of the job.

Tracking is on when ``MLFLOW_TRACKING_URI`` is set and non-empty: an ``http(s)://`` server
(offline mode's local one) or the ARN of a SageMaker managed tracking server, which the
``sagemaker-mlflow`` plugin resolves to its endpoint and signs with SigV4. Runs go to the
experiment ``MLFLOW_EXPERIMENT_NAME``, else ``fraud-<ENVIRONMENT>`` (``fraud-offline``).

A tracking server is a convenience, not a dependency, so a job whose server is down, slow or
refusing it still finishes, and within seconds:

* the server is probed first, for at most :data:`PROBE_SECONDS` (an HTTP answer of any status
  from ``<uri>/health``; a TCP connection for an ARN's endpoint). Without the probe, MLflow's
  defaults (a 120 s timeout, 7 retries with exponential back-off) would stall a job for minutes;
* MLflow's own HTTP client is bounded by :data:`HTTP_LIMITS` (names from
  ``mlflow.environment_variables``) unless the operator set them, for a server that fails later;
* any failure becomes one line, ``WARNING: MLflow tracking unavailable (<reason>); <job> continues
  without it``, and the status ``{"status": "unavailable", "reason": ...}`` the job records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES

FloatArray = npt.NDArray[np.float64]
Status = dict[str, Any]
#: Logs what a job wants recorded (MLflow's tracking URI is set when it is called); returns the run id.
Logger = Callable[[], str]

PROBE_SECONDS: Final = 3.0
HTTP_LIMITS: Final[dict[str, str]] = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
#: Where the sagemaker-mlflow plugin sends an ARN's requests (``SageMakerMLflowHostMetadataProvider``).
_SAGEMAKER_ENDPOINTS: Final = {
    "mlflow-tracking-server": "https://{region}.experiments.sagemaker.aws",
    "mlflow-app": "https://mlflow.sagemaker.{region}.app.aws",
}
_MAX_REASON_CHARS: Final = 300


def tracking_uri(env: Mapping[str, str]) -> str:
    """The tracking URI, or ``""`` when tracking is off."""
    return env.get("MLFLOW_TRACKING_URI", "").strip()


def experiment_name(env: Mapping[str, str]) -> str:
    """``MLFLOW_EXPERIMENT_NAME``, else ``fraud-<ENVIRONMENT or "offline">``."""
    return env.get("MLFLOW_EXPERIMENT_NAME", "").strip() or f"fraud-{env.get('ENVIRONMENT', '').strip() or 'offline'}"


def shown_uri(uri: str) -> str:
    """The URI without any credentials in it, fit for logs and reports."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}".rstrip("/")
    return uri


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON_CHARS else line[: _MAX_REASON_CHARS - 3] + "..."


def _http_answers(url: str, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # http(s) only: see probe()
            return None
    except urllib.error.HTTPError:
        return None  # any status means a server is there; MLflow itself decides the rest
    except urllib.error.URLError as err:
        return f"cannot reach {shown_uri(url)}: {err.reason}"
    except (OSError, ValueError) as err:
        return f"cannot reach {shown_uri(url)}: {err}"


def _tcp_connects(host: str, port: int, timeout: float) -> str | None:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return f"cannot reach {host}:{port}: {err}"


def _within(seconds: float, check: Callable[[], str | None]) -> str | None:
    """``check()``'s answer, or a reason if it takes longer than ``seconds`` (a DNS lookup has no timeout)."""
    answer: list[str | None] = []
    worker = threading.Thread(target=lambda: answer.append(check()), daemon=True)
    worker.start()
    worker.join(seconds + 0.5)
    return answer[0] if answer else f"no answer within {seconds:g} s"


def _sagemaker_endpoint(arn: str, env: Mapping[str, str]) -> str | None:
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "sagemaker" or "/" not in parts[5]:
        return None
    template = _SAGEMAKER_ENDPOINTS.get(parts[5].split("/", 1)[0])
    if template is None:
        return None
    return env.get("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT") or template.format(region=parts[3])


def probe(uri: str, env: Mapping[str, str], timeout: float = PROBE_SECONDS) -> str | None:
    """Why the tracking server at ``uri`` cannot be reached within ``timeout`` seconds; ``None`` if it can."""
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        return _within(timeout, lambda: _http_answers(url, timeout))
    if scheme == "arn":
        endpoint = _sagemaker_endpoint(uri, env)
        if endpoint is None:
            return f"{uri} is not the ARN of a SageMaker MLflow tracking server"
        target = urlsplit(endpoint)
        host, port = target.hostname or "", target.port or 443
        return _within(timeout, lambda: _tcp_connects(host, port, timeout))
    return None  # a local store (file:, sqlite:): nothing to reach


@contextlib.contextmanager
def _bounded_http() -> Iterator[None]:
    """Apply :data:`HTTP_LIMITS` (MLflow reads them from ``os.environ`` per request) for the block only."""
    added = [name for name in HTTP_LIMITS if name not in os.environ]
    for name in added:
        os.environ[name] = HTTP_LIMITS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _abandon_active_run() -> None:
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    with contextlib.suppress(Exception), _bounded_http():
        if mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED")


def track(env: Mapping[str, str], log: Logger, *, job: str) -> Status:
    """Run ``log`` against the tracking server when tracking is on; return the status the job records.

    ``{"status": "off"}`` without a URI; ``{"status": "logged", "run_id", "tracking_uri"}`` on
    success; otherwise ``{"status": "unavailable", "reason"}`` after the one-line warning.
    """
    uri = tracking_uri(env)
    if not uri:
        return {"status": "off"}
    started = time.monotonic()
    reason = probe(uri, env)
    if reason is None:
        try:
            with _bounded_http():
                import mlflow

                if urlsplit(uri).scheme != "arn":
                    # sagemaker-mlflow's header provider fails (and MLflow warns) on every request to a
                    # server that is not named by an ARN; the requests themselves are fine.
                    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
                mlflow.set_tracking_uri(uri)
                run_id = log()
            print(f"MLflow: logged run {run_id} to {shown_uri(uri)} in {time.monotonic() - started:.1f} s", flush=True)
            return {"status": "logged", "run_id": run_id, "tracking_uri": shown_uri(uri)}
        except Exception as err:
            reason = _one_line(f"{type(err).__name__}: {err}")
            _abandon_active_run()
    print(f"WARNING: MLflow tracking unavailable ({reason}); {job} continues without it", file=sys.stderr, flush=True)
    return {"status": "unavailable", "reason": reason}


def _pins(*names: str) -> list[str]:
    pins = []
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            pins.append(f"{name}=={version(name)}")
    return pins


def training_logger(
    env: Mapping[str, str],
    *,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    model: Any,
    X_example: FloatArray,
) -> Logger:
    """What the training job logs: hyperparameters, metrics, tags, and the model with its signature."""

    def log() -> str:
        import mlflow
        import mlflow.sklearn
        import pandas as pd  # type: ignore[import-untyped]
        from mlflow.models import infer_signature

        mlflow.set_experiment(experiment_name(env))
        example = pd.DataFrame(X_example, columns=list(FEATURE_NAMES))
        signature = infer_signature(example, model.predict_proba(X_example))
        # skops where the client has it (MLflow 3.x's default: loading it runs no pickled code).
        use_skops = "skops" in mlflow.sklearn.SUPPORTED_SERIALIZATION_FORMATS and bool(_pins("skops"))
        serializer = "skops" if use_skops else "cloudpickle"
        options: dict[str, Any] = {"serialization_format": serializer}
        if use_skops:
            import skops.io  # type: ignore[import-untyped]

            # Our own model: its scikit-learn classes are the ones to trust when it is loaded.
            options["skops_trusted_types"] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        with mlflow.start_run(run_name=tags.get("training_job_name")) as run:
            mlflow.log_params(dict(params))
            mlflow.log_metrics(dict(metrics))
            mlflow.set_tags(dict(tags))
            with warnings.catch_warnings():
                # The example has column names; the model was fitted on a plain array.
                warnings.filterwarnings("ignore", message="X has feature names", category=UserWarning)
                mlflow.sklearn.log_model(
                    model,
                    name="model",
                    signature=signature,
                    input_example=example,
                    pyfunc_predict_fn="predict_proba",
                    # Given, so MLflow does not spend seconds inferring them in a subprocess.
                    pip_requirements=_pins("scikit-learn", "numpy", "scipy", "joblib", serializer),
                    **options,
                )
            return str(run.info.run_id)

    return log


def evaluation_logger(
    env: Mapping[str, str],
    *,
    challenger_run_id: str | None,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    report: Mapping[str, Any],
) -> Logger:
    """What the evaluation job logs: into the challenger's own run when it has one, else into a new run."""

    def log() -> str:
        import mlflow
        from mlflow.exceptions import MlflowException

        run_id = challenger_run_id
        if run_id:
            try:
                mlflow.MlflowClient().get_run(run_id)
            except MlflowException as err:
                if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                run_id = None  # e.g. trained against another tracking server
        if not run_id:
            mlflow.set_experiment(experiment_name(env))
        with mlflow.start_run(run_id=run_id, run_name=None if run_id else tags.get("evaluation_run_id")) as run:
            mlflow.log_metrics(dict(metrics))
            mlflow.set_tags(dict(tags))
            mlflow.log_dict(dict(report), "evaluation/evaluation.json")
            return str(run.info.run_id)

    return log
