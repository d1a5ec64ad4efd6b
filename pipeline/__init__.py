"""qualidoc: structured training content to the documents a Qualiopi auditor expects."""

__version__ = "0.1.0"
