"""``python -m offline run`` as a user runs it: an existing cloud assembly, a fault, the recovery, the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.deploy.assembly import Assembly
from offline.run import cli

pytestmark = pytest.mark.slow


def test_an_existing_assembly_runs_as_it_is_and_a_broken_endpoint_recovers_on_the_next_run(
    assembly: Assembly, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cloud assembly already on disk (what `make synth` writes), which must not be synthesized again
    def no_synth(*args: object, **kwargs: object) -> Assembly:
        raise AssertionError("--assembly must not synthesize")

    monkeypatch.setattr(cli, "synthesize", no_synth)
    # When two runs go, the first with an endpoint that fails to come up
    code = cli.main(
        [
            "run",
            "--assembly",
            str(assembly.directory),
            "--rows",
            "4000",
            "--runs",
            "2",
            "--fail-at",
            "CreateEndpoint",
            "--workdir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    # Then run 1 fails as injected, run 2 deletes the Failed endpoint, recreates it and serves
    assert f"running the cloud assembly {assembly.directory}" in out
    assert "run 1 failed as injected (--fail-at CreateEndpoint)" in out
    assert "run finished in" in out
    assert out.count(": SUCCEEDED\n") >= 1
    assert "→ DeleteFailedEndpoint" in out
    assert "→ 200 " in out
    assert code == 0
    # And the progress is compact: the states that do the work, not the Choice, Pass and Wait states
    assert "→ Train (Task)" in out
    assert "(Choice)" not in out
    assert "(Pass)" not in out
    # And the registration notification is shown whole: the gate's figures, then the link at its end
    registered = out[out.index("SNS ▸ [FraudPipeline dev] version 1 approved") :]
    body = registered.split("Execution: https://", 1)[0]
    assert "PR-AUC" in body
    assert "ROC-AUC" in body
    assert "Decision: approved" in body
    # (version 1 never served: its endpoint failed to come up, as injected; version 2 recovered it)
    assert "SNS ▸ [FraudPipeline dev] version 2 deployed to fraud-detector-dev" in out
    # And the summary ends with the model's metrics and where to look next
    summary = out[out.rindex("model metrics (validation split):") :]
    assert "validation:roc_auc:" in summary
    assert summary.index("where to look next:") < summary.index("python -m offline run --serve")
    assert f"{tmp_path}/logs/notifications.log" in summary
