"""The HTTP service and web pages: `reprints serve` over an index, `reprints view` over a finished run."""
