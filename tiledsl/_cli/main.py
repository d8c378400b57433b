"""The `tiledsl` command: a thin layer over `kernel.compile(...)` and the reference-kernel registry.

Every error a user can cause (unknown kernel, bad spec, missing GPU, a kernel's `TiledslError`)
ends as one line on stderr and a non-zero exit; see `Group.invoke`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from tiledsl._cli.resolve import SPEC_HELP

BACKENDS = ("triton", "tilelang", "ir")
NO_GPU_EXIT = 2


class Fail(click.ClickException):
    """One line on stderr and `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def one_line(e: BaseException) -> str:
    """A tiledsl error as one line: its message, where it is in the kernel, and its hint."""
    msg = getattr(e, "message", None) or (str(e).splitlines()[0] if str(e) else type(e).__name__)
    loc = getattr(e, "loc", None)
    if loc is not None:
        msg += f" ({Path(loc.file).name}:{loc.line})"
    hint = getattr(e, "hint", None)
    if hint is None:
        hint = next((ln[6:] for ln in str(e).splitlines() if ln.startswith("hint: ")), None)
    return f"{msg}; hint: {hint}" if hint else msg


class Group(click.Group):
    def invoke(self, ctx):
        from tiledsl.errors import TiledslError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except TiledslError as e:
            raise Fail(one_line(e)) from None
        except KeyboardInterrupt:
            raise Fail("interrupted", 130) from None
        except Exception as e:  # a bug: still one line, with the way to the traceback
            if os.environ.get("TILEDSL_DEBUG"):
                raise
            raise Fail(f"internal error: {type(e).__name__}: {one_line(e)} "
                       "(set TILEDSL_DEBUG=1 for the traceback)") from None


def _version(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    import torch
    import triton

    import tiledsl

    try:
        import tilelang

        tl = getattr(tilelang, "__version__", "?")
    except Exception:  # noqa: BLE001 - tilelang's import can fail without a CUDA toolkit
        tl = "not importable"
    click.echo(f"tiledsl {tiledsl.__version__} (torch {torch.__version__}, triton {triton.__version__}, "
               f"tilelang {tl})")
    ctx.exit()


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _entries(names: tuple[str, ...]):
    from tiledsl.kernels import registry

    return [registry.get(n) for n in names] if names else registry.available()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print the versions of tiledsl, torch, triton and tilelang.")
def main():
    """tiledsl: a tile-based GPU kernel language, compiled through Triton or TileLang."""


# --- dump ---------------------------------------------------------------------------------------


@main.command()
@click.argument("target")
@click.option("--stage", "-s", help="stage to print (default: the backend's source); see --list-stages")
@click.option("--all", "all_stages", is_flag=True, help="print every stage, each under a header")
@click.option("--list-stages", is_flag=True, help="print the stage names and stop")
@click.option("--backend", "-b", type=click.Choice(BACKENDS), default="triton", show_default=True)
@click.option("--gpu", "gpu", default=None, help="target GPU: h100, h200, a100, l40s, sm_90... [default: h100]")
@click.option("--arg", "-a", "arg_specs", multiple=True, help=f"example argument: {SPEC_HELP}")
@click.option("--report", "-r", is_flag=True, help="print the static report and the cost model's estimate")
@click.option("--color/--no-color", default=None, help="syntax highlighting (default: on a terminal)")
def dump(target, stage, all_stages, list_stages, backend, gpu, arg_specs, report, color):
    """Print the code of a kernel at any stage, compiled without a GPU.

    TARGET is module:function, path/to/file.py:function (a @td.kernel), or a registered kernel
    (see `tiledsl list`), which brings example arguments of its own.

    \b
    Stages: python, ir, scheduled, then triton, ttir, ttgir, llir, ptx (Triton)
            or tilelang, cuda (and ptx where nvcc exists) (TileLang).
    \b
    Examples:
      tiledsl dump gemm --stage ptx
      tiledsl dump tests/kernels_for_tests.py:softmax --arg f32[4096,4096] --backend tilelang
      tiledsl dump tiledsl.kernels.gemm:gemm_kernel -a bf16[M=128,K=7168] -a bf16[7168,4096] \\
          -a bf16[128,4096] -a BM=64 --report
    """
    from tiledsl._cli import show
    from tiledsl._cli.resolve import resolve
    from tiledsl.settings import settings

    ck = resolve(target, arg_specs).compile(backend, gpu or settings().target)
    stages = ck.stages
    if list_stages:
        click.echo(" ".join(stages))
        return
    color = sys.stdout.isatty() if color is None else color
    chosen = stages if all_stages else [stage or (stages[3] if len(stages) > 3 else stages[-1])]
    for s in chosen:
        if s not in stages:
            raise Fail(f"no stage {s!r} for backend {backend}; stages: {', '.join(stages)}")
    for s in chosen:
        if all_stages:
            click.echo(click.style(f"==== {s} ====", bold=True) if color else f"==== {s} ====")
        click.echo(show.highlight(ck.code(s).rstrip("\n"), s, color), color=color)
    if report:
        click.echo("\n".join(show.report_lines(ck)))


# --- list ---------------------------------------------------------------------------------------


@main.command(name="list")
def list_():
    """List the registered reference kernels and the GPU targets the scheduler knows."""
    from tiledsl._cli.show import table
    from tiledsl.kernels.registry import ENTRIES
    from tiledsl.targets import TARGETS

    rows = [(e.name, "yes" if e.available() else "not merged", e.summary) for e in ENTRIES]
    click.echo("Reference kernels (tiledsl.kernels):")
    click.echo(table(rows, ("name", "available", "what")))
    rows = [(t.name, t.sm_arch, t.sms, f"{t.hbm_gbps:.0f}", f"{t.tflops['bf16']:.0f}",
             f"{t.tflops['fp8']:.0f}" if t.tflops["fp8"] else "-", f"{t.smem_per_block // 1024} KiB",
             "yes" if t.has_tma else "no", "yes" if t.has_wgmma else "no") for t in TARGETS.values()]
    click.echo("\nGPU targets (tiledsl/targets.py):")
    click.echo(table(rows, ("name", "arch", "SMs", "HBM GB/s", "bf16 TFLOP/s", "fp8 TFLOP/s",
                            "smem/block", "TMA", "wgmma")))


# --- check --------------------------------------------------------------------------------------


@main.command()
@click.argument("kernels", nargs=-1)
@click.option("--backend", "-b", "backends", multiple=True, type=click.Choice(("ir", "triton", "tilelang", "eager")),
              help="backend(s) to check (default: ir, triton, eager on CPU; triton, tilelang, eager on a GPU)")
def check(kernels, backends):
    """Run reference kernels against their torch references at small shapes (all when none named).

    Prints one row per kernel and backend; exits with 1 when any fails."""
    from tiledsl._cli import check as chk
    from tiledsl._cli.show import table

    entries = _entries(kernels)
    device = "cuda" if _has_gpu() else "cpu"
    if "tilelang" in backends and device == "cpu":
        raise Fail("the tilelang backend runs on a CUDA GPU only; check with ir, triton or eager here",
                   NO_GPU_EXIT)
    rows = chk.check(entries, backends or chk.default_backends(device), device, progress=sys.stderr.isatty())
    click.echo(f"device: {device}")
    click.echo(table(chk.format_rows(rows), chk.HEADER))
    bad = sum(not r.ok for r in rows)
    click.echo(f"{len(rows) - bad} passed, {bad} failed")
    sys.exit(1 if bad else 0)


# --- bench --------------------------------------------------------------------------------------


@main.command()
@click.argument("kernels", nargs=-1)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="write the results as JSON here")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False),
              help="draw the roofline with each case, and the compile times per stage, here (PNG; matplotlib: "
                   "pip install 'tiledsl[bench]')")
@click.option("--backend", "-b", type=click.Choice(BACKENDS), default="triton", show_default=True)
@click.option("--gpu", default="h200", show_default=True, help="target for the static report when no GPU is present")
@click.option("--quick", is_flag=True, help="each kernel's first benchmark shape only")
@click.option("--repeat", default=5, show_default=True, help="warm calls timed for each compiler stage")
@click.option("--no-stages", is_flag=True, help="skip the compiler-speed measurements")
def bench(kernels, json_out, plot_out, backend, gpu, quick, repeat, no_stages):
    """Benchmark the reference kernels (all when none named).

    On a CUDA GPU: time, TFLOP/s or GB/s, fraction of the roofline, ratio to torch. Without one: the
    compiler's speed per stage (cold and warm) and the static report with the cost model's estimate
    for the --gpu target. How to read the output: docs/benchmarks.md."""
    from tiledsl._cli import bench as harness

    entries = _entries(kernels)
    result = harness.run(entries, backend, gpu, quick=quick, repeat=repeat, stages=not no_stages,
                         progress=sys.stderr.isatty(), echo=click.echo)
    if result["compile"]:
        click.echo("\ncompiler speed, ms (cold = first call in this process / warm):")
        for row in result["compile"]:
            click.echo(harness.format_compile(row))
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1) + "\n")
        click.echo(f"wrote {json_out}")
    if plot_out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            click.echo("--plot needs matplotlib, which is not installed (pip install matplotlib); no plot drawn",
                       err=True)
        else:
            drawn = harness.plot(result, plot_out)
            click.echo(f"wrote {plot_out} (roofline: {_count(drawn['points'], 'case')}; compiler speed: "
                       f"{_count(drawn['kernels'], 'kernel')})")
    failed = [r for r in result["cases"] + result["compile"] if "error" in r]
    sys.exit(1 if failed else 0)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- autotune -----------------------------------------------------------------------------------


@main.command()
@click.argument("target")
@click.option("--arg", "-a", "arg_specs", multiple=True, help=f"example argument: {SPEC_HELP}")
@click.option("--backend", "-b", type=click.Choice(("triton", "tilelang")), default="triton", show_default=True)
@click.option("--top-n", type=int, default=None, help="candidates to time (default: the autotune_top_n setting)")
def autotune(target, arg_specs, backend, top_n):
    """Tune a kernel on this machine's GPU and store the winner in the on-disk cache (needs a GPU).

    TARGET and --arg as for `tiledsl dump`. The next process compiling the same kernel, shapes and
    dtypes on this GPU starts from the stored winner."""
    import torch

    import tiledsl as td
    from tiledsl._cli.resolve import resolve

    if not torch.cuda.is_available():
        raise Fail("autotune needs a CUDA GPU and none is present; `tiledsl dump TARGET --report` shows the "
                   "cost model's choice without one", NO_GPU_EXIT)
    tgt = resolve(target, arg_specs)
    changes = {"autotune": True, **({"autotune_top_n": top_n} if top_n else {})}
    td.configure(**changes)
    ck = tgt.compile(backend, torch.cuda.get_device_name())
    click.echo(f"{ck.kernel.name} on {ck.target.name}: {ck.schedule}")
    if ck.estimate is not None:
        click.echo(f"cost model estimate for it: {ck.estimate.time_us:.1f} us")
    from tiledsl.settings import settings

    click.echo(f"stored in the autotune cache under {settings().cache_dir}")


# --- demo ---------------------------------------------------------------------------------------


@main.command()
@click.option("--backend", "backends", multiple=True, type=click.Choice(["ir", "triton", "tilelang"]),
              help="backend(s) to run (default: ir and triton on CPU, triton and tilelang on a GPU). "
                   "ir and triton run on CPU and GPU; tilelang needs a CUDA GPU.")
def demo(backends):
    """Compile and run a GEMM and a softmax through tiledsl and check them against torch."""
    if "tilelang" in backends and not _has_gpu():
        raise Fail("the tilelang backend runs on a CUDA GPU only and none is present; use --backend ir or "
                   "--backend triton here, or `tiledsl dump gemm --backend tilelang` to see its code",
                   NO_GPU_EXIT)
    from tiledsl.demo import run

    ok = run(backends or None, echo=click.echo)
    click.echo("all results match torch" if ok else "MISMATCH against torch")
    sys.exit(0 if ok else 1)
