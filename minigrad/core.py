"""The engine: Variable, Function, Parameter, the backward pass and the grad modes.

A `Function` call records one node of the graph: its inputs (strongly) and its outputs (weakly,
so that dropping the final output frees the whole graph by reference counting alone).
`Variable.backward` walks the recorded graph once, in a topological order found without
recursion, and leaves the gradients on the leaves.

This module imports nothing of minigrad at import time: `minigrad.functions` attaches the
operator and method forms (`+`, `@`, `.sum()`, ...) to `Variable`.
"""

from __future__ import annotations

import contextlib
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
    "module_scope",
    "AnomalyError",
]


# --------------------------------------------------------------------------- global state


class _State:
    """Process-wide engine switches, read on every op (module globals are slower to write)."""

    __slots__ = (
        "grad_enabled",
        "anomaly",
        "scope",
        "default_dtype",
        "create_graph",
        "retain_graph",
    )

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        # The module call that is running, recorded by every Function for the graph pictures.
        self.scope: Any = None
        self.default_dtype: np.dtype = np.dtype(np.float32)
        # True while a backward records itself (create_graph=True): built-in backward passes
        # then see Variables instead of ndarrays.
        self.create_graph = False
        self.retain_graph = False


_state = _State()


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of new Parameters and of Variables made from Python floats (float32 or float64)."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _state.default_dtype = dt


def get_default_dtype() -> np.dtype:
    """The dtype of new Parameters (float32 unless `set_default_dtype` changed it)."""
    return _state.default_dtype


def is_grad_enabled() -> bool:
    """True when ops record the graph (outside `no_grad`)."""
    return _state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets whether ops record the graph; a context manager and a decorator."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_state.grad_enabled)
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._prev.pop()


def no_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) inside which ops record nothing and need no grads.

    >>> with no_grad():
    ...     y = model(x)          # y.creator is None

    As a decorator both `@no_grad()` and `@no_grad` work.
    """
    return _GradMode(False) if fn is None else _GradMode(False)(fn)


def enable_grad(fn: _F | None = None) -> Any:
    """Context manager (and decorator) that turns recording back on, e.g. inside `no_grad`."""
    return _GradMode(True) if fn is None else _GradMode(True)(fn)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise as soon as an op produces a NaN or inf, in forward or in backward.

    The error names the op and shows where in the user's code that op was called, so a
    NaN can be traced to its source. Slow (it records a stack per op): for debugging only.
    """
    prev = _state.anomaly
    _state.anomaly = True
    try:
        yield
    finally:
        _state.anomaly = prev


class ModuleCall:
    """One running call of a Module's forward, recorded by each Function made inside it.

    `parent` is the enclosing call (None at the top), so nested modules give nested boxes
    in graph pictures. Created by `Module.__call__` through `module_scope`.
    """

    __slots__ = ("module", "parent")

    def __init__(self, module: Any, parent: ModuleCall | None) -> None:
        self.module = module
        self.parent = parent


@contextlib.contextmanager
def module_scope(module: Any) -> Iterator[ModuleCall]:
    """Mark the ops run inside the `with` block as belonging to a call of `module`."""
    prev = _state.scope
    call = ModuleCall(module, prev)
    _state.scope = call
    try:
        yield call
    finally:
        _state.scope = prev


# --------------------------------------------------------------------------- Variable


