"""Security tests reuse the server fixtures (a real runtime served on 127.0.0.1 with ``TOKEN``)."""

from tests.server.conftest import http, server, sio_client  # noqa: F401  (pytest fixtures)
