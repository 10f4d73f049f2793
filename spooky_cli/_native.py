"""Loads the compiled core and checks it was built from these Python files."""

from spooky_cli._version import __version__

try:
    from spooky_cli._spooky import ffi, lib
except ImportError as exc:  # pragma: no cover - shown to people, not tested
    raise ImportError(
        "spooky_cli's C core (spooky_cli._spooky) is not built: install the package with "
        "`pip install .` (or `pip install -e .` in a checkout)"
    ) from exc

BUILT_VERSION = ffi.string(lib.spooky_version()).decode()
if __version__ != BUILT_VERSION:
    raise ImportError(
        f"spooky_cli {__version__} found a C core built as {BUILT_VERSION}: "
        "rebuild it with `pip install .`"
    )

__all__ = ["ffi", "lib"]
