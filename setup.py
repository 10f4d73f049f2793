# setup.py exists only because cffi_modules is a setup() keyword; the rest is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["native/build.py:ffibuilder"])
