"""Single-account IAM policy evaluation, checked against AWS's documented examples.

* IAM User Guide, "Policy evaluation for requests within a single account": the Carlos example
  (user ``carlossalazar``, statements AllowS3ListRead / AllowS3Self / DenyS3Logs, a bucket policy
  naming the user) and "If either the identity-based policy or the resource-based policy ...
  allows the request and the other doesn't, the request is still allowed".
* "Policy evaluation logic": role trust policies and KMS key policies "must explicitly allow
  access for principals".
* "AWS JSON policy elements: Principal" (an account principal delegates) and "NotPrincipal".
* AWS KMS Developer Guide, "Default key policy" (statement "Enable IAM User Permissions").
* "The confused deputy problem": a service trust policy conditioned on aws:SourceArn and
  aws:SourceAccount, as CDK writes it for a Step Functions role.
* "IAM JSON policy elements: Condition operators": the Bool aws:SecureTransport deny.
* "Troubleshoot access denied error messages": the reason wording.
"""

from __future__ import annotations

from typing import Any

import pytest

from offline.services.iam.conditions import UnsupportedConditionError
from offline.services.iam.policy import (
    Decision,
    Evaluation,
    Policy,
    PolicyKind,
    Principal,
    StatementRef,
    action_matches,
    denial_message,
    evaluate,
    resource_matches,
)

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CARLOS = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/carlossalazar", account=ACCOUNT)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/pipeline/TrainingRole"
SESSION = Principal(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/TrainingRole/session-1", account=ACCOUNT, role_arn=ROLE_ARN
)
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STATE_MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:Retrain"

