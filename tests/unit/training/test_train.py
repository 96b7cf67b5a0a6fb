# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The training job's pieces, called in-process: layout, channels, threshold, metrics, artifacts."""

import json
from pathlib import Path

import numpy as np
import pytest

from training.feature_schema import FEATURE_NAMES, LABEL, MODEL_FILE, MODEL_METADATA_FILE
from training.synthetic import generate, write_csv
from training.train import JobPaths, TrainingError, choose_threshold, evaluate, main, read_channel

HEADER = ",".join((*FEATURE_NAMES, LABEL))


def _layout(root: Path, rows: int = 3_000, seed: int = 1) -> dict[str, str]:
    X, y = generate(rows, seed)
    cut = int(rows * 0.7)
    write_csv(root / "input/data/train/part-0.csv", X[:cut], y[:cut])
    write_csv(root / "input/data/validation/part-0.csv", X[cut:], y[cut:])
    return {"SM_PREFIX": str(root), "OMP_NUM_THREADS": "1", "SM_HPS": json.dumps({"max_iter": "15"})}


def test_paths_default_to_the_opt_ml_layout() -> None:
    paths = JobPaths.from_env({})
    assert paths.train == Path("/opt/ml/input/data/train")
    assert paths.validation == Path("/opt/ml/input/data/validation")
    assert paths.model_dir == Path("/opt/ml/model")
    assert paths.output_data_dir == Path("/opt/ml/output/data")
    assert paths.output_dir == Path("/opt/ml/output")
    assert paths.hyperparameters_file == Path("/opt/ml/input/config/hyperparameters.json")


def test_sm_variables_override_the_layout() -> None:
    paths = JobPaths.from_env({"SM_CHANNEL_TRAIN": "/a", "SM_MODEL_DIR": "/m", "SM_OUTPUT_DIR": "/o"})
    assert (paths.train, paths.model_dir, paths.output_dir) == (Path("/a"), Path("/m"), Path("/o"))


def test_a_channel_of_several_files_is_read_in_sorted_order(tmp_path: Path) -> None:
    # Given a channel split over two files (written in reverse order)
    X, y = generate(400, 3)
    write_csv(tmp_path / "b.csv", X[200:], y[200:])
    write_csv(tmp_path / "a.csv", X[:200], y[:200])
    # When it is read
    got_X, got_y = read_channel("train", tmp_path)
    # Then both files are concatenated in name order
    assert np.array_equal(got_X, X)
    assert np.array_equal(got_y, y)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no .csv files"),
        (HEADER + "\n", "a header but no rows"),
        ("amount,hour\n1,2\n", "header must be"),
        (HEADER + "\n1,2,3\n", "rows must have 9 columns, got 3"),
        (HEADER + "\n1,abc,1,0,1,1,0,0.1,0\n", "malformed CSV"),
        (HEADER + "\n1,,1,0,1,1,0,0.1,0\n", "column 'hour_of_day' holds empty or non-finite values"),
        (HEADER + "\n1,25,1,0,1,1,0,0.1,0\n1,2,1,0,1,1,0,0.1,1\n", "column 'hour_of_day' has values"),
        (HEADER + "\n1,2,1,0,1,1,0,0.1,2\n", "must be 0 or 1"),
        (HEADER + "\n1,2,1,0,1,1,0,0.1,0\n", "needs both classes"),
    ],
)
def test_a_bad_channel_says_what_is_wrong(tmp_path: Path, content: str | None, fragment: str) -> None:
    # Given a channel directory with bad content
    if content is not None:
        (tmp_path / "data.csv").write_text(content)
    # When it is read, then the error names the problem
    with pytest.raises(TrainingError, match=fragment.replace("(", r"\(")):
        read_channel("train", tmp_path)


def test_a_missing_channel_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="channel 'validation' is missing"):
        read_channel("validation", tmp_path / "absent")


def test_threshold_maximizes_f1() -> None:
    # Given scores where 0.6 separates the classes perfectly
    y = np.array([0, 0, 0, 1, 1], dtype=float)
    proba = np.array([0.1, 0.2, 0.5, 0.6, 0.9])
    # Then the chosen threshold is 0.6 and F1 there is 1
    threshold = choose_threshold(y, proba)
    assert threshold == 0.6
    assert evaluate(y, proba, threshold)["validation:f1"] == 1.0


def test_metrics_at_a_threshold() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    proba = np.array([0.1, 0.7, 0.4, 0.8])
    metrics = evaluate(y, proba, 0.5)
    assert metrics["validation:precision"] == 0.5
    assert metrics["validation:recall"] == 0.5
    assert metrics["validation:roc_auc"] == 0.75
    assert metrics["validation:threshold"] == 0.5


