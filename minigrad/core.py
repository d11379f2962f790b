"""The engine's data and its forward half: Variable, Parameter, Function, the grad modes, and
the recording of each op call.

How it works, in six steps; `minigrad/reference.py` is the whole algorithm in about sixty
lines, and the docs page "How the engine works" walks through it with a picture:

1. Record (here): calling a Function runs `forward` on the inputs' arrays; if an input requires
   grad, the output Variable gets the Function as its `creator`, and the Function keeps its
   inputs, what backward needs, its parents (the creators of its inputs) and its generation.
2. Order (`_engine.py`): one walk from the output collects the Functions; one sort by
   generation puts every Function after all the Functions that consume its output.
3. Run each backward once, in that order.
4. Sum the gradients of a Variable used several times.
5. Deliver the finished gradients to the leaves' `.grad`.
6. Release what each Function saved for backward.

This module and `_engine.py` do exactly that, with a few fast paths; each one says which step
it speeds up and by how much. `minigrad.functions` attaches the operators (`+`, `@`, ...) and
method forms (`x.sum()`, ...) to `Variable`, and `minigrad.viz` its notebook picture: the
engine imports nothing above it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "Variable",
    "Parameter",
    "Function",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "grad",
    "detect_anomaly",
    "set_default_dtype",
    "get_default_dtype",
    "as_variable",
    "ModuleCall",
    "AnomalyError",
]


# --------------------------------------------------------------------------- modes


class _Mode:
    """One thread's engine switches (grad mode is per thread, as in PyTorch)."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "create_graph", "retain_graph", "stack")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        # The Module call that is running, recorded by every Function for the graph pictures.
        self.scope: ModuleCall | None = None
        # True while a backward records itself (create_graph=True).
        self.create_graph = False
        self.retain_graph = False
        # The grad modes that `no_grad`/`enable_grad` blocks replaced, innermost last.
        self.stack: list[bool] = []


class _Local(threading.local):
    """`_local.mode` is the running thread's `_Mode`, made on its first use in that thread."""

    def __init__(self) -> None:
        self.mode = _Mode()


# Ops read `_local.mode` once each: one thread-local lookup (~30 ns), then plain slots.
_local = _Local()


class _Defaults:
    """Process-wide settings."""

    __slots__ = ("dtype",)

    def __init__(self) -> None:
        self.dtype: np.dtype = np.dtype(np.float32)


_defaults = _Defaults()


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of new Parameters and of Variables made from Python numbers (float32 or
    float64). Process-wide, like PyTorch's."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _defaults.dtype = dt


def get_default_dtype() -> np.dtype:
    """The dtype of new Parameters (float32 unless `set_default_dtype` changed it)."""
    return _defaults.dtype


def is_grad_enabled() -> bool:
    """True when ops record the graph in this thread (outside `no_grad`)."""
    return _local.mode.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets whether ops record the graph in the running thread; a context manager and a
    decorator. The mode it replaces is kept per thread, so one object may be entered by
    several threads at once (a decorated function called from two threads)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        mode = _local.mode
        mode.stack.append(mode.grad_enabled)
        mode.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        mode = _local.mode
        mode.grad_enabled = mode.stack.pop()


