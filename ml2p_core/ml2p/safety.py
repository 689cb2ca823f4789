"""Guards for writing names that come from elsewhere (S3 keys, archive members) locally.

Every function here refuses, with :class:`~ml2p.errors.UnsafePathError`, a name
that would write outside the folder it is meant for, and checks the paths it
builds against the real (symlink-resolved) location of that folder.
"""

from __future__ import annotations

import os
import pathlib
import re
import stat
import tarfile
import unicodedata
from typing import IO, Any

from ml2p.errors import UnsafePathError

__all__ = ["is_folder_marker", "safe_extract_tar", "safe_join"]

# A Windows drive ("C:") at the start of a name.
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Mode bits that are never extracted.
_SPECIAL_MODE_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
# Symlinks followed while resolving one link target before giving up.
_MAX_SYMLINK_HOPS = 40


def _has_control_character(text: str) -> bool:
    """Return whether ``text`` holds a control character (NUL, newline, DEL, C1 ...)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def _check_characters(name: str, what: str) -> None:
    """Refuse a name that is absolute, or holds a backslash, control character or drive.

    :param name: The name, with ``"/"`` separating its parts.
    :param what: Describes the name in the error, e.g. ``"key 'a/b'"``.
    :raises UnsafePathError: if the name is refused.
    """
    if name.startswith("/"):
        raise UnsafePathError(f"{what} is an absolute path")
    if "\\" in name:
        raise UnsafePathError(f"{what} contains a backslash")
    if _has_control_character(name):
        raise UnsafePathError(f"{what} contains a control character")
    if _DRIVE_RE.match(name):
        raise UnsafePathError(f"{what} starts with a Windows drive")


def _within(path: str, root: str, *, strict: bool) -> bool:
    """Return whether the real path ``path`` is inside the real path ``root``.

    With ``strict``, ``path`` must also differ from ``root``.
    """
    try:
        common = os.path.commonpath([path, root])
    except ValueError:  # Different drives, or a mix of absolute and relative paths.
        return False
    if os.path.normcase(common) != os.path.normcase(root):
        return False
    return not strict or os.path.normcase(path) != os.path.normcase(root)


def safe_join(folder: str | os.PathLike[str], relative: str) -> pathlib.Path:
    """Return where the S3-key-relative path ``relative`` belongs under ``folder``.

    ``relative`` is split on ``"/"``. It is refused if it is empty or absolute
    (starts with ``"/"``), if any part is empty (``"a//b"``, a trailing ``"/"``),
    ``"."`` or ``".."``, if it contains a backslash or a control character (NUL,
    newline, DEL, ...), or if it starts with a Windows drive (``"C:"``).
    The joined path is then resolved, following symlinks that already exist,
    and refused unless it lies strictly inside the resolved ``folder``. Neither
    ``folder`` nor the result needs to exist; nothing is created.

    :param folder: The local folder the key is written under.
    :param relative: The part of an S3 key below the prefix that maps to ``folder``.
    :returns: The resolved (absolute, symlink-free) path inside the resolved ``folder``.
    :raises UnsafePathError: naming the key, if it is refused.
    :raises TypeError: if ``relative`` is not a ``str``.
    """
    if not isinstance(relative, str):
        raise TypeError(f"key must be a str, not {type(relative).__name__}")
    what = f"key {relative!r}"
    if not relative:
        raise UnsafePathError(f"{what} is empty")
    _check_characters(relative, what)
    parts = relative.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{what} has a {part!r} path segment")
    root = os.path.realpath(os.fspath(folder))
    target = os.path.realpath(os.path.join(root, *parts))
    if not _within(target, root, strict=True):
        raise UnsafePathError(f"{what} resolves to {target!r}, outside the folder {root!r}")
    return pathlib.Path(target)


def is_folder_marker(key: str) -> bool:
    """Return whether an S3 key is a "folder" placeholder rather than a file.

    The S3 console creates such zero-byte objects, with keys ending in ``"/"``,
    to show empty folders; they are skipped when downloading.

    :param key: The S3 key.
    :returns: ``True`` if ``key`` ends with ``"/"``, otherwise ``False``.
    """
    return key.endswith("/")


#: The parts of a member name below the folder.
_Parts = tuple[str, ...]


class _TarChecker:
    """Validates every member of a tar archive against one destination folder."""

    def __init__(self, root: str, members: list[tarfile.TarInfo]):
        self.root = root
        self.members = members
        # The parts and kind ("dir", "file", "symlink" or "hardlink") of each member.
        self.parts: list[_Parts] = []
        self.kinds: dict[_Parts, str] = {}
        # The symlinks the archive creates, and where the first regular file of each
        # name is in the archive (hard links must point back to one).
        self.symlinks: dict[_Parts, str] = {}
        self.first_file: dict[_Parts, int] = {}

    @staticmethod
    def describe(member: tarfile.TarInfo) -> str:
        return f"archive member {member.name!r}"

    def split(self, name: str, what: str) -> _Parts:
        """Split a member name into its parts, dropping empty and ``"."`` parts."""
        _check_characters(name, what)
        parts = tuple(part for part in name.split("/") if part not in ("", "."))
        if ".." in parts:
            raise UnsafePathError(f"{what} has a '..' path segment")
        return parts

    @staticmethod
    def kind(member: tarfile.TarInfo) -> str | None:
        if member.isdir():
            return "dir"
        if member.issym():
            return "symlink"
        if member.islnk():
            return "hardlink"
        if member.type in tarfile.REGULAR_TYPES:
            return "file"
        return None

    def real(self, parts: _Parts) -> str:
        return os.path.realpath(os.path.join(self.root, *parts))

    def check_names(self) -> None:
        """Check each member's type and name, and record its parts and kind."""
        for index, member in enumerate(self.members):
            what = self.describe(member)
            kind = self.kind(member)
            if kind is None:
                raise UnsafePathError(
                    f"{what} is a special file (device, FIFO or unknown type), "
                    "which is not extracted"
                )
            parts = self.split(member.name, what)
            if not parts and kind != "dir":
                raise UnsafePathError(f"{what} names the folder itself")
            if kind != "dir" and member.name.endswith("/"):
                raise UnsafePathError(f"{what} ends with '/' but is not a directory")
            previous = self.kinds.get(parts)
            if previous is not None and (previous != kind or kind not in ("dir", "file")):
                raise UnsafePathError(
                    f"{what} appears more than once in the archive, as a {previous} and "
                    f"as a {kind} (only directories and regular files may repeat)"
                )
            self.parts.append(parts)
            self.kinds[parts] = kind
            if kind == "symlink":
                self.symlinks[parts] = member.linkname
            elif kind == "file":
                self.first_file.setdefault(parts, index)

    def check_ancestors(self, parts: _Parts, what: str) -> None:
        """Refuse a path that goes through a member that is not a directory."""
        for depth in range(1, len(parts)):
            kind = self.kinds.get(parts[:depth])
            if kind not in (None, "dir"):
                prefix = "/".join(parts[:depth])
                raise UnsafePathError(f"{what} would be written through the {kind} {prefix!r}")

    def check_real_path(self, parts: _Parts, what: str) -> None:
        """Refuse a path that, following symlinks on disk, is not inside the folder."""
        real = self.real(parts)
        if not _within(real, self.root, strict=True):
            raise UnsafePathError(f"{what} resolves to {real!r}, outside the folder")

    def link_at(self, parts: _Parts) -> str | None:
        """Return the target of the symlink at ``parts`` after extraction, if any."""
        if parts in self.symlinks:  # Replaces whatever is on disk.
            return self.symlinks[parts]
        # Extracting a file or directory over a symlink on disk keeps the symlink.
        path = os.path.join(self.root, *parts)
        if os.path.islink(path):
            return os.readlink(path)
        return None

    def resolve(self, start: _Parts, target: str, what: str) -> None:
        """Follow the target of a symlink in ``start`` as the OS will after extraction.

        Symlinks from the archive and symlinks already in the folder are both
        followed. Refuses the target if it ever leaves the folder, or if more
        than ``_MAX_SYMLINK_HOPS`` symlinks are followed.
        """
        # The symlink's own folder is resolved too: it may be a symlink already on disk.
        current: list[str] = []
        pending = list(reversed([*start, *target.split("/")]))
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    raise UnsafePathError(
                        f"{what} is a symlink to {target!r}, which is outside the folder"
                    )
                current.pop()
                continue
            current.append(part)
            link = self.link_at(tuple(current))
            if link is None:
                continue
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                raise UnsafePathError(f"{what} is a symlink to {target!r}, which loops")
            current.pop()
            if os.path.isabs(link) or _DRIVE_RE.match(link):
                # Only links already on disk can be absolute here.
                real = os.path.realpath(link)
                if not _within(real, self.root, strict=False):
                    raise UnsafePathError(
                        f"{what} is a symlink to {target!r}, which leads outside the folder"
                    )
                relative = os.path.relpath(real, self.root)
                current = [] if relative == os.curdir else relative.split(os.sep)
            else:
                pending.extend(reversed(link.split("/")))

    def check_links(self) -> None:
        """Check where each symlink and hard link points, and every path's ancestors."""
        for index, (member, parts) in enumerate(zip(self.members, self.parts)):
            what = self.describe(member)
            self.check_ancestors(parts, what)
            if parts:
                self.check_real_path(parts, what)
            if member.issym():
                target = member.linkname
                if not target:
                    raise UnsafePathError(f"{what} is a symlink with an empty target")
                _check_characters(target, f"{what}: the symlink target {target!r}")
                self.resolve(parts[:-1], target, what)
            elif member.islnk():
                link_what = f"{what}: the hard link target {member.linkname!r}"
                target_parts = self.split(member.linkname, link_what)
                first = self.first_file.get(target_parts)
                if first is None or first >= index:
                    raise UnsafePathError(
                        f"{link_what} is not a regular file earlier in the archive"
                    )
                self.check_ancestors(target_parts, link_what)
                self.check_real_path(target_parts, link_what)


