"""Raise the process's open-file limit at start: every connection is a file, and the common
default of 1,024 lets a few hundred idle clients starve the database and everyone else."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft limit towards `wanted`, as far as the hard limit allows; the new soft
    limit (or the old one where the system has no such limit or refuses)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise.
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if wanted <= 0 or (soft != resource.RLIM_INFINITY and soft >= ceiling):
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    except (OSError, ValueError) as exc:
        log.warning("open-file limit stays at %d: %s", soft, exc)
        return soft
    log.info("open-file limit raised from %d to %d", soft, ceiling)
    return ceiling


def connection_budget(open_files: int, reserve: int = 200) -> int:
    """How many client connections fit beside the database, log and template files; 0 (no
    cap) where the limit is unknown."""
    if open_files <= 0:
        return 0
    return max(64, open_files - reserve)
