"""Where the pandoc binary shipped by pypandoc-binary is."""

from __future__ import annotations

import functools

from pipeline.errors import ToolError


@functools.cache
def pandoc_path() -> str:
    """Return the pandoc binary shipped by pypandoc-binary."""
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as e:
        raise ToolError("pandoc", "pandoc not found: reinstall with `make build` (pypandoc-binary)") from e
