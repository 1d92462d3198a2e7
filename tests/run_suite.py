"""Run the whole suite on SQLite, then again on PostgreSQL when one is named.

``GRIDWORK_TEST_POSTGRES_URL`` (e.g. postgresql://postgres@127.0.0.1:5432/test) requests the
PostgreSQL run. Extra arguments go to pytest. Exits non-zero if any run fails or runs no test.
"""

from __future__ import annotations

import os
import subprocess
import sys


def _pytest(label: str, env: dict[str, str], extra: list[str]) -> int:
    print(f"\n=== Gridwork test suite on {label} ===", flush=True)
    code = subprocess.call([sys.executable, "-m", "pytest", *extra], env=env)
    if code == 5:
        print(f"The {label} run collected no test: that counts as a failure.", flush=True)
        return 1
    return code


def main() -> int:
    """Run the suite once or twice and report."""
    extra = sys.argv[1:]
    env = dict(os.environ)
    env.pop("GRIDWORK_TEST_DATABASE_URL", None)
    results = {"SQLite": _pytest("SQLite", env, extra)}
    pg_url = os.environ.get("GRIDWORK_TEST_POSTGRES_URL", "").strip()
    if pg_url:
        results["PostgreSQL"] = _pytest("PostgreSQL", {**env, "GRIDWORK_TEST_DATABASE_URL": pg_url},
                                        extra)
    print("\n=== Summary ===")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    if not pg_url:
        print("PostgreSQL: not requested (set GRIDWORK_TEST_POSTGRES_URL, e.g. "
              "postgresql://postgres@127.0.0.1:5432/test, to run the suite on it too)")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
