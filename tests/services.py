"""The real services some tests need on 127.0.0.1, and skip markers for when they are
absent (a developer's laptop): RabbitMQ (guest/guest) and Redis."""

from __future__ import annotations

import socket

import pytest


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


needs_rabbit = pytest.mark.skipif(
    not listening(5672), reason="needs RabbitMQ on 127.0.0.1:5672 (guest/guest)"
)
needs_redis = pytest.mark.skipif(not listening(6379), reason="needs Redis on 127.0.0.1:6379")
