"""Tests for ml2p.safety."""

from __future__ import annotations

import io
import os
import re
import stat
import sys
import tarfile
from pathlib import Path
from typing import Callable

import pytest

from ml2p import safety
from ml2p.errors import UnsafePathError
from ml2p.safety import is_folder_marker, safe_extract_tar, safe_join

needs_symlinks = pytest.mark.skipif(
    sys.platform == "win32", reason="creating symlinks needs privileges on Windows"
)


# --- Building archives ------------------------------------------------------------------


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"data", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def add_hardlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    tar.addfile(info)


def add_special(tar: tarfile.TarFile, name: str, type_: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.devmajor = 1
    info.devminor = 3
    tar.addfile(info)


Builder = Callable[[tarfile.TarFile, Path], None]


def make_archive(path: Path, build: Builder, *, root: Path, mode: str = "w:gz") -> Path:
    """Write an archive at ``path`` with ``build(tar, root)``; ``root`` is the tests' tmp_path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tar:
        build(tar, root)
    return path


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (not following symlinks), relative to it."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """An empty destination folder, two levels below tmp_path, and an outside file."""
    dest = tmp_path / "work" / "dest"
    dest.mkdir(parents=True)
    (tmp_path / "outside.txt").write_bytes(b"outside")
    (tmp_path / "outside_dir").mkdir()
    return tmp_path, dest


# --- Malicious archives ----------------------------------------------------------------

MALICIOUS: dict[str, tuple[Builder, str]] = {
    # name: (build(tar, tmp_path), the member the error must name)
    "absolute name": (lambda tar, root: add_file(tar, str(root / "abs_evil")), "abs_evil"),
    "absolute name in /tmp": (lambda tar, root: add_file(tar, "/tmp/ml2p_evil"), "/tmp/ml2p_evil"),
    "parent": (lambda tar, root: add_file(tar, "../evil"), "'../evil'"),
    "parent after folder": (lambda tar, root: add_file(tar, "a/../../evil"), "'a/../../evil'"),
    "parent that stays inside": (lambda tar, root: add_file(tar, "a/../b"), "'a/../b'"),
    "parent directory": (lambda tar, root: add_dir(tar, "x/../../evil_dir"), "evil_dir"),
    "backslash": (lambda tar, root: add_file(tar, "..\\evil"), "evil"),
    "control character": (lambda tar, root: add_file(tar, "a\nb"), "'a\\nb'"),
    "windows drive": (lambda tar, root: add_file(tar, "C:evil"), "'C:evil'"),
    "symlink to /etc": (lambda tar, root: add_symlink(tar, "etc", "/etc"), "'etc'"),
    "symlink to ../..": (lambda tar, root: add_symlink(tar, "up", "../.."), "'up'"),
    "symlink to ..": (lambda tar, root: add_symlink(tar, "sub/up", "../.."), "'sub/up'"),
    "symlink to outside file": (
        lambda tar, root: add_symlink(tar, "o", "../../outside.txt"),
        "'o'",
    ),
    "empty symlink": (lambda tar, root: add_symlink(tar, "empty", ""), "'empty'"),
    "symlink with backslash": (lambda tar, root: add_symlink(tar, "bs", "..\\..\\x"), "'bs'"),
    "hardlink outside": (lambda tar, root: add_hardlink(tar, "hl", "../../outside.txt"), "'hl'"),
    "hardlink absolute": (
        lambda tar, root: add_hardlink(tar, "hl", str(root / "outside.txt")),
        "'hl'",
    ),
    "hardlink to missing member": (lambda tar, root: add_hardlink(tar, "hl", "nothing"), "'hl'"),
    "hardlink to later member": (
        lambda tar, root: (add_hardlink(tar, "hl", "later"), add_file(tar, "later")),
        "'hl'",
    ),
    "hardlink to symlink": (
        lambda tar, root: (
            add_symlink(tar, "s", "f"),
            add_file(tar, "f"),
            add_hardlink(tar, "h", "s"),
        ),
        "'h'",
    ),
    "file through symlink to outside": (
        lambda tar, root: (add_symlink(tar, "link", "../.."), add_file(tar, "link/evil")),
        "'link",
    ),
    "file through symlink to inside": (
        lambda tar, root: (
            add_dir(tar, "sub"),
            add_symlink(tar, "link", "sub"),
            add_file(tar, "link/evil"),
        ),
        "'link/evil'",
    ),
    "file through later symlink": (
        lambda tar, root: (add_file(tar, "link/evil"), add_symlink(tar, "link", "sub")),
        "'link/evil'",
    ),
    "file through file": (
        lambda tar, root: (add_file(tar, "f"), add_file(tar, "f/g")),
        "'f/g'",
    ),
    "chained symlinks escaping": (
        lambda tar, root: (add_symlink(tar, "here", "."), add_symlink(tar, "b", "here/here/..")),
        "'b'",
    ),
    "symlink through later symlink escaping": (
        lambda tar, root: (add_symlink(tar, "b", "d/.."), add_symlink(tar, "d", ".")),
        "'b'",
    ),
    "symlink loop": (
        lambda tar, root: (add_symlink(tar, "p", "q/x"), add_symlink(tar, "q", "p/y")),
        "loop",
    ),
    "symlink replacing a file": (
        lambda tar, root: (add_file(tar, "x"), add_symlink(tar, "x", "y")),
        "'x'",
    ),
    "symlink replacing a symlink": (
        lambda tar, root: (add_symlink(tar, "x", "a"), add_symlink(tar, "x", "b")),
        "'x'",
    ),
    "directory replacing a symlink": (
        lambda tar, root: (add_symlink(tar, "x", "a"), add_dir(tar, "x")),
        "'x'",
    ),
    "char device": (lambda tar, root: add_special(tar, "null", tarfile.CHRTYPE), "'null'"),
    "block device": (lambda tar, root: add_special(tar, "sda", tarfile.BLKTYPE), "'sda'"),
    "fifo": (lambda tar, root: add_special(tar, "pipe", tarfile.FIFOTYPE), "'pipe'"),
    "unknown type": (lambda tar, root: add_special(tar, "odd", b"Z"), "'odd'"),
    "not a directory with trailing slash": (lambda tar, root: add_file(tar, "f/"), "'f/'"),
    "file named .": (lambda tar, root: add_file(tar, "./"), "'./'"),
    "good files then a bad one": (
        lambda tar, root: (
            add_dir(tar, "pkg"),
            add_file(tar, "pkg/model.bin"),
            add_file(tar, "top.txt"),
            add_symlink(tar, "pkg/ok", "model.bin"),
            add_file(tar, "../evil"),
        ),
        "'../evil'",
    ),
}


@needs_symlinks
@pytest.mark.parametrize("case", list(MALICIOUS), ids=list(MALICIOUS))
def test_malicious_archive_is_refused_and_nothing_is_written(case, workspace, extraction_filter):
    tmp_path, dest = workspace
    build, named = MALICIOUS[case]
    archive = make_archive(tmp_path / "archives" / "evil.tar.gz", build, root=tmp_path)
    before = snapshot(tmp_path)

    with pytest.raises(UnsafePathError) as info:
        safe_extract_tar(archive, dest)

    assert named in str(info.value)
    assert list(dest.iterdir()) == []
    assert snapshot(tmp_path) == before
    assert not Path("/tmp/ml2p_evil").exists()


def test_refused_archive_does_not_create_the_folder(tmp_path):
    archive = make_archive(
        tmp_path / "evil.tar", lambda tar, root: add_file(tar, "../evil"), root=tmp_path, mode="w"
    )
    with pytest.raises(UnsafePathError):
        safe_extract_tar(archive, tmp_path / "new" / "dest")
    assert snapshot(tmp_path) == {"evil.tar"}


@needs_symlinks
def test_member_through_existing_symlink_to_outside_is_refused(workspace):
    tmp_path, dest = workspace
    (dest / "out").symlink_to(tmp_path / "outside_dir")
    archive = make_archive(
        tmp_path / "a.tar.gz", lambda tar, root: add_file(tar, "out/evil"), root=tmp_path
    )
    with pytest.raises(UnsafePathError, match="'out/evil'"):
        safe_extract_tar(archive, dest)
    assert list((tmp_path / "outside_dir").iterdir()) == []


@needs_symlinks
def test_file_over_existing_symlink_to_outside_is_refused(workspace):
    tmp_path, dest = workspace
    (dest / "victim").symlink_to(tmp_path / "outside.txt")
    archive = make_archive(
        tmp_path / "a.tar.gz", lambda tar, root: add_file(tar, "victim", b"evil"), root=tmp_path
    )
    with pytest.raises(UnsafePathError, match="'victim'"):
        safe_extract_tar(archive, dest)
    assert (tmp_path / "outside.txt").read_bytes() == b"outside"


@needs_symlinks
def test_symlink_through_existing_symlink_to_outside_is_refused(workspace):
    tmp_path, dest = workspace
    (dest / "out").symlink_to(tmp_path / "outside_dir")
    archive = make_archive(
        tmp_path / "a.tar.gz",
        lambda tar, root: add_symlink(tar, "sneaky", "out/../outside.txt"),
        root=tmp_path,
    )
    with pytest.raises(UnsafePathError, match="'sneaky'"):
        safe_extract_tar(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["out"]


@needs_symlinks
def test_symlink_in_existing_symlink_to_the_folder_is_refused(workspace):
    tmp_path, dest = workspace
    (dest / "d").symlink_to(dest)
    archive = make_archive(
        tmp_path / "a.tar.gz",
        lambda tar, root: (add_file(tar, "first.txt"), add_symlink(tar, "d/l", "..")),
        root=tmp_path,
    )
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePathError, match="'d/l'"):
        safe_extract_tar(archive, dest)
    assert snapshot(tmp_path) == before


@needs_symlinks
def test_hardlink_to_existing_symlink_to_outside_is_refused(workspace):
    tmp_path, dest = workspace
    (dest / "victim").symlink_to(tmp_path / "outside.txt")
    archive = make_archive(
        tmp_path / "a.tar.gz", lambda tar, root: add_hardlink(tar, "h", "victim"), root=tmp_path
    )
    with pytest.raises(UnsafePathError, match="'h'"):
        safe_extract_tar(archive, dest)


# --- Good archives ----------------------------------------------------------------------


def build_good(tar: tarfile.TarFile, root: Path) -> None:
    add_dir(tar, "pkg")
    add_dir(tar, "pkg/sub")
    add_file(tar, "pkg/a.txt", b"alpha")
    add_file(tar, "pkg/sub/b.bin", b"\x00\x01beta", mode=0o755)
    add_file(tar, "deep/er/than/declared.txt", b"deep")
    add_file(tar, "top.txt", b"top")
    add_symlink(tar, "pkg/link", "sub/b.bin")
    add_symlink(tar, "current", "pkg")
    add_symlink(tar, "pkg/sub/back", "../a.txt")
    add_hardlink(tar, "pkg/hard", "pkg/a.txt")


@pytest.fixture(params=["filter", "no-filter"])
def extraction_filter(request, monkeypatch) -> str:
    """Run with tarfile's extraction filters, and as on Pythons that lack them."""
    if request.param == "no-filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile extraction filters")
    return request.param


