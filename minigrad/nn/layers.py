"""Layers: Linear (and the book's Affine), activations (ReLU, Sigmoid, Tanh, GELU, SiLU),
Dropout, Flatten, Sequential.

Each layer composes ops of `minigrad.functions`; none writes a backward.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minigrad import functions as F
from minigrad.core import Parameter, Variable, _warn_user, get_default_dtype
from minigrad.nn import init as _init
from minigrad.nn.module import Module

__all__ = [
    "Linear",
    "Affine",
    "ReLU",
    "Relu",
    "Sigmoid",
    "Tanh",
    "GELU",
    "SiLU",
    "Dropout",
    "Flatten",
    "Sequential",
]


def _size(n: Any, layer: str, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"{layer}: {what} must be an int, got {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"{layer}: {what} must be positive, got {n}")
    return int(n)


class Linear(Module):
    """y = x @ W + b.  x: (N, in_features) -> y: (N, out_features).

    Parameters `W` (in_features, out_features), initialized by `init` (a name such as
    `"he_normal"`, a number for `normal(std)`, or a callable (shape, dtype) -> ndarray; see
    `minigrad.nn.init`), and `b` (out_features,), zeros; `bias=False` leaves `b` None.
    `dtype` None means `minigrad.get_default_dtype()`. Runs as the fused op `F.linear`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        init: str | float | _init.Initializer = "he_normal",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_features = _size(in_features, name, "in_features")
        self.out_features = _size(out_features, name, "out_features")
        dt = get_default_dtype() if dtype is None else np.dtype(dtype)
        shape = (self.in_features, self.out_features)
        w = np.asarray(_init.get(init)(shape, dt))
        if w.shape != shape:
            raise ValueError(f"{name}: the initializer returned shape {w.shape}, expected {shape}")
        self.W: Parameter = Parameter(w, dtype=dt)
        self.b: Parameter | None = Parameter(np.zeros(self.out_features, dt)) if bias else None

    def forward(self, x: Variable | np.ndarray) -> Variable:
        """x @ W + b.  (N, in_features) -> (N, out_features); x is computed in W's dtype."""
        if type(x) is not np.ndarray and not isinstance(x, Variable):
            x = np.asarray(x)
        return self._linear(x)

    def _linear(self, x: Variable | np.ndarray) -> Variable:
        """F.linear on x (an ndarray or a Variable) cast to W's dtype, with a clear error."""
        if x.dtype != self.W.data.dtype:
            x = self._cast(x)
        try:
            return F.linear(x, self.W, self.b)
        except ValueError:
            raise self._shape_error(x) from None

    def _cast(self, x: Any) -> Any:
        """Data of another dtype than the layer's (float64 or uint8 batches into a float32
        layer, the book's float32 images into a float64 one) is cast to the layer's dtype, so
        the output, and W.grad, keep W's dtype, and NumPy's slow mixed-dtype matmul is never
        run. A Variable that requires grad cannot be cast without an op: it is warned about
        once per call site, and NumPy's promotion decides."""
        dt = self.W.data.dtype
        if not isinstance(x, Variable):
            return x.astype(dt)
        if not x.requires_grad:
            return Variable(x.data.astype(dt), name=x.name, requires_grad=False)
        _warn_user(
            f"{type(self).__name__}: an input of dtype {x.dtype} that requires grad, into a "
            f"layer of dtype {dt}; computed with NumPy's promotion in {x.dtype} (W.grad is cast "
            f"back to {dt}). Make the dtypes agree (e.g. the layer's dtype=np.{x.dtype})"
        )
        return x

    def _shape_error(self, x: Any) -> ValueError:
        shape = tuple(np.shape(x.data if isinstance(x, Variable) else x))
        expected = (self.in_features, self.out_features)
        for name, p, want in [("W", self.W, expected), ("b", self.b, expected[1:])]:
            if p is not None and p.shape != want:
                return ValueError(
                    f"{type(self).__name__}: its parameter {p.name or name} has shape "
                    f"{p.shape}, but the layer was built for {want} (was its .data replaced "
                    "by an array of another shape?)"
                )
        return ValueError(
            f"{type(self).__name__}({self.extra_repr()}): expected an input of shape "
            f"(N, {self.in_features}), got {shape}"
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.b is not None}, dtype={self.W.dtype}"
        )


