"""An index that remembers: documents added over time, queried for every stored copy of a text's passages."""
