"""The tools qualidoc runs: where pandoc is, and the versions a change of which rebuilds every document."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from importlib import resources
from pathlib import Path

from pipeline import __version__
from pipeline.errors import ToolError


@functools.cache
def pandoc_path() -> str:
    """Return the pandoc binary shipped by pypandoc-binary (found without importing pypandoc: 7 to 30 ms)."""
    spec = importlib.util.find_spec("pypandoc")
    if spec and spec.origin and not os.environ.get("PYPANDOC_PANDOC"):  # that variable: pypandoc decides
        shipped = Path(spec.origin).parent / "files" / ("pandoc.exe" if os.name == "nt" else "pandoc")
        if shipped.is_file() and os.access(shipped, os.X_OK):
            return str(shipped)
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as e:
        raise ToolError("pandoc", "pandoc introuvable : réinstallez qualidoc (paquet pypandoc-binary)") from e


@functools.cache
def tool_versions() -> dict[str, str]:
    """The versions of pandoc, typst and qualidoc's own rendering code: a change rebuilds everything."""
    return {"tool:pandoc": _installed("pypandoc", "pypandoc_binary"), "tool:typst": _installed("typst", "typst"),
            "tool:qualidoc": f"{__version__}+{package_hash()}"}


def _installed(module: str, distribution: str) -> str:
    """A package's installed version, from its `.dist-info` folder name (importlib.metadata costs 40 ms)."""
    spec = importlib.util.find_spec(module)
    folder = Path(spec.origin).parent.parent if spec and spec.origin else None
    prefix = distribution.lower() + "-"
    for entry in sorted(os.listdir(folder)) if folder else ():
        if entry.lower().startswith(prefix) and entry.endswith(".dist-info"):
            return entry[len(prefix):-len(".dist-info")]
    from importlib import metadata

    return metadata.version(distribution)


@functools.cache
def package_hash() -> str:
    """A hash of qualidoc's own code: what it renders changes when the code does."""
    digest = hashlib.sha256()
    package = resources.files("pipeline")
    for name in sorted(p.name for p in package.iterdir() if p.name.endswith((".py", ".lua"))):
        digest.update(name.encode() + package.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]
