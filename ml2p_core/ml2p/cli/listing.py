"""Listing exactly one project's SageMaker resources, across every page.

A name prefix alone cannot tell project ``foo`` from project ``foo-bar``
(``foo-bar-x-1-2`` starts with ``foo-``), so each candidate's
``ml2p-project`` tag decides. A resource without that tag (ML2P 0.6 did not
tag code repositories) is listed by its name prefix, as 0.6 listed it. When
the tags cannot be read (no permission), the name prefix is used and a
warning says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from ml2p import naming

__all__ = ["project_resources", "tags_of"]


def tags_of(client: Any, arn: str) -> dict[str, str]:
    """Return all tags of the resource ``arn`` as a dict."""
    tags: dict[str, str] = {}
    for page in client.get_paginator("list_tags").paginate(ResourceArn=arn):
        for tag in page.get("Tags") or []:
            tags[tag["Key"]] = tag["Value"]
    return tags


def project_resources(
    prj: Any,
    operation: str,
    items_key: str,
    name_key: str,
    arn_key: str,
    name_contains: bool = True,
    extra: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the summaries of ``operation`` (e.g. ``list_models``) that belong to the project.

    :param prj: The :class:`ml2p.cli.context.Project`.
    :param items_key: The key of the summaries in each page (``Models``).
    :param name_key: The name field of a summary (``ModelName``).
    :param arn_key: The ARN field of a summary (``ModelArn``).
    :param name_contains: Whether the API filters by ``NameContains``.
    """
    from botocore.exceptions import ClientError

    client = prj.sagemaker
    project = prj.project
    prefix = f"{project}-"
    kwargs: dict[str, Any] = dict(extra or {})
    if name_contains:
        kwargs["NameContains"] = prefix[:63]
    warned = False
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get(items_key) or []:
            name = item.get(name_key, "")
            if not name.startswith(prefix):
                continue
            arn = item.get(arn_key)
            if arn:
                try:
                    owner = tags_of(client, arn).get(naming.TAG_KEY)
                except ClientError as exc:
                    if not warned:
                        code = exc.response.get("Error", {}).get("Code", "error")
                        click.echo(
                            f"Warning: cannot read resource tags ({code}); listing by name "
                            f"prefix {prefix!r}, which may include other projects' resources",
                            err=True,
                        )
                        warned = True
                    owner = project
                if owner is not None and owner != project:
                    continue
            yield item