def no_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) inside which ops record nothing and need no grads.

    >>> with no_grad():
    ...     y = model(x)          # y.creator is None

    As a decorator both `@no_grad()` and `@no_grad` work. It affects the running thread only.
    """
    return _GradMode(False) if fn is None else _GradMode(False)(fn)


def enable_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) that turns recording back on, e.g. inside `no_grad`."""
    return _GradMode(True) if fn is None else _GradMode(True)(fn)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise as soon as an op produces a NaN or inf, in forward or in backward.

    The error (`AnomalyError`) names the op and shows where in the user's code that op was
    called, so a NaN can be traced to its source. Slow (it records a stack per op): for
    debugging only. It affects the running thread only.
    """
    mode = _local.mode
    prev = mode.anomaly
    mode.anomaly = True
    try:
        yield
    finally:
        mode.anomaly = prev


class ModuleCall:
    """One running call of a Module (its `forward`, or a method such as `TwoLayerNet.loss`),
    recorded by each Function made inside it so that graph pictures box those ops.

    `parent` is the enclosing call (None at the top), so nested modules give nested boxes.
    Made by `Module.__call__` and by the methods `nn.module.runs_as_call` wraps.
    """

    __slots__ = ("module", "parent")

    def __init__(self, module: Any, parent: ModuleCall | None) -> None:
        self.module = module
        self.parent = parent


# --------------------------------------------------------------------------- Variable


def _to_array(data: Any, where: str) -> np.ndarray:
    """Python numbers and lists (and NumPy scalars) as an ndarray; anything else is a TypeError."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, bool | int | float | np.generic | list | tuple):
        arr = np.asarray(data)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{where}: cannot make an array of numbers from {data!r}")
        # Python numbers (not bools) become the default float dtype, as a Parameter's would, so
        # that Variable(100) can hold a gradient; NumPy scalars keep their dtype.
        if arr.dtype.kind in "iuf" and not isinstance(data, np.generic):
            arr = arr.astype(_defaults.dtype, copy=False)
        return arr
    raise TypeError(
        f"{where}: expected an ndarray, a list or a Python number, got {type(data).__name__}"
    )


