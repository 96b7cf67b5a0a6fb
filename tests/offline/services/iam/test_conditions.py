"""IAM condition operators, checked against the IAM User Guide.

Cases come from "IAM JSON policy elements: Condition operators" (missing keys, ``...IfExists``,
``Null``, the ArnLike-vs-StringLike example), "Condition with multiple context keys or values"
(AND across keys and operators, OR across values, none-may-match for negated operators) and
"Single-valued vs. multivalued context keys" (ForAllValues / ForAnyValue, the
``ForAllValues:StringNotLike`` ``aws:TagKeys`` ``key1*`` example).
"""

from __future__ import annotations

import pytest

from offline.services.iam.conditions import ContextValue, UnsupportedConditionError, conditions_hold

ACCOUNT = "123456789012"
NEGATED = [
    ("StringNotEquals", "x"),
    ("StringNotEqualsIgnoreCase", "x"),
    ("StringNotLike", "x*"),
    ("NumericNotEquals", "1"),
    ("DateNotEquals", "2020-01-01T00:00:00Z"),
    ("NotIpAddress", "203.0.113.0/24"),
    ("ArnNotEquals", "arn:aws:sns:*:*:topic"),
    ("ArnNotLike", "arn:aws:sns:*:*:topic"),
]


def holds(operator: str, key: str, value: object, context: dict[str, ContextValue]) -> bool:
    return conditions_hold({operator: {key: value}}, context)


# --- strings ---------------------------------------------------------------------------------


def test_string_equals_compares_values_case_sensitively() -> None:
    # Given a StringEquals on aws:SourceAccount
    # When the request carries the same value, then a different-case value
    # Then only the exact value matches
    assert holds("StringEquals", "aws:SourceAccount", ACCOUNT, {"aws:SourceAccount": ACCOUNT})
    assert not holds("StringEquals", "aws:PrincipalTag/team", "ML", {"aws:PrincipalTag/team": "ml"})


def test_condition_keys_match_whatever_their_case() -> None:
    # Given a policy key and a context key spelled with different case
    # When the condition is evaluated
    # Then the key is found: condition keys are case-insensitive
    assert holds("StringEquals", "aws:sourceaccount", ACCOUNT, {"AWS:SourceAccount": ACCOUNT})


def test_ignore_case_operator_ignores_case_of_values() -> None:
    # Given StringEqualsIgnoreCase
    # When the request value differs only in case
    # Then it matches
    assert holds("StringEqualsIgnoreCase", "aws:PrincipalTag/team", "ML", {"aws:PrincipalTag/team": "ml"})


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("MyApp/*", "MyApp/Model", True),
        ("MyApp/?", "MyApp/A", True),
        ("MyApp/?", "MyApp/AB", False),
        ("MyApp/*", "myapp/x", False),
    ],
)
def test_string_like_supports_star_and_question_mark(pattern: str, value: str, expected: bool) -> None:
    # Given a StringLike pattern; When matched; Then * spans any run and ? one character, case-sensitively
    assert holds("StringLike", "cloudwatch:namespace", pattern, {"cloudwatch:namespace": value}) is expected


def test_several_values_for_one_key_are_ored() -> None:
    # Given StringEquals with two allowed services
    # When the request names the second one
    # Then the condition holds
    services = ["sagemaker.amazonaws.com", "lambda.amazonaws.com"]
    assert holds("StringEquals", "iam:PassedToService", services, {"iam:PassedToService": "lambda.amazonaws.com"})


def test_negated_operator_with_several_values_requires_that_none_match() -> None:
    # Given StringNotEquals with two values
    # When the request value is one of them, then neither
    # Then the first fails and the second holds
    values = ["a", "b"]
    assert not holds("StringNotEquals", "k", values, {"k": "a"})
    assert holds("StringNotEquals", "k", values, {"k": "c"})


def test_several_keys_under_one_operator_are_anded() -> None:
    # Given StringEquals on two keys
    # When only one of them matches
    # Then the operator fails
    block = {"StringEquals": {"aws:SourceAccount": ACCOUNT, "aws:PrincipalTag/team": "ml"}}
    assert not conditions_hold(block, {"aws:SourceAccount": ACCOUNT, "aws:PrincipalTag/team": "ops"})
    assert conditions_hold(block, {"aws:SourceAccount": ACCOUNT, "aws:PrincipalTag/team": "ml"})