def _sanitise(member: tarfile.TarInfo, parts: _Parts) -> None:
    """Normalise a checked member's names and drop its special mode bits and owner."""
    member.name = "/".join(parts)
    if member.islnk():
        member.linkname = "/".join(p for p in member.linkname.split("/") if p not in ("", "."))
    member.mode &= ~_SPECIAL_MODE_BITS
    # Extracting as root would otherwise give files the owner named in the archive.
    if hasattr(os, "getuid") and hasattr(os, "getgid"):
        member.uid = os.getuid()
        member.gid = os.getgid()
    member.uname = ""
    member.gname = ""


def safe_extract_tar(
    archive: str | os.PathLike[str] | IO[bytes], folder: str | os.PathLike[str]
) -> list[pathlib.Path]:
    """Extract a tar archive (plain or compressed) into ``folder``, refusing unsafe members.

    Every member is checked before anything is written; if any is refused,
    nothing is written at all (``folder`` is not even created). Member names
    have empty and ``"."`` parts dropped (so ``./a//b`` is ``a/b``). A member
    is refused if:

    * it is not a regular file, directory, symlink or hard link (devices,
      FIFOs and unknown types are refused);
    * its name is absolute, has a ``".."`` part, contains a backslash or a
      control character, or starts with a Windows drive;
    * it would be written through a symlink, hard link or file of the archive
      (``link/file`` where ``link`` is a symlink), or, following symlinks
      already on disk, outside ``folder``;
    * it is a symlink whose target is empty or absolute, or whose target,
      following the archive's symlinks and those already in ``folder``,
      leaves ``folder`` (or loops);
    * it is a hard link whose target is not a regular file earlier in the
      archive;
    * its name appears earlier in the archive, unless both are directories
      or both are regular files (the later one wins).

    Extracted members lose their setuid, setgid and sticky bits, and their
    owner is not restored. The directory entry for the folder itself
    (``"."``) is skipped. Where :mod:`tarfile` has extraction filters, the
    ``"data"`` filter is applied as well. The archive is always closed; an open
    file object passed as ``archive`` is left open (its owner closes it).

    :param archive: The path of the archive, or a seekable binary file object
        positioned at its start.
    :param folder: The folder to extract into; created if it does not exist.
    :returns: The paths of the extracted regular files, hard links and symlinks
        (not directories), each under the resolved ``folder``, in archive order
        and without repeats.
    :raises UnsafePathError: naming the member, if any member is refused.
    :raises tarfile.TarError: if the archive cannot be read.
    """
    root = os.path.realpath(os.fspath(folder))
    source: dict[str, Any] = (
        {"name": archive} if isinstance(archive, (str, os.PathLike)) else {"fileobj": archive}
    )
    with tarfile.open(mode="r:*", **source) as tar:
        members = tar.getmembers()
        checker = _TarChecker(root, members)
        checker.check_names()
        checker.check_links()

        to_extract: list[tarfile.TarInfo] = []
        extracted: list[pathlib.Path] = []
        seen: set[_Parts] = set()
        for member, parts in zip(members, checker.parts):
            if not parts:  # The folder itself.
                continue
            _sanitise(member, parts)
            to_extract.append(member)
            if not member.isdir() and parts not in seen:
                seen.add(parts)
                extracted.append(pathlib.Path(root, *parts))

        os.makedirs(root, exist_ok=True)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members=to_extract, filter="data")
        else:  # Python releases from before extraction filters.
            tar.extractall(root, members=to_extract)
    return extracted
