"""Training on several hosts: who is who, and who reads which files.

SageMaker starts one container per instance of a training job and writes
``/opt/ml/input/config/resourceconfig.json`` in each, naming the hosts
(``algo-1``, ``algo-2``, ...) and the one the container runs on.
:func:`host_layout` reads it (:class:`ml2p.core.SageMakerEnv` uses it for
``hosts``, ``current_host``, ``host_rank`` and ``num_hosts``);
:func:`resource_config`, :func:`input_data_config` and :func:`shard` are what
``ml2p local train --hosts N`` writes and copies for each of its N processes, as
SageMaker would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml2p.errors import ML2PError

__all__ = [
    "FIRST_HOST",
    "HostLayout",
    "host_layout",
    "host_names",
    "input_data_config",
    "resource_config",
    "shard",
]

#: The name SageMaker gives the first host; the only one without a resourceconfig.json.
FIRST_HOST = "algo-1"
#: SageMaker's instance group name when every instance is of one type.
GROUP = "homogeneousCluster"


@dataclass(frozen=True)
class HostLayout:
    """The hosts of a training job, in order, and the one this process runs on."""

    current_host: str
    hosts: tuple[str, ...]

    @property
    def rank(self) -> int:
        """The current host's position in ``hosts``, from 0."""
        return self.hosts.index(self.current_host)


def host_layout(config: Mapping[str, Any], where: str = "resourceconfig.json") -> HostLayout:
    """Read the hosts from a decoded ``resourceconfig.json`` (``{}``: one host, ``algo-1``).

    :param where: The file, for error messages.
    :raises ML2PError: naming the file, if the hosts or the current host are
        malformed, or the current host is not one of the hosts.
    """
    current = config.get("current_host", FIRST_HOST)
    hosts = config.get("hosts", [current])
    if not isinstance(current, str) or not current:
        raise ML2PError(f"{where}: current_host must be a host name, not {current!r}")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
        raise ML2PError(f"{where}: hosts must be a non-empty list of host names, not {hosts!r}")
    if current not in hosts:
        raise ML2PError(f"{where}: current_host {current!r} is not one of the hosts {hosts}")
    return HostLayout(current, tuple(hosts))


def host_names(count: int) -> list[str]:
    """Return SageMaker's names for ``count`` hosts: ``algo-1`` to ``algo-<count>``."""
    return [f"algo-{number}" for number in range(1, count + 1)]


def resource_config(
    current_host: str, hosts: Sequence[str], instance_type: str = "local"
) -> dict[str, Any]:
    """Return the ``resourceconfig.json`` SageMaker writes for ``current_host``."""
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": GROUP,
        "hosts": list(hosts),
        "instance_groups": [
            {"instance_group_name": GROUP, "instance_type": instance_type, "hosts": list(hosts)}
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(channel: str = "training", distribution: str | None = None) -> dict[str, Any]:
    """Return the ``inputdataconfig.json`` of a job with one File-mode channel."""
    return {
        channel: {
            "TrainingInputMode": "File",
            "S3DistributionType": distribution or "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }


def shard(files: Sequence[str], count: int, distribution: str | None) -> list[list[str]]:
    """Split ``files`` (S3 keys or relative paths) between ``count`` hosts.

    ``FullyReplicated`` (or ``None``) gives every host every file;
    ``ShardedByS3Key`` gives each about 1/``count`` of them: the files sorted by
    name, dealt out in turn (host 1 the first, host 2 the second, ...), so a host
    may get none when there are fewer files than hosts.
    """
    ordered = sorted(files)
    if distribution in (None, "FullyReplicated"):
        return [list(ordered) for _ in range(count)]
    if distribution != "ShardedByS3Key":
        raise ML2PError(f"unknown input distribution {distribution!r}")
    return [ordered[index::count] for index in range(count)]
