"""WSGI entry point for gunicorn: ``gunicorn server.wsgi:app``.

The app's own log lines go to standard error (gunicorn passes them to the journal), at the
level of ``GRIDWORK_LOG_LEVEL`` (INFO by default). No log line carries a password, a token,
or a phone or ID number: tests/server/test_no_secrets_in_logs.py greps a full run for them.
"""

from __future__ import annotations

import logging
import os

from server import create_app, webhook_sender

logging.basicConfig(level=os.environ.get("GRIDWORK_LOG_LEVEL", "INFO").upper(),
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
# alembic announces each of its plugins at INFO when Flask-Migrate imports it: seven lines a
# worker at every start, about nothing the operator can act on.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

app = create_app()
# This process serves the app (gunicorn imports this module in each worker, after the fork):
# it sends the department webhooks too, when GRIDWORK_WEBHOOKS_ASYNC is on (the default).
webhook_sender.start(app)
