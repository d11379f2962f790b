"""The engine's data: Variable, Parameter and Function (whose docstring states the op dialect).

How the engine works, in six steps; `minigrad/reference.py` is the whole algorithm in about
sixty lines, and the docs page "How the engine works" walks through it with a picture:

1. Record (`_record.py`): calling a Function runs `forward` on the inputs' arrays; if an input requires
   grad, the output Variable gets the Function as its `creator`, and the Function keeps its
   inputs, what backward needs, its parents (the creators of its inputs) and its generation.
2. Order (`_engine.py`): one walk from the output collects the Functions; one sort by
   generation puts every Function after all the Functions that consume its output.
3. Run each backward once, in that order.
4. Sum the gradients of a Variable used several times.
5. Deliver the finished gradients to the leaves' `.grad`.
6. Release what each Function saved for backward.

`_record.py` and `_engine.py` do exactly that, with a few fast paths; each one says which step
it speeds up and by how much. The grad modes (per thread) are in `_modes.py`.
`minigrad.functions` attaches the operators (`+`, `@`, ...) and method forms (`x.sum()`, ...)
to `Variable`, and `minigrad.viz` its notebook picture: the engine imports nothing above it.
"""

from __future__ import annotations

import contextlib
import functools
import traceback
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad._modes import (
    ModuleCall,
    _defaults,
    _local,
    detect_anomaly,
    enable_grad,
    get_default_dtype,
    is_grad_enabled,
    no_grad,
    set_default_dtype,
)

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
    "increment_version",
]


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


#: NumPy ufunc -> the minigrad op that `np.<ufunc>(v)` runs, filled in place by
#: minigrad.functions (functions/_ufuncs.py) as the operators are attached. `ndarray * v`
#: goes through it too, as NumPy hands the operator to `__array_ufunc__`: a module global
#: is read faster than a class attribute (callgrind, a 1,000-op chain of `a * v`: 2.5% fewer
#: instructions per op).
_UFUNC_OPS: dict[Any, Callable[..., Any]] = {}


