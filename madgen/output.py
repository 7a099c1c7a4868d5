"""Writing output safely: the one place madgen creates, replaces and cleans files on disk.

Guarantees (``docs/safety.md`` states them for users):

* **Atomic files** (:func:`atomic_file`): written under a temporary name beside the target and
  renamed onto it only when complete; on any error or interrupt the target is left as it was.
* **Staged directories** (:func:`staged_directory`): a package or a run directory is built in a
  sibling staging directory and renamed into place as a whole, so a reader never sees a mix of
  old and new files.
* **Ownership**: an existing directory is replaced only with ``force`` and only when madgen
  recognises it as its own (:func:`owned_kind`: a generated package or a run directory); anything
  else is an error that names the path and what it holds.
* **Locks** (:class:`TargetLock`): one writer per target; a second one fails at once with the pid
  of the first. Run numbers are claimed with an exclusive ``mkdir`` (:func:`claim_run_directory`).
* **Leftovers**: every temporary file and staging directory is locked (``flock``) by its writer
  for as long as it lives; one whose writer has died (SIGKILL, power cut) is *stale* and
  :func:`remove_stale` deletes it. Locks are ``fcntl.flock`` locks, which the kernel releases
  when a process dies; they are reliable on local file systems (on some network file systems
  they only exclude processes of the same host).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from madgen.errors import OutputError

try:  # POSIX; elsewhere madgen writes without locks
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms madgen supports
    fcntl = None

TEMP_TAG = ".madgen-"
"""Every temporary name madgen makes contains this tag: ``.<target name>.madgen-<random>.tmp``."""

OWNER_FILE = ".madgen.json"
"""Marker in every directory madgen writes as a whole: ``{"generator": "madgen", "kind": ...}``."""

PACKAGE, RUN = "package", "run"

_LIVE: dict[str, Path] = {}
"""Temporaries of this process not yet renamed or removed (for ``remove_live_temporaries``)."""
_LIVE_LOCK = threading.Lock()
_CREATE_LOCK = threading.Lock()
"""Held while a temporary is created and registered; taken for good by ``remove_live_temporaries``
(the process exits next), so that no writer thread creates a temporary the clean-up cannot see."""
_COMPLETED: list[Path] = []
"""Directories this process finished writing (for the CLI's message after Ctrl-C)."""
_CLAIMED: dict[str, Path] = {}
"""Run directories this process claimed (``claim_run_directory``) and has not filled yet: given back (removed
while empty) by ``remove_live_temporaries``."""


# --------------------------------------------------------------------------- modes


def umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    current = os.umask(0)
    os.umask(current)
    return current


def default_file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (mkstemp makes 0600)."""
    return 0o666 & ~umask()


def default_dir_mode() -> int:
    """The mode ``mkdir`` gives a new directory under the current umask (mkdtemp makes 0700)."""
    return 0o777 & ~umask()


# --------------------------------------------------------------------------- locking helpers


def _lock_fd(fd: int) -> bool:
    """Take an exclusive non-blocking flock on ``fd``; False if another process holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


def _register(path: Path) -> None:
    path = Path(os.path.abspath(path))
    with _LIVE_LOCK:
        _LIVE[str(path)] = path


def _unregister(path: Path) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(os.path.abspath(path), None)


def _remove(path: Path) -> None:
    """Remove a file or directory tree; missing is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def _created(make):
    """Run ``make()`` (which creates a temporary and returns its path, or (fd, path)) and register the
    path, both under ``_CREATE_LOCK``: a temporary either exists registered or not at all."""
    with _CREATE_LOCK:
        made = make()
        _register(made[1] if isinstance(made, tuple) else made)
        return made


def remove_live_temporaries(settle_s: float = 1.0) -> list[Path]:
    """Remove every temporary this process is still writing (used by the CLI on Ctrl-C, when the
    writer cannot unwind itself in time). Returns what was removed.

    The process must exit right after: no temporary can be created any more (a writer thread that
    tries blocks), and a staging directory that a writer thread is still filling (a rename into it
    racing the removal) is removed again until it is gone, for at most ``settle_s`` seconds."""
    _CREATE_LOCK.acquire()
    with _LIVE_LOCK:
        paths = list(_LIVE.values())
        _LIVE.clear()
    for path in paths:
        _remove(path)
    deadline = time.monotonic() + settle_s
    while any(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(0.01)
        for path in paths:
            _remove(path)
    with _LIVE_LOCK:
        claimed = list(_CLAIMED.values())
        _CLAIMED.clear()
    for path in claimed:  # a run number claimed for the interrupted run: given back while still empty
        with contextlib.suppress(OSError):
            path.rmdir()
    return [p for p in paths if not any(q in p.parents for q in paths)]


def release_claim(path: Path) -> None:
    """``path``, claimed by ``claim_run_directory``, is no longer this process's to give back (its run is
    in place, or it was removed)."""
    with _LIVE_LOCK:
        _CLAIMED.pop(os.path.abspath(path), None)


def completed_directories() -> list[Path]:
    """Directories (packages, runs) this process has written completely so far."""
    return list(_COMPLETED)


def _writable_parent(target: Path) -> Path:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {parent}: {error.strerror or error}; choose another output "
                          "location") from None
    return parent


def _temporary_name(target: Path, suffix: str) -> str:
    return f".{target.name}{TEMP_TAG}{os.urandom(4).hex()}.{suffix}"


# --------------------------------------------------------------------------- atomic files


def _mkstemp(stem: str, directory: Path) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{stem}{TEMP_TAG}", suffix=".tmp", dir=directory)
    return fd, Path(name)


def _mkdir_private(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """Open a locked temporary file beside ``path``; rename it onto ``path`` when the block completes.

    The directory must exist (a typo in a path is an error, not a new directory). On any exception (KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left as it was. The file gets the mode ``open()`` would give it.
    """
    path = Path(path)
    try:
        fd, temporary = _created(lambda: _mkstemp(path.name, path.parent))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; check that the directory is "
                          "writable") from None
    try:
        _lock_fd(fd)
        with os.fdopen(fd, mode) as stream:
            yield stream
        os.chmod(temporary, default_file_mode())
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    finally:
        _unregister(temporary)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_file(path, "w") as stream:
        stream.write(text)
    return Path(path)


@contextlib.contextmanager
def temporary_file(directory: Path, stem: str, mode: str = "w+") -> Iterator[tuple[object, Path]]:
    """A locked scratch file in ``directory`` (e.g. an event body streamed before its header is
    known), always removed at the end. Yields (stream, path)."""
    directory = Path(directory)
    try:
        fd, path = _created(lambda: _mkstemp(stem, directory))
    except OSError as error:
        raise OutputError(f"cannot write into {directory}: {error.strerror or error}") from None
    try:
        _lock_fd(fd)
        with os.fdopen(fd, mode) as stream:
            yield stream, path
    finally:
        _remove(path)
        _unregister(path)


# --------------------------------------------------------------------------- ownership


def owned_kind(directory: Path) -> str | None:
    """``"package"`` or ``"run"`` if ``directory`` is one madgen wrote as a whole, else None.

    A directory is madgen's when it holds ``.madgen.json`` naming madgen as generator; packages
    written before that marker existed are recognised by their ``metadata.json``.
    """
    for marker in (directory / OWNER_FILE, directory / "metadata.json"):
        try:
            data = json.loads(marker.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and data.get("generator") == "madgen":
            return str(data.get("kind", PACKAGE))
    return None


def owner_marker(kind: str, **details) -> str:
    """The text of ``.madgen.json`` for a directory of ``kind``."""
    from madgen.version import __version__

    return json.dumps({"generator": "madgen", "kind": kind, "madgen_version": __version__, **details},
                      indent=1, sort_keys=True) + "\n"


def describe_contents(directory: Path, limit: int = 5) -> str:
    """'a, b, c and 4 more' for error messages."""
    try:
        names = sorted(p.name for p in directory.iterdir())
    except OSError:
        return "unreadable contents"
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_creatable(target: Path) -> None:
    """Raise ``OutputError`` now (not after the work) if ``target`` cannot be created: a file on its
    path, or a nearest existing directory madgen may not write in."""
    ancestor = Path(os.path.abspath(target)).parent
    while not ancestor.exists():
        if ancestor.is_symlink():  # a dangling link
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputError(f"{target} cannot be created: {ancestor} is a file, not a directory; choose another "
                          "output path")
    if ancestor.is_dir():
        try:  # access() says yes to root on read-only and virtual file systems: try it
            fd, probe = tempfile.mkstemp(prefix=f"{TEMP_TAG}probe-", suffix=".tmp", dir=ancestor)
            os.close(fd)
            os.unlink(probe)
        except OSError as error:
            raise OutputError(f"{target} cannot be created: madgen cannot write in {ancestor} "
                              f"({error.strerror}); choose another output path") from None


def check_replaceable(target: Path, kind: str, force: bool) -> bool:
    """Whether ``target`` exists as something to replace; raise ``OutputError`` if madgen must not.

    Missing or an empty directory: nothing to replace. A file, a link, or a directory madgen does
    not own (or owns as another kind): never replaced. A directory of ``kind``: only with ``force``.
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise OutputError(f"{target} exists and is not a directory; madgen never replaces it: remove it "
                          "yourself or choose another output path")
    if not target.exists():
        check_creatable(target)
        return False
    if not any(target.iterdir()):
        return False
    owner = owned_kind(target)
    if owner != kind:
        what = f"a madgen {owner} directory, not a {kind}" if owner else "not written by madgen"
        raise OutputError(f"{target} already exists and is {what} (it holds {describe_contents(target)}); "
                          f"madgen never replaces it, even with --force: choose another output path or "
                          "remove it yourself")
    if not force:
        raise OutputError(f"{target} already exists (a madgen {kind}); pass --force to replace it, or choose "
                          "another output path")
    return True


def check_replaceable_file(target: Path, what: str, ours, error=OutputError) -> None:
    """Before any work, raise ``error`` unless ``target`` can take the output file ``what`` (e.g. "gold
    file"): a file path in an existing directory whose present file, if any, ``ours(target)`` recognises
    as madgen's own (madgen never replaces what it did not write)."""
    if target.is_dir():
        raise error(f"{target} is a directory; give the path of the {what} to write")
    if not target.parent.is_dir():
        raise error(f"{target}: the directory {target.parent} does not exist")
    if target.exists() and not ours(target):
        raise error(f"{target} exists and is not a madgen {what}; madgen does not replace it: "
                    "choose another output file or remove it")


# --------------------------------------------------------------------------- locks


class TargetLock:
    """Exclusive lock on an output target, held with ``flock`` on a file beside it.

    The file is ``.<name>.madgen-lock``. A second writer of the same target fails at once with an
    ``OutputError`` naming the holder's pid. Use as a context manager.
    """

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.path = self.target.parent / f".{self.target.name}{TEMP_TAG}lock"
        self._fd: int | None = None

    def __enter__(self) -> "TargetLock":
        _writable_parent(self.target)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _lock_fd(fd):
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(f"{self.target} is being written by {holder}; wait for it to finish or choose "
                              "another output path")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        _register(self.path)
        return self

    def __exit__(self, *exc) -> None:
        _unregister(self.path)
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


# --------------------------------------------------------------------------- staged directories


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike, kind: str, force: bool = False,
                     keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Build a directory in a locked sibling staging directory and rename it onto ``target``.

    Checks first that ``target`` may be written (:func:`check_replaceable`), holds the target's
    :class:`TargetLock` throughout, writes the ownership marker, and on success replaces
    ``target`` as a whole (an existing one is moved aside, then deleted; entries named in
    ``keep``, e.g. a package's ``Events``, are carried over into the new directory). On any
    exception the staging directory is removed and ``target`` is untouched.
    """
    target = Path(target)
    with TargetLock(target):
        replace = check_replaceable(target, kind, force)
        parent = target.parent
        remove_stale(parent)
        staging = parent / _temporary_name(target, "staging")
        try:
            _created(lambda: _mkdir_private(staging))
        except OSError as error:
            raise OutputError(f"cannot write into {parent}: {error.strerror or error}") from None
        lock_fd = os.open(staging / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_fd(lock_fd)
            staging.chmod(default_dir_mode())
            yield staging
            (staging / OWNER_FILE).write_text(owner_marker(kind))
            os.chmod(staging / OWNER_FILE, default_file_mode())
            _swap_into_place(staging, target, replace, keep)
            release_claim(target)
            (target / ".lock").unlink()  # held until the directory is in place
            _COMPLETED.append(target)
        except BaseException:
            _remove(staging)
            raise
        finally:
            os.close(lock_fd)
            _unregister(staging)


def _swap_into_place(staging: Path, target: Path, replace: bool, keep: tuple[str, ...]) -> None:
    """Rename ``staging`` onto ``target``; an existing target is moved aside (locked, so no other
    process takes it for a stale leftover) and deleted once the new one is in place."""
    if not replace:
        os.replace(staging, target)  # also onto an existing empty directory (a claimed run number)
        return
    trash = target.parent / _temporary_name(target, "old")
    old_lock = os.open(target / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock_fd(old_lock)
        os.replace(target, trash)
        moved = []
        try:
            for name in keep:
                if (trash / name).exists():
                    os.replace(trash / name, staging / name)
                    moved.append(name)
            os.replace(staging, target)
        except BaseException:
            for name in moved:
                os.replace(staging / name, trash / name)
            os.replace(trash, target)
            (target / ".lock").unlink()
            raise
        _remove(trash)
    finally:
        os.close(old_lock)


def claim_run_directory(events: str | os.PathLike, prefix: str = "run_") -> Path:
    """The first free ``<events>/run_NN``, claimed by creating it (``mkdir`` is atomic), so that two
    concurrent runs always get two distinct numbers. The claimed directory is empty until the run
    is renamed onto it."""
    events = Path(events)
    events.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        candidate = events / f"{prefix}{number:02d}"
        try:
            with _CREATE_LOCK, _LIVE_LOCK:  # none after remove_live_temporaries (it keeps _CREATE_LOCK)
                candidate.mkdir()
                _CLAIMED[os.path.abspath(candidate)] = candidate
            return candidate
        except FileExistsError:
            number += 1


# --------------------------------------------------------------------------- stale leftovers


def is_madgen_temporary(path: Path) -> bool:
    """Whether ``path``'s name is one madgen gives its temporaries (or their locks)."""
    name = path.name
    return name.startswith(".") and TEMP_TAG in name


def _is_stale(path: Path, grace_s: float = 60.0) -> bool:
    """A temporary whose writer is gone: its flock (on the file, or on a staging directory's
    ``.lock``) can be taken. A directory without a lock file is stale once it is older than
    ``grace_s`` (its writer died between creating it and locking it, or while renaming)."""
    probe = path / ".lock" if path.is_dir() else path
    try:
        fd = os.open(probe, os.O_RDONLY)
    except FileNotFoundError:
        try:
            return path.is_dir() and time.time() - path.stat().st_mtime > grace_s
        except OSError:
            return False
    except OSError:
        return False
    try:
        return _lock_fd(fd)
    finally:
        os.close(fd)


def remove_stale(directory: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Delete madgen's stale temporaries in ``directory`` (and below, if ``recursive``).

    Only names madgen gives its temporaries are considered, and only those no living writer holds
    locked; a lock file is removed only when nobody holds it. Returns the removed paths.
    """
    directory = Path(directory)
    removed: list[Path] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if is_madgen_temporary(entry) and not entry.is_symlink():
            with _LIVE_LOCK:
                ours = os.path.abspath(entry) in _LIVE
            if not ours and _is_stale(entry):
                _remove(entry)
                removed.append(entry)
        elif recursive and entry.is_dir() and not entry.is_symlink():
            removed.extend(remove_stale(entry, recursive=True))
    return removed