@needs_symlinks
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("mode", ["w:gz", "w"], ids=["gzip", "plain"])
def test_good_archive_is_extracted(tmp_path, mode, extraction_filter):
    archive = make_archive(tmp_path / "good.tar", build_good, root=tmp_path, mode=mode)
    dest = tmp_path / "dest"
    dest.mkdir()

    extracted = safe_extract_tar(archive, dest)

    real = dest.resolve()
    assert extracted == [
        real / "pkg/a.txt",
        real / "pkg/sub/b.bin",
        real / "deep/er/than/declared.txt",
        real / "top.txt",
        real / "pkg/link",
        real / "current",
        real / "pkg/sub/back",
        real / "pkg/hard",
    ]
    assert (dest / "pkg/a.txt").read_bytes() == b"alpha"
    assert (dest / "pkg/sub/b.bin").read_bytes() == b"\x00\x01beta"
    assert (dest / "deep/er/than/declared.txt").read_bytes() == b"deep"
    assert (dest / "top.txt").read_bytes() == b"top"
    assert os.readlink(dest / "pkg/link") == "sub/b.bin"
    assert (dest / "pkg/link").read_bytes() == b"\x00\x01beta"
    assert (dest / "current").is_symlink()
    assert (dest / "current/a.txt").read_bytes() == b"alpha"
    assert (dest / "pkg/sub/back").read_bytes() == b"alpha"
    assert (dest / "pkg/hard").read_bytes() == b"alpha"
    assert os.stat(dest / "pkg/hard").st_ino == os.stat(dest / "pkg/a.txt").st_ino
    assert os.access(dest / "pkg/sub/b.bin", os.X_OK)
    assert snapshot(tmp_path) - {"good.tar"} == {"dest"} | {
        os.path.join("dest", p)
        for p in [
            "pkg",
            "pkg/sub",
            "pkg/a.txt",
            "pkg/sub/b.bin",
            "pkg/link",
            "pkg/sub/back",
            "pkg/hard",
            "deep",
            "deep/er",
            "deep/er/than",
            "deep/er/than/declared.txt",
            "top.txt",
            "current",
        ]
    }


