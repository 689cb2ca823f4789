"""``ml2p dataset``: datasets are folders ``datasets/<dataset>/`` under the project's S3 folder."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.output import echo_json, progress
from ml2p.cli.params import checked_name, model_type_option
from ml2p.errors import ML2PError

__all__ = ["dataset"]

# S3 DeleteObjects takes at most this many keys per request.
_DELETE_BATCH = 1000


def _prefix(prj: Project, name: str) -> str:
    checked_name("dataset", name)
    prj.target("dataset", name)
    return prj.s3.path(f"datasets/{name}/")


def _objects(prj: Project, prefix: str) -> Iterator[dict[str, Any]]:
    paginator = prj.s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=prj.s3.bucket(), Prefix=prefix):
        yield from page.get("Contents") or []


def _file_key(prj: Project, name: str, filename: str) -> str:
    from ml2p.safety import safe_join

    # The file name becomes part of a key: refuse '..', absolute and empty parts.
    safe_join(".", filename)
    return _prefix(prj, name) + filename


@click.group("dataset")
def dataset() -> None:
    """Create and manage datasets."""


@dataset.command("list")
@pass_project
def dataset_list(prj: Project) -> None:
    """List the project's datasets (one JSON string each)."""
    prefix = prj.s3.path("datasets/")
    paginator = prj.s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=prj.s3.bucket(), Prefix=prefix, Delimiter="/"):
        for item in page.get("CommonPrefixes") or []:
            echo_json(item["Prefix"][len(prefix) :].rstrip("/"))


@dataset.command("create")
@click.argument("dataset_name", metavar="DATASET")
@pass_project
def dataset_create(prj: Project, dataset_name: str) -> None:
    """Create DATASET (writes its README.rst)."""
    key = _prefix(prj, dataset_name) + "README.rst"
    body = f"Dataset {dataset_name} for project {prj.project}.".encode()  # ML2P 0.6's text
    prj.s3_client.put_object(Bucket=prj.s3.bucket(), Key=key, Body=body)


@dataset.command("delete")
@click.argument("dataset_name", metavar="DATASET")
@pass_project
def dataset_delete(prj: Project, dataset_name: str) -> None:
    """Delete DATASET and every file in it (an empty dataset is not an error)."""
    prefix = _prefix(prj, dataset_name)
    client = prj.s3_client
    batch = []
    for obj in _objects(prj, prefix):
        batch.append({"Key": obj["Key"]})
        if len(batch) == _DELETE_BATCH:
            _delete(client, prj.s3.bucket(), batch)
            batch = []
    if batch:
        _delete(client, prj.s3.bucket(), batch)


def _delete(client: Any, bucket: str, keys: Any) -> None:
    response = client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise ML2PError(
            f"could not delete {len(errors)} object(s), e.g. {first.get('Key')!r}: "
            f"{first.get('Code')}: {first.get('Message')}"
        )


@dataset.command("ls")
@click.argument("dataset_name", metavar="DATASET")
@pass_project
def dataset_ls(prj: Project, dataset_name: str) -> None:
    """List the files of DATASET ({"filename", "size"} each)."""
    prefix = _prefix(prj, dataset_name)
    for obj in _objects(prj, prefix):
        echo_json({"filename": obj["Key"][len(prefix) :], "size": obj["Size"]})


@dataset.command("up")
@click.argument("dataset_name", metavar="DATASET")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("dst", required=False, default=None)
@pass_project
def dataset_up(prj: Project, dataset_name: str, src: str, dst: str | None) -> None:
    """Upload the file SRC to DATASET as DST (default: SRC's own name)."""
    path = pathlib.Path(src)
    key = _file_key(prj, dataset_name, dst if dst is not None else path.name)
    with progress(path.stat().st_size, f"uploading {path.name}", prj.quiet) as advance:
        prj.s3_client.upload_file(str(path), prj.s3.bucket(), key, Callback=advance)


@dataset.command("dn")
@click.argument("dataset_name", metavar="DATASET")
@click.argument("src")
@click.argument("dst", type=click.Path(dir_okay=False, writable=True), required=False)
@pass_project
def dataset_dn(prj: Project, dataset_name: str, src: str, dst: str | None) -> None:
    """Download the file SRC of DATASET to DST (default: SRC, relative to this folder).

    The file is written to a temporary file beside DST and renamed when
    complete, so a failed download leaves nothing behind.
    """
    key = _file_key(prj, dataset_name, src)
    prj.target("file", f"{dataset_name}/{src}")
    # SRC is a checked relative key (no '..' or absolute parts): safe as a local path.
    target = pathlib.Path(dst if dst is not None else src)
    folder = target.parent
    if not folder.is_dir():
        raise ML2PError(
            f"cannot download to {str(target)!r}: folder {str(folder)!r} does not exist"
        )
    client = prj.s3_client
    size = client.head_object(Bucket=prj.s3.bucket(), Key=key)["ContentLength"]
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    os.close(fd)
    try:
        with progress(size, f"downloading {target.name}", prj.quiet) as advance:
            client.download_file(prj.s3.bucket(), key, tmp, Callback=advance)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataset.command("rm")
@click.argument("dataset_name", metavar="DATASET")
@click.argument("filename")
@pass_project
def dataset_rm(prj: Project, dataset_name: str, filename: str) -> None:
    """Delete the file FILENAME from DATASET (a missing file is not an error, as in ML2P 0.6)."""
    key = _file_key(prj, dataset_name, filename)
    prj.target("file", f"{dataset_name}/{filename}")
    prj.s3_client.delete_object(Bucket=prj.s3.bucket(), Key=key)


@dataset.command("generate")
@click.argument("dataset_name", metavar="DATASET")
@model_type_option
@pass_project
def dataset_generate(prj: Project, dataset_name: str, model_type: str | None) -> None:
    """Generate DATASET with a SageMaker processing job running the model's generator."""
    from ml2p import sagemaker

    checked_name("dataset", dataset_name)
    request = sagemaker.processing_job_request(prj.config, dataset_name, model_type)
    prj.target("processing job", dataset_name)
    echo_json(prj.sagemaker.create_processing_job(**request))
