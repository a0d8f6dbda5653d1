"""The policy in force, reloaded when its file changes.

The file's identity (mtime, size, inode) is checked at the start of every tick; a
changed file is parsed and validated, and replaces the policy only if valid. An invalid
file is logged once per change with the validation message (file, rule, field) and the
last good policy stays in force; ``error`` keeps that message for ``GET /api/v1/regime``.
A policy file that is invalid at start-up is a start-up error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from loadsense.correlator.dispatch.policy import Policy, PolicyError, load_policy

logger = logging.getLogger(__name__)

Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PolicySource:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._stamp: Stamp = _stamp(self.path) if self.path else None
        self.policy: Policy = load_policy(self.path)
        self.error: str | None = None
        self.reloads = 0

    def refresh(self) -> Policy:
        """The policy to use now: reloaded if the file changed and is valid."""
        if self.path is None:
            return self.policy
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self.policy
        self._stamp = stamp
        try:
            policy = load_policy(self.path)
        except PolicyError as exc:
            self.error = exc.message
            logger.error("policy not reloaded, keeping %s: %s", self.policy.version, exc.message)
            return self.policy
        if policy.version != self.policy.version:
            logger.info("policy reloaded: %s -> %s", self.policy.version, policy.version)
            self.reloads += 1
        self.policy = policy
        self.error = None
        return policy
