"""Where the shopper kernel spends its time, by instruction (Linux ``perf``).

    python benchmarks/profile_kernel.py                   # 1 M shoppers, whole campaign
    python benchmarks/profile_kernel.py --shoppers 200000 --top 40
    python benchmarks/profile_kernel.py --debuginfo       # source lines (slower code)

``perf`` samples numba's JIT code but has no symbols for it. This script compiles
the kernels into a fresh numba cache, keeps the object code of the epoch kernel
(with everything inlined into it), runs the baseline under ``perf record`` (software
clock, so it works in a VM without hardware counters), maps every sample inside the
kernel to its offset in the object code and prints:

* the share of all samples in the kernel;
* the hottest 256-byte blocks of the kernel, with their share;
* the hottest instructions with the disassembly around them (``objdump``).

A load that misses the cache shows up as a hot instruction right after it. With
``--debuginfo`` (``NUMBA_DEBUGINFO=1``) the disassembly carries source lines, but
numba then inlines less, so the profile is of slower code: use it to name the
lines, not to weigh them.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "double11_baseline.toml"


def child(shoppers: int, epochs: int, out: Path) -> None:
    """Run the model; write the kernel's load address (and, on a fresh compile, its object)."""
    import time

    sys.path.insert(0, str(ROOT))
    from sim import compile_plan, load_scenario
    from sim.shoppers import ShopperModel
    from sim.shoppers import kernels as K

    plan = compile_plan(load_scenario(BASELINE), shoppers=shoppers)
    m = ShopperModel(plan, shoppers=shoppers, threads=1)
    n = epochs or plan.calendar.hours
    t = time.perf_counter()
    for _ in range(n):
        m.step()
    dt = time.perf_counter() - t
    sessions = int(m.counters[..., 0].sum())
    print(f"{shoppers:,} shoppers, {n} epochs: {dt:.2f} s, {sessions / dt / 1e6:.2f} M sessions/s")
    (cres,) = K.epoch_kernel.overloads.values()
    lib = cres.library
    addr = lib.get_pointer_to_function(cres.fndesc.llvm_func_name)
    (out / "address").write_text(f"{addr:#x}\n")
    # loaded from the cache, the library has no object: the first run wrote it
    with contextlib.suppress(RuntimeError):
        (out / "kernel.o").write_bytes(lib._get_compiled_object())


def disassemble(obj: Path) -> list[tuple[int, str]]:
    text = subprocess.run(
        ["objdump", "-d", "-l", "--no-show-raw-insn", "-j", ".ltext", str(obj)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = []
    line = ""
    for raw in text.splitlines():
        m = re.match(r"^(/\S+):(\d+)", raw)
        if m:
            line = f"{Path(m.group(1)).name}:{m.group(2)}"
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", raw)
        if m:
            ins = re.sub(r"<_ZN[^>]*?(\+0x[0-9a-f]+)?>", r"<\1>", m.group(2))
            rows.append((int(m.group(1), 16), f"{ins[:70]:70s} {line}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shoppers", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=0, help="0: the whole campaign")
    ap.add_argument("--top", type=int, default=15, help="hot instructions to show")
    ap.add_argument("--debuginfo", action="store_true", help="source lines (less inlining)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.shoppers, args.epochs, args.child)
        return
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            sys.exit(f"profile_kernel: needs `{tool}` (Debian: linux-perf, binutils)")
    with tempfile.TemporaryDirectory(prefix="promosim-profile-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(work / "cache"), OPENBLAS_NUM_THREADS="1")
        if args.debuginfo:
            env["NUMBA_DEBUGINFO"] = "1"
        me = [sys.executable, __file__, "--child", str(work)]
        print("compiling into a fresh cache ...", flush=True)
        # the whole campaign, so that every kernel (settle, forfeits ...) is compiled before
        # the profiled run: compiled inside it, they were 85% of its samples
        subprocess.run([*me, "--shoppers", "2000", "--epochs", "0"], env=env, check=True)
        data = work / "perf.data"
        size = ["--shoppers", str(args.shoppers), "--epochs", str(args.epochs)]
        subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2999", "-o", str(data), *me, *size],
            env=env, check=True,
        )  # fmt: skip
        script = subprocess.run(
            ["perf", "script", "-i", str(data), "-F", "ip"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        base = int((work / "address").read_text(), 16)
        rows = disassemble(work / "kernel.o")
    end = rows[-1][0] + 16 if rows else 0
    samples = [int(x, 16) - base for x in script.split()]
    hits = collections.Counter(o for o in samples if 0 <= o < end)
    inside = sum(hits.values())
    print(f"\n{inside / max(len(samples), 1):.0%} of {len(samples):,} samples in the epoch kernel")
    if not inside:
        return
    blocks = collections.Counter()
    for o, n in hits.items():
        blocks[o // 256 * 256] += n
    print("\nhottest 256-byte blocks (offset: share of the kernel's samples)")
    for o, n in blocks.most_common(12):
        print(f"  {o:#07x}: {n / inside:5.1%}")
    print("\nhottest instructions (the sample lands just after a load that missed)")
    index = {o: k for k, (o, _) in enumerate(rows)}
    for o, n in hits.most_common(args.top):
        k = index.get(o)
        if k is None:
            continue
        print(f"\n  {n / inside:5.1%} at {o:#x}")
        for o2, text in rows[max(0, k - 3) : k + 2]:
            mark = ">" if o2 == o else " "
            print(f"   {mark} {o2:#07x} {hits.get(o2, 0):6d}  {text}")


if __name__ == "__main__":
    main()
