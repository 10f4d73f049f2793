"""python -m spooky_cli: the spooky command."""

from spooky_cli.app import main

main()
