"""The execution facts a state machine passes to its Lambdas (``$$.Execution``, ``$$.StateMachine``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ExecutionContext(BaseModel):
    """The ``$$.Execution`` / ``$$.StateMachine`` facts the state machine passes along."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    start_time: datetime
    state_machine_arn: str = Field(min_length=1)
