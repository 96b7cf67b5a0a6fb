"""How the product's Processing jobs end: exit 0, or one ``ERROR: <reason>`` line and exit 1.

SageMaker Processing has no failure-file convention (unlike training's ``/opt/ml/output/failure``):
a job that exits non-zero fails with ``AlgorithmError`` and what the container printed. So each
job prints one short line a person can act on, never a traceback, as the last thing it says.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

#: Longest reason printed (DescribeProcessingJob's FailureReason holds 1024 characters).
MAX_REASON_CHARS: Final = 900


def run_reporting_errors(
    run: Callable[[Mapping[str, str]], Any], env: Mapping[str, str], expected: type[Exception]
) -> int:
    """``run(env)``; 0 when it returns, else 1 after printing ``ERROR: <reason>`` to stderr.

    An ``expected`` error's message is the reason as it is; any other error is an internal one,
    named by its type.
    """
    try:
        run(env)
    except expected as err:
        reason = str(err)
    except Exception as err:  # one line, never a traceback: the line is the job's failure reason
        reason = f"internal error: {type(err).__name__}: {err}"
    else:
        return 0
    line = " ".join(reason.split())
    if len(line) > MAX_REASON_CHARS:
        line = line[: MAX_REASON_CHARS - 3] + "..."
    print(f"ERROR: {line}", file=sys.stderr, flush=True)
    return 1
