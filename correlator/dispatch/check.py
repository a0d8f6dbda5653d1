"""Validate policy files before deploying: ``python -m loadsense.correlator.dispatch.check FILE``.

Prints each file's ``policy_version`` and rule names, or the validation error (file,
rule, field); exits 1 if any file is invalid. Without arguments it checks the shipped
default. Useful in the CI of the repository that holds your policy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from loadsense.correlator.dispatch.policy import PolicyError, load_policy


def main(argv: Sequence[str] | None = None) -> int:
    paths: list[str | None] = [*(sys.argv[1:] if argv is None else argv)] or [None]
    failed = 0
    for path in paths:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            print(f"invalid: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        rules = ", ".join(r.name for r in policy.rules) or "(no rules)"
        print(f"ok: {policy.source}: {policy.version}: {rules}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