def test_folder_is_created_and_dot_slash_names_are_normalised(tmp_path):
    def build(tar, root):
        add_dir(tar, ".")
        add_dir(tar, "./models")
        add_file(tar, "./models/m.pkl", b"m")
        add_file(tar, "./models//again.pkl", b"a")
        add_file(tar, "./models/./m.pkl", b"m2")  # A repeated file: the later one wins.

    archive = make_archive(tmp_path / "a.tar.gz", build, root=tmp_path)
    dest = tmp_path / "new" / "dest"
    extracted = safe_extract_tar(archive, dest)
    real = dest.resolve()
    assert extracted == [real / "models/m.pkl", real / "models/again.pkl"]
    assert (dest / "models/m.pkl").read_bytes() == b"m2"
    assert (dest / "models/again.pkl").read_bytes() == b"a"
    assert snapshot(dest) == {"models", "models/m.pkl", "models/again.pkl"}


@needs_symlinks
def test_symlinks_to_the_folder_itself_and_dangling_ones_are_allowed(tmp_path):
    def build(tar, root):
        add_symlink(tar, "self", ".")
        add_symlink(tar, "sub/parent", "..")
        add_symlink(tar, "dangling", "not/there")
        add_symlink(tar, "chain", "self/self/sub")

    archive = make_archive(tmp_path / "a.tar.gz", build, root=tmp_path)
    dest = tmp_path / "dest"
    safe_extract_tar(archive, dest)
    assert os.readlink(dest / "self") == "."
    assert os.readlink(dest / "sub/parent") == ".."
    assert os.readlink(dest / "dangling") == "not/there"
    assert (dest / "chain").resolve() == (dest / "sub").resolve()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_special_mode_bits_are_stripped(tmp_path, extraction_filter):
    def build(tar, root):
        add_dir(tar, "sticky", mode=0o1777)
        add_file(tar, "sticky/setuid", mode=0o4755)
        add_file(tar, "setgid", mode=0o2755)

    archive = make_archive(tmp_path / "a.tar.gz", build, root=tmp_path)
    dest = tmp_path / "dest"
    safe_extract_tar(archive, dest)
    special = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
    for name in ["sticky", "sticky/setuid", "setgid"]:
        assert os.stat(dest / name).st_mode & special == 0, name
    assert os.access(dest / "setgid", os.X_OK)


