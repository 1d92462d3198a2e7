"""Runs ``gridwork worker`` with the derivative step watched, for the worker tests.

Every call of the real ``derive_images`` in this process writes ``started-<pid>`` into
``GRIDWORK_TEST_JOB_MARKS`` before it begins and appends ``<pid>`` to ``finished`` there
after it returns; with ``GRIDWORK_TEST_JOB_PAUSE_S`` it waits that long before it begins
(so a test can kill the worker mid-job). The work itself is the real one.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import server.storage.store as store  # noqa: E402
from server.cli import main  # noqa: E402

MARKS = Path(os.environ["GRIDWORK_TEST_JOB_MARKS"])
PAUSE = float(os.environ.get("GRIDWORK_TEST_JOB_PAUSE_S", "0"))
_real = store.derive_images


def _watched(*args, **kwargs):  # type: ignore[no-untyped-def]
    (MARKS / f"started-{os.getpid()}").touch()
    time.sleep(PAUSE)
    result = _real(*args, **kwargs)
    with (MARKS / "finished").open("a") as out:
        out.write(f"{os.getpid()}\n")
    return result


store.derive_images = _watched

if __name__ == "__main__":
    sys.argv = ["gridwork", "worker", "--concurrency", "1"]
    main()