class Variable:
    """A node of the graph holding an ndarray `data` and, after backward, its `grad`.

    `Variable(data, name=None, requires_grad=None)`: `data` is an ndarray (kept as it is, dtype
    included) or Python numbers and lists (converted to the default float dtype).
    `requires_grad` defaults to True for floating data and False otherwise. Variables hash and
    compare by identity. A one-element Variable acts as a number where Python asks for one
    (`float(loss)`, `f"{loss:.3f}"`, `round(loss, 2)`).
    """

    __slots__ = ("data", "grad", "name", "creator", "requires_grad", "_meta", "__weakref__")
    # An ndarray on the left of an operator must hand over to the Variable's reflected method.
    __array_ufunc__ = None

    def __init__(self, data: Any, name: str | None = None, requires_grad: bool | None = None):
        if type(data) is not np.ndarray:
            if isinstance(data, Variable):
                raise TypeError("Variable: data is already a Variable; use .detach() or .data")
            data = _to_array(data, "Variable")
        kind = data.dtype.kind
        if kind not in "biufc":
            raise TypeError(f"Variable: expected numeric data, got an array of dtype {data.dtype}")
        floating = kind in "fc"
        if requires_grad is None:
            requires_grad = floating
        elif requires_grad and not floating:
            raise TypeError(
                f"Variable: only floating data can require grad, got dtype {data.dtype}"
            )
        self.data: np.ndarray = data
        self.grad: Variable | None = None
        self.name = name
        self.creator: Function | None = None
        self.requires_grad: bool = bool(requires_grad)
        # Hooks and retain_grad, rare enough to live in one optional object.
        self._meta: _VarMeta | None = None

    # -- array-like properties
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of `data`."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions of `data`."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements of `data`."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The dtype of `data`."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for a Variable made by the user rather than by an op."""
        return self.creator is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, prefix="Variable(", threshold=20, edgeitems=2)
        extra = []
        if self.name is not None:
            extra.append(f"name={self.name!r}")
        if self.creator is not None:
            extra.append(f"creator={self.creator.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.data.dtype != np.float64:
            extra.append(f"dtype={self.data.dtype}")
        tail = ", ".join(extra)
        return f"{type(self).__name__}({body}{', ' + tail if tail else ''})"

    def item(self) -> Any:
        """The value of a one-element Variable as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only a one-element Variable converts to a number, got shape {self.shape}"
            )
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (not a copy)."""
        return self.data

    # -- a one-element Variable acts as a number where Python asks for one
    def _number(self, what: str) -> Any:
        if self.data.size != 1:
            raise TypeError(
                f"{what}: only a one-element Variable converts to a number, got shape {self.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self._number("float()"))

    def __int__(self) -> int:
        return int(self._number("int()"))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"bool(): the truth value of a Variable of shape {self.shape} is ambiguous "
                "(use .data.any() or .data.all())"
            )
        return bool(self.data.item())

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._number("round()"), ndigits)

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        return format(self._number(f"format spec {spec!r}"), spec)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # np.asarray(list_of_losses), and so matplotlib, see the values.
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    # -- graph handling
    def detach(self) -> Variable:
        """A new leaf sharing `data`, cut from the graph and not requiring grad."""
        return Variable(self.data, name=self.name, requires_grad=False)

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf Variable after backward (leaves always keep it)."""
        self._get_meta().retain = True

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (`grad` becomes None)."""
        self.grad = None

    cleargrad = zero_grad

    def register_hook(self, hook: Callable[[Variable], Variable | None]) -> _HookHandle:
        """Call `hook(grad)` when this Variable's gradient is computed in backward.

        The hook may return a new gradient (a Variable of the same shape) to use instead.
        Returns a handle whose `remove()` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_hook: this Variable does not require grad")
        hooks = self._get_meta().hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def _get_meta(self) -> _VarMeta:
        if self._meta is None:
            self._meta = _VarMeta()
        return self._meta

    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Compute the gradient of this Variable with respect to every leaf it depends on.

        `grad` (ndarray, number or Variable of this Variable's shape) defaults to ones for a
        one-element output. Leaves accumulate into `.grad`, in their own dtype. Unless
        `retain_graph` (which defaults to `create_graph`, as in PyTorch), the graph's saved
        arrays are released and a second backward through it raises. With `create_graph`,
        the backward pass is itself recorded, for higher derivatives.
        """
        if retain_graph is None:
            retain_graph = create_graph
        run_backward([self], [grad], retain_graph, create_graph)

    __hash__ = object.__hash__

    if TYPE_CHECKING:
        # Attached at import time by minigrad.functions (minigrad/functions/_methods.py);
        # declared here, by kind of signature, for type checkers.
        def _binary(self, other: Any) -> Variable: ...
        def _unary(self) -> Variable: ...
        def _reduce(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def _to_shape(self, shape: tuple[int, ...]) -> Variable: ...

        __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _binary
        __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _binary
        matmul = dot = __getitem__ = _binary
        __neg__ = __pos__ = exp = log = sqrt = abs = tanh = sigmoid = relu = _unary
        sum = mean = max = min = logsumexp = _reduce
        broadcast_to = sum_to = _to_shape
        T = mT = property(_unary)

        def reshape(self, *shape: Any) -> Variable: ...
        def transpose(self, *axes: Any) -> Variable: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Variable: ...
        def clip(self, lo: float | None, hi: float | None) -> Variable: ...
        def leaky_relu(self, slope: float = 0.01) -> Variable: ...
        def softmax(self, axis: int = -1) -> Variable: ...
        def log_softmax(self, axis: int = -1) -> Variable: ...


class _VarMeta:
    """A Variable's hooks and retain_grad flag."""

    __slots__ = ("hooks", "retain")

    def __init__(self) -> None:
        self.hooks: list[Callable[[Variable], Variable | None]] = []
        self.retain = False


class _HookHandle:
    """Returned by `register_hook`; `remove()` unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        with contextlib.suppress(ValueError):
            self._hooks.remove(self._hook)


class Parameter(Variable):
    """A learnable leaf Variable: always requires grad; Python numbers take the default dtype.

    Optimizers update `param.data` in place, so arrays shared with `TwoLayerNet.params`
    stay the same objects.
    """

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None):
        if isinstance(data, Variable):
            data = data.data
        if type(data) is not np.ndarray:
            data = _to_array(data, "Parameter")
            if data.dtype.kind in "biu" and dtype is None:
                data = data.astype(_defaults.dtype)
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        if data.dtype.kind != "f":
            raise TypeError(f"Parameter: expected floating data, got dtype {data.dtype}")
        super().__init__(data, name=name, requires_grad=True)


def as_variable(x: Any) -> Variable:
    """Return `x` if it is a Variable, else wrap it as a constant (no grad)."""
    if isinstance(x, Variable):
        return x
    return Variable(_to_array(x, "as_variable"), requires_grad=False)


def _as_const(x: Any, op: str) -> Any:
    """An op's constant input: ndarrays and Python numbers stay as they are (no copy)."""
    if type(x) is np.ndarray or type(x) is float or type(x) is int:
        return x
    if isinstance(x, np.generic):
        # A NumPy scalar acts as a Python number (weakly typed), so np.float64(2.0) does not
        # upcast a float32 Variable under NumPy 2's promotion rules.
        return x.item()
    if isinstance(x, np.ndarray | bool | int | float | complex):
        return x
    if isinstance(x, list | tuple):
        return _to_array(x, op)
    raise TypeError(f"{op}: expected a Variable, an ndarray or a number, got {type(x).__name__}")


# --------------------------------------------------------------------------- Function


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if (
            ch.isupper()
            and i
            and (name[i - 1].islower() or (i + 1 < len(name) and name[i + 1].islower()))
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class _Released(tuple):
    """The type of `RELEASED`."""


#: What a released Function holds as `saved_inputs`/`saved_outputs`: one write marks it.
RELEASED: tuple[Any, ...] = _Released()


class Function:
    """One differentiable operation; subclass it to define an op (docs: "Custom functions").

    The rules every op follows, built-in or yours:

    - `forward(self, *xs)` receives ndarrays (a constant input as it was given, an ndarray or a
      Python number) and returns an ndarray, or a tuple of them for several outputs. Values it
      stores on `self` (`self.mask = x > 0`) are saved for backward.
    - `backward(self, *gys)` receives one gradient per output (zeros for an output nobody used)
      and returns one gradient per input: a tuple, or the gradient itself for one input.
      `self.needs_input_grad[i]` says whether input i needs one; return None where it does not.
    - What backward reads: `self.saved_inputs` and `self.saved_outputs` (tuples in forward's
      order) and the attributes forward stored. The gradients and the saved values are of one
      kind: Variables (so that their ops record when `create_graph=True`), or, for an op whose
      class sets `backward_on_arrays = True`, ndarrays whenever no graph is being recorded
      (about half the cost of Variables). Written with operators, the methods ndarrays and
      Variables share (`.sum`, `.reshape`, `.T`) and the functions of `minigrad.functions`
      (which take both), one backward is right for both kinds.
    - After backward, unless `retain_graph=True`, the op is released: `saved_inputs`,
      `saved_outputs` and every attribute forward stored are dropped, and a second backward
      says to pass `retain_graph=True`. What stays, so the graph can still be drawn: `inputs`,
      `outputs` (weak references), `needs_input_grad`, `generation`, and the op's settings,
      the attributes `__init__` set (an axis, a shape; built-in ops keep them in `__slots__`).
    """

    __slots__ = (
        "inputs",
        "_out",
        "_outs",
        "needs_input_grad",
        "generation",
        "_parents",
        "scope",
        "stack",
        "saved_inputs",
        "_saved_outputs",
        "__dict__",
        "__weakref__",
    )

    #: The input Variables and constants, in forward's order.
    inputs: tuple[Any, ...]
    #: The weakref to the only output, or None when forward returned a tuple (then `_outs`).
    _out: weakref.ref[Variable] | None
    _outs: tuple[weakref.ref[Variable], ...]
    needs_input_grad: tuple[bool, ...]
    #: 1 + the largest generation among its parents: a Function always has a larger
    #: generation than the Functions it consumes from.
    generation: int
    #: The parents (creators of the inputs that need grad): None, the one Function itself, or
    #: a tuple (one object less per op for the cyclic collector in the common case).
    _parents: Function | tuple[Function, ...] | None
    scope: ModuleCall | None
    stack: list[traceback.FrameSummary]
    saved_inputs: tuple[Any, ...]
    #: The saved outputs' arrays, or None for a one-output op (then read from its output).
    _saved_outputs: tuple[Any, ...] | None

    #: May backward be given ndarrays instead of Variables when no graph is recorded? Only for
    #: a backward written with operations both kinds support (all built-in ops).
    backward_on_arrays = False
    #: Whether forward stores attributes on self; built-in ops that store none say False,
    #: which spares the release an empty instance dict (step 6: the chain of
    #: bench_overhead.py costs 7% more without it).
    saves_attrs = True
    #: Positions of inputs this op never differentiates (class labels): an integer Variable
    #: there is expected, not warned about.
    nondiff_inputs: tuple[int, ...] = ()
    #: The local rule of backward as text, for the backward explorer (`minigrad.viz.
    #: explain_backward`), e.g. "gx0 = gy * x1, gx1 = gy * x0"; None if not given.
    rule: str | None = None
    #: The attributes `__init__` set (kept by the release); noted for classes without
    #: `__slots__` of their own.
    _settings: tuple[str, ...] = ()
    #: The op's name, as errors and graph pictures show it; by default the class name in
    #: snake_case (`SoftmaxCrossEntropy` -> `softmax_cross_entropy`).
    name = "function"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)
        init = cls.__dict__.get("__init__")
        if init is not None and "__slots__" not in cls.__dict__:
            cls.__init__ = _noting_settings(init)  # type: ignore[method-assign]

    def label(self) -> str:
        """The text of this op's node in a graph picture (e.g. `sum axis=1`)."""
        return self.name

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, *inputs: Any) -> Any:
        """Run forward on the inputs' data; record the node if any input requires grad."""
        n = len(inputs)
        if n == 2:
            return _apply2(self, inputs[0], inputs[1])
        if n == 1:
            return _apply1(self, inputs[0])
        return _apply(self, inputs)

    @property
    def outputs(self) -> tuple[weakref.ref[Variable], ...]:
        """Weak references to the output Variables, in forward's order."""
        out = self._out
        return self._outs if out is None else (out,)

    @property
    def saved_outputs(self) -> tuple[Any, ...]:
        """What backward reads of the outputs, in forward's order (see the class docstring)."""
        s = self._saved_outputs
        if s is None:
            # One output: read from it, not kept in a tuple of its own: one object less per
            # op for the cyclic collector to walk (bench_overhead.py's chain is 2-3% slower
            # with the tuple, timed in one process). A backward runs only while its output
            # lives: its gradient comes through it.
            v = self._out()  # type: ignore[misc]
            return () if v is None else (v.data,)
        return s

    @saved_outputs.setter
    def saved_outputs(self, value: tuple[Any, ...]) -> None:
        self._saved_outputs = value

    @property
    def parents(self) -> tuple[Function, ...]:
        """The Functions that made this one's inputs that need grad, each once."""
        p = self._parents
        return () if p is None else p if type(p) is tuple else (p,)  # type: ignore[return-value]

    @property
    def released(self) -> bool:
        """True after a backward without retain_graph freed what this op saved."""
        return self.saved_inputs is RELEASED

    @property
    def frees_saved(self) -> bool:
        """True inside a backward after which this op is released (no retain_graph): the
        backward may then reuse the arrays forward saved as output buffers."""
        return not _local.mode.retain_graph

    def release(self) -> None:
        """Drop what forward saved for backward (step 6); the settings and the graph's
        structure stay."""
        self.saved_inputs = self._saved_outputs = RELEASED
        if self.saves_attrs:
            d = self.__dict__
            keep = self._settings
            if keep:
                for k in [k for k in d if k not in keep]:
                    del d[k]
            else:
                d.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label()}>"


