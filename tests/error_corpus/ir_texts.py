"""Bad IR texts: truncations, deleted and doubled lines, wrong types, unknown ops and attributes.

All are edits of one valid level-2 function (`BASE`), so each case differs from it in one place."""

from __future__ import annotations

BASE = """\
func @k(%x: global<f32[x.0,x.1]>, %y: global<f32[y.0,y.1]>) knobs(BM=64, stages=2, num_warps=4) {
  %m = dim %x {axis=0} : i32
  %c0 = const {value=0} : i32
  %c1 = const {value=1} : i32
  grid %m ^(%pid: i32) {
    %acc = full {shape=(#BM, 16), value=0.0, dtype=f32} : tile<f32[BM,16]>
    %r = for %c0, %c1, %c1, %acc {stages=#stages} : tile<f32[BM,16]> ^(%i: i32, %a: tile<f32[BM,16]>) {
      %t = load %x, %pid, %i {shape=(#BM, 16), masked=false} : tile<f32[BM,16]>
      %s = add %a, %t : tile<f32[BM,16]>
      yield %s
    }
    store %y, %pid, %c0, %r {shape=(#BM, 16), masked=false}
  }
}
"""

# (old, new): one replacement in BASE (the first occurrence)
EDITS = [
    # types
    ("tile<f32[BM,16]> ^", "tile<f99[BM,16]> ^"), ("tile<f32[BM,16]> ^", "tile<f32[BM,]> ^"),
    ("tile<f32[BM,16]> ^", "tile<f32> ^"), ("tile<f32[BM,16]> ^", "tile<f32[BM,16,]> ^"),
    ("tile<f32[BM,16]> ^", "tile<f32[-1,16]> ^"), ("tile<f32[BM,16]> ^", "tile<f16[BM,16]> ^"),
    ("tile<f32[BM,16]> ^", "tile<f32[BM,8]> ^"), ("tile<f32[BM,16]> ^", "global<f32[BM,16]> ^"),
    ("tile<f32[BM,16]> ^", "i32 ^"), ("tile<f32[BM,16]> ^", "tile<f32[BM,16]]> ^"),
    (": i32\n", ": i33\n"), (": i32\n", ": f32\n"), (": i32\n", ": tile<i32[4]>\n"), (": i32\n", ":\n"),
    (": i32\n", ": i32 i32\n"), ("%pid: i32", "%pid: f32"), ("%pid: i32", "%pid"), ("%i: i32", "%i: tile<i32[2]>"),
    ("%x: global<f32[x.0,x.1]>", "%x: global<f32[x.0]>"), ("%x: global<f32[x.0,x.1]>", "%x: glob<f32[x.0,x.1]>"),
    ("%x: global<f32[x.0,x.1]>", "%x: tile<f32[4,4]>"),
    ("%x: global<f32[x.0,x.1]>", "%x: global<q32[x.0,x.1]>"), ("%x: global<f32[x.0,x.1]>", "%x"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = add %a, %t : tile<i32[BM,16]>"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = add %a, %t : tile<f32[16,BM]>"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = add %a, %t"),
    ("%t = load %x, %pid, %i {shape=(#BM, 16), masked=false} : tile<f32[BM,16]>",
     "%t = load %x, %pid, %i {shape=(#BM, 16), masked=false} : tile<f32[BM,32]>"),
    # ops
    ("add %a", "bogus_op %a"), ("add %a", "sub %a, %a,"), ("add %a", "dot %a"), ("add %a", "exp %a"),
    ("= load", "= lod"), ("store %y", "stroe %y"), ("grid %m", "gird %m"), ("= for", "= fro"),
    ("yield %s", "yeild %s"), ("= full", "= ful"), ("= dim", "= dims"), ("= const", "= cosnt"),
    ("yield %s", "yield %s, %s"), ("yield %s", "yield"), ("yield %s", "yield %x"), ("yield %s", "return %s"),
    ("grid %m", "threads %m"), ("grid %m", "grid"), ("store %y", "load %y"), ("%m = dim", "%m = arange"),
    ("func @k", "fun @k"), ("func @k", "func k"), ("func @k", "func @"),
    # attributes
    ("{axis=0}", "{axes=0}"), ("{axis=0}", "{axis=zz}"), ("{axis=0}", "{axis=(}"), ("{axis=0}", "{axis=5}"),
    ("{axis=0}", "{axis=-7}"), ("{axis=0}", "{axis=0.5}"), ("{axis=0}", "{axis=0, axis=1}"), ("{axis=0}", "{}"),
    ("{value=0}", "{value=abc}"), ("{value=0}", "{value=}"), ("{value=0}", "{value=\"0\"}"),
    ("{value=0}", "{value=1e999}"), ("{value=0}", "{value=(1, 2)}"), ("masked=false", "masked=maybe"),
    ("masked=false", "masked=1"), ("masked=false", "mask=false"), ("stages=#stages", "stages=#nope"),
    ("stages=#stages", "stages=-3"), ("stages=#stages", "stages=x"), ("shape=(#BM, 16)", "shape=(#BM)"),
    ("shape=(#BM, 16)", "shape=(#BM, 16, 2)"), ("shape=(#BM, 16)", "shape=#BM"), ("shape=(#BM, 16)", "shape=(#ZZ, 16)"),
    ("shape=(#BM, 16)", "shape=(0, 16)"), ("shape=(#BM, 16)", "shape=(-64, 16)"), ("dtype=f32", "dtype=f99"),
    ("dtype=f32", "dtype=i32"), ("dtype=f32", "dtype=(f32)"), ("value=0.0, ", ""), ("value=0.0", "value=nan_"),
    ("value=0.0", "value=%c0"),
    # knobs and function attributes
    ("knobs(BM=64,", "knobs(BM=x,"), ("knobs(BM=64,", "knobs(BM=64.5,"), ("knobs(BM=64,", "knobs(BM=,"),
    ("knobs(BM=64,", "knobs(BM=64, BM=32,"), ("knobs(BM=64,", "knobs(BM=-1,"), ("knobs(BM=64,", "knobs(64,"),
    ("num_warps=4", "num_warps=three"), ("num_warps=4", "num_warps=0"), ("knobs(", "knob("),
    ("knobs(BM=64, stages=2, num_warps=4)", "knobs(BM=64, stages=2, num_warps=4"),
    # operands and names
    ("%a, %t :", "%a, %zz :"), ("%a, %t :", "%a :"), ("%a, %t :", "%a, %t, %t :"), ("%a, %t :", "%a %t :"),
    ("%s = add", "%a = add"), ("%s = add", "%t = add"), ("%s = add", "s = add"), ("%s = add", "%% = add"),
    ("%c1 = const", "%c0 = const"), ("%m = dim %x", "%m = dim %q"), ("%m = dim %x", "%m = dim %y, %x"),
    ("grid %m", "grid %c0.5"), ("grid %m", "grid %r"), ("store %y, %pid, %c0, %r", "store %y, %pid, %r"),
    ("store %y, %pid, %c0, %r", "store %y, %pid, %c0, %c1"), ("store %y, %pid, %c0, %r", "store %x, %pid, %c0"),
    ("load %x, %pid, %i", "load %x, %pid"), ("load %x, %pid, %i", "load %x, %pid, %i, %i"),
    ("load %x, %pid, %i", "load %acc, %pid, %i"), ("for %c0, %c1, %c1, %acc", "for %c0, %c1, %acc"),
    ("for %c0, %c1, %c1, %acc", "for %c0, %c1, %c1"), ("for %c0, %c1, %c1, %acc", "for %c0, %c1, %c1, %acc, %acc"),
    ("^(%i: i32, %a: tile<f32[BM,16]>)", "^(%i: i32)"), ("^(%i: i32, %a: tile<f32[BM,16]>)", "^(%i: i32, %i: i32)"),
    ("^(%i: i32, %a: tile<f32[BM,16]>)", ""), ("^(%pid: i32)", ""), ("^(%pid: i32)", "^(%pid: i32, %q: i32)"),
    # punctuation and lexing
    ("{\n  %m", "\n  %m"), ("  }\n}", "  }\n}\n}"), ("  }\n}", "  }"), ("(#BM, 16)", "(#BM, 16"),
    ("@k(", "@k["), (", %y:", " %y:"), ("%x", "%x\x00"), ("%x", "%x\u00e9"), ("0.0", "0..0"), ("%m", "%m%m"),
    ("{stages=#stages}", "{stages=#stages"), (" : tile<f32[BM,16]>\n      %s", "\n      %s"),
]

STAGES = ("ir", "scheduled", "triton", "tilelang")


def texts() -> list[tuple[str, str]]:
    """(case id, text): every text differs from BASE and from every other case."""
    out: dict[str, str] = {}
    n = len(BASE)
    for k in range(1, 41):
        cut = n * k // 41
        out.setdefault(BASE[:cut], f"truncate_{cut}")
    lines = BASE.splitlines(keepends=True)
    for i in range(len(lines)):
        if lines[i].lstrip().startswith("store"):
            continue  # a function without its store, or storing twice, is still valid IR
        out.setdefault("".join(lines[:i] + lines[i + 1:]), f"drop_line_{i + 1}")
        out.setdefault("".join(lines[:i + 1] + lines[i:]), f"double_line_{i + 1}")
    for j, (old, new) in enumerate(EDITS):
        assert old in BASE, old
        out.setdefault(BASE.replace(old, new, 1), f"edit_{j:03d}")
    return [(name, text) for text, name in out.items()]