def test_several_operators_are_anded() -> None:
    # Given an ArnLike and a StringEquals, as CDK writes for a Step Functions role
    # When the source ARN matches but the account does not
    # Then the block fails
    block = {
        "ArnLike": {"aws:SourceArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:*"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    source = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:sm"
    assert conditions_hold(block, {"aws:SourceArn": source, "aws:SourceAccount": ACCOUNT})
    assert not conditions_hold(block, {"aws:SourceArn": source, "aws:SourceAccount": "999999999999"})


def test_an_empty_block_holds() -> None:
    # Given no conditions; When evaluated; Then nothing restricts the statement
    assert conditions_hold({}, {})


# --- missing keys, IfExists, Null --------------------------------------------------------------


def test_missing_key_makes_a_positive_operator_false() -> None:
    # Given StringEquals on a key the request lacks; When evaluated; Then the values do not match
    assert not holds("StringEquals", "aws:SourceArn", "x", {})


@pytest.mark.parametrize(("operator", "value"), NEGATED)
def test_missing_key_makes_a_negated_operator_true(operator: str, value: str) -> None:
    # Given a negated operator on a key the request lacks; When evaluated; Then the condition is true
    assert holds(operator, "some:key", value, {})


def test_if_exists_holds_when_the_key_is_missing() -> None:
    # Given StringLikeIfExists (the guide's ec2:InstanceType example); When the key is absent; Then true
    assert holds("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], {})


def test_if_exists_still_checks_a_present_key() -> None:
    # Given StringLikeIfExists; When the key is present with another value; Then false
    assert not holds("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*"], {"ec2:InstanceType": "p3.2xlarge"})
    assert holds("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*"], {"ec2:InstanceType": "t2.micro"})


def test_negated_if_exists_is_true_when_missing() -> None:
    # Given StringNotEqualsIfExists (guide: a Deny with it still denies when the tag is missing)
    # When the key is absent; Then the condition holds
    assert holds("StringNotEqualsIfExists", "aws:ResourceTag/team", "ml", {})


@pytest.mark.parametrize(
    ("expected", "context", "result"),
    [("true", {}, True), ("true", {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, False), (False, {}, False)],
)
def test_null_tests_whether_the_key_is_present(
    expected: object, context: dict[str, ContextValue], result: bool
) -> None:
    # Given Null on aws:TokenIssueTime (the guide's example); When evaluated; Then true means absent
    assert holds("Null", "aws:TokenIssueTime", expected, context) is result


# --- numbers, dates, booleans, binary, IP addresses ----------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "result"),
    [
        ("NumericLessThanEquals", 10, True),
        ("NumericLessThanEquals", 11, False),
        ("NumericLessThan", 10, False),
        ("NumericGreaterThan", 11, True),
        ("NumericGreaterThanEquals", 10, True),
        ("NumericEquals", "10.0", True),
        ("NumericNotEquals", 10, False),
    ],
)
def test_numeric_operators_put_the_request_value_on_the_left(operator: str, value: ContextValue, result: bool) -> None:
    # Given NumericX against "10" on s3:max-keys (the guide's example); When compared; Then request X policy
    assert holds(operator, "s3:max-keys", "10", {"s3:max-keys": value}) is result


@pytest.mark.parametrize(
    ("policy_value", "request_value", "result"),
    [
        ("2020-01-01T00:00:01Z", "2020-06-01T00:00:00Z", True),
        ("2020-01-01T00:00:01Z", "2019-12-31T23:59:59Z", False),
        ("2020-01-01", "2020-01-01T00:00:01+00:00", True),
        ("1577836801", "2020-06-01T00:00:00Z", True),
        ("2020-01-01T00:00:01Z", 1590969600, True),
    ],
)
def test_date_operators_accept_iso_8601_and_epoch(policy_value: str, request_value: ContextValue, result: bool) -> None:
    # Given DateGreaterThan on aws:TokenIssueTime; When dates are ISO 8601 or epoch seconds; Then compared as instants
    assert holds("DateGreaterThan", "aws:TokenIssueTime", policy_value, {"aws:TokenIssueTime": request_value}) is result


@pytest.mark.parametrize("policy_value", ["false", False])
@pytest.mark.parametrize("request_value", ["false", False])
def test_bool_accepts_json_booleans_and_strings(policy_value: object, request_value: ContextValue) -> None:
    # Given Bool aws:SecureTransport false written either way; When the request is false either way; Then it matches
    assert holds("Bool", "aws:SecureTransport", policy_value, {"aws:SecureTransport": request_value})
    assert not holds("Bool", "aws:SecureTransport", policy_value, {"aws:SecureTransport": True})


def test_binary_equals_compares_decoded_bytes() -> None:
    # Given BinaryEquals with the guide's base-64 value; When the request has the same bytes; Then it matches
    assert holds("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="})
    assert not holds("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", {"key": "b3RoZXI="})