def _to_array(data: Any, where: str) -> np.ndarray:
    """Convert Python scalars, lists and NumPy scalars to an ndarray; anything else is a TypeError."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, bool | int | float | np.generic | list | tuple):
        arr = np.asarray(data)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{where}: cannot make an array of numbers from {data!r}")
        # Python numbers (not bools) become the default float dtype, as a Parameter's would, so
        # that Variable(100) can hold a gradient; NumPy scalars keep their dtype.
        if arr.dtype.kind in "iuf" and not isinstance(data, np.generic):
            arr = arr.astype(_state.default_dtype, copy=False)
        return arr
    raise TypeError(
        f"{where}: expected an ndarray, a list or a Python number, got {type(data).__name__}"
    )


class Variable:
    """A node of the graph holding an ndarray `data` and, after backward, its `grad`.

    `Variable(data, name=None, requires_grad=None)`: `data` is an ndarray (Python numbers and
    lists are converted, floats to the default dtype). `requires_grad` defaults to True for
    floating data and False otherwise. Variables hash and compare by identity.
    """

    __slots__ = (
        "data",
        "grad",
        "name",
        "creator",
        "requires_grad",
        "_meta",
        "__weakref__",
    )
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
        self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False
    ) -> None:
        """Compute the gradient of this Variable with respect to every leaf it depends on.

        `grad` (ndarray, number or Variable of this Variable's shape) defaults to ones for a
        one-element output. Leaves accumulate into `.grad`. Unless `retain_graph`, the graph's
        saved arrays are released and a second backward through it raises. With
        `create_graph`, the backward pass is itself recorded, for higher derivatives.
        """
        _run_backward([self], [grad], retain_graph, create_graph, inputs=None)

    def _repr_svg_(self) -> str | None:
        # Lazy: viz needs graphviz, which `import minigrad` must not import.
        try:
            from minigrad.viz import _repr_svg_for
        except ImportError:
            return None
        return _repr_svg_for(self)

    __hash__ = object.__hash__

    if TYPE_CHECKING:
        # Attached at import time by minigrad.functions; declared here for type checkers.
        def __add__(self, other: Any) -> Variable: ...
        def __radd__(self, other: Any) -> Variable: ...
        def __sub__(self, other: Any) -> Variable: ...
        def __rsub__(self, other: Any) -> Variable: ...
        def __mul__(self, other: Any) -> Variable: ...
        def __rmul__(self, other: Any) -> Variable: ...
        def __truediv__(self, other: Any) -> Variable: ...
        def __rtruediv__(self, other: Any) -> Variable: ...
        def __pow__(self, other: Any) -> Variable: ...
        def __rpow__(self, other: Any) -> Variable: ...
        def __matmul__(self, other: Any) -> Variable: ...
        def __rmatmul__(self, other: Any) -> Variable: ...
        def __neg__(self) -> Variable: ...
        def __pos__(self) -> Variable: ...
        def __getitem__(self, index: Any) -> Variable: ...
        def reshape(self, *shape: Any) -> Variable: ...
        def transpose(self, *axes: Any) -> Variable: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Variable: ...
        def broadcast_to(self, shape: tuple[int, ...]) -> Variable: ...
        def sum_to(self, shape: tuple[int, ...]) -> Variable: ...
        def sum(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def mean(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def max(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def min(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Variable: ...
        def exp(self) -> Variable: ...
        def log(self) -> Variable: ...
        def sqrt(self) -> Variable: ...
        def abs(self) -> Variable: ...
        def tanh(self) -> Variable: ...
        def clip(self, lo: float | None, hi: float | None) -> Variable: ...
        def sigmoid(self) -> Variable: ...
        def relu(self) -> Variable: ...
        def leaky_relu(self, slope: float = 0.01) -> Variable: ...
        def softmax(self, axis: int = -1) -> Variable: ...
        def log_softmax(self, axis: int = -1) -> Variable: ...
        def matmul(self, other: Any) -> Variable: ...
        def dot(self, other: Any) -> Variable: ...
        @property
        def T(self) -> Variable: ...
        @property
        def mT(self) -> Variable: ...


class _VarMeta:
    """A Variable's hooks and retain_grad flag."""

    __slots__ = ("hooks", "retain")

    def __init__(self) -> None:
        self.hooks: list[Callable[[Variable], Variable | None]] = []
        self.retain = False


_new_variable = object.__new__


class _Released(tuple):
    """The type of `_RELEASED`, what a released Function holds as saved_inputs."""


# A backward without retain_graph sets saved_inputs to this: one write marks the release.
_RELEASED: tuple[Any, ...] = _Released()
# needs_input_grad of one- and two-input calls, indexed by the flags: shared, never rebuilt.
_NEEDS1 = ((False,), (True,))
_NEEDS2 = (((False, False), (False, True)), ((True, False), (True, True)))


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
                # Python numbers: Parameter(3) is a float Parameter of the default dtype.
                data = data.astype(_state.default_dtype)
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


class Function:
    """One differentiable operation; subclass it to define an op.

    `forward(self, *xs)` takes ndarrays and returns an ndarray (or a tuple of them);
    `backward(self, *gys)` takes the gradients of the outputs and returns one gradient per
    input (or None for an input that needs none, see `self.needs_input_grad`). Attributes
    set on `self` in `forward` are what is saved for backward; they are dropped after
    backward unless `retain_graph=True`.

    A user-defined backward receives and returns Variables. Built-in ops set `fast = True`:
    their backward is written once against operations that ndarrays and Variables share, and
    receives ndarrays unless `create_graph=True` (wrapping every gradient costs ~2x).
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
        "saved_outputs",
        "__dict__",
        "__weakref__",
    )

    inputs: tuple[Any, ...]
    #: The weakref to the only output, or None when forward returned a tuple (then `_outs`).
    _out: weakref.ref[Variable] | None
    _outs: tuple[weakref.ref[Variable], ...]
    needs_input_grad: tuple[bool, ...]
    #: 1 + the largest generation among the creators of its inputs: a consumer always has a
    #: larger generation than the functions it consumes from.
    generation: int
    #: The creators of the inputs that need grad, for the backward order: None, the one
    #: Function itself (the common case, without a tuple for the collector to track), or a tuple.
    _parents: Function | tuple[Function, ...] | None
    scope: ModuleCall | None
    stack: list[traceback.FrameSummary]
    #: What a backward reads: the inputs' and outputs' arrays (in forward's order), or under
    #: `create_graph` the Variables (and constants) themselves, so that the backward records.
    saved_inputs: Sequence[Any]
    saved_outputs: tuple[Any, ...]

    fast = False
    #: Whether forward sets attributes on self (saved for backward, dropped after it). Built-in
    #: ops that set none say False, which spares the release an empty instance dict.
    saves_attrs = True
    #: The op's name, as errors and graph pictures show it; by default the class name in
    #: snake_case (`SoftmaxCrossEntropy` -> `softmax_cross_entropy`).
    name = "function"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)

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
        if n == 3:
            return _apply3(self, inputs[0], inputs[1], inputs[2])
        return _apply(self, inputs)

    @property
    def outputs(self) -> tuple[weakref.ref[Variable], ...]:
        """Weak references to the output Variables, in forward's order."""
        out = self._out
        return self._outs if out is None else (out,)

    def _link(self) -> None:
        """Set `_parents` (the creators of inputs that need grad) and `generation`."""
        parents = []
        gen = 0
        for x, need in zip(self.inputs, self.needs_input_grad):
            if need and x.creator is not None:
                c = x.creator
                parents.append(c)
                if c.generation >= gen:
                    gen = c.generation + 1
        self._parents = (parents[0] if len(parents) == 1 else tuple(parents)) if parents else None
        self.generation = gen

    @property
    def released(self) -> bool:
        """True after a backward without retain_graph freed what this op saved."""
        return self.saved_inputs is _RELEASED

    @property
    def frees_saved(self) -> bool:
        """True inside a backward after which the saved arrays are freed (no retain_graph):
        the backward may then reuse them as output buffers."""
        return not _state.retain_graph

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label()}>"