def test_a_job_writes_model_metadata_and_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a SageMaker layout and job variables
    env = _layout(tmp_path) | {"TRAINING_JOB_NAME": "job-1", "DATA_VERSION": "d1", "RUN_ID": "r1"}
    # When the job runs
    assert main(env) == 0
    # Then the model carries the job name as its version, and the evaluation records the inputs
    metadata = json.loads((tmp_path / "model" / MODEL_METADATA_FILE).read_text())
    assert metadata["model_version"] == "job-1"
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert (tmp_path / "model" / MODEL_FILE).stat().st_size > 0
    evaluation = json.loads((tmp_path / "output/data/evaluation.json").read_text())
    assert evaluation["data_version"] == "d1"
    assert evaluation["code_version"] == "unknown"
    assert evaluation["run_id"] == "r1"
    assert evaluation["rows"] == {"train": 2_100, "validation": 900}
    assert evaluation["hyperparameters"]["max_iter"] == "15"
    assert 0.5 < evaluation["metrics"]["validation:roc_auc"] <= 1.0
    assert "#metric validation:roc_auc=" in capsys.readouterr().out


def test_without_a_job_name_the_version_is_a_content_hash(tmp_path: Path) -> None:
    # Given two runs on the same data and hyperparameters
    env = _layout(tmp_path)
    assert main(env) == 0
    first = json.loads((tmp_path / "model" / MODEL_METADATA_FILE).read_text())["model_version"]
    assert main(env) == 0
    second = json.loads((tmp_path / "model" / MODEL_METADATA_FILE).read_text())["model_version"]
    # Then the version is a hash, the same both times (training is deterministic)
    assert first.startswith("sha256-")
    assert first == second


def test_an_invalid_hyperparameters_file_fails_the_job(tmp_path: Path) -> None:
    # Given hyperparameters.json that is not JSON
    env = _layout(tmp_path)
    del env["SM_HPS"]
    (tmp_path / "input/config").mkdir(parents=True)
    (tmp_path / "input/config/hyperparameters.json").write_text("{oops")
    # Then the job fails and says why
    assert main(env) == 1
    assert "not valid JSON" in (tmp_path / "output/failure").read_text()


def test_sm_num_cpus_caps_the_openmp_threads() -> None:
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime that is capped
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    from training.train import _thread_limit

    # When the job runs under SM_NUM_CPUS=1, then OpenMP uses one thread
    with _thread_limit({"SM_NUM_CPUS": "1"}):
        assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"} == {1}


def test_empty_cells_of_nullable_features_are_read_as_missing_values(tmp_path: Path) -> None:
    # Given a channel whose nullable columns have empty cells (and one written as nan)
    lines = [HEADER, "125.5,14,,0,2,,1,0.02,0", "80.0,3,12.5,,nan,400,0,,1"]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    # When it is read
    X, y = read_channel("train", tmp_path)
    # Then those cells are NaN and the rest are the numbers written
    assert np.isnan(X[0, [2, 5]]).all()
    assert np.isnan(X[1, [3, 4, 7]]).all()
    assert X[0, 0] == 125.5
    assert y.tolist() == [0.0, 1.0]


def test_an_empty_cell_of_a_required_feature_is_an_error_naming_the_column_and_row(tmp_path: Path) -> None:
    lines = [HEADER, "125.5,14,3.2,0,2,400,1,0.02,0", "80.0,3,12.5,0,1,400,,0.1,1"]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        TrainingError, match=r"column 'is_online' holds empty or non-finite values \(first at data row 2\)"
    ):
        read_channel("train", tmp_path)


def test_a_model_trained_on_data_with_missing_values_is_exported_and_checked(tmp_path: Path) -> None:
    # Given training data with a tenth of the nullable cells empty
    env = _layout(tmp_path)
    for channel in ("train", "validation"):
        path = tmp_path / f"input/data/{channel}/part-0.csv"
        header, *rows = path.read_text().splitlines()
        holed = [
            ",".join("" if i in (2, 5, 7) and n % 10 == 0 else v for i, v in enumerate(row.split(",")))
            for n, row in enumerate(rows)
        ]
        path.write_text("\n".join([header, *holed]) + "\n")
    # When the job runs
    assert main(env) == 0
    # Then it exported the model, checked against scikit-learn on rows with missing values
    agreement = json.loads((tmp_path / "output/data/evaluation.json").read_text())["onnx_agreement"]
    assert agreement["max_difference"] <= 1e-6
    assert agreement["rows"] > 1_000
    assert (tmp_path / "model" / MODEL_FILE).read_bytes()[:2] != b"\x80\x04"  # not a pickle
    assert (tmp_path / "output/data/model.joblib").is_file()