def test_existing_files_in_the_folder_are_kept(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_bytes(b"keep")
    archive = make_archive(
        tmp_path / "a.tar.gz", lambda tar, root: add_file(tar, "new.txt"), root=tmp_path
    )
    safe_extract_tar(archive, dest)
    assert snapshot(dest) == {"keep.txt", "new.txt"}


def test_accepts_a_str_path_and_an_empty_archive(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", lambda tar, root: None, root=tmp_path)
    assert safe_extract_tar(str(archive), str(tmp_path / "dest")) == []
    assert (tmp_path / "dest").is_dir()


def test_unreadable_archive_raises_tar_error(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(tarfile.TarError):
        safe_extract_tar(bad, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


# --- The archive is closed --------------------------------------------------------------


@pytest.fixture
def close_calls(monkeypatch) -> list:
    """Count calls of tarfile.TarFile.close (and still close)."""
    calls: list = []
    original = tarfile.TarFile.close

    def close(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(tarfile.TarFile, "close", close)
    return calls


@pytest.mark.parametrize("mode", ["w:gz", "w"], ids=["gzip", "plain"])
def test_archive_file_object_is_closed_after_extracting(tmp_path, close_calls, mode):
    archive = make_archive(
        tmp_path / "a.tar", lambda tar, root: add_file(tar, "f", b"x"), root=tmp_path, mode=mode
    )
    close_calls.clear()
    with open(archive, "rb") as handle:
        assert safe_extract_tar(handle, tmp_path / "dest") == [(tmp_path / "dest/f").resolve()]
        assert close_calls and all(tar.closed for tar in close_calls)
        # The caller's file object stays open: it belongs to the caller.
        assert not handle.closed
    assert (tmp_path / "dest/f").read_bytes() == b"x"


@pytest.fixture
def opened_tars(monkeypatch) -> list:
    """Record every TarFile that tarfile.open returns."""
    opened: list = []
    original = tarfile.open

    def open_and_record(*args, **kwargs):
        tar = original(*args, **kwargs)
        opened.append(tar)
        return tar

    monkeypatch.setattr(tarfile, "open", open_and_record)
    return opened


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_archive_is_closed_after_a_refusal(tmp_path, opened_tars, suffix):
    archive = make_archive(
        tmp_path / f"a{suffix}",
        lambda tar, root: add_file(tar, "../evil"),
        root=tmp_path,
        mode="w:gz" if suffix == ".tar.gz" else "w",
    )
    opened_tars.clear()
    with pytest.raises(UnsafePathError):
        safe_extract_tar(archive, tmp_path / "dest")
    assert len(opened_tars) == 1
    # TarFile.__exit__ closes the file it opened (without calling close()) on an error.
    assert opened_tars[0].closed
    assert opened_tars[0].fileobj.closed


def test_archive_opened_from_a_path_is_closed(tmp_path, opened_tars, close_calls):
    archive = make_archive(
        tmp_path / "a.tar.gz", lambda tar, root: add_file(tar, "f"), root=tmp_path
    )
    opened_tars.clear()
    close_calls.clear()
    safe_extract_tar(archive, tmp_path / "dest")
    assert len(opened_tars) == 1
    assert close_calls == opened_tars
    assert opened_tars[0].fileobj.closed


def test_archive_from_bytes_io(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add_file(tar, "in/memory.txt", b"mem")
    buffer.seek(0)
    assert safe_extract_tar(buffer, tmp_path) == [(tmp_path / "in/memory.txt").resolve()]
    assert (tmp_path / "in/memory.txt").read_bytes() == b"mem"


# --- safe_join --------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/abs",
    "/",
    "..",
    "../x",
    "a/..",
    "a/../../b",
    "a/../b",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    ".",
    "a\\b",
    "..\\x",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "a\x85b",
    "C:/x",
    "c:x",
    "C:",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_safe_join_refuses_bad_keys(tmp_path, key):
    with pytest.raises(UnsafePathError) as info:
        safe_join(tmp_path, key)
    assert repr(key) in str(info.value)


@pytest.mark.parametrize(
    "key",
    ["a", "a/b/c.txt", "model.tar.gz", ".hidden", "...", "a..b", "with space/ünïcode.txt", "x/a:b"],
)
def test_safe_join_accepts_good_keys(tmp_path, key):
    result = safe_join(tmp_path, key)
    assert result == tmp_path.resolve().joinpath(*key.split("/"))
    assert result.is_absolute()
    assert not result.exists()  # Nothing is created.


def test_safe_join_accepts_str_folder_and_missing_folder(tmp_path):
    folder = tmp_path / "missing"
    assert safe_join(str(folder), "x/y") == folder.resolve() / "x" / "y"
    assert not folder.exists()


def test_safe_join_refuses_keys_that_are_not_str(tmp_path):
    with pytest.raises(TypeError):
        safe_join(tmp_path, b"a")  # type: ignore[arg-type]


@needs_symlinks
def test_safe_join_refuses_existing_symlinks_to_outside(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "outside").mkdir()
    (folder / "out").symlink_to(tmp_path / "outside")
    (folder / "file_out").symlink_to(tmp_path / "outside" / "f")
    (folder / "self").symlink_to(folder)
    for key in ["out/x", "out", "file_out", "self"]:
        with pytest.raises(UnsafePathError, match=re.escape(repr(key))):
            safe_join(folder, key)


@needs_symlinks
def test_safe_join_resolves_symlinks_inside_the_folder(tmp_path):
    folder = tmp_path / "folder"
    (folder / "real").mkdir(parents=True)
    (folder / "alias").symlink_to("real")
    assert safe_join(folder, "alias/x") == (folder / "real" / "x").resolve()


@needs_symlinks
def test_safe_join_works_when_the_folder_is_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert safe_join(tmp_path / "alias", "a/b") == (tmp_path / "real" / "a" / "b").resolve()


# --- is_folder_marker -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("folder/", True),
        ("a/b/", True),
        ("/", True),
        ("folder", False),
        ("a/b.txt", False),
        ("", False),
    ],
)
def test_is_folder_marker(key, expected):
    assert is_folder_marker(key) is expected


def test_module_does_not_import_boto3():
    assert "boto3" not in safety.__dict__
    source = Path(safety.__file__).read_text()
    assert "boto3" not in source and "botocore" not in source
