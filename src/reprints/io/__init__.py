"""Reading documents from `.txt` files, JSON Lines and Parquet, and writing the run's outputs."""

from reprints.io.sources import expand_inputs, iter_documents

__all__ = ["expand_inputs", "iter_documents"]
