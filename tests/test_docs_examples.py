"""Every ```python block of README.md and docs/*.md runs (on CPU).

The blocks of one file run in order in one namespace (which starts with `torch` and `td`,
``import tiledsl as td``, as every page assumes), so a page can build on its earlier blocks
(the tutorial defines a kernel, then compiles it). Each block is written to a file under a
temporary directory first, padded so that its line numbers are the Markdown file's: kernels are
read from their source file (`inspect`), and an error points at the page's own line.

Fence info words (after ``python``):
- ``gpu``: needs a CUDA GPU; skipped without one.
- ``norun``: shown, not run (generated code, an excerpt); only checked to be valid Python.
Other fences (```bash, ```text, plain ```) are not Python and are not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import tiledsl as td

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)(.*)$")


def python_blocks(path: Path) -> list[tuple[int, set[str], str]]:
    """(first line, info words, code) of each ```python block; line numbers from 1."""
    blocks, cur, start, words = [], None, 0, set()
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        m = FENCE.match(line.strip())
        if cur is None and m and m.group(1) == "python":
            cur, start, words = [], n + 1, set(m.group(2).split())
        elif cur is not None and line.strip() == "```":
            blocks.append((start, words, "\n".join(cur) + "\n"))
            cur = None
        elif cur is not None:
            cur.append(line)
    assert cur is None, f"{path.name}: unclosed ```python block from line {start}"
    return blocks


def test_the_pages_have_examples():
    counts = {p.name: len(python_blocks(p)) for p in PAGES}
    for name in ("README.md", "tutorial.md", "scheduling.md", "kernels.md", "language.md"):
        assert counts.get(name, 0) > 0, counts


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name repository paths (examples/, tests/)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    # every page assumes `import torch` and `import tiledsl as td` (the language guide says so)
    ns: dict = {"__name__": f"docs_{page.stem}", "torch": torch, "td": td}
    ran = 0
    for start, words, code in python_blocks(page):
        padded = "\n" * (start - 1) + code  # line numbers as in the page
        where = tmp_path / f"{page.stem}_L{start}.py"
        where.write_text(padded)
        compiled = compile(padded, str(where), "exec")  # a SyntaxError names the page's line
        if "norun" in words:
            continue
        if "gpu" in words and not torch.cuda.is_available():
            continue
        torch.manual_seed(0)
        try:
            exec(compiled, ns)
        except Exception as e:
            raise AssertionError(f"{page.name}, the ```python block at line {start}: "
                                 f"{type(e).__name__}: {e}") from e
        ran += 1
    if python_blocks(page):
        assert ran or all(("norun" in w or "gpu" in w) for _, w, _ in python_blocks(page))


def test_tutorial_kernels_are_the_examples_file():
    # `tiledsl dump examples/gemm_levels.py:gemm_lN` must show the kernels the tutorial prints
    example = (ROOT / "examples" / "gemm_levels.py").read_text()
    tutorial = [code for _, words, code in python_blocks(ROOT / "docs" / "tutorial.md") if "norun" not in words]
    for name in ("gemm_l1", "gemm_l2", "gemm_l3"):
        (block,) = [c for c in tutorial if f"def {name}(" in c]
        kernel = block.split("\n\n\n")[0].strip()  # the definition, without the lines that run it
        assert kernel in example, f"{name} differs between docs/tutorial.md and examples/gemm_levels.py"
