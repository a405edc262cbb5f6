"""Command-line interface of calcscan (Typer + Rich). See :mod:`calcscan.cli.main`."""