@pytest.mark.parametrize(
    ("network", "address", "result"),
    [
        ("203.0.113.0/24", "203.0.113.7", True),
        ("203.0.113.0/24", "198.51.100.7", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7", "203.0.113.8", False),
        ("2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
    ],
)
def test_ip_address_matches_cidr_ranges(network: str, address: str, result: bool) -> None:
    # Given IpAddress on aws:SourceIp (a bare address means /32); When matched; Then range membership decides
    assert holds("IpAddress", "aws:SourceIp", network, {"aws:SourceIp": address}) is result
    assert holds("NotIpAddress", "aws:SourceIp", network, {"aws:SourceIp": address}) is not result


# --- ARNs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["ArnLike", "ArnEquals"])
def test_arn_operators_compare_each_part_with_wildcards(operator: str) -> None:
    # Given ArnLike or ArnEquals (identical per the guide) with wildcards in region and resource
    # When the request ARN fits, then comes from another account
    # Then only the first matches
    pattern = f"arn:aws:states:*:{ACCOUNT}:stateMachine:*"
    assert holds(
        operator, "aws:SourceArn", pattern, {"aws:SourceArn": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:sm"}
    )
    assert not holds(
        operator, "aws:SourceArn", pattern, {"aws:SourceArn": "arn:aws:states:eu-west-1:999999999999:stateMachine:sm"}
    )


def test_arn_like_keeps_wildcards_inside_their_part_where_string_like_does_not() -> None:
    # Given the guide's pattern and request value
    # When compared with StringLike and with ArnLike
    # Then StringLike matches (its * spans colons) and ArnLike does not
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert holds("StringLike", "aws:SourceArn", pattern, {"aws:SourceArn": value})
    assert not holds("ArnLike", "aws:SourceArn", pattern, {"aws:SourceArn": value})


def test_arn_parts_are_case_sensitive() -> None:
    # Given ArnLike on a role ARN; When the request spells the role in another case; Then no match
    pattern = f"arn:aws:iam::{ACCOUNT}:role/MyRole"
    assert not holds(
        "ArnLike", "aws:PrincipalArn", pattern, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/myrole"}
    )


# --- multivalued keys and set operators --------------------------------------------------------------


def test_for_all_values_needs_every_request_value_in_the_policy_set() -> None:
    # Given ForAllValues:StringEquals over two tag keys
    # When the request's keys are a subset, then include another
    # Then only the subset holds
    allowed = ["team", "cost-center"]
    assert holds("ForAllValues:StringEquals", "aws:TagKeys", allowed, {"aws:TagKeys": ["team"]})
    assert not holds("ForAllValues:StringEquals", "aws:TagKeys", allowed, {"aws:TagKeys": ["team", "owner"]})


@pytest.mark.parametrize("context", [{}, {"aws:TagKeys": []}])
def test_for_all_values_holds_when_the_key_is_missing_or_empty(context: dict[str, ContextValue]) -> None:
    # Given ForAllValues; When the request has no values; Then it holds (the guide's warning)
    assert holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], context)


def test_for_any_value_needs_one_request_value_in_the_policy_set() -> None:
    # Given ForAnyValue:StringEquals; When one request value overlaps, then none; Then only the first holds
    assert holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], {"aws:TagKeys": ["owner", "team"]})
    assert not holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], {"aws:TagKeys": ["owner"]})


@pytest.mark.parametrize(
    "operator", ["ForAnyValue:StringEquals", "ForAnyValue:StringNotEquals", "ForAnyValue:StringEqualsIfExists"]
)
@pytest.mark.parametrize("context", [{}, {"aws:TagKeys": []}])
def test_for_any_value_fails_when_the_key_is_missing_or_empty(operator: str, context: dict[str, ContextValue]) -> None:
    # Given ForAnyValue, whether negated or IfExists; When the request has no values; Then it fails
    assert not holds(operator, "aws:TagKeys", ["team"], context)


@pytest.mark.parametrize(
    ("tag_keys", "denied"),
    [(["key1:legal"], False), (["key1:hr", "key1:personnel"], False), (["key2:audit"], True), (None, True)],
)
def test_for_all_values_string_not_like_follows_the_guides_deny_table(tag_keys: list[str] | None, denied: bool) -> None:
    # Given the guide's Deny condition ForAllValues:StringNotLike aws:TagKeys "key1*"
    # When the request carries the table's tag keys (or none)
    # Then the condition matches exactly where the guide says the request is denied
    context: dict[str, ContextValue] = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert holds("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", context) is denied


def test_list_value_without_set_operator_is_treated_as_for_any_value() -> None:
    # Given a plain StringEquals; When the request key holds a list; Then one matching member suffices
    assert holds("StringEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["owner", "team"]})
    assert not holds("StringEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["owner"]})


# --- what we refuse to guess ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        {"StringLikeIgnoreCase": {"k": "v"}},
        {"stringequals": {"k": "v"}},
        {"NullIfExists": {"k": "true"}},
        {"ForAllValues:Null": {"k": "true"}},
        {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
        {"NumericEquals": {"k": "ten"}},
        {"ArnLike": {"aws:SourceArn": "not-an-arn"}},
        {"StringEquals": {"k": {"nested": "object"}}},
    ],
)
def test_unsupported_conditions_raise(block: dict) -> None:
    # Given an operator, a policy variable or a value we cannot decide faithfully
    # When evaluated; Then UnsupportedConditionError is raised instead of a guess
    with pytest.raises(UnsupportedConditionError):
        conditions_hold(block, {"k": "v", "s3:prefix": "home/x/", "aws:SourceArn": "arn:aws:sns:r:a:t"})


def test_unparseable_request_values_do_not_match() -> None:
    # Given numeric, date and IP operators; When the request value is malformed; Then it simply does not match
    assert not holds("NumericEquals", "k", "1", {"k": "one"})
    assert not holds("DateLessThan", "k", "2020-01-01", {"k": "yesterday"})
    assert not holds("IpAddress", "k", "203.0.113.0/24", {"k": "localhost"})