def _noting_settings(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a Function subclass's `__init__` to note the attributes it set (its settings,
    which the release keeps)."""

    @functools.wraps(init)
    def __init__(self: Function, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        d = self.__dict__
        d["_settings"] = (*d, "_settings")

    return __init__


# --------------------------------------------------------------------------- recording (step 1)
# The hottest path of the library: each list, loop, helper call or tuple here costs about a
# fifth of a small NumPy op. Each fast path says what the 1,000-op chain (or the wide graph)
# of benchmarks/bench_overhead.py costs without it, in instructions per op counted by
# callgrind, which unlike a clock gives the same figure on every run of a shared machine.
# Step 1's fast path: `_apply1`/`_apply2` only unwrap one or two inputs, without `_apply`'s
# loop (the chain costs 16% more without them). `_record` is the one place a node is linked.

_new_variable = object.__new__
_ref = weakref.ref
# needs_input_grad of one- and two-input calls, indexed by the flags: shared, never rebuilt.
_NEEDS1 = (True,)
_NEEDS2 = (((False, False), (False, True)), ((True, False), (True, True)))
_FIRST = _NEEDS2[1][0]


def _apply1(f: Function, x0: Any) -> Any:
    """`f(x0)`: run forward on x0's data; record the node if x0 requires grad."""
    mode = _local.mode
    if mode.anomaly:
        return _apply(f, (x0,))
    if isinstance(x0, Variable):
        d0 = x0.data
        y = f.forward(d0)
        if x0.requires_grad and mode.grad_enabled:
            return _record(f, (x0,), (d0,), _NEEDS1, y, mode)
    else:
        y = f.forward(x0 if type(x0) is np.ndarray else _as_const(x0, f.name))
    return _constant(y) if type(y) is np.ndarray else _constants(y)


