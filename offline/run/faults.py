"""``--fail-at STATE``: which states can fail, and the plan the integrations consult.

The valid names are read from the synthesized definition: every Task state on the normal
path (reachable from ``StartAt`` through ``Next``/``Default``/``Choices``, including
inside Parallel branches), and the Task states of the error path (reachable from a
catch-all ``Catch``). A state of the error path only runs after another failure, so
naming one also fails the first Task of the run: ``--fail-at NotifyFailure`` shows what
happens when the notification itself fails.

Each integration fails the way AWS would when its state is named: a CodeBuild build ends
FAILED, a training job's container writes ``failure``, a processing job's ``test`` input (else
its first) arrives empty so its container exits with an error, an endpoint goes to Failed, a
Lambda handler raises; any other task gets the service's error for a rejected call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


class UnknownStateError(ValueError):
    """``--fail-at`` named a state that is not a failable Task state of the definition."""


def _walk(states: dict[str, Any], start: str, *, follow_catch: bool) -> list[tuple[str, dict[str, Any]]]:
    """States reachable from ``start`` in definition order of discovery, descending into branches."""
    seen: list[str] = []
    found: list[tuple[str, dict[str, Any]]] = []
    pending = [start]
    while pending:
        name = pending.pop(0)
        if name in seen or name not in states:
            continue
        seen.append(name)
        state = states[name]
        found.append((name, state))
        successors = [state.get("Next"), state.get("Default")]
        successors += [choice.get("Next") for choice in state.get("Choices", [])]
        if follow_catch:
            successors += [catch.get("Next") for catch in state.get("Catch", [])]
        pending += [s for s in successors if s]
        for branch in state.get("Branches", []):
            found += _walk(branch["States"], branch["StartAt"], follow_catch=follow_catch)
        iterator = state.get("ItemProcessor") or state.get("Iterator")
        if iterator:
            found += _walk(iterator["States"], iterator["StartAt"], follow_catch=follow_catch)
    return found


def _starts(definition: dict[str, Any]) -> list[str]:
    """Where to walk from: ``StartAt``, or each machine's start in a combined definition (``Starts``)."""
    starts = definition.get("Starts")
    return list(starts) if starts else [definition["StartAt"]]


def _walk_all(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for start in _starts(definition):
        found += _walk(definition["States"], start, follow_catch=True)
    return found


def error_path_states(definition: dict[str, Any]) -> set[str]:
    """Names of the states reachable from a ``States.ALL`` Catch (the notify-error path).

    A Catch of specific errors can be part of the normal flow (e.g. "endpoint not found →
    create it"), so only catch-all handlers start the error path.
    """
    names: set[str] = set()
    for _, state in _walk_all(definition):
        for catch in state.get("Catch", []):
            if "States.ALL" in catch.get("ErrorEquals", []):
                names |= {name for name, _ in _walk(definition["States"], catch["Next"], follow_catch=True)}
    return names


def failable_states(definition: dict[str, Any]) -> list[str]:
    """Task states of the normal path, in the order a run meets them."""
    error_path = error_path_states(definition)
    names: list[str] = []
    for name, state in _walk_all(definition):
        if state.get("Type") == "Task" and name not in error_path and name not in names:
            names.append(name)
    return names


def error_path_tasks(definition: dict[str, Any]) -> list[str]:
    """Task states that only run after another failure (the notifications of the error path)."""
    error_path = error_path_states(definition)
    names: list[str] = []
    for name, state in _walk_all(definition):
        if state.get("Type") == "Task" and name in error_path and name not in names:
            names.append(name)
    return names


def top_level_failable_states(definition: dict[str, Any]) -> list[str]:
    """The failable states that sit at the top level of the definition (not inside a branch)."""
    return [name for name in failable_states(definition) if name in definition["States"]]


@dataclass
class FaultPlan:
    """The state to fail, if any, and one-shot arms the integrations consume.

    ``validate`` resolves the states that actually fail (the named one, plus the first Task
    when the named one is on the error path); ``disarm`` stops injecting, for the runs after
    the first.
    """

    state: str | None = None
    _armed: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failing: frozenset[str] = field(default_factory=frozenset)
    also_failing: str | None = None

    def validate(self, definition: dict[str, Any]) -> None:
        if self.state is None:
            return
        normal = failable_states(definition)
        valid = normal + error_path_tasks(definition)
        if self.state not in valid:
            raise UnknownStateError(
                f"--fail-at {self.state!r} is not a Task state of the pipeline; choose one of: {', '.join(valid)}"
            )
        failing = {self.state}
        if self.state not in normal and normal:
            self.also_failing = normal[0]
            failing.add(normal[0])
        self._failing = frozenset(failing)

    def targets(self, state_name: str | None) -> bool:
        if self.state is None or state_name is None:
            return False
        return state_name in (self._failing or {self.state})

    def retarget(self, state: str, definition: dict[str, Any]) -> None:
        """Fail ``state`` from now on instead (tests that need a fault in a later run)."""
        with self._lock:
            self.state = state
            self._armed.clear()
        self.validate(definition)

    def disarm(self) -> None:
        """Inject nothing more (``--runs N --fail-at``: only the first run fails)."""
        with self._lock:
            self.state = None
            self._failing = frozenset()
            self._armed.clear()

    def arm(self, kind: str, resource_name: str) -> None:
        """Make the next ``kind`` operation on ``resource_name`` fail (e.g. an endpoint deploy)."""
        with self._lock:
            self._armed.add((kind, resource_name))

    def take(self, kind: str, resource_name: str) -> bool:
        """Whether an armed fault applies to this operation; disarms it."""
        with self._lock:
            if (kind, resource_name) in self._armed:
                self._armed.discard((kind, resource_name))
                return True
            return False
