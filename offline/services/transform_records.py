"""How a batch transform job cuts an input file into requests and puts the answers back together.

Pure: no AWS and no HTTP; ``offline.services.sagemaker_transform`` feeds it the objects it read
and the function that invokes the model container. What it reproduces, from the SageMaker
Developer Guide ("Use batch transform to get inferences from large datasets" and "Associate
Prediction Results with Input Records", https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html
and .../batch-transform-data-processing.html) and the API Reference ("CreateTransformJob",
"TransformInput", "TransformOutput", "DataProcessing"):

* ``SplitType: Line``: each line of a file is a record (a CRLF ends a line as LF does; the last
  line needs no newline); ``None``: the whole file is one request.
* ``BatchStrategy: MultiRecord``: consecutive records of one file (never of two files) go into one
  mini-batch while the request body, each record followed by a newline, stays within
  ``MaxPayloadInMB``; ``SingleRecord``: one record per request. A single record larger than
  the limit fails the file ("Exceeding the MaxPayloadInMB limit causes an error ... individual
  records within the dataset exceed the limit"). ``MaxPayloadInMB: 0`` sends the file whole.
* Up to ``MaxConcurrentTransforms`` requests are in flight at once; the answers are written in
  the input's order ("The predictions in an output file are listed in the same order as the
  corresponding records in the input file").
* ``AssembleWith: Line`` puts the answers one per line; ``None`` concatenates the answer bodies.
* ``JoinSource: Input`` with CSV: each output line is the input record, a comma, and its answer
  line ("if the record is [1,2,3], and the label result is [1], then the output file would
  contain [1,2,3,1]"), so the container must answer one line per record.
* An answer other than 200 fails the file: SageMaker writes no output file for it, since that
  would break the order ("Batch Transform Errors").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

MB: Final = 1024 * 1024


class TransformError(RuntimeError):
    """One input file could not be transformed; the message is what SageMaker's data log says."""


class RecordTooLargeError(TransformError):
    """A record is larger than MaxPayloadInMB on its own: no mini-batch can carry it."""


class InvocationError(TransformError):
    """The model container answered a mini-batch with something other than 200 (or not at all)."""

    def __init__(self, status: int | None, body: bytes | str) -> None:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        super().__init__(f"ClientError: {status}" if status is not None else f"ClientError: {text}")
        self.status = status
        self.body = text


@dataclass(frozen=True)
class Plan:
    """How one job splits, batches, sends and assembles (the request's values, defaults applied)."""

    split_lines: bool = True
    multi_record: bool = True
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 1
    assemble_lines: bool = True
    join_input: bool = False

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MB


def split_records(data: bytes) -> list[bytes]:
    """``SplitType: Line``: the records of a file, one per line, without their line ends."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline that ends the last line starts no record
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def mini_batches(records: Sequence[bytes], *, max_payload_bytes: int, multi_record: bool) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of consecutive records, each range's request body within the limit.

    A body is its records, each followed by a newline. ``max_payload_bytes`` 0 means no limit.
    Raises :class:`RecordTooLargeError` naming the first record that cannot fit on its own.
    """
    if not records:
        return []
    if max_payload_bytes == 0:
        return [(0, len(records))] if multi_record else [(i, i + 1) for i in range(len(records))]
    ranges: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, record in enumerate(records):
        needed = len(record) + 1
        if needed > max_payload_bytes:
            raise RecordTooLargeError(
                f"ClientError: record {index + 1} is {needed} bytes, more than MaxPayloadInMB "
                f"({max_payload_bytes // MB} MB = {max_payload_bytes} bytes) allows one request to carry"
            )
        if index > start and (not multi_record or size + needed > max_payload_bytes):
            ranges.append((start, index))
            start, size = index, 0
        size += needed
    ranges.append((start, len(records)))
    return ranges


def invoke_in_order(bodies: Sequence[bytes], invoke: Callable[[bytes], bytes], concurrency: int) -> list[bytes]:
    """Every answer, in the order of ``bodies``, with at most ``concurrency`` requests in flight.

    The first failure (in input order) is raised once the requests already sent have ended;
    the ones not yet sent are cancelled.
    """
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="transform") as pool:
        futures: list[Future[bytes]] = [pool.submit(invoke, body) for body in bodies]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _answer_lines(answer: bytes, start: int, end: int) -> list[bytes]:
    lines = split_records(answer) if answer else []
    if len(lines) != end - start:
        raise TransformError(
            f"ClientError: the model answered {len(lines)} lines for the {end - start} records {start + 1}-{end}; "
            "JoinSource Input needs exactly one answer line per record"
        )
    return lines


def transform_file(data: bytes, plan: Plan, invoke: Callable[[bytes], bytes]) -> bytes:
    """The output file for one input file (``<name>.out``); raises :class:`TransformError`."""
    records = split_records(data) if data else []
    if plan.split_lines:
        ranges = mini_batches(records, max_payload_bytes=plan.max_payload_bytes, multi_record=plan.multi_record)
        bodies = [b"\n".join(records[start:end]) + b"\n" for start, end in ranges]
    else:
        if plan.max_payload_bytes and len(data) > plan.max_payload_bytes:
            raise RecordTooLargeError(
                f"ClientError: the file is {len(data)} bytes and SplitType None sends it whole, more than "
                f"MaxPayloadInMB ({plan.max_payload_mb} MB) allows"
            )
        ranges, bodies = [(0, len(records))], [data]
    answers = invoke_in_order(bodies, invoke, plan.max_concurrent_transforms)
    if plan.join_input:
        joined: list[bytes] = []
        for (start, end), answer in zip(ranges, answers, strict=True):
            lines = _answer_lines(answer, start, end)
            joined += [record + b"," + line for record, line in zip(records[start:end], lines, strict=True)]
        return b"\n".join(joined) + b"\n" if joined else b""
    if plan.assemble_lines:
        return b"".join(answer if answer.endswith(b"\n") else answer + b"\n" for answer in answers)
    return b"".join(answers)
