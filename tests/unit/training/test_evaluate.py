# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The evaluation job, called in-process: the report, each model at its own threshold, one-line errors."""

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.training.conftest import write_model_archive
from training.evaluate import main, run
from training.feature_schema import FEATURE_NAMES, LABEL, MODEL_FILE, MODEL_METADATA_FILE


def _layout(root: Path, data_dir: Path, challenger: Any | None, champion: Any | None = None, **env: str) -> dict:
    """A Processing job's inputs below ``root``: the test split and the model archives."""
    (root / "input/test").mkdir(parents=True)
    shutil.copy(data_dir / "test.csv", root / "input/test/test.csv")
    if challenger is not None:
        write_model_archive(root / "input/challenger/model.tar.gz", challenger, version="challenger-job")
    if champion is not None:
        write_model_archive(root / "input/champion/model.tar.gz", champion, version="champion-job", threshold=0.3)
    return {"PROCESSING_DIR": str(root), "RUN_ID": "run-1", "OMP_NUM_THREADS": "1"} | env


def _report(root: Path) -> dict[str, Any]:
    return json.loads((root / "evaluation/evaluation.json").read_text())


def _test_split(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(data_dir / "test.csv", delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1]


def test_the_challenger_alone_is_scored_on_the_test_data(tmp_path: Path, honest_data: Path, good_classifier) -> None:
    # Given a test split and a challenger, and no champion
    env = _layout(tmp_path, honest_data, good_classifier)
    # When the job runs
    assert main(env) == 0
    # Then the report has schema 1, the test set's size, the challenger's figures and no champion
    report = _report(tmp_path)
    _, y = _test_split(honest_data)
    assert report["schema_version"] == 1
    assert report["run_id"] == "run-1"
    assert report["test"] == {"rows": len(y), "positives": int(y.sum())}
    assert report["primary_metric"] == "pr_auc"
    assert report["champion"] is None
    assert report["mlflow"] == {"status": "off"}
    challenger = report["challenger"]
    assert (challenger["model_version"], challenger["threshold"], challenger["mlflow_run_id"]) == (
        "challenger-job",
        0.2,
        None,
    )
    assert set(challenger["metrics"]) == {"pr_auc", "roc_auc", "precision", "recall", "f1"}
    matrix = challenger["confusion_matrix"]
    assert sum(matrix.values()) == len(y)
    assert matrix["tp"] + matrix["fn"] == int(y.sum())


def test_the_metrics_are_those_of_the_scores_serving_gives(tmp_path: Path, honest_data: Path, good_classifier) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    # Given the challenger scored by the job
    report = run(_layout(tmp_path, honest_data, good_classifier))["challenger"]
    # When the same test rows are scored by scikit-learn directly
    X, y = _test_split(honest_data)
    proba = good_classifier.predict_proba(X)[:, 1]
    flagged = proba >= 0.2
    # Then PR-AUC (average precision), ROC-AUC and the confusion matrix at the threshold agree
    assert report["metrics"]["pr_auc"] == pytest.approx(average_precision_score(y, proba))
    assert report["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(y, proba))
    assert report["confusion_matrix"]["tp"] == int((flagged & (y == 1)).sum())
    assert report["confusion_matrix"]["fp"] == int((flagged & (y == 0)).sum())


def test_each_model_is_scored_at_its_own_threshold(tmp_path: Path, honest_data: Path, good_classifier) -> None:
    # Given the same classifier as challenger (threshold 0.2) and as champion (threshold 0.3)
    env = _layout(tmp_path, honest_data, good_classifier, good_classifier, CHAMPION_VERSION="3")
    # When the job runs
    report = run(env)
    challenger, champion = report["challenger"], report["champion"]
    # Then the threshold-free metrics agree, and the higher threshold flags no more rows
    assert champion["metrics"]["pr_auc"] == challenger["metrics"]["pr_auc"]
    assert champion["threshold"] == 0.3
    flagged = {
        role: m["confusion_matrix"]["tp"] + m["confusion_matrix"]["fp"]
        for role, m in report.items()
        if role in ("challenger", "champion")
    }
    assert flagged["champion"] <= flagged["challenger"]
    assert champion["package_version"] == "3"
    assert champion["model_version"] == "champion-job"


def test_a_challenger_trained_on_shuffled_labels_scores_far_below_the_champion(
    tmp_path: Path, honest_data: Path, good_classifier, bad_classifier
) -> None:
    # Given a challenger that learned nothing and an honest champion, on the same honest test split
    env = _layout(tmp_path, honest_data, bad_classifier, good_classifier, CHAMPION_VERSION="1")
    # When the job runs
    report = run(env)
    # Then the report shows the challenger far worse: PR-AUC near the fraud rate, ROC-AUC near chance
    challenger, champion = report["challenger"]["metrics"], report["champion"]["metrics"]
    assert champion["pr_auc"] > 3 * challenger["pr_auc"]
    assert champion["roc_auc"] > 0.75
    assert challenger["roc_auc"] < 0.65


def test_an_empty_champion_folder_means_no_champion(tmp_path: Path, honest_data: Path, good_classifier) -> None:
    env = _layout(tmp_path, honest_data, good_classifier)
    (tmp_path / "input/champion").mkdir()
    assert run(env)["champion"] is None


def _corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a tarball")


def _truncated(path: Path, classifier: Any) -> None:
    write_model_archive(path, classifier)
    path.write_bytes(path.read_bytes()[:200])


def _escaping(path: Path, classifier: Any) -> None:
    write_model_archive(path, classifier)
    with tarfile.open(path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tar:
        for info, blob in members:
            tar.addfile(info, io.BytesIO(blob))
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))


def _without_metadata(path: Path, classifier: Any) -> None:
    write_model_archive(path, classifier)
    with tarfile.open(path) as tar:
        blob = tar.extractfile(MODEL_FILE).read()  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))