class Affine(Linear):
    """The book's name for `Linear`; an (N, d1, d2, ...) input is flattened to (N, d1*d2*...).

    Build it like `Linear` (`Affine(784, 50)`) or, like the book, from existing weights:
    `Affine(W, b)` with W (in, out) and b (out,) (ndarrays or Parameters). An ndarray is
    wrapped without a copy, so updating the array in place updates the layer.
    """

    def __init__(
        self,
        W: Any,
        b: Any = None,
        bias: bool = True,
        dtype: Any = None,
        init: str | float | _init.Initializer = "he_normal",
    ) -> None:
        if isinstance(W, int | np.integer) and not isinstance(W, bool):
            if b is None:
                raise TypeError("Affine: give Affine(in_features, out_features) or Affine(W, b)")
            super().__init__(int(W), b, bias=bias, dtype=dtype, init=init)
            return
        Module.__init__(self)
        Wp = W if isinstance(W, Parameter) else Parameter(W, dtype=dtype)
        if Wp.ndim != 2:
            raise ValueError(f"Affine: W must be 2-D (in, out), got shape {Wp.shape}")
        self.in_features, self.out_features = Wp.shape
        self.W = Wp
        self.b = None
        if b is not None:
            bp = b if isinstance(b, Parameter) else Parameter(b, dtype=dtype)
            if bp.shape != (self.out_features,):
                raise ValueError(
                    f"Affine: b has shape {bp.shape}, expected ({self.out_features},) for W of "
                    f"shape {Wp.shape}"
                )
            self.b = bp

    def forward(self, x: Variable | np.ndarray) -> Variable:
        """x (flattened to (N, -1) if it has more than 2 dims) @ W + b -> (N, out_features);
        x is computed in W's dtype."""
        if type(x) is not np.ndarray and not isinstance(x, Variable):
            x = np.asarray(x)
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        return self._linear(x)


class ReLU(Module):
    """y = max(x, 0), elementwise (gradient 0 at 0)."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.relu(x)


#: The book's name for ReLU.
Relu = ReLU


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)), elementwise and overflow-free."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x), elementwise."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.tanh(x)


class GELU(Module):
    """y = x * Phi(x), Phi the standard normal cdf, elementwise; `approximate='tanh'` for the
    tanh form (`F.gelu`)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """y = x * sigmoid(x) (swish), elementwise."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.silu(x)


class Dropout(Module):
    """Inverted dropout: in training mode each element is zeroed with probability `p` and the
    rest scaled by 1 / (1 - p); in evaluation mode (`eval()`) the input passes unchanged.
    The mask comes from NumPy's global generator (`np.random.seed` repeats it).

    `Dropout(dropout_ratio=0.5)`, the book's keyword, is the same layer; the book's dropout
    is not inverted (it scales by 1 - ratio in evaluation instead), which gives the same
    predictions up to a rescaling of the next layer's weights.
    """

    def __init__(self, p: float = 0.5, dropout_ratio: float | None = None) -> None:
        super().__init__()
        if dropout_ratio is not None:
            p = dropout_ratio
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating):
            raise TypeError(f"Dropout: p must be a number, got {type(p).__name__}")
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x: Variable | np.ndarray) -> Variable:
        return F.flatten(x, 1)


class Sequential(Module):
    """Modules applied one after another: `Sequential(Linear(4, 8), ReLU(), Linear(8, 2))`.

    Children are named `0`, `1`, ... (parameters `0.W`, `2.b`), or by the keys when built from
    one dict (`Sequential(OrderedDict(fc1=..., act=...))`). Supports `len`, iteration and
    indexing (`seq[0]`; a slice gives a new Sequential).
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        items: list[tuple[str, Any]]
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items = [(str(k), m) for k, m in modules[0].items()]
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {name} is a {type(m).__name__}, not a Module")
            setattr(self, name, m)
        self._seq: tuple[Module, ...] = tuple(m for _, m in items)

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end (named by its position); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._seq)), module)
        self._seq = (*self._seq, module)
        return self

    def forward(self, x: Any) -> Any:
        for m in self._seq:
            x = m(x)
        return x

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._seq)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._seq[index])
        return self._seq[index]
