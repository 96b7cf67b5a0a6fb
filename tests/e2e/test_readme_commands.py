"""The README's "Triggering a run" commands, run exactly as written against offline mode.

Each fenced ``bash`` block of that section runs, in order, in one bash process whose
environment points the aws CLI and boto3 at the local AWS (what ``python -m offline run
--serve`` prints for another shell). Every execution they start must train and deploy.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from offline.deploy.assembly import REPO_ROOT
from offline.run.progress import silent
from offline.run.session import LocalPipeline
from tests.e2e.conftest import synthesized_app

pytestmark = pytest.mark.slow

SECTION = "## Triggering a run"


def readme_blocks(section: str, readme: Path = REPO_ROOT / "README.md") -> list[str]:
    """The ``bash`` code blocks of one README section, in order."""
    text = readme.read_text()
    start = text.index(f"{section}\n")
    end = text.find("\n## ", start + len(section))
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.DOTALL)


def test_the_section_has_the_upload_and_the_manual_start_blocks() -> None:
    blocks = readme_blocks(SECTION)
    assert len(blocks) == 2
    assert "_SUCCESS" in blocks[0]
    assert "make retrain ENV=dev" in blocks[1]


def test_the_readme_commands_start_runs_that_train_and_deploy(workdir: Path) -> None:
    script = "set -euo pipefail\n" + "\n".join(readme_blocks(SECTION))
    with LocalPipeline(synthesized_app(), workdir=workdir, log=silent) as pipeline:
        environment = {
            **os.environ,
            **pipeline.aws.environment(),
            "AWS_DEFAULT_REGION": pipeline.aws.region,
            "PATH": f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }
        # When the README's commands run, as a user pastes them into another shell
        completed = subprocess.run(
            ["bash", "-c", script], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300
        )
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
        pipeline.follow_new_executions()
        # Each run registers a version, whose approval starts a deployment: wait for all of them
        pipeline.wait_until_settled()
        pipeline.follow_new_executions()
        retraining = f":execution:{pipeline.state_machine.name}:"
        started = [arn for arn in pipeline.progress.followed() if retraining in arn]
        statuses = [pipeline.progress.status(arn) for arn in started]
        subjects = [n.subject for n in pipeline.progress.notifications]
    # Then three runs started: the marker's, make retrain's and the CLI's, one after the other
    assert statuses == ["SUCCEEDED"] * 3, subjects
    # And each version went live: deployed, or (approved while the one before was still being
    # watched) superseded by the next one's deployment; the last one serves
    deployed = [s for s in subjects if " deployed to " in s]
    superseded = [s for s in subjects if " superseded on " in s]
    assert len(deployed) + len(superseded) == 3, subjects
    assert any(" version 3 deployed to " in s for s in deployed), subjects
    assert sum(" queued behind " in subject for subject in subjects) == 2
    names = [arn.rsplit(":", 1)[-1] for arn in started]
    assert names[1].startswith("retrain-")
    # And start-execution without --name was named with a UUID, as AWS names it
    assert str(uuid.UUID(names[2])) == names[2]
    # And make retrain said which dataset it takes
    assert "on the newest complete dataset, s3://" in completed.stdout
