"""The intrinsic resolver: each function CDK templates use, resolved against plain dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from offline.deploy.intrinsics import IntrinsicError, Pseudo, Resolver
from offline.deploy.resources.orchestration import without_escaped_quotes


@dataclass
class DictLookup:
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)

    def ref(self, logical_id: str) -> Any:
        if logical_id not in self.refs:
            raise IntrinsicError(f"no {logical_id}")
        return self.refs[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return self.attributes[(logical_id, attribute)]

    def import_value(self, export_name: str) -> Any:
        return self.exports[export_name]


def resolver(**kwargs: Any) -> Resolver:
    lookup = DictLookup(
        refs={"Bucket": "my-bucket", "Topic": "arn:aws:sns:eu-west-1:111122223333:topic"},
        attributes={("Fn", "Arn"): "arn:aws:lambda:eu-west-1:111122223333:function:fn"},
        exports={"Storage:BucketName": "exported-bucket"},
    )
    return Resolver(
        pseudo=Pseudo(account="111122223333", region="eu-west-1", stack_name="Stack"), lookup=lookup, **kwargs
    )


def test_ref_returns_the_physical_id_and_pseudo_parameters():
    assert resolver().resolve({"Ref": "Bucket"}) == "my-bucket"
    assert resolver().resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver().resolve({"Ref": "AWS::AccountId"}) == "111122223333"
    assert resolver().resolve({"Ref": "AWS::Partition"}) == "aws"


def test_get_att_accepts_the_list_and_the_dotted_form():
    assert resolver().resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "arn:aws:lambda:eu-west-1:111122223333:function:fn"
    assert resolver().resolve({"Fn::GetAtt": "Fn.Arn"}) == "arn:aws:lambda:eu-west-1:111122223333:function:fn"


def test_join_builds_a_state_machine_definition_string():
    # Given the shape CDK gives DefinitionString
    value = {"Fn::Join": ["", ['{"Resource":"', {"Fn::GetAtt": ["Fn", "Arn"]}, '","Next":"', {"Ref": "Bucket"}, '"}']]}

    # Then every piece is resolved in place
    assert (
        resolver().resolve(value)
        == '{"Resource":"arn:aws:lambda:eu-west-1:111122223333:function:fn","Next":"my-bucket"}'
    )


def test_sub_replaces_refs_attributes_pseudo_parameters_and_variables_and_keeps_escapes():
    value = {"Fn::Sub": ["${Bucket}/${Fn.Arn}/${AWS::Region}/${Extra}/${!Literal}", {"Extra": {"Ref": "Topic"}}]}

    assert resolver().resolve(value) == (
        "my-bucket/arn:aws:lambda:eu-west-1:111122223333:function:fn/eu-west-1/"
        "arn:aws:sns:eu-west-1:111122223333:topic/${Literal}"
    )


def test_import_value_reads_the_exporting_stack():
    assert resolver().resolve({"Fn::ImportValue": "Storage:BucketName"}) == "exported-bucket"


def test_select_and_split_take_apart_an_arn():
    value = {"Fn::Select": [5, {"Fn::Split": [":", {"Ref": "Topic"}]}]}

    assert resolver().resolve(value) == "topic"


def test_find_in_map_reads_mappings():
    mappings = {"Regions": {"eu-west-1": {"Image": "image-eu"}}}

    assert resolver(mappings=mappings).resolve({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Image"]}) == (
        "image-eu"
    )


def test_if_uses_conditions_and_no_value_drops_the_key():
    conditions = {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}}
    value = {"Name": {"Fn::If": ["IsProd", "prod-name", {"Ref": "AWS::NoValue"}]}, "Keep": 1}

    assert resolver(conditions=conditions, parameters={"Env": "dev"}).resolve(value) == {"Keep": 1}
    assert resolver(conditions=conditions, parameters={"Env": "prod"}).resolve(value) == {
        "Name": "prod-name",
        "Keep": 1,
    }


def test_parameters_resolve_to_their_defaults():
    assert resolver(parameters={"BootstrapVersion": "/cdk-bootstrap/version"}).resolve({"Ref": "BootstrapVersion"}) == (
        "/cdk-bootstrap/version"
    )


def test_an_unsupported_function_fails_naming_it():
    with pytest.raises(IntrinsicError, match="Fn::Transform"):
        resolver().resolve({"Fn::Transform": {"Name": "AWS::Include"}})


def test_escaped_quotes_in_intrinsic_strings_become_apostrophes_for_moto():
    # Given a definition (JSON text) whose States.Format holds an escaped quote
    definition = json.dumps({"Cause.$": "States.Format('this run\\'s {}', $.a)"})

    # Then moto gets a string its lexer reads, with the same meaning to a reader
    assert json.loads(without_escaped_quotes(definition)) == {"Cause.$": "States.Format('this run\u2019s {}', $.a)"}
