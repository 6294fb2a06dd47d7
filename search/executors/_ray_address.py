"""Whether the Ray cluster a run names answers, checked before ``ray.init`` (which retries an
address nobody listens on for minutes without a word)."""

from __future__ import annotations

import socket

__all__ = ["check_reachable"]

#: Seconds to wait for the cluster's head to accept a connection.
CONNECT_TIMEOUT_S = 5.0


def check_reachable(address: str | None, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ``ValueError`` when nothing listens at ``address`` (``HOST:PORT`` or
    ``ray://HOST:PORT``); ``None``, ``"auto"`` and ``"local"`` are Ray's to resolve.

    Examples:
        >>> check_reachable(None)
        >>> check_reachable("auto")
        >>> server = socket.create_server(("127.0.0.1", 0))
        >>> check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
        >>> port = server.getsockname()[1]
        >>> server.close()
        >>> check_reachable(f"127.0.0.1:{port}")
        Traceback (most recent call last):
        ...
        ValueError: Cannot reach the Ray cluster at '127.0.0.1:...': nothing answers there \
(Connection refused). Start it (ray start --head) or give the address 'ray start' printed.
    """
    if address is None or address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit():
        return  # another form: Ray says what it makes of it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        why = error.strerror or str(error) or type(error).__name__
        raise ValueError(
            f"Cannot reach the Ray cluster at {address!r}: nothing answers there ({why}). "
            "Start it (ray start --head) or give the address 'ray start' printed."
        ) from None
