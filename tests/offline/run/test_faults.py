"""Which states ``--fail-at`` accepts, read from a definition."""

from __future__ import annotations

import pytest

from offline.run.faults import FaultPlan, UnknownStateError, failable_states, top_level_failable_states

CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "Next": "Record"}]
DEFINITION = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Task", "Resource": "arn:fn", "Next": "Builds", "Catch": CATCH_ALL},
        "Builds": {
            "Type": "Parallel",
            "Next": "Find",
            "Catch": CATCH_ALL,
            "Branches": [{"StartAt": "Build", "States": {"Build": {"Type": "Task", "Resource": "x", "End": True}}}],
        },
        "Find": {
            "Type": "Task",
            "Resource": "x",
            "Next": "Done",
            "Catch": [{"ErrorEquals": ["SageMaker.ValidationException"], "Next": "Create"}, *CATCH_ALL],
        },
        "Create": {"Type": "Task", "Resource": "x", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Record": {"Type": "Pass", "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:fn", "Next": "Failed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_failable_states_are_the_normal_path_tasks_including_branches_and_specific_catches():
    assert failable_states(DEFINITION) == ["Start", "Build", "Find", "Create"]


def test_the_error_path_is_not_failable():
    assert "Notify" not in failable_states(DEFINITION)


def test_top_level_excludes_states_inside_branches():
    assert top_level_failable_states(DEFINITION) == ["Start", "Find", "Create"]


def test_an_unknown_state_lists_the_valid_ones():
    with pytest.raises(UnknownStateError, match="choose one of: Start, Build, Find, Create"):
        FaultPlan("Nope").validate(DEFINITION)


def test_an_armed_fault_fires_once():
    plan = FaultPlan("Train")
    plan.arm("training", "job-1")

    assert plan.take("training", "job-1")
    assert not plan.take("training", "job-1")