# --------------------------------------------------------------------------- calling a Function
# The hottest path of the library. `Function.__call__` hands one- and two-input calls (nearly
# all) to `_apply1`/`_apply2`, which op wrappers and operators also call directly: each list,
# loop, helper call or extra tuple here costs about a fifth of a small NumPy op
# (benchmarks/bench_overhead.py measures it). The two unwrap their inputs without a loop and
# share `_recorded`; `_apply` is the general form, and the only one that handles anomaly mode.

_ref = weakref.ref


def _apply1(f: Function, x0: Any) -> Any:
    """`f(x0)`: run forward on the data, record the node if x0 requires grad."""
    if _state.anomaly:
        return _apply(f, (x0,))
    if isinstance(x0, Variable):
        d0 = x0.data
        record = x0.requires_grad and _state.grad_enabled
    else:
        d0 = x0 if type(x0) is np.ndarray else _as_const(x0, f.name)
        record = False
    y = f.forward(d0)
    if type(y) is not np.ndarray:
        return _finish(f, (x0,), (d0,), _NEEDS1[record], record, y)
    if not record:
        return _constant(y)
    v = _recorded(f, y, (x0,), (d0,), _NEEDS1[True])
    c = x0.creator
    if c is None:
        f.generation = 0
        f._parents = None
    else:
        f.generation = c.generation + 1
        f._parents = c
    return v


