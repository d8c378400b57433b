"""Command line: `tiledsl demo` runs the main job; `tiledsl dump` prints the code of each stage."""

from __future__ import annotations

import sys

import click


@click.group()
def main():
    """tiledsl: a tile-based GPU kernel language."""


@main.command()
@click.option("--backend", "backends", multiple=True, type=click.Choice(["ir", "triton", "tilelang"]),
              help="backend(s) to run (default: ir and triton on CPU, triton and tilelang on a GPU)")
def demo(backends):
    """Compile and run a GEMM and a softmax through tiledsl and check them against torch."""
    from tiledsl.demo import run

    ok = run(backends or None, echo=click.echo)
    click.echo("all results match torch" if ok else "MISMATCH against torch")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