def _legacy_champion(path: Path) -> None:
    """A champion archive as earlier versions wrote it: the pickle and the metadata."""
    metadata = json.dumps({"model_version": "1", "feature_names": list(FEATURE_NAMES), "threshold": 0.5}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in (("model.joblib", b"\x80\x04not loaded"), (MODEL_METADATA_FILE, metadata)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


BAD_INPUTS = {
    "no test data": (
        lambda root, c: shutil.rmtree(root / "input/test"),
        "the test data is unusable: channel 'test' is missing",
    ),
    "a test header out of order": (
        lambda root, c: (root / "input/test/test.csv").write_text("hour_of_day,amount\n1,2\n"),
        "channel 'test' file test.csv: header must be",
    ),
    "a test split of one class": (
        lambda root, c: (root / "input/test/test.csv").write_text(
            f"{','.join((*FEATURE_NAMES, LABEL))}\n1,2,1,0,1,1,0,0.1,0\n"
        ),
        "needs both classes",
    ),
    "no challenger": (lambda root, c: shutil.rmtree(root / "input/challenger"), "the challenger model is missing"),
    "a corrupt challenger": (lambda root, c: _corrupt(root / "input/challenger/model.tar.gz"), "cannot be unpacked"),
    "a truncated challenger": (
        lambda root, c: _truncated(root / "input/challenger/model.tar.gz", c),
        "cannot be unpacked",
    ),
    "an archive escaping its folder": (
        lambda root, c: _escaping(root / "input/challenger/model.tar.gz", c),
        "cannot be unpacked",
    ),
    "an archive without metadata": (
        lambda root, c: _without_metadata(root / "input/challenger/model.tar.gz", c),
        "the challenger model archive model.tar.gz has no model.json at its top level (it holds model.onnx)",
    ),
    "a champion from before ONNX": (
        lambda root, c: _legacy_champion(root / "input/champion/model.tar.gz"),
        "the champion model archive model.tar.gz has no model.onnx at its top level (it holds model.joblib, "
        "model.json); its model.joblib is a pickle written before models were exported to ONNX, and a pickle is "
        "never loaded",
    ),
    "other features": (
        lambda root, c: write_model_archive(
            root / "input/challenger/model.tar.gz", c, feature_names=tuple(reversed(FEATURE_NAMES))
        ),
        "lists features merchant_risk_score",
    ),
    "a corrupt champion": (
        lambda root, c: _corrupt(root / "input/champion/model.tar.gz"),
        "the champion model archive",
    ),
    "a champion folder without an archive": (
        lambda root, c: (root / "input/champion").mkdir() or (root / "input/champion/readme.txt").write_text("x"),
        "the champion input",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_input_fails_with_one_error_line(
    tmp_path: Path, honest_data: Path, good_classifier, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    # Given a job whose inputs are broken in one way
    env = _layout(tmp_path / "job", honest_data, good_classifier)
    breaker, fragment = BAD_INPUTS[case]
    breaker(tmp_path / "job", good_classifier)
    # When it runs
    code = main(env)
    # Then it exits 1 with exactly one line on stderr, naming the problem, and no report
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith("ERROR: ")
    assert fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "job/evaluation/evaluation.json").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_an_archive_named_otherwise_is_found_when_it_is_the_only_one(
    tmp_path: Path, honest_data: Path, good_classifier
) -> None:
    # Given the challenger's artifact under another name (e.g. a copied S3 object)
    env = _layout(tmp_path, honest_data, good_classifier)
    (tmp_path / "input/challenger/model.tar.gz").rename(tmp_path / "input/challenger/artifact.tar.gz")
    # Then it is still evaluated
    assert run(env)["challenger"]["model_version"] == "challenger-job"


def test_a_plain_gzip_that_is_no_tarball_is_refused(tmp_path: Path, honest_data: Path, good_classifier, capsys) -> None:
    env = _layout(tmp_path, honest_data, good_classifier)
    (tmp_path / "input/challenger/model.tar.gz").write_bytes(gzip.compress(b"just text"))
    assert main(env) == 1
    assert "cannot be unpacked" in capsys.readouterr().err
