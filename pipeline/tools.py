"""The external tools behind one small adapter: where pandoc is, and the versions in use."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata

from pipeline.errors import ToolError


@functools.cache
def pandoc_path() -> str:
    """Return the pandoc binary shipped by pypandoc-binary."""
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as e:
        raise ToolError("pandoc", "pandoc not found: reinstall with `make build` (pypandoc-binary)") from e


@functools.cache
def pandoc_version() -> str:
    """Return pandoc's version, probed once."""
    result = subprocess.run([pandoc_path(), "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolError("pandoc", result.stderr, [pandoc_path(), "--version"])
    return result.stdout.split("\n", 1)[0].split()[-1]


@functools.cache
def typst_version() -> str:
    """Return the version of the typst Python package."""
    return metadata.version("typst")