def _apply2(f: Function, x0: Any, x1: Any) -> Any:
    """`f(x0, x1)`: run forward on the data; record the node if an input requires grad."""
    mode = _local.mode
    if mode.anomaly:
        return _apply(f, (x0, x1))
    if isinstance(x0, Variable):
        d0, r0 = x0.data, x0.requires_grad
    else:
        d0, r0 = (x0 if type(x0) is np.ndarray else _as_const(x0, f.name)), False
    if isinstance(x1, Variable):
        d1, r1 = x1.data, x1.requires_grad
        if r0 and not r1 and mode.grad_enabled:
            # _record's fast case does not look at a second input that needs no grad.
            _check_can_hold_grad(f, 1, x1)
    else:
        d1, r1 = (x1 if type(x1) is np.ndarray else _as_const(x1, f.name)), False
    y = f.forward(d0, d1)
    if (r0 or r1) and mode.grad_enabled:
        return _record(f, (x0, x1), (d0, d1), _NEEDS2[r0][r1], y, mode)
    return _constant(y) if type(y) is np.ndarray else _constants(y)


def _apply(f: Function, inputs: tuple[Any, ...]) -> Any:
    """`f(*inputs)` for any number of inputs; the only front end that runs anomaly checks."""
    mode = _local.mode
    xs = []
    needs = []
    for x in inputs:
        if isinstance(x, Variable):
            xs.append(x.data)
            needs.append(x.requires_grad and mode.grad_enabled)
        else:
            xs.append(x if type(x) is np.ndarray else _as_const(x, f.name))
            needs.append(False)
    if mode.anomaly:
        f.stack = _user_stack()
    y = f.forward(*xs)
    if mode.anomaly:
        _check_finite(f, y if type(y) is tuple else (y,), "forward")
    if True in needs:
        return _record(f, inputs, tuple(xs), tuple(needs), y, mode)
    return _constant(np.asarray(y)) if type(y) is not tuple else _constants(y)