CARLOS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowS3ListRead",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetAccountPublicAccessBlock",
                "s3:ListAccessPoints",
                "s3:ListAllMyBuckets",
            ],
            "Resource": "arn:aws:s3:::*",
        },
        {
            "Sid": "AllowS3Self",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
        },
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    ],
}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def bucket_policy_for_carlos(bucket: str) -> Policy:
    """The guide's bucket policy, which names the user directly."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": CARLOS.arn},
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
    }
    return Policy(f"bucket policy of {bucket}", doc(statement))


def identity(*statements: dict[str, Any], source: str = "inline policy of role TrainingRole") -> Policy:
    return Policy(source, doc(*statements))


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def sids(refs: tuple[StatementRef, ...]) -> list[str | None]:
    return [ref.sid for ref in refs]


# --- the Carlos example -------------------------------------------------------------------------------


def test_carlos_identity_deny_on_log_buckets_wins_over_a_bucket_policy_allow() -> None:
    # Given Carlos's policy (DenyS3Logs) and a bucket policy on the logs bucket allowing him everything
    # When he saves a file to carlossalazar-logs
    # Then the explicit deny in his identity-based policy decides
    result = evaluate(
        CARLOS,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar-logs/report.txt",
        {},
        identity=[Policy("user policy of carlossalazar", CARLOS_POLICY)],
        resource_policy=bucket_policy_for_carlos("carlossalazar-logs"),
    )
    assert result.decision is Decision.EXPLICIT_DENY
    assert result.reason == "with an explicit deny in an identity-based policy"
    assert sids(result.denied_by) == ["DenyS3Logs"]
    assert [ref.source for ref in result.allowed_by] == ["bucket policy of carlossalazar-logs"]


def test_carlos_own_bucket_is_allowed_by_both_policies() -> None:
    # Given Carlos's policy and the guide's bucket policy on carlossalazar
    # When he saves a file there
    # Then both allow and the request is allowed
    result = evaluate(
        CARLOS,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar/report.txt",
        {},
        identity=[Policy("user policy of carlossalazar", CARLOS_POLICY)],
        resource_policy=bucket_policy_for_carlos("carlossalazar"),
    )
    assert result.allowed
    assert result.reason == "allowed"
    assert sids(result.allowed_by) == ["AllowS3Self", None]
    assert result.denied_by == ()


def test_identity_allow_alone_suffices_in_one_account() -> None:
    # Given Carlos's policy and no bucket policy; When he writes to his bucket; Then the identity allow suffices
    result = evaluate(
        CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/a", {}, identity=[Policy("user", CARLOS_POLICY)]
    )
    assert result.allowed


def test_resource_allow_alone_suffices_in_one_account() -> None:
    # Given an identity policy that only lists buckets, and the bucket policy naming Carlos
    # When he writes to his bucket
    # Then the bucket policy's allow suffices
    listing = Policy("user policy", {"Statement": CARLOS_POLICY["Statement"][0]})
    result = evaluate(
        CARLOS,
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar/a",
        {},
        identity=[listing],
        resource_policy=bucket_policy_for_carlos("carlossalazar"),
    )
    assert result.allowed
    assert [ref.source for ref in result.allowed_by] == ["bucket policy of carlossalazar"]


def test_no_allow_anywhere_is_an_implicit_deny_worded_like_aws() -> None:
    # Given only the listing statement; When Carlos writes an object; Then AWS's implicit-deny message
    listing = Policy("user policy", {"Statement": CARLOS_POLICY["Statement"][0]})
    resource = "arn:aws:s3:::carlossalazar/a"
    result = evaluate(CARLOS, "s3:PutObject", resource, {}, identity=[listing])
    assert result.decision is Decision.IMPLICIT_DENY
    assert denial_message(CARLOS, "s3:PutObject", resource, result) == (
        f"User: {CARLOS.arn} is not authorized to perform: s3:PutObject on resource: {resource} "
        "because no identity-based policy allows the s3:PutObject action"
    )


def test_denial_message_refuses_an_allowed_evaluation() -> None:
    # Given an allowed evaluation; When asked for a denial message; Then it fails loudly
    with pytest.raises(ValueError, match="allowed"):
        denial_message(CARLOS, "s3:GetObject", "arn:aws:s3:::b/k", Evaluation(Decision.ALLOW, "allowed"))


# --- S3 bucket policies ----------------------------------------------------------------------------------

DENY_INSECURE = Policy(
    "bucket policy of data-bucket",
    doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ),
)


def test_deny_non_tls_bucket_policy_refuses_plain_http() -> None:
    # Given the deny-insecure-transport bucket policy and an identity allow
    # When the request is not over TLS
    # Then the resource-based explicit deny wins
    result = evaluate(
        SESSION,
        "s3:GetObject",
        "arn:aws:s3:::data-bucket/train.csv",
        {"aws:SecureTransport": False},
        identity=[identity(allow("s3:GetObject", "arn:aws:s3:::data-bucket/*"))],
        resource_policy=DENY_INSECURE,
    )
    assert result.decision is Decision.EXPLICIT_DENY
    assert result.reason == "with an explicit deny in a resource-based policy"
    assert sids(result.denied_by) == ["DenyInsecureTransport"]


def test_deny_non_tls_bucket_policy_lets_tls_through() -> None:
    # Given the same policies; When the request is over TLS; Then the identity allow decides
    result = evaluate(
        SESSION,
        "s3:GetObject",
        "arn:aws:s3:::data-bucket/train.csv",
        {"aws:SecureTransport": True},
        identity=[identity(allow("s3:GetObject", "arn:aws:s3:::data-bucket/*"))],
        resource_policy=DENY_INSECURE,
    )
    assert result.allowed


def test_account_principal_in_a_bucket_policy_only_delegates() -> None:
    # Given a bucket policy allowing the account root and no identity allow
    # When a role session reads; Then it is implicitly denied, and allowed once IAM allows
    bucket = Policy(
        "bucket policy", doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "s3:*", "Resource": "*"})
    )
    denied = evaluate(SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, resource_policy=bucket)
    allowed = evaluate(
        SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, identity=[identity(allow("s3:*"))], resource_policy=bucket
    )
    assert denied.reason == "because no identity-based policy allows the s3:GetObject action"
    assert allowed.allowed


def test_deny_naming_the_account_applies_to_its_principals() -> None:
    # Given a bucket policy denying the bare account id; When a role session of that account deletes; Then denied
    bucket = Policy(
        "bucket policy", doc({"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:Delete*", "Resource": "*"})
    )
    result = evaluate(
        SESSION, "s3:DeleteObject", "arn:aws:s3:::b/k", {}, identity=[identity(allow("s3:*"))], resource_policy=bucket
    )
    assert result.decision is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("named", "reached"),
    [(ROLE_ARN, True), (SESSION.arn, True), (f"arn:aws:iam::{ACCOUNT}:role/OtherRole", False), ("*", True)],
)
def test_bucket_policy_principal_matches_the_role_behind_a_session(named: str, reached: bool) -> None:
    # Given a bucket policy allowing one principal (the role, with its path; the session; another role; everyone)
    # When a session of TrainingRole reads with no identity allow
    # Then only a principal that covers the session allows it
    bucket = Policy(
        "bucket policy",
        doc({"Effect": "Allow", "Principal": {"AWS": [named]}, "Action": "s3:GetObject", "Resource": "*"}),
    )
    assert evaluate(SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, resource_policy=bucket).allowed is reached


# --- KMS key policies ------------------------------------------------------------------------------------

DEFAULT_KEY_POLICY = Policy(
    "key policy of the data key",
    doc(
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        }
    ),
)


def test_default_key_policy_lets_an_iam_allow_through() -> None:
    # Given the default key policy (delegates to the account) and an IAM allow for kms:Decrypt
    # When the role session decrypts; Then it is allowed by both statements
    iam = identity({"Sid": "UseKey", **allow("kms:Decrypt", KEY_ARN)})
    result = evaluate(
        SESSION, "kms:Decrypt", KEY_ARN, {}, identity=[iam], resource_policy=DEFAULT_KEY_POLICY, kind=PolicyKind.KEY
    )
    assert result.allowed
    assert sids(result.allowed_by) == ["UseKey", "Enable IAM User Permissions"]


def test_default_key_policy_alone_allows_nobody() -> None:
    # Given the default key policy and no IAM allow; When the session decrypts; Then IAM is what is missing
    result = evaluate(SESSION, "kms:Decrypt", KEY_ARN, {}, resource_policy=DEFAULT_KEY_POLICY, kind=PolicyKind.KEY)
    assert result.decision is Decision.IMPLICIT_DENY
    assert result.reason == "because no identity-based policy allows the kms:Decrypt action"


def test_key_policy_without_delegation_ignores_iam_allows() -> None:
    # Given a key policy that names only another role, and an IAM allow
    # When the session decrypts; Then the key policy is what is missing
    key = Policy(
        "key policy",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ),
    )
    result = evaluate(
        SESSION,
        "kms:Decrypt",
        KEY_ARN,
        {},
        identity=[identity(allow("kms:*"))],
        resource_policy=key,
        kind=PolicyKind.KEY,
    )
    assert result.reason == "because no resource-based policy allows the kms:Decrypt action"


def test_key_policy_naming_the_role_allows_without_iam() -> None:
    # Given a key policy naming the role directly; When its session decrypts with no IAM allow; Then allowed
    key = Policy(
        "key policy", doc({"Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "kms:Decrypt", "Resource": "*"})
    )
    assert evaluate(SESSION, "kms:Decrypt", KEY_ARN, {}, resource_policy=key, kind=PolicyKind.KEY).allowed


def test_iam_deny_applies_to_a_key_even_when_the_key_policy_allows() -> None:
    # Given a key policy naming the role and an IAM Deny; When the session decrypts; Then the identity deny wins
    key = Policy(
        "key policy", doc({"Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": "kms:*", "Resource": "*"})
    )
    iam = identity({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})
    result = evaluate(SESSION, "kms:Decrypt", KEY_ARN, {}, identity=[iam], resource_policy=key, kind=PolicyKind.KEY)
    assert result.reason == "with an explicit deny in an identity-based policy"


CLOUDWATCH_KEY_POLICY = Policy(
    "key policy of the alarm topic key",
    doc(
        DEFAULT_KEY_POLICY.document["Statement"][0],
        {
            "Sid": "AllowCloudWatchAlarms",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
    ),
)


@pytest.mark.parametrize(
    ("service", "action", "allowed"),
    [
        ("cloudwatch.amazonaws.com", "kms:GenerateDataKey", True),
        ("cloudwatch.amazonaws.com", "kms:Encrypt", False),
        ("events.amazonaws.com", "kms:Decrypt", False),
    ],
)
def test_key_policy_naming_a_service_principal(service: str, action: str, allowed: bool) -> None:
    # Given a key policy that names cloudwatch.amazonaws.com for two actions (and delegates to the account)
    # When a service uses the key
    # Then only CloudWatch, for those actions, is allowed; the root delegation never reaches a service
    principal = Principal.of_service(service, ACCOUNT)
    result = evaluate(principal, action, KEY_ARN, {}, resource_policy=CLOUDWATCH_KEY_POLICY, kind=PolicyKind.KEY)
    assert result.allowed is allowed
    if not allowed:
        assert result.reason == f"because no resource-based policy allows the {action} action"


# --- role trust policies -----------------------------------------------------------------------------------

STEP_FUNCTIONS_TRUST = Policy(
    "trust policy of role StateMachineRole",
    doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": {"aws:SourceArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:*"},
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
            },
        }
    ),
)


@pytest.mark.parametrize(
    ("service", "context", "allowed"),
    [
        ("states.amazonaws.com", {"aws:SourceArn": STATE_MACHINE, "aws:SourceAccount": ACCOUNT}, True),
        (
            "states.amazonaws.com",
            {"aws:SourceArn": STATE_MACHINE.replace(ACCOUNT, "999999999999"), "aws:SourceAccount": ACCOUNT},
            False,
        ),
        ("states.amazonaws.com", {"aws:SourceAccount": ACCOUNT}, False),
        ("lambda.amazonaws.com", {"aws:SourceArn": STATE_MACHINE, "aws:SourceAccount": ACCOUNT}, False),
    ],
)
def test_service_trust_policy_with_confused_deputy_conditions(service: str, context: dict, allowed: bool) -> None:
    # Given the trust policy CDK writes for a Step Functions role
    # When a service assumes it from a state machine of this account, another account, no source, or another service
    # Then only Step Functions acting for this account's state machine may assume it
    principal = Principal.of_service(service, ACCOUNT)
    result = evaluate(
        principal, "sts:AssumeRole", ROLE_ARN, context, resource_policy=STEP_FUNCTIONS_TRUST, kind=PolicyKind.TRUST
    )
    assert result.allowed is allowed
    if not allowed:
        assert result.reason == "because no resource-based policy allows the sts:AssumeRole action"


def test_trust_policy_naming_the_caller_needs_no_identity_allow() -> None:
    # Given a trust policy naming Carlos; When he assumes the role with no identity allow; Then allowed
    trust = Policy("trust", doc({"Effect": "Allow", "Principal": {"AWS": CARLOS.arn}, "Action": "sts:AssumeRole"}))
    assert evaluate(CARLOS, "sts:AssumeRole", ROLE_ARN, {}, resource_policy=trust, kind=PolicyKind.TRUST).allowed


def test_trust_policy_naming_the_account_needs_an_identity_allow() -> None:
    # Given a trust policy naming the account root
    # When Carlos assumes the role without, then with, an identity allow for sts:AssumeRole
    # Then only the second is allowed (the account principal delegates)
    trust = Policy("trust", doc({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}))
    without = evaluate(CARLOS, "sts:AssumeRole", ROLE_ARN, {}, resource_policy=trust, kind=PolicyKind.TRUST)
    granted = identity(allow("sts:AssumeRole", ROLE_ARN), source="user policy of carlossalazar")
    with_allow = evaluate(
        CARLOS, "sts:AssumeRole", ROLE_ARN, {}, identity=[granted], resource_policy=trust, kind=PolicyKind.TRUST
    )
    assert without.reason == "because no identity-based policy allows the sts:AssumeRole action"
    assert with_allow.allowed


def test_identity_allow_cannot_replace_a_trust_policy() -> None:
    # Given no trust policy at all and an identity allow; When Carlos assumes the role; Then the trust policy is missing
    granted = identity(allow("sts:AssumeRole"))
    result = evaluate(CARLOS, "sts:AssumeRole", ROLE_ARN, {}, identity=[granted], kind=PolicyKind.TRUST)
    assert result.reason == "because no resource-based policy allows the sts:AssumeRole action"


# --- identity-policy statements: conditions, NotAction, NotResource ----------------------------------------


@pytest.mark.parametrize(("service", "allowed"), [("sagemaker.amazonaws.com", True), ("lambda.amazonaws.com", False)])
def test_pass_role_is_limited_to_the_named_service(service: str, allowed: bool) -> None:
    # Given iam:PassRole allowed only with iam:PassedToService sagemaker.amazonaws.com
    # When the role is passed to SageMaker, then to Lambda; Then only SageMaker is allowed
    statement = allow(
        "iam:PassRole", ROLE_ARN, Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    )
    result = evaluate(
        SESSION, "iam:PassRole", ROLE_ARN, {"iam:PassedToService": service}, identity=[identity(statement)]
    )
    assert result.allowed is allowed


@pytest.mark.parametrize(("namespace", "allowed"), [("Retraining/Model", True), ("AWS/SageMaker", False)])
def test_put_metric_data_on_star_is_limited_by_namespace(namespace: str, allowed: bool) -> None:
    # Given cloudwatch:PutMetricData on Resource "*" with StringLike cloudwatch:namespace "Retraining/*"
    # When metrics go to our namespace, then to another; Then only ours is allowed
    statement = allow(
        "cloudwatch:PutMetricData", "*", Condition={"StringLike": {"cloudwatch:namespace": "Retraining/*"}}
    )
    result = evaluate(
        SESSION, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace}, identity=[identity(statement)]
    )
    assert result.allowed is allowed


@pytest.mark.parametrize(("action", "allowed"), [("s3:GetObject", True), ("iam:CreateUser", False)])
def test_not_action_allows_everything_but_the_listed_actions(action: str, allowed: bool) -> None:
    # Given Allow NotAction iam:* on "*"; When calling S3, then IAM; Then only S3 is allowed
    statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert evaluate(SESSION, action, "arn:aws:s3:::b/k", {}, identity=[identity(statement)]).allowed is allowed


@pytest.mark.parametrize(
    ("resource", "denied"), [("arn:aws:s3:::data-bucket/k", False), ("arn:aws:s3:::other-bucket/k", True)]
)
def test_not_resource_denies_everything_outside_the_listed_resources(resource: str, denied: bool) -> None:
    # Given Allow s3:* and Deny s3:* on NotResource data-bucket/*
    # When reading inside and outside the bucket; Then only outside is denied
    deny = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::data-bucket/*"}
    result = evaluate(SESSION, "s3:GetObject", resource, {}, identity=[identity(allow("s3:*"), deny)])
    assert (result.decision is Decision.EXPLICIT_DENY) is denied


def test_deny_in_one_identity_policy_beats_an_allow_in_another() -> None:
    # Given a managed policy allowing SageMaker and an inline policy denying DeleteEndpoint
    # When the session deletes an endpoint; Then denied, with both statements reported
    managed = identity({"Sid": "Sm", **allow("sagemaker:*")}, source="managed policy SageMakerAccess")
    inline = identity({"Sid": "NoDelete", "Effect": "Deny", "Action": "sagemaker:DeleteEndpoint", "Resource": "*"})
    result = evaluate(
        SESSION, "sagemaker:DeleteEndpoint", "arn:aws:sagemaker:us-east-1:1:endpoint/e", {}, identity=[managed, inline]
    )
    assert result.decision is Decision.EXPLICIT_DENY
    assert sids(result.allowed_by) == ["Sm"]
    assert result.denied_by == (StatementRef("inline policy of role TrainingRole", 0, "NoDelete", "Deny"),)


def test_single_statement_object_is_statement_zero() -> None:
    # Given a document whose Statement is one object with string Action and Resource
    # When it allows the call; Then the reference says index 0
    policy = Policy(
        "inline", {"Statement": {"Sid": "One", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    )
    result = evaluate(SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, identity=[policy])
    assert result.allowed_by == (StatementRef("inline", 0, "One", "Allow"),)


def test_action_names_ignore_case_in_policies() -> None:
    # Given a statement allowing "sagemaker:describeEndpoint"; When DescribeEndpoint is called; Then it matches
    statement = allow("sagemaker:describeEndpoint")
    assert evaluate(
        SESSION, "sagemaker:DescribeEndpoint", "arn:aws:sagemaker:r:a:endpoint/e", {}, identity=[identity(statement)]
    ).allowed


# --- principals and malformed policies --------------------------------------------------------------------------


def test_service_principal_has_no_identity_policies() -> None:
    # Given a service principal; When identity policies are passed for it; Then evaluation refuses
    with pytest.raises(ValueError, match="service principal"):
        evaluate(
            Principal.of_service("states.amazonaws.com", ACCOUNT),
            "s3:GetObject",
            "*",
            {},
            identity=[identity(allow("*"))],
        )


def test_of_service_builds_a_service_principal() -> None:
    # Given a service name; When built; Then it is its own ARN and has no role
    assert Principal.of_service("cloudwatch.amazonaws.com", ACCOUNT) == Principal(
        arn="cloudwatch.amazonaws.com", account=ACCOUNT, service="cloudwatch.amazonaws.com"
    )


@pytest.mark.parametrize(
    ("listed", "exempt"),
    [([ROOT, ROLE_ARN], True), ([ROOT, SESSION.arn], True), ([ROLE_ARN], False), ([ROOT], False)],
)
def test_not_principal_exempts_only_an_account_and_role_listed_together(listed: list[str], exempt: bool) -> None:
    # Given a Deny with NotPrincipal listing some of account, role and session
    # When the session reads; Then it is spared only when its account and its role (or session) are listed
    bucket = Policy(
        "bucket", doc({"Effect": "Deny", "NotPrincipal": {"AWS": listed}, "Action": "s3:*", "Resource": "*"})
    )
    result = evaluate(
        SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, identity=[identity(allow("s3:*"))], resource_policy=bucket
    )
    assert result.allowed is exempt


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allow", "NotPrincipal": {"AWS": ROOT}, "Action": "s3:*", "Resource": "*"}, "only with Deny"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, "needs Principal or NotPrincipal"),
        ({"Effect": "allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}, "Effect must be Allow or Deny"),
        ({"Effect": "Allow", "Principal": {"Group": "x"}, "Action": "s3:*", "Resource": "*"}, "unknown principal type"),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "NotAction": "iam:*"}, "both Action and NotAction"),
    ],
)
def test_malformed_resource_policy_statements_raise(statement: dict[str, Any], message: str) -> None:
    # Given a statement AWS would reject; When evaluated; Then a ValueError says why and names the statement
    with pytest.raises(ValueError, match=message) as caught:
        evaluate(
            SESSION,
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            {},
            resource_policy=Policy("bucket policy of b", doc(statement)),
        )
    assert "in statement 0 of bucket policy of b" in caught.value.__notes__


def test_identity_policy_cannot_name_a_principal() -> None:
    # Given an identity-based statement with a Principal element; When evaluated; Then it is rejected
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    with pytest.raises(ValueError, match="cannot name a Principal"):
        evaluate(SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, identity=[identity(statement)])


def test_unsupported_condition_propagates() -> None:
    # Given a statement with a condition operator we do not implement; When it applies; Then evaluation fails loudly
    statement = allow("s3:GetObject", Condition={"StringLikeIgnoreCase": {"aws:PrincipalTag/team": "ml"}})
    with pytest.raises(UnsupportedConditionError):
        evaluate(SESSION, "s3:GetObject", "arn:aws:s3:::b/k", {}, identity=[identity(statement)])


# --- action and resource patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "sagemaker:CreateModel", True),
        ("sagemaker:describeEndpoint", "sagemaker:DescribeEndpoint", True),
        ("SageMaker:Describe*", "sagemaker:DescribeEndpointConfig", True),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:GetObject", "s3:GetObjectAcl", False),
    ],
)
def test_action_matches(pattern: str, action: str, expected: bool) -> None:
    # Given an Action pattern; When compared with an action; Then case is ignored and wildcards apply
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", "arn:aws:s3:::anything", True),
        ("arn:aws:s3:::bucket/incoming/*", "arn:aws:s3:::bucket/incoming/ds/train/train.csv", True),
        ("arn:aws:s3:::bucket/incoming/*", "arn:aws:s3:::bucket/outgoing/x", False),
        ("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar-logs/report.txt", True),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f:*",
            "arn:aws:lambda:us-east-1:123456789012:function:f:3",
            True,
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:3",
            False,
        ),
        ("arn:aws:lambda:us-east-1:123456789012:*", "arn:aws:lambda:eu-west-1:123456789012:function:f", False),
        ("arn:aws:lambda:us-east-1:123456789012:*", "arn:aws:lambda:us-east-1:999999999999:function:f", False),
        ("arn:aws:s3:::*", "arn:aws:sqs:us-east-1:123456789012:queue", False),
        ("arn:aws:lambda:*:123456789012:function:?", "arn:aws:lambda:eu-west-1:123456789012:function:f", True),
        ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/k", False),
        ("arn:aws:iam::*", "arn:aws:iam::123456789012:role/x", True),
        ("arn:aws:s3:::b/*", "*", False),
    ],
)
def test_resource_matches(pattern: str, resource: str, expected: bool) -> None:
    # Given a Resource pattern; When compared with an ARN; Then segments match separately, case-sensitively
    assert resource_matches(pattern, resource) is expected
