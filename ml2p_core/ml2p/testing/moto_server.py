"""AWS for tests: moto in server mode, over real HTTP on 127.0.0.1.

boto3 honours ``AWS_ENDPOINT_URL``, so code under test talks to the moto
server exactly as it would to AWS; :func:`aws_environ` builds the
environment that does this (fake credentials, a region, the endpoint). moto
is imported when a server is started, never when this module is imported.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from typing import Any

#: Fake credentials and a region: what :func:`aws_environ` sets.
FAKE_AWS_ENV: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

#: Variables that would send boto3 elsewhere than the endpoint, or to a real
#: account's profile: :func:`aws_environ` removes them (and every
#: ``AWS_ENDPOINT_URL_<SERVICE>``, which beats ``AWS_ENDPOINT_URL``).
STRAY_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")

MISSING_MOTO = (
    "ml2p.testing's AWS fixtures need moto with its server: "
    "pip install 'ml2p[testing]' (or 'moto[server]')"
)


def start_moto(port: int = 0) -> Any:
    """Start a moto server (every AWS service) on 127.0.0.1 and return it.

    :param port: The port (0: a free one; see :func:`moto_url`).
    :returns: The ``moto.server.ThreadedMotoServer``; call its ``stop()``
        when done.
    :raises ImportError: naming the ``ml2p[testing]`` extra if moto or its
        server dependencies are not installed.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ImportError(MISSING_MOTO) from exc
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def moto_url(server: Any) -> str:
    """Return the base URL (``http://127.0.0.1:PORT``) of a server from :func:`start_moto`."""
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def reset_moto(url: str, timeout: float = 10.0) -> None:
    """Forget every resource of the moto server at ``url`` (buckets, jobs, ...)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=timeout).close()


def aws_environ(url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``base`` (default ``os.environ``) changed to point boto3 at ``url``.

    :data:`FAKE_AWS_ENV` and ``AWS_ENDPOINT_URL=url`` are set; the
    :data:`STRAY_AWS_VARIABLES` and every ``AWS_ENDPOINT_URL_<SERVICE>`` are
    removed. Pass the result as a subprocess's environment.
    """
    environ = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if name not in STRAY_AWS_VARIABLES and not name.startswith("AWS_ENDPOINT_URL_")
    }
    environ.update(FAKE_AWS_ENV)
    environ["AWS_ENDPOINT_URL"] = url
    return environ
