"""``ml2p endpoint invoke --async``: invoke through S3 and, with ``--wait``, fetch the result."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ml2p.cli.context import Project
from ml2p.cli.output import decoded_body, echo_json
from ml2p.cli.params import wait_for_status

__all__ = ["invoke_async"]


def invoke_async(
    prj: Project, name: str, body: bytes, wait: bool, timeout: float, delay: float
) -> None:
    """Upload ``body`` to S3 and invoke the endpoint asynchronously; ``wait`` fetches the result.

    The input goes to ``async/<project>-<endpoint>/input/<uuid>.json`` under ``s3folder``.
    """
    full = prj.full_name(name)
    s3 = prj.s3
    key = s3.path(f"async/{full}/input/{uuid.uuid4()}.json")
    location = f"s3://{s3.bucket()}/{key}"
    prj.s3_client.put_object(Bucket=s3.bucket(), Key=key, Body=body, ContentType="application/json")
    prj.target("endpoint", name)
    response = prj.aws_client("sagemaker-runtime").invoke_endpoint_async(
        EndpointName=full,
        InputLocation=location,
        ContentType="application/json",
        Accept="application/json",
    )
    result = {
        "InferenceId": response.get("InferenceId"),
        "InputLocation": location,
        "OutputLocation": response.get("OutputLocation"),
        "FailureLocation": response.get("FailureLocation"),
    }
    if wait:
        result["Body"] = _wait_async_result(prj, name, result, timeout, delay)
    echo_json(result)


def _wait_async_result(
    prj: Project, name: str, result: Mapping[str, Any], timeout: float, delay: float
) -> Any:
    """Poll the output (and failure) location until one holds the result."""
    outcome: dict[str, Any] = {}

    def look() -> dict[str, Any]:
        raw = _read_s3(prj, result["OutputLocation"])
        if raw is not None:
            outcome["body"] = decoded_body(raw)
            return {"Status": "Completed"}
        if result.get("FailureLocation"):
            failure = _read_s3(prj, result["FailureLocation"])
            if failure is not None:
                reason = failure.decode("utf-8", errors="replace").strip()
                return {"Status": "Failed", "FailureReason": reason}
        return {"Status": "InProgress"}

    wait_for_status(
        look,
        "Status",
        done=("Completed",),
        failed=("Failed",),
        what=f"the asynchronous invocation of endpoint {name!r} ({result['InferenceId']})",
        timeout=timeout,
        delay=delay,
    )
    return outcome["body"]


def _read_s3(prj: Project, url: str) -> bytes | None:
    """The object at ``url``, or ``None`` if it does not exist (yet)."""
    from botocore.exceptions import ClientError

    bucket, _, key = url[len("s3://") :].partition("/")
    try:
        return prj.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
