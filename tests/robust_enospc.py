"""`skyddsnat` with a full disk under one directory, for machines that cannot mount a small
tmpfs: files opened for writing below DIR accept BUDGET bytes in all, then every write fails
with ENOSPC, as the kernel reports a full file system. Renames and links still work.

    python -m tests.robust_enospc DIR BUDGET run --data-dir ... (the CLI's arguments)
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import sys


def install(limit_dir: str, budget: int) -> None:
    real_open = io.open
    limit = os.path.abspath(limit_dir) + os.sep
    left = [budget]

    class FullDisk:
        def __init__(self, fh):
            self._fh = fh

        def write(self, data):
            if len(data) > left[0]:
                left[0] = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            left[0] -= len(data)
            return self._fh.write(data)

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __iter__(self):
            return iter(self._fh)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

    def open_on_a_full_disk(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and isinstance(file, (str, os.PathLike)) and \
                os.path.abspath(os.fspath(file)).startswith(limit):
            return FullDisk(fh)
        return fh

    io.open = builtins.open = open_on_a_full_disk


if __name__ == "__main__":
    install(sys.argv[1], int(sys.argv[2]))
    sys.argv = ["skyddsnat", *sys.argv[3:]]
    from skyddsnat.cli import app

    app()
