"""``python -m calcscan`` runs the command-line interface."""

from calcscan.cli.main import main

if __name__ == "__main__":
    main()
