"""Calling numba kernels without the dispatcher's type resolution on every call.

On every call, numba's dispatcher works out the numba type of each argument to pick
(or compile) the machine code that matches. For the kernels' plan and state, which
are named tuples of about fifty arrays, that takes about 12 us a call, most of an
epoch's fixed cost in a small run. A model's arguments keep their numba types for the
model's whole life: arrays it reallocates (a widened pending table) or a kernel
returns keep their dtype, dimensions and C layout, and scalars are Python ints and
bools.

:class:`Calls` therefore looks up each kernel's compiled entry point once (after the
dispatcher has compiled it, or loaded it from the cache) and calls it directly from
then on. The entry point does not check types: an argument of another type would be
misread. ``check=True`` (or ``PROMOSIM_CHECK_KERNEL_TYPES=1``, which a test of the model
sets) works out the types of every call again and raises if they changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from numba.core.compiler_lock import global_compiler_lock

CHECK_ENV = "PROMOSIM_CHECK_KERNEL_TYPES"
_ONLY: dict[Any, tuple[tuple[Any, ...], Callable[..., Any]]] = {}
"""Kernels compiled for one set of types so far: those types and the entry point (a
dispatcher's versions only ever grow, so this stays true while it has one)."""


class Calls:
    """Resolved entry points of numba kernels, for arguments whose types do not change.

    Parameters
    ----------
    check
        Work out the argument types of every call and raise ``TypeError`` if they differ
        from the first call's (default: the ``PROMOSIM_CHECK_KERNEL_TYPES`` environment
        variable). Slow (about a millisecond a call with the plan): for tests.
    """

    def __init__(self, check: bool | None = None) -> None:
        if check is None:
            check = os.environ.get(CHECK_ENV, "").strip().lower() not in ("", "0", "false", "no")
        self.check = check
        self._entry: dict[Any, Callable[..., Any]] = {}
        self._types: dict[Any, tuple[Any, ...]] = {}

    def get(self, kernel: Any, args: tuple[Any, ...]) -> Callable[..., Any]:
        """What to call for ``kernel(*args)``: the dispatcher itself until
        :meth:`called` has resolved the kernel, its entry point from then on."""
        entry = self._entry.get(kernel)
        if entry is None:
            return kernel
        if self.check:
            types = self._typeof(kernel, args)
            if types != self._types[kernel]:
                raise TypeError(
                    f"{kernel.__name__}: argument types changed between calls "
                    f"({self._types[kernel]} then {types})"
                )
        return entry

    def called(self, kernel: Any, args: tuple[Any, ...]) -> None:
        """``kernel(*args)`` has just run through the dispatcher: note its entry point."""
        if kernel in self._entry:
            return
        # numba's compiler lock: no thread adds a version while this one reads them (models
        # are built in several threads at once in the runner's lanes), and it guards _ONLY
        with global_compiler_lock:
            versions = dict(kernel.overloads)
            if len(versions) == 1:
                # the dispatcher runs only code compiled for exactly the arguments' types
                # (it compiles it if missing): with one version, that is the one
                if kernel not in _ONLY:
                    ((types, compiled),) = versions.items()
                    _ONLY[kernel] = (types, compiled.entry_point)
                types, entry = _ONLY[kernel]
            else:  # several versions (several models in the process): work the types out
                types = self._typeof(kernel, args)
                if types not in versions:  # not found as typed here: keep the dispatcher
                    return
                entry = versions[types].entry_point
        if self.check and self._typeof(kernel, args) != types:
            raise TypeError(f"{kernel.__name__}: the compiled version is not for {args}")
        self._entry[kernel] = entry
        self._types[kernel] = types

    def __call__(self, kernel: Any, *args: Any) -> Any:
        """``kernel(*args)``, through its entry point once resolved."""
        run = self.get(kernel, args)
        out = run(*args)
        if run is kernel:
            self.called(kernel, args)
        return out

    @staticmethod
    def _typeof(kernel: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(kernel.typeof_pyval(a) for a in args)  # as the dispatcher types them
