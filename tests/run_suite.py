"""Run the whole suite on SQLite, then again on PostgreSQL when one is named.

``GRIDWORK_TEST_POSTGRES_URL`` (e.g. postgresql://postgres@127.0.0.1:5432/test) requests the
PostgreSQL run. The two runs share nothing (each has its own files, ports, schema and Redis
keys), so they run side by side, one per core, and each one's output is printed whole when it
ends; ``GRIDWORK_TEST_SERIAL=1`` runs them one after the other instead, streaming. Extra
arguments go to pytest. Exits non-zero if any run fails or runs no test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

NO_TESTS = 5  # pytest's exit code when it collected nothing


def _command(extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *extra]


def _verdict(label: str, code: int) -> int:
    if code == NO_TESTS:
        print(f"The {label} run collected no test: that counts as a failure.", flush=True)
        return 1
    return code


def _serial(runs: dict[str, dict[str, str]], extra: list[str]) -> dict[str, int]:
    results = {}
    for label, env in runs.items():
        print(f"\n=== Gridwork test suite on {label} ===", flush=True)
        results[label] = _verdict(label, subprocess.call(_command(extra), env=env))
    return results


def _side_by_side(runs: dict[str, dict[str, str]], extra: list[str]) -> dict[str, int]:
    print(f"Running the suite on {' and '.join(runs)} side by side; each run's output "
          "follows when it ends.", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gridwork-suite-") as tmp:
        started = {}
        for label, env in runs.items():
            log = open(os.path.join(tmp, f"{label}.log"), "w+b")  # noqa: SIM115 - closed below
            started[label] = (subprocess.Popen(_command(extra), env=env, stdout=log,
                                               stderr=subprocess.STDOUT), log)
        results = {}
        pending = dict(started)
        while pending:
            for label, (process, log) in list(pending.items()):
                code = process.poll()
                if code is None:
                    continue
                del pending[label]
                log.seek(0)
                print(f"\n=== Gridwork test suite on {label} "
                      f"({time.monotonic() - began:.0f} s) ===", flush=True)
                sys.stdout.buffer.write(log.read())
                sys.stdout.flush()
                log.close()
                results[label] = _verdict(label, code)
            time.sleep(0.5)
    return {label: results[label] for label in runs}


def main() -> int:
    """Run the suite once or twice and report."""
    extra = sys.argv[1:]
    env = dict(os.environ)
    env.pop("GRIDWORK_TEST_DATABASE_URL", None)
    runs = {"SQLite": env}
    pg_url = os.environ.get("GRIDWORK_TEST_POSTGRES_URL", "").strip()
    if pg_url:
        runs["PostgreSQL"] = {**env, "GRIDWORK_TEST_DATABASE_URL": pg_url}
    serial = len(runs) == 1 or os.environ.get("GRIDWORK_TEST_SERIAL", "") not in ("", "0")
    results = _serial(runs, extra) if serial else _side_by_side(runs, extra)
    print("\n=== Summary ===")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    if not pg_url:
        print("PostgreSQL: not requested (set GRIDWORK_TEST_POSTGRES_URL, e.g. "
              "postgresql://postgres@127.0.0.1:5432/test, to run the suite on it too)")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
