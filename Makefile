# The few targets people need. `make test` is what CI runs first.
PYTHON ?= python3
ASAN_DIR := build/asan

.PHONY: install test sanitize bench lint format clean

install:
	$(PYTHON) -m pip install -e '.[test,lint]'

test:
	pytest

# The test suite against a core built with -fsanitize=address,undefined (and
# -Werror: a warning fails the build here).
# The instrumented module and a copy of the Python package go to build/asan,
# which shadows the installed package through PYTHONPATH. tests/test_dask.py is
# left out: it orchestrates worker processes; the C it reaches
# (spooky_diff_positions, block ranges) has direct tests in the rest.
sanitize:
	rm -rf $(ASAN_DIR) && mkdir -p $(ASAN_DIR)
	SPOOKY_SANITIZE=1 SPOOKY_WERROR=1 $(PYTHON) native/build.py $(ASAN_DIR) > $(ASAN_DIR)/build.log 2>&1 || (cat $(ASAN_DIR)/build.log; exit 1)
	cp spooky_cli/*.py $(ASAN_DIR)/spooky_cli/
	cp -r spooky_cli/bench spooky_cli/commands $(ASAN_DIR)/spooky_cli/
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PYTHONMALLOC=malloc PYTHONPATH=$(CURDIR)/$(ASAN_DIR) \
	pytest -q -x -m "not slow" -p no:randomly --ignore=tests/test_dask.py $(SANITIZE_ARGS)

bench:
	$(PYTHON) benchmarks/core.py
	$(PYTHON) benchmarks/convert_export.py

lint:
	ruff check spooky_cli tests benchmarks native/build.py
	ruff format --check spooky_cli tests benchmarks native/build.py
	mypy
	clang-format --dry-run --Werror native/*.c native/*.h

# Lays out the Python (ruff) and the C (clang-format, .clang-format) once.
format:
	ruff format spooky_cli tests benchmarks native/build.py
	clang-format -i native/*.c native/*.h

clean:
	rm -rf build dist *.egg-info spooky_cli/_spooky*.so
