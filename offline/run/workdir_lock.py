"""One offline run per work directory.

Two runs in one checkout would share ``.offline/``: the second would delete the first's
builds, training jobs and endpoints when it starts (``LocalPipeline`` clears them) and
overwrite its synthesized assembly. The lock is an advisory ``flock`` on
``<workdir>/run.lock``, released by the kernel when the process ends, however it ends, so a
crashed run never leaves a stale lock behind. The file records the holder's pid for the
message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class WorkdirBusyError(RuntimeError):
    """Another offline run holds the work directory."""


@contextlib.contextmanager
def locked(workdir: Path) -> Iterator[None]:
    """Hold ``workdir`` for this process, or raise :class:`WorkdirBusyError` naming the holder."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "run.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise WorkdirBusyError(
                f"another offline run (pid {holder}) is using {workdir}; wait for it to end, "
                "or give this one its own --workdir DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
