"""Counting what a request could not store, for OTLP ``partial_success``."""

from __future__ import annotations

from collections import Counter

MAX_REASONS_SHOWN = 8


class Rejections:
    """Rejected items by reason, plus warnings about items stored but not fully mapped."""

    def __init__(self) -> None:
        self.count = 0
        self._reasons: Counter[str] = Counter()
        self._warnings: Counter[str] = Counter()

    def reject(self, reason: str, n: int = 1) -> None:
        if n:
            self.count += n
            self._reasons[reason] += n

    def warn(self, message: str) -> None:
        self._warnings[message] += 1

    def message(self, noun: str) -> str:
        """One English sentence per concern, most frequent first; empty when none."""
        parts: list[str] = []
        if self.count:
            parts.append(f"rejected {self.count} {noun}: " + _listing(self._reasons))
        if self._warnings:
            parts.append("warning: " + _listing(self._warnings))
        return "; ".join(parts)


def _listing(counts: Counter[str]) -> str:
    items = counts.most_common()
    shown = [f"{n} x {reason}" for reason, n in items[:MAX_REASONS_SHOWN]]
    if len(items) > MAX_REASONS_SHOWN:
        shown.append(f"{len(items) - MAX_REASONS_SHOWN} more reasons")
    return ", ".join(shown)
