# ruff: noqa: N803 - X is the feature matrix, as in scikit-learn
"""Export the trained classifier to ONNX, the artifact the serving container loads.

ONNX holds a graph of standard operators and their numbers: loading it cannot run code, unlike
a pickle (``joblib.load`` runs whatever the file carries). skl2onnx converts a
``HistGradientBoostingClassifier`` into one ``ai.onnx.ml`` ``TreeEnsembleClassifier`` node with
the model's own missing-value routing (``nodes_missing_value_tracks_true``), which onnxruntime
executes. The graph returns the raw margin (skl2onnx's ``raw_scores``: the sum of the baseline and
the leaves, scikit-learn's ``decision_function``) as :data:`OUTPUT_NAME`, and the serving loader
applies the logistic function in float64: onnxruntime's LOGISTIC post transform works in float32,
where the probability of a clearly legitimate transaction (1e-9, say) comes back as exactly 0.0.

Why a second step after skl2onnx: the converter writes split thresholds, leaf values and the
baseline as ONNX *float* attributes (32-bit) even for double input. scikit-learn compares
float64 inputs against float64 thresholds, and histogram thresholds often equal a value seen in
the data (a feature rounded to cents, say), so a 32-bit threshold sends such rows down the other
branch: on the synthetic data that was 5-8 % of rows, off by up to 0.25 in probability. The
operator's ``ai.onnx.ml`` version 3 takes the same numbers as float64 tensors
(``nodes_values_as_tensor``, ``class_weights_as_tensor``, ``base_values_as_tensor``;
ONNX operator docs, "ai.onnx.ml.TreeEnsembleClassifier",
https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsembleClassifier.html), so
:func:`_full_precision` replaces them with the classifier's own float64 values, node by node.
Every replaced value must round to the 32-bit number skl2onnx wrote, which proves the nodes are
matched. The margins onnxruntime returns are float32 (its classifier's output type); the
probabilities computed from them are within about 1e-8 of scikit-learn's, and within 1e-6 relative.

:func:`check_agreement` then scores held-out rows with both and refuses an export whose
probabilities differ by more than :data:`TOLERANCE` (training fails rather than ship it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.feature_schema import N_FEATURES

FloatArray = npt.NDArray[np.float64]

#: The largest difference from ``predict_proba`` an exported model may show.
TOLERANCE: Final = 1e-6
#: The standard and ML operator set versions the artifact declares (ML 3: tensor attributes).
ONNX_OPSET: Final = 18
ML_OPSET: Final = 3
GRAPH_NAME: Final = "fraud_detector"
#: The graph's output the server reads: per row, the margins of class 0 and class 1 (``-m``, ``m``).
OUTPUT_NAME: Final = "margins"


class ExportError(Exception):
    """The model cannot be exported faithfully; the message says why."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """How the exported model compares with ``predict_proba`` on the checked rows."""

    rows: int
    max_difference: float
    #: Rows whose label differs; allowed only within :data:`TOLERANCE` of the threshold.
    label_differences: int
    #: Rows within :data:`TOLERANCE` of the threshold (their label may differ by rounding).
    near_threshold: int


def to_onnx(classifier: Any) -> bytes:
    """The serialized ONNX model of a fitted binary ``HistGradientBoostingClassifier``."""
    from onnx import TensorProto
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    if list(getattr(classifier, "classes_", [])) != [0.0, 1.0]:
        raise ExportError(
            f"only binary 0/1 classifiers are exported; classes are {getattr(classifier, 'classes_', None)}"
        )
    model = convert_sklearn(
        classifier,
        initial_types=[("X", DoubleTensorType([None, N_FEATURES]))],
        options={id(classifier): {"zipmap": False, "raw_scores": True}},
        target_opset={"": ONNX_OPSET, "ai.onnx.ml": ML_OPSET},
    )
    _full_precision(model, classifier)
    model.graph.name = GRAPH_NAME  # skl2onnx names it with a random UUID; the version hash needs the same bytes
    # The classifier operator returns float32 scores whatever its input type; name them for what they are.
    for output in model.graph.output:
        if output.name == "probabilities":
            output.type.tensor_type.elem_type = TensorProto.FLOAT
            output.name = OUTPUT_NAME
    for node in model.graph.node:
        node.output[:] = [OUTPUT_NAME if name == "probabilities" else name for name in node.output]
    blob: bytes = model.SerializeToString()
    return blob


def _full_precision(model: Any, classifier: Any) -> None:
    from onnx import helper, numpy_helper

    nodes = [node for node in model.graph.node if node.op_type == "TreeEnsembleClassifier"]
    if len(nodes) != 1:
        raise ExportError(f"expected one TreeEnsembleClassifier node, found {len(nodes)}")
    node = nodes[0]
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    trees = [per_iteration[0].nodes for per_iteration in classifier._predictors]
    modes = attributes["nodes_modes"]
    thresholds = np.array(
        [
            0.0 if mode == b"LEAF" else trees[tree]["num_threshold"][index]
            for tree, index, mode in zip(attributes["nodes_treeids"], attributes["nodes_nodeids"], modes, strict=True)
        ],
        dtype=np.float64,
    )
    weights = np.array(
        [trees[t]["value"][i] for t, i in zip(attributes["class_treeids"], attributes["class_nodeids"], strict=True)],
        dtype=np.float64,
    )
    baseline = np.asarray(classifier._baseline_prediction, dtype=np.float64).ravel()
    for name, exact in (("nodes_values", thresholds), ("class_weights", weights), ("base_values", baseline)):
        written = np.asarray(attributes[name], dtype=np.float32)
        if written.shape != exact.shape or not np.array_equal(written, exact.astype(np.float32)):
            raise ExportError(f"the converter's {name} do not match the classifier's trees; cannot export exactly")
    replaced = {"nodes_values", "class_weights", "base_values", "nodes_hitrates"}
    kept = [a for a in node.attribute if a.name not in replaced]
    del node.attribute[:]
    node.attribute.extend(kept)
    for name, values in (
        ("nodes_values_as_tensor", thresholds),
        ("class_weights_as_tensor", weights),
        ("base_values_as_tensor", baseline),
    ):
        node.attribute.append(helper.make_attribute(name, numpy_helper.from_array(values)))
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = ML_OPSET


def check_agreement(classifier: Any, exported: FloatArray, X: FloatArray, threshold: float) -> Agreement:
    """Compare ``exported`` probabilities of ``X`` with ``predict_proba``; raise if they disagree."""
    expected = classifier.predict_proba(X)[:, 1]
    difference = np.abs(expected - exported)
    worst = float(difference.max()) if len(X) else 0.0
    near = np.abs(expected - threshold) <= TOLERANCE
    flipped = (expected >= threshold) != (exported >= threshold)
    agreement = Agreement(len(X), worst, int(flipped.sum()), int(near.sum()))
    if worst > TOLERANCE:
        row = int(difference.argmax())
        raise ExportError(
            f"the ONNX model's probabilities differ from scikit-learn's by up to {worst:.3g} (row {row + 1}: "
            f"{float(exported[row])!r} against {float(expected[row])!r}); the limit is {TOLERANCE:g}"
        )
    if (flipped & ~near).any():
        raise ExportError("the ONNX model labels a row differently from scikit-learn away from the threshold")
    return agreement


def probe_rows(X: FloatArray, seed: int, rows: int = 2_000) -> FloatArray:
    """Rows to check an export on: a sample of ``X``, the same with a tenth of values missing, extremes."""
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), size=min(rows, len(X)), replace=False)] if len(X) else X
    holes = sample.copy()
    holes[rng.random(holes.shape) < 0.1] = np.nan
    extremes = np.vstack([np.zeros((1, N_FEATURES)), np.full((1, N_FEATURES), 1e300), np.full((1, N_FEATURES), np.nan)])
    checked: FloatArray = np.vstack([sample, holes, extremes])
    return checked


def export_checked(classifier: Any, X: FloatArray, threshold: float, seed: int) -> tuple[bytes, Agreement]:
    """:func:`to_onnx`, scored by the serving loader's runtime and held to :func:`check_agreement`."""
    from inference.model import OnnxScorer

    blob = to_onnx(classifier)
    rows = probe_rows(X, seed)
    return blob, check_agreement(classifier, OnnxScorer(blob)(rows), rows, threshold)
