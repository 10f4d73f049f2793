"""cffi build script: compiles native/*.c into the extension spooky_cli._spooky.

The cdef is the part of native/spooky.h between its CDEF markers, read as is,
then that of native/bench.h (benchmark kernels and test hooks).
Build switches from the environment (see the Makefile):
  SPOOKY_DEBUG=1     -O0 -g
  SPOOKY_SANITIZE=1  -fsanitize=address,undefined (run with libasan preloaded)
  SPOOKY_WERROR=1    warnings are errors
"""

import os
import re
from pathlib import Path

from cffi import FFI

NATIVE = Path(__file__).resolve().parent
ROOT = NATIVE.parent


# spooky.h: what users call; bench.h: the benchmark kernels and test hooks.
CDEF_HEADERS = ("spooky.h", "bench.h")


def cdef_source() -> str:
    parts = []
    for name in CDEF_HEADERS:
        header = (NATIVE / name).read_text()
        match = re.search(r"/\* CDEF-BEGIN \*/(.*)/\* CDEF-END \*/", header, re.S)
        if not match:
            raise RuntimeError(f"native/{name} has no CDEF-BEGIN/CDEF-END section")
        parts.append(match.group(1))
    return "\n".join(parts)


def package_version() -> str:
    text = (ROOT / "spooky_cli" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def flags() -> tuple[list[str], list[str]]:
    compile_args = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    link_args: list[str] = []
    if os.environ.get("SPOOKY_DEBUG") == "1":
        compile_args += ["-O0", "-g"]
    else:
        compile_args += ["-O2"]
    if os.environ.get("SPOOKY_SANITIZE") == "1":
        san = [
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            "-g",
        ]
        compile_args += san
        link_args += san
    if os.environ.get("SPOOKY_WERROR") == "1":
        compile_args += ["-Werror"]
    return compile_args, link_args


def make_builder(absolute: bool = False) -> FFI:
    """setuptools wants source paths relative to the project root (its cwd);
    a direct compile() changes directory, so it needs absolute ones."""

    def path(p: Path) -> str:
        return str(p) if absolute else os.path.relpath(p, os.getcwd())

    compile_args, link_args = flags()
    builder = FFI()
    builder.cdef(cdef_source())
    builder.set_source(
        "spooky_cli._spooky",
        '#include "spooky.h"\n#include "bench.h"',
        sources=[path(p) for p in sorted(NATIVE.glob("*.c"))],
        include_dirs=[path(NATIVE)],
        define_macros=[("SPOOKY_VERSION", f'"{package_version()}"'), ("_GNU_SOURCE", None)],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    # Build into a folder of your choice: python native/build.py OUTDIR
    import sys

    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    make_builder(absolute=True).compile(tmpdir=out, verbose=True)
