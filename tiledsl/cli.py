"""Command line entry point: ``tiledsl`` (see `tiledsl._cli.main` and docs/cli.md)."""

from tiledsl._cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
