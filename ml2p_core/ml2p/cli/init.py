"""``ml2p init``: prepare the project's S3 folder."""

from __future__ import annotations

import click

from ml2p.cli.context import Project

__all__ = ["init"]


@click.command("init")
@click.pass_obj
def init(prj: Project) -> None:
    """Initialize the project S3 folder.

    Creates the bucket if it does not exist, then writes README.rst files
    under models/ and datasets/. Prints what it wrote.
    """
    from botocore.exceptions import ClientError

    client = prj.s3_client
    bucket = prj.s3.bucket()
    created = False
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        region = client.meta.region_name
        extra = {}
        if region and region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(Bucket=bucket, **extra)
        created = True
    keys = []
    for folder, what in (("models", "Models"), ("datasets", "Datasets")):
        key = prj.s3.path(f"{folder}/README.rst")
        body = f"{what} for {prj.project}.\n".encode()
        client.put_object(Bucket=bucket, Key=key, Body=body)
        keys.append(f"s3://{bucket}/{key}")
    from ml2p.cli.output import echo_json

    echo_json({"bucket": bucket, "bucket_created": created, "written": keys})
