"""Files that hold personal information are the server account's alone: folders 0700, files 0600,
whatever the process umask (a default umask leaves them readable by every local user)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed, and make it the owner's alone."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, readable and writable by the owner alone (the folder is not changed).

    An existing file is never opened here, only its mode changed: closing any descriptor of a file
    drops every POSIX lock the process holds on it, and a SQLite database open in this process
    would be corrupted by another connection writing without the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # created meanwhile by someone else: theirs, not opened
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    path.chmod(FILE_MODE)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (`sqlite:///var/riskcontrol.db`), or None (another database, in memory)."""
    if not url.startswith("sqlite:///"):
        return None
    name = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(name) if name and name != ":memory:" else None
