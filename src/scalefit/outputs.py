"""Writing output files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def is_stream(path: str) -> bool:
    """Whether ``path`` (links followed) is an existing file that is not a regular file: a pipe,
    a device such as /dev/null or /dev/stdout, a socket. Such a target is written in place."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def write_output(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: to a temporary file beside the target (links
    followed, so a symbolic link is written through, not replaced), renamed over it when complete
    (readers see the old file or the new one, never a part). A pipe or device is written in place.
    Raises OSError when it cannot; no temporary file is left behind."""
    if is_stream(path):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    target = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".scalefit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        publish_file(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def publish_file(tmp: str, path: str) -> None:
    """Give a finished temporary file the usual permissions (0666 less the umask), then rename it
    over ``path``: readers see the old file or the whole new one, never a part."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
