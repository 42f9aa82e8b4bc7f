"""Two LLVM intrinsics for the numba kernels.

* ``prefetch(arr, i)`` (``llvm.prefetch``). The epoch kernel visits the shoppers with
  an event in the epoch, a few percent of them, scattered over state arrays far
  larger than the cache: each visit used to start with cache misses paid one after
  the other. Prefetching the state of the next shopper overlaps them with the work
  on the current one. A prefetch is a hint: it never faults and never changes a
  result.
* ``trailing_zeros(w)`` (``llvm.cttz``, one ``tzcnt`` instruction): the next set bit
  of the epoch's bitmap of shoppers with an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx, arr, idx):  # pragma: no cover (compiled)
    """Hint the CPU to bring ``arr[idx]`` (a row of a 2-D array) into the cache for reading."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        stride = builder.extract_value(ary.strides, 0)
        offset = builder.mul(index, stride)
        ptr = builder.gep(builder.bitcast(ary.data, ir.IntType(8).as_pointer()), [offset])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, high temporal locality, data cache
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


prefetch = cast("Callable[[Any, int], None]", _prefetch)
"""``prefetch(arr, i)`` in a compiled function: bring ``arr[i]`` into the cache."""


@intrinsic
def _trailing_zeros(typingctx, word):  # pragma: no cover (compiled)
    """The number of trailing zero bits of a non-zero uint64 (``tzcnt``)."""
    if not isinstance(word, types.Integer) or getattr(word, "bitwidth", 0) != 64:
        return None
    sig = types.uint64(word)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.IntType(1)(1)])

    return sig, codegen


trailing_zeros = cast("Callable[[Any], Any]", _trailing_zeros)
"""``trailing_zeros(w)`` in a compiled function: the index of the lowest set bit of w != 0."""
