"""Writing output files whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile

OPEN_DESCRIPTOR = re.compile(r"/(?:dev/(?:std(in|out|err)|fd/(\d+))|proc/self/fd/(\d+))")
STANDARD_STREAMS = {"in": 0, "out": 1, "err": 2}


def open_descriptor(path: str) -> int | None:
    """The file descriptor that ``path`` names (/dev/stdout, /dev/stderr, /dev/fd/N,
    /proc/self/fd/N), or None. Such an output is written to that descriptor as it is open (a
    shell's '>> log' appends), never reopened (which would truncate the file behind it) or
    renamed over (which would replace it)."""
    match = OPEN_DESCRIPTOR.fullmatch(os.path.abspath(path))
    if not match:
        return None
    name, fd, proc_fd = match.groups()
    return STANDARD_STREAMS[name] if name else int(fd or proc_fd)


def is_stream(path: str) -> bool:
    """Whether ``path`` is written in place: an open descriptor (see ``open_descriptor``), or an
    existing file (links followed) that is neither regular nor a directory: a pipe, a device
    such as /dev/null, a socket."""
    if open_descriptor(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_output(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: to a temporary file beside the target (links
    followed, so a symbolic link is written through, not replaced) that takes the target's
    permissions and is renamed over it when complete (readers see the old file or the new one,
    never a part). An open descriptor, pipe or device is written in place. Raises OSError naming
    ``path`` when it cannot (a missing or unwritable directory, a directory given as the file); no
    temporary file is left behind."""
    fd = open_descriptor(path)
    if fd is not None:
        _write_all(fd, data)
        return
    if is_stream(path):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", path)
    try:
        handle_fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".scalefit-", suffix=".tmp")
    except OSError as exc:      # named by the path asked for, not the temporary file beside it
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        with os.fdopen(handle_fd, "wb") as handle:
            handle.write(data)
        publish_file(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def publish_file(tmp: str, path: str) -> None:
    """Give a finished temporary file the permissions of the file it replaces (or, for a new
    file, 0666 less the umask), then rename it over ``path``: readers see the old file or the
    whole new one, never a part."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    os.replace(tmp, path)
