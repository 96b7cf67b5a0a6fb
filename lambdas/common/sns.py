"""Publishing human-readable notifications to SNS."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: SNS rejects subjects over 100 characters, with line breaks or non-ASCII text.
MAX_SUBJECT_LENGTH = 100

#: SNS accepts up to 256 KB; email readers give up long before that.
MAX_MESSAGE_CHARS = 60_000


def safe_subject(text: str) -> str:
    """Make ``text`` a valid SNS subject: ASCII, one line, at most 100 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    one_line = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", ascii_text)).strip()
    if len(one_line) > MAX_SUBJECT_LENGTH:
        one_line = one_line[: MAX_SUBJECT_LENGTH - 3].rstrip() + "..."
    return one_line or "Notification"


def publish(sns: Any, *, topic_arn: str, subject: str, message: str) -> str:
    """Publish one message; return the SNS message id."""
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "\n... (message truncated)"
    response = sns.publish(TopicArn=topic_arn, Subject=safe_subject(subject), Message=message)
    return str(response["MessageId"])


def execution_console_url(execution_arn: str) -> str:
    """The Step Functions console page of one execution, in the execution's own region."""
    parts = execution_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
