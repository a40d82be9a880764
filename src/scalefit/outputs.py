"""Writing output files whole or not at all."""

from __future__ import annotations

import os


def publish_file(tmp: str, path: str) -> None:
    """Give a finished temporary file the usual permissions (0666 less the umask), then rename it
    over ``path``: readers see the old file or the whole new one, never a part."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