def _record(
    f: Function,
    inputs: tuple[Any, ...],
    xs: tuple[Any, ...],
    needs: tuple[bool, ...],
    y: Any,
    mode: _Mode,
) -> Any:
    """Step 1: link f into the graph. Its output Variable(s) get f as creator; f keeps its
    inputs, what backward reads, weak references to its outputs, its parents and its
    generation. Returns the output (a tuple of them if forward returned a tuple)."""
    f.inputs = inputs
    f.needs_input_grad = needs
    f.saved_inputs = xs
    f.scope = mode.scope
    if type(y) is np.ndarray:
        # The output, made as _variable makes it, inlined: one call less per op (the chain
        # costs 1.4% more without it).
        v = _new_variable(Variable)
        v.data = y
        v.grad = v.name = v._meta = None
        v.creator = f
        v.requires_grad = True
        f._saved_outputs = None
        f._out = _ref(v)
        out: Any = v
    else:
        out = _record_outputs(f, y)
    if needs is _NEEDS1 or needs is _FIRST:
        # Step 1's common case, one input needing grad, linked without the loop below (the
        # chain costs 3.7% more without it).
        c = inputs[0].creator
        f._parents = c
        f.generation = 0 if c is None else c.generation + 1
        return out
    parents = None
    gen = 0
    i = -1
    for need in needs:  # indexing, not zip(inputs, needs): the wide graph costs 3.9% more
        i += 1
        if need:
            c = inputs[i].creator
            if c is not None:
                if parents is None:
                    parents = c
                elif type(parents) is tuple:
                    if c not in parents:
                        parents += (c,)
                elif c is not parents:
                    parents = (parents, c)
                if c.generation >= gen:
                    gen = c.generation + 1
        elif type(inputs[i]) is Variable:
            _check_can_hold_grad(f, i, inputs[i])
    f._parents = parents
    f.generation = gen
    return out


