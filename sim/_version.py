"""The package version, and a fingerprint of the code that computes results."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def code_fingerprint() -> str:
    """The first 12 hex digits of a SHA-256 over the package's Python sources (their
    paths and contents, in path order): it changes with any change to the code, which
    the version number does not between releases. Recorded with results and sweep
    stores, so that results computed by different code can be told apart.

    Examples
    --------
    >>> len(code_fingerprint()) == 12 and code_fingerprint() == code_fingerprint()
    True
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:12]
