"""CloudFormation's DescribeStacks for the stacks offline mode deployed: their outputs.

The README's commands find the data bucket, the state machine and the rest with
``aws cloudformation describe-stacks --stack-name <stack> --query "Stacks[0].Outputs[...]"``
(AWS CloudFormation API Reference, "DescribeStacks"; User Guide, "Outputs" section of a
template). Offline mode creates resources itself rather than through moto's CloudFormation
(see ``offline.deploy.provision``), so it registers each deployed stack with moto's
CloudFormation backend: status ``CREATE_COMPLETE`` and the template's outputs, their values
resolved as CloudFormation resolves them. Only reading is served; the stacks have no
resources, events or template in moto (offline/README.md lists this).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from moto.cloudformation.models import Stack, cloudformation_backends
from moto.cloudformation.parsing import Export, Output


@dataclass(frozen=True)
class StackOutput:
    key: str
    value: str
    description: str | None = None
    export_name: str | None = None


class _Outputs(dict[str, Output]):
    """What moto's ``Stack.outputs`` and ``Stack.exports`` read from a stack's output map."""

    def __init__(self, stack_id: str, outputs: list[StackOutput]) -> None:
        super().__init__({o.key: Output(o.key, o.value, o.description or "") for o in outputs})
        self.exports = [Export(stack_id, o.export_name, o.value) for o in outputs if o.export_name]


def register_stacks(*, account: str, region: str, stacks: dict[str, list[StackOutput]]) -> None:
    """Make ``describe-stacks`` answer each deployed stack (name → outputs) as CREATE_COMPLETE."""
    backend = cloudformation_backends[account][region]
    for name, outputs in stacks.items():
        stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
        stack = Stack(  # type: ignore[abstract]
            stack_id=stack_id, name=name, template={}, parameters={}, account_id=account, region_name=region
        )
        stack.output_map = _Outputs(stack_id, outputs)  # type: ignore[assignment]
        stack.status = "CREATE_COMPLETE"
        backend.stacks[stack_id] = stack
        for export in stack.output_map.exports:
            backend.exports[export.name] = export
