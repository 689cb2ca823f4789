"""``ml2p init``: prepare the project's S3 folder.

The module is not named ``init``: ``ml2p.cli.init`` is the command itself, as in ML2P 0.6.
"""

from __future__ import annotations

import click

from ml2p.cli.context import Project, pass_project

__all__ = ["init"]


@click.command("init")
@pass_project
def init(prj: Project) -> None:
    """Initialize the project S3 folder.

    Writes README.rst files under models/ and datasets/, creating the bucket
    first if it does not exist (noted on stderr). Prints nothing.
    """
    from botocore.exceptions import ClientError

    client = prj.s3_client
    bucket = prj.s3.bucket()
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
        click.echo(f"Note: created S3 bucket {bucket!r}", err=True)
    # ML2P 0.6's README texts, byte for byte.
    for folder, what in (("models", "Models"), ("datasets", "Datasets")):
        body = f"{what} for {prj.project}.".encode()
        client.put_object(Bucket=bucket, Key=prj.s3.path(f"{folder}/README.rst"), Body=body)
