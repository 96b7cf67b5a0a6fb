# ruff: noqa: N803 - X is the feature matrix, as in scikit-learn
"""Load the trained model, an ONNX graph, and score rows with onnxruntime.

The model directory holds ``model.onnx`` and ``model.json`` (``training.train`` writes them).
Nothing here unpickles: ONNX is a graph of standard operators and numbers, so loading a model
cannot run code, and a pickle left in the directory (``model.joblib``, what earlier versions
served) is never opened.

onnxruntime is a maintained runtime for exactly this job, chosen by measurement on this
project's model (200 trees, depth 8; one thread each; ``make bench`` keeps the first two current
in ``docs/benchmarks.md``): one row in about 0.01 ms, 100 rows in 0.4 ms, 100,000 rows in 0.47 s,
against scikit-learn's ``predict_proba`` at about 1.2 ms, 1.9 ms and 0.5-0.55 s. Treelite 4.8's
GTIL interpreter, the other maintained runtime that reads this model without code, took 0.046 ms,
1.7 ms and 1.7 s (measured once, 2026-11-24). TL2cgen compiles each model to a shared library, and
loading a library is running code: the artifact would carry native code again. Each session runs
one intra-op and one inter-op thread: the server runs one worker process per core already.

The probabilities are scikit-learn's within 1e-6, missing values (NaN) included:
``training.onnx_export`` refuses to write a model that is not, and a test holds it there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES, MODEL_FILE, MODEL_METADATA_FILE, N_FEATURES

FloatArray = npt.NDArray[np.float64]

#: The graph's input and output the server feeds and reads (``training.onnx_export`` names them): rows of
#: float64 features in, each row's margins (class 0, class 1: the model's raw score) out.
INPUT_NAME: Final = "X"
OUTPUT_NAME: Final = "margins"


class ModelLoadError(Exception):
    """The model directory is missing or does not hold a model this server can serve."""


class Scorer(Protocol):
    """Anything that turns an ``(n, N_FEATURES)`` float64 array into fraud probabilities."""

    def __call__(self, X: FloatArray) -> FloatArray: ...


class OnnxScorer:
    """An onnxruntime session over a serialized binary classifier; scores float64 rows."""

    def __init__(self, model: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: the server's log is for requests
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.runtime = f"onnxruntime {ort.__version__}"
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        _expect(INPUT_NAME in inputs and len(inputs) == 1, f"one input named {INPUT_NAME!r}, got {sorted(inputs)}")
        _expect(inputs[INPUT_NAME].type == "tensor(double)", f"a double input, got {inputs[INPUT_NAME].type}")
        width = inputs[INPUT_NAME].shape[-1]
        _expect(width == N_FEATURES, f"{N_FEATURES} features per row, got {width}")
        _expect(OUTPUT_NAME in outputs, f"an output named {OUTPUT_NAME!r}, got {sorted(outputs)}")
        self._outputs = [OUTPUT_NAME]

    def __call__(self, X: FloatArray) -> FloatArray:
        """Fraud probabilities (class 1) for the rows of ``X`` (schema column order)."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        margins = self._session.run(self._outputs, {INPUT_NAME: rows})[0]
        return logistic(margins[:, 1].astype(np.float64))


#: Up to this many margins, the logistic's last steps are done on Python floats: each numpy array
#: operation costs about 0.8 us whatever the size, ten times the arithmetic of one row.
SMALL_BATCH: Final = 8


def logistic(margin: FloatArray) -> FloatArray:
    """``1 / (1 + exp(-margin))`` in float64, without overflow for margins of either sign (as scipy's expit)."""
    exp_neg_abs = np.exp(-np.abs(margin))
    if margin.size <= SMALL_BATCH:  # the same exp, the same correctly rounded division: the same bits
        pairs = zip(margin.tolist(), exp_neg_abs.tolist(), strict=True)
        return np.array([1.0 / (1.0 + e) if m >= 0 else e / (1.0 + e) for m, e in pairs], dtype=np.float64)
    result: FloatArray = np.where(margin >= 0, 1.0 / (1.0 + exp_neg_abs), exp_neg_abs / (1.0 + exp_neg_abs))
    return result


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"the ONNX graph does not fit this server: expected {what}")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """What the server needs: a scorer, the decision threshold, the version to report, the runtime."""

    score: Scorer
    threshold: float
    version: str
    runtime: str


def _metadata(path: Path) -> tuple[float, str]:
    try:
        metadata: Any = json.loads(path.read_text(encoding="utf-8"))
        threshold = float(metadata["threshold"])
        version = str(metadata["model_version"])
        names = tuple(metadata["feature_names"])
    except (ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"{path} is not valid model metadata: {err}") from None
    if names != FEATURE_NAMES:
        raise ModelLoadError(
            f"{path} lists features {', '.join(names)}; this server expects {', '.join(FEATURE_NAMES)}"
        )
    if not 0.0 <= threshold <= 1.0:
        raise ModelLoadError(f"{path} has threshold {threshold}; a probability threshold lies within [0, 1]")
    return threshold, version


def load_model(model_dir: Path | str) -> LoadedModel:
    """Load ``model.onnx`` + ``model.json`` from ``model_dir`` or raise :class:`ModelLoadError`."""
    directory = Path(model_dir)
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {directory} does not exist")
    model_path, metadata_path = directory / MODEL_FILE, directory / MODEL_METADATA_FILE
    for path in (model_path, metadata_path):
        if not path.is_file():
            held = ", ".join(sorted(p.name for p in directory.iterdir())) or "nothing"
            raise ModelLoadError(f"model directory {directory} has no {path.name} (it holds {held})")
    threshold, version = _metadata(metadata_path)
    try:
        scorer = OnnxScorer(model_path.read_bytes())
        probe = scorer(np.vstack([np.zeros(N_FEATURES), np.full(N_FEATURES, np.nan)]))
    except Exception as err:
        detail = str(err).splitlines()[0][:300] if str(err) else ""
        raise ModelLoadError(f"{model_path} could not be loaded: {type(err).__name__}: {detail}") from None
    if probe.shape != (2,) or not np.isfinite(probe).all():
        raise ModelLoadError(f"{model_path} does not answer one probability per row")
    return LoadedModel(scorer, threshold, version, scorer.runtime)