class Variable:
    """A node of the graph holding an ndarray `data` and, after backward, its `grad`.

    `Variable(data, name=None, requires_grad=None)`: `data` is an ndarray (kept as it is, dtype
    included) or Python numbers and lists (converted to the default float dtype).
    `requires_grad` defaults to True for floating data and False otherwise. Variables hash and
    compare by identity: `==` and `!=` say whether two Variables are the same object (the
    engine keys dicts and sets on them), while `<`, `<=`, `>`, `>=` compare the values
    elementwise and give boolean ndarrays (not differentiable); for values, `v.data == w.data`.
    A one-element Variable acts as a number where Python asks for one (`float(loss)`,
    `f"{loss:.3f}"`, `round(loss, 2)`).

    `version` counts the in-place changes made to `data` through minigrad (an optimizer's
    step, `load_state_dict`, the book's `params[k] -= ...`); a backward that would read a
    value changed since its forward raises instead of computing a wrong gradient. Writes
    straight into `data` are not counted (see "Versions" in the docs).
    """

    __slots__ = (
        "data",
        "grad",
        "name",
        "creator",
        "requires_grad",
        "_meta",
        "_version",
        "__weakref__",
    )
    #: The TypeError for a ufunc call minigrad does not run (functions/_ufuncs.py).
    _refuse_ufunc: Callable[..., Any]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's ufuncs on Variables: `np.exp(v)`, `np.maximum(v, 0)` and `ndarray + v`
        (which NumPy runs as `np.add(ndarray, v)`) run the matching minigrad op, recorded;
        comparisons give boolean ndarrays; `np.equal`/`np.not_equal` compare identity, as
        `==` does on Variables. Any other ufunc, a ufunc method (`np.add.reduce`) or a
        keyword such as `out=` is a TypeError that says what to use."""
        op = _UFUNC_OPS.get(ufunc)
        if op is not None and method == "__call__" and not kwargs:
            return op(*inputs)
        return self._refuse_ufunc(ufunc, method, inputs, kwargs)

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
                f"Variable: only floating data can require grad, got dtype {data.dtype}; make "
                "it floating first (Variable(a.astype(np.float32), requires_grad=True))"
            )
        self.data: np.ndarray = data
        self.grad: Variable | None = None
        self.name = name
        self.creator: Function | None = None
        self.requires_grad: bool = bool(requires_grad)
        # Hooks and retain_grad, rare enough to live in one optional object.
        self._meta: _VarMeta | None = None
        self._version = 0

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
    def version(self) -> int:
        """How many times `data` was changed in place through minigrad (read-only; PyTorch's
        `_version`). Ops note the versions of the leaves they save, and a backward that would
        read a changed one raises. Writes straight into `data` do not count."""
        return self._version

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

    def unchain(self) -> None:
        """Forget the creator: this Variable becomes a leaf (DeZero's name)."""
        self.creator = None

    def unchain_backward(self) -> None:
        """Cut the graph behind this Variable (DeZero's name, for truncated backprop through
        time): every Variable it was computed from (and every other output of the ops that
        made them) forgets its creator, and every op on the way forgets its parents, so the
        history behind a hidden state can be freed and a later backward stops there. This
        Variable keeps its own creator.

        Walks the graph with a stack, not recursion, so a history of any length is cut.
        """
        f0 = self.creator
        if f0 is None:
            return
        seen = {f0}
        stack = [f0]
        while stack:
            f = stack.pop()
            if f is not f0:
                # Every output of an op behind this one, also one that nothing here used (an
                # LSTM step's cell state, read only by the next step), loses its creator.
                for ref in f.outputs:
                    y = ref()
                    if y is not None:
                        y.creator = None
            for x in f.inputs:
                if not isinstance(x, Variable):
                    continue
                c = x.creator
                if c is not None:
                    x.creator = None
                    if c not in seen:
                        seen.add(c)
                        stack.append(c)
            # The engine walks parents (step 2): an op whose inputs are now leaves has none.
            f._parents = None

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

        def _compare(self, other: Any) -> np.ndarray: ...
        def _arg(self, axis: Any = None, keepdims: bool = False) -> np.ndarray: ...
        def _spread(
            self, axis: Any = None, unbiased: bool = True, keepdims: bool = False
        ) -> Variable: ...

        __lt__ = __le__ = __gt__ = __ge__ = _compare
        sin = cos = _unary
        var = std = _spread
        argmax = argmin = _arg

        def reshape(self, *shape: Any) -> Variable: ...
        def transpose(self, *axes: Any) -> Variable: ...
        def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Variable: ...
        def clip(self, lo: float | None, hi: float | None) -> Variable: ...
        def leaky_relu(self, slope: float = 0.01) -> Variable: ...
        def softmax(self, axis: int | None = None) -> Variable: ...
        def log_softmax(self, axis: int | None = None) -> Variable: ...


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


def increment_version(*variables: Variable) -> None:
    """Record that the `data` of each leaf Variable was changed in place (PyTorch's
    `torch.autograd.graph.increment_version`).

    minigrad's own in-place updates call it (optimizers, `load_state_dict`, the book's
    `params`); call it after an update of your own (`p.data -= lr * p.grad.data` in a
    hand-written optimizer) so that a backward through a graph recorded before the update
    raises instead of mixing old and new values. Only leaves (Variables made by the user, not
    by an op) are changed in place: an op's output is refused.
    """
    for v in variables:
        if not isinstance(v, Variable):
            raise TypeError(f"increment_version: expected a Variable, got {type(v).__name__}")
        if v.creator is not None:
            raise RuntimeError(
                f"increment_version: {_describe(v)} is the output of op {v.creator.name}, not a "
                "leaf: minigrad changes only leaves (parameters, inputs) in place; compute a "
                "new Variable instead"
            )
        v._version += 1


def _describe(v: Variable) -> str:
    """`Variable 'W1' of shape (2, 3)`, or `a Variable of shape (2, 3)` when unnamed."""
    if v.name:
        return f"Variable {v.name!r} of shape {v.shape}"
    return f"a Variable of shape {v.shape}"


def as_variable(x: Any) -> Variable:
    """Return `x` if it is a Variable, else wrap it as a constant (no grad)."""
    if isinstance(x, Variable):
        return x
    return Variable(_to_array(x, "as_variable"), requires_grad=False)


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
    - The engine notes the versions of the leaf Variables an op saved; its backward never
      runs on a value changed in place since (an optimizer's step, `load_state_dict`): it
      raises instead, naming the op and the Variable. Nothing to do in the op for that.
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
        "_versions",
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
    #: The versions of the leaf inputs at forward, by position (None for the other inputs),
    #: or None when no input is a leaf Variable: the only Variables minigrad changes in place
    #: (an op's output is never changed, so its version stays 0 and costs no check). Under
    #: anomaly mode an `_Checksums` (_record.py), which also holds a checksum of every saved
    #: Variable's array.
    _versions: tuple[int | None, ...] | None

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


# Step 1 lives in _record.py and steps 2-6 in _engine.py; both need the classes above, so they
# are imported last. Their names are re-exported here for the ops and modules that use them.
from minigrad._engine import grad, run_backward  # noqa: E402
from minigrad._record import (  # noqa: E402, F401 - re-exported
    AnomalyError,
    _apply,
    _apply1,
    _apply2,
    _as_const,
    _check_finite,
    _constant,
    _variable,
    _warn_user,
)
