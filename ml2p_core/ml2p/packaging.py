"""Pack a model folder into ``model.tar.gz`` the way SageMaker does.

At the end of a training job SageMaker tars the contents of ``/opt/ml/model``
into ``model.tar.gz`` (gzip-compressed, member names relative to the model
folder) and uploads it to ``<S3OutputPath>/<job>/output/model.tar.gz``.
``ml2p local train`` does the same with :func:`pack_model`, so the archive can
be uploaded and later unpacked by :meth:`ml2p.core.LocalEnv.download_model`.
"""

from __future__ import annotations

import os
import pathlib
import tarfile
import tempfile
from typing import Union

__all__ = ["MODEL_ARCHIVE", "pack_model"]

#: The archive name SageMaker uses.
MODEL_ARCHIVE = "model.tar.gz"

PathLike = Union[str, "os.PathLike[str]"]


def _members(folder: pathlib.Path) -> list[pathlib.Path]:
    """Every file, directory and symlink below ``folder``, sorted, not following links."""
    found: list[pathlib.Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        base = pathlib.Path(root)
        for name in dirs:
            found.append(base / name)
        for name in sorted(files):
            found.append(base / name)
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def pack_model(model_folder: PathLike, archive: PathLike) -> pathlib.Path:
    """Write the contents of ``model_folder`` to the gzip tar ``archive``.

    Member names are relative to ``model_folder`` (``model.json``,
    ``sub/weights.bin``), without a ``./`` prefix or an entry for the folder
    itself, in sorted order. Symlinks are stored as links. The archive is
    written to a temporary file beside it and renamed into place, so a failure
    leaves no partial archive.

    :param model_folder: The folder to pack (``/opt/ml/model``).
    :param archive: Where to write the archive; its folder is created.
    :returns: The archive path.
    :raises FileNotFoundError: if ``model_folder`` is not a directory.
    """
    folder = pathlib.Path(model_folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist")
    target = pathlib.Path(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".tar.gz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for path in _members(folder):
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
