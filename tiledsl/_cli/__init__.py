"""The `tiledsl` command line (entry point: `tiledsl.cli:main`)."""