def _check_can_hold_grad(f: Function, i: int, x: Variable) -> None:
    """Warn when a recorded op's input is a leaf Variable that cannot hold a gradient (its
    data is not floating), unless the op never differentiates that input (labels): a
    backward through the op would otherwise leave its .grad None without a word."""
    if x.creator is None and x.data.dtype.kind not in "fc" and i not in f.nondiff_inputs:
        name = f" {x.name!r}" if x.name else ""
        _warn_user(
            f"{f.name}: input {i}{name} is a Variable of dtype {x.data.dtype}, which cannot "
            "hold a gradient: backward will leave its .grad None. Make it floating (Python "
            "numbers and lists are; for an array, x.astype(float)) to get its gradient."
        )


def _warn_user(message: str) -> None:
    """A UserWarning pointing at the first line of the user's code (outside minigrad)."""
    import sys
    import warnings

    pkg = __file__.rsplit("/", 1)[0]
    level = 2  # stacklevel 2 is the frame of the caller, sys._getframe(1)
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(pkg):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _record_outputs(f: Function, y: Any) -> Any:
    """`_record`'s outputs for a forward that returned a tuple or a number (a function of its
    own: a generator expression in `_record` would make `f` a cell, slower to read there)."""
    ys = tuple(np.asarray(a) for a in y) if type(y) is tuple else (np.asarray(y),)
    outs = tuple(_variable(a, f) for a in ys)
    f.saved_outputs = ys
    f._out = None
    f._outs = tuple(_ref(o) for o in outs)
    return outs if type(y) is tuple else outs[0]


def _variable(data: np.ndarray, creator: Function | None) -> Variable:
    """A Variable made by the engine, without __init__'s checks (data is an ndarray): an op's
    output (it requires grad), or with no creator a constant (it does not)."""
    v = _new_variable(Variable)
    v.data = data
    v.grad = v.name = v._meta = None
    v.creator = creator
    v.requires_grad = creator is not None
    return v


def _constant(data: np.ndarray) -> Variable:
    """A Variable that needs no grad, made by the engine (data is an ndarray)."""
    return _variable(data, None)


def _constants(y: Any) -> Any:
    """The unrecorded output(s) of a forward that returned a tuple or a non-ndarray."""
    if type(y) is tuple:
        return tuple(_constant(np.asarray(a)) for a in y)
    return _constant(np.asarray(y))


# --------------------------------------------------------------------------- anomaly mode


class AnomalyError(FloatingPointError, RuntimeError):
    """Raised under `detect_anomaly` when an op produces a NaN or an inf; names the op and
    where it was called. A FloatingPointError, and a RuntimeError as PyTorch's is."""


def _user_stack() -> list[traceback.FrameSummary]:
    """The call stack, minus minigrad's own frames, for anomaly reports."""
    frames = traceback.extract_stack()[:-2]
    pkg = __file__.rsplit("/", 1)[0]
    return [f for f in frames if not f.filename.startswith(pkg)]


def _where(f: Function) -> str:
    try:
        stack = f.stack
    except AttributeError:
        stack = None
    if not stack:
        return " (no call site recorded: the op ran before detect_anomaly was entered)"
    return "; it was called at:\n" + "".join(traceback.format_list(stack[-3:]))


def _check_finite(f: Function, arrays: Iterable[Any], phase: str) -> None:
    for i, a in enumerate(arrays):
        if a is None:
            continue
        a = a.data if isinstance(a, Variable) else np.asarray(a)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            kind = "NaN" if np.isnan(a).any() else "inf"
            what = "output" if phase == "forward" else "gradient of input"
            raise AnomalyError(
                f"detect_anomaly: {f.name} produced {kind} in its {phase} ({what} {i}, "
                f"shape {a.shape}){_where(f)}"
            )


# Steps 2-6 live in _engine.py, which needs the classes above: imported last.
from minigrad._engine import grad, run_backward  # noqa: E402

if TYPE_CHECKING:
    _unused: Sequence[Any]