def _apply2(f: Function, x0: Any, x1: Any) -> Any:
    """`f(x0, x1)`: run forward on the data, record the node if an input requires grad."""
    if _state.anomaly:
        return _apply(f, (x0, x1))
    grad_on = _state.grad_enabled
    if isinstance(x0, Variable):
        d0 = x0.data
        r0 = grad_on and x0.requires_grad
    else:
        d0 = x0 if type(x0) is np.ndarray else _as_const(x0, f.name)
        r0 = False
    if isinstance(x1, Variable):
        d1 = x1.data
        r1 = grad_on and x1.requires_grad
    else:
        d1 = x1 if type(x1) is np.ndarray else _as_const(x1, f.name)
        r1 = False
    y = f.forward(d0, d1)
    if type(y) is not np.ndarray:
        return _finish(f, (x0, x1), (d0, d1), _NEEDS2[r0][r1], r0 or r1, y)
    if not (r0 or r1):
        return _constant(y)
    v = _recorded(f, y, (x0, x1), (d0, d1), _NEEDS2[r0][r1])
    # Link to the functions that made the inputs needing grad, for the backward order.
    c0 = x0.creator if r0 else None
    c1 = x1.creator if r1 else None
    if c0 is None or c1 is None:
        c = c1 if c0 is None else c0
        if c is None:
            f.generation = 0
            f._parents = None
        else:
            f.generation = c.generation + 1
            f._parents = c
    else:
        f.generation = max(c0.generation, c1.generation) + 1
        f._parents = (c0, c1)
    return v


def _recorded(
    f: Function,
    y: np.ndarray,
    inputs: tuple[Any, ...],
    xs: tuple[Any, ...],
    needs: tuple[bool, ...],
) -> Variable:
    """The output Variable of f, made by f, with f's inputs and saved arrays recorded
    (the caller links f to its parents)."""
    v = _new_variable(Variable)
    v.data = y
    v.grad = None
    v.name = None
    v._meta = None
    v.requires_grad = True
    v.creator = f
    f.inputs = inputs
    f.needs_input_grad = needs
    f.saved_inputs = xs
    f.saved_outputs = (y,)
    f._out = _ref(v)
    f.scope = _state.scope
    return v


def _apply3(f: Function, x0: Any, x1: Any, x2: Any) -> Any:
    """`f(x0, x1, x2)`, e.g. linear(x, W, b), without the general path's lists."""
    if _state.anomaly:
        return _apply(f, (x0, x1, x2))
    grad_on = _state.grad_enabled
    d0, r0 = _unwrap(x0, grad_on, f)
    d1, r1 = _unwrap(x1, grad_on, f)
    d2, r2 = _unwrap(x2, grad_on, f)
    y = f.forward(d0, d1, d2)
    return _finish(f, (x0, x1, x2), (d0, d1, d2), (r0, r1, r2), r0 or r1 or r2, y)


def _apply(f: Function, inputs: tuple[Any, ...]) -> Any:
    """`f(*inputs)` for any number of inputs, with anomaly mode's checks."""
    grad_on = _state.grad_enabled
    unwrapped = [_unwrap(x, grad_on, f) for x in inputs]
    xs = tuple(d for d, _ in unwrapped)
    needs = tuple(r for _, r in unwrapped)
    if _state.anomaly:
        f.stack = _user_stack()
    y = f.forward(*xs)
    return _finish(f, inputs, xs, needs, True in needs, y)


def _unwrap(x: Any, grad_on: bool, f: Function) -> tuple[Any, bool]:
    """An input's array (a constant as it is, or converted) and whether it needs grad."""
    if isinstance(x, Variable):
        return x.data, grad_on and x.requires_grad
    return (x if type(x) is np.ndarray else _as_const(x, f.name)), False


def _finish(
    f: Function,
    inputs: tuple[Any, ...],
    xs: tuple[Any, ...],
    needs: tuple[bool, ...],
    record: bool,
    y: Any,
) -> Any:
    """The output Variable(s) of a forward that returned `y`, and the node if `record`."""
    multi = type(y) is tuple
    ys = tuple(np.asarray(a) for a in y) if multi else (np.asarray(y),)
    if _state.anomaly:
        _check_finite(f, ys, "forward")
    if record and not multi:
        v = _recorded(f, ys[0], inputs, xs, needs)
        f._link()
        return v
    outs = tuple(_constant(a) for a in ys)
    if record:
        for v in outs:
            v.requires_grad = True
            v.creator = f
        f.inputs = inputs
        f.needs_input_grad = needs
        f.saved_inputs = xs
        f.saved_outputs = ys
        f._out = None
        f._outs = tuple(_ref(v) for v in outs)
        f.scope = _state.scope
        f._link()
    return outs if multi else outs[0]


def _constant(data: np.ndarray) -> Variable:
    """A Variable that needs no grad, made without __init__'s checks (data is an ndarray)."""
    v = _new_variable(Variable)
    v.data = data
    v.grad = None
    v.name = None
    v.creator = None
    v.requires_grad = False
    v._meta = None
    return v


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


# The backward pass lives in _engine.py, which needs the classes above: imported last.
from minigrad._engine import _run_backward, grad  # noqa: E402
