"""The HTTP service and web pages: `reprints serve` over an index, `reprints view` over a finished run."""

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})  # Host names of a server bound to this machine
