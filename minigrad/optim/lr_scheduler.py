"""Learning-rate schedules, with PyTorch's names and semantics (`torch.optim.lr_scheduler`).

A scheduler changes the 'lr' of each param group of an optimizer. Make it after the
optimizer and call `scheduler.step()` once per epoch (or per batch, for `OneCycleLR`) after
`optimizer.step()`; `ReduceLROnPlateau.step(metric)` takes the value it watches:

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for epoch in range(10):
        ...                  # opt.step() for each batch
        sched.step()

Making a scheduler sets the first rate (step 0: `last_epoch` is 0 after construction) and
notes each group's 'initial_lr'. The rules are PyTorch's chainable ones (each step changes the
group's current 'lr', so two schedulers can act on one optimizer), and `get_last_lr()` gives
the rates of the last step. `state_dict()`/`load_state_dict()` save and restore a scheduler;
with the optimizer's own state dict (which holds the groups' rates) a run resumes exactly.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minigrad.core import Variable
from minigrad.optim import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
]


def _int(who: str, name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{who}: {name} must be >= {least}, got {value}")
    return int(value)


def _float(who: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{who}: {name} must be finite, got {value}")
    return value


def _in(who: str, name: str, value: Any, low: float, high: float, *, open_low: bool) -> float:
    v = _float(who, name, value)
    if not (low < v if open_low else low <= v) or v > high:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise ValueError(f"{who}: {name} must be in {bounds}, got {value}")
    return v


def _per_group(who: str, name: str, value: Any, groups: int) -> list[float]:
    """One number per param group: a number for all, or a list of one per group."""
    if isinstance(value, list | tuple):
        if len(value) != groups:
            raise ValueError(
                f"{who}: {name} has {len(value)} values, the optimizer has {groups} param groups"
            )
        return [_float(who, f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [_float(who, name, value)] * groups


class LRScheduler:
    """Base class: subclasses define `get_lr()`, the rates of step `last_epoch` (computed
    from the groups' current 'lr', `base_lrs` and `last_epoch`)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{who}: expected an optimizer (e.g. optim.SGD(model.parameters(), lr=0.1)), "
                f"got {type(optimizer).__name__}"
            )
        last_epoch = _int(who, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{who}: last_epoch={last_epoch} resumes a schedule, but "
                        f"param_groups[{i}] has no 'initial_lr' (load the optimizer's state "
                        "dict first, or start with last_epoch=-1)"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._optimizer_steps = optimizer._step_count
        self.step()

    def get_lr(self) -> list[float]:
        """The rates of step `last_epoch`, one per param group."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates set by the last `step()` (or by construction), one per param group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Move to the next step of the schedule and set the groups' 'lr'. Call it after
        `optimizer.step()`."""
        self._step_count += 1
        if self._step_count == 2 and self.optimizer._step_count == self._optimizer_steps:
            # PyTorch warns here too: the schedule's first rate was never used.
            warnings.warn(
                f"{type(self).__name__}.step() was called before optimizer.step(): the first "
                "rate of the schedule is skipped. Call scheduler.step() after "
                "optimizer.step().",
                UserWarning,
                stacklevel=2,
            )
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """What resumes this scheduler: its settings, `last_epoch`, `base_lrs` and the last
        rates (everything but the optimizer, whose own state dict holds the groups' 'lr')."""
        return {
            k: list(v) if isinstance(v, list) else v
            for k, v in self.__dict__.items()
            if k != "optimizer"
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (of a scheduler of the same type and
        settings' names, for an optimizer with as many param groups)."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
        own = self.state_dict()
        if set(state_dict) != set(own):
            raise ValueError(
                f"{where}: keys {sorted(state_dict)} are not this scheduler's {sorted(own)} "
                "(a state dict of another scheduler?)"
            )
        n = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != n:
            raise ValueError(
                f"{where}: the state dict has {len(state_dict['base_lrs'])} base rates, the "
                f"optimizer has {n} param groups"
            )
        self.__dict__.update(
            (k, list(v) if isinstance(v, list | tuple) else v) for k, v in state_dict.items()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the rate by `gamma` every `step_size` steps: lr = base_lr * gamma ** (k // step_size)."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = _int("StepLR", "step_size", step_size, 1)
        self.gamma = _positive("StepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return lrs
        return [lr * self.gamma for lr in lrs]


def _positive(who: str, gamma: Any) -> float:
    g = _float(who, "gamma", gamma)
    if g <= 0:
        raise ValueError(f"{who}: gamma must be > 0, got {gamma}")
    return g


class MultiStepLR(LRScheduler):
    """Multiply the rate by `gamma` at each step in `milestones` (increasing step numbers):
    lr = base_lr * gamma ** (number of milestones <= k). (PyTorch also takes them unsorted.)"""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(milestones, str) or not isinstance(milestones, Sequence):
            raise TypeError(
                f"MultiStepLR: milestones must be a list of ints, got {type(milestones).__name__}"
            )
        ms = [_int("MultiStepLR", f"milestones[{i}]", m, 1) for i, m in enumerate(milestones)]
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise ValueError(f"MultiStepLR: milestones must be increasing, got {list(milestones)}")
        self.milestones = ms
        self.gamma = _positive("MultiStepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch not in self.milestones:
            return lrs
        return [lr * self.gamma for lr in lrs]


class ExponentialLR(LRScheduler):
    """Multiply the rate by `gamma` at every step: lr = base_lr * gamma ** k."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _positive("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to `eta_min` over `T_max` steps:
    lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * k / T_max)) / 2 (SGDR without
    restarts; past T_max the cosine goes on, back up over the next T_max steps, as PyTorch's).
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = _int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _float("CosineAnnealingLR", "eta_min", eta_min)
        if self.eta_min < 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be >= 0, got {eta_min}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        k, T, low = self.last_epoch, self.T_max, self.eta_min
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if k == 0:
            return lrs
        if self._step_count == 1:  # made with last_epoch > 0: the closed form
            return [low + (b - low) * (1 + math.cos(k * math.pi / T)) / 2 for b in self.base_lrs]
        if (k - 1 - T) % (2 * T) == 0:  # the bottom of the cosine: the ratio below is 0/0
            return [
                lr + (b - low) * (1 - math.cos(math.pi / T)) / 2
                for lr, b in zip(lrs, self.base_lrs)
            ]
        ratio = (1 + math.cos(math.pi * k / T)) / (1 + math.cos(math.pi * (k - 1) / T))
        return [ratio * (lr - low) + low for lr in lrs]


class LinearLR(LRScheduler):
    """Warm-up: the rate goes linearly from base_lr * start_factor to base_lr * end_factor
    over `total_iters` steps, then stays: lr = base_lr * (start_factor + (end_factor -
    start_factor) * min(k, total_iters) / total_iters)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self.start_factor = _in("LinearLR", "start_factor", start_factor, 0, 1, open_low=True)
        self.end_factor = _in("LinearLR", "end_factor", end_factor, 0, 1, open_low=False)
        self.total_iters = _int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        k, n = self.last_epoch, self.total_iters
        a, b = self.start_factor, self.end_factor
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if k == 0:
            return [lr * a for lr in lrs]
        if k > n:
            return lrs
        return [lr * (1 + (b - a) / (n * a + (k - 1) * (b - a))) for lr in lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith): per batch, the rate rises from max_lr / div_factor to
    `max_lr` over the first `pct_start` of `total_steps` (or `epochs * steps_per_epoch`),
    then falls to max_lr / (div_factor * final_div_factor), by cosine (or linear)
    annealing; the momentum (SGD's, or Adam's beta1) moves the other way between
    `max_momentum` and `base_momentum` when `cycle_momentum`. `three_phase` comes back to
    the initial rate before the final fall. Stepping past the last step raises."""

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        who = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: expected an optimizer, got {type(optimizer).__name__}")
        groups = optimizer.param_groups
        if total_steps is not None:
            self.total_steps = _int(who, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            e = _int(who, "epochs", epochs, 1)
            self.total_steps = e * _int(who, "steps_per_epoch", steps_per_epoch, 1)
        else:
            raise ValueError(f"{who}: give total_steps, or epochs and steps_per_epoch")
        pct = _in(who, "pct_start", pct_start, 0, 1, open_low=False)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{who}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        div = _float(who, "div_factor", div_factor)
        final_div = _float(who, "final_div_factor", final_div_factor)
        if div <= 0 or final_div <= 0:
            raise ValueError(f"{who}: div_factor and final_div_factor must be > 0")
        n = self.total_steps
        if three_phase:
            ends = [pct * n - 1, 2 * pct * n - 2, n - 1]
            lr_from = ["initial_lr", "max_lr", "initial_lr"]
            lr_to = ["max_lr", "initial_lr", "min_lr"]
            m_from = ["max_momentum", "base_momentum", "max_momentum"]
            m_to = ["base_momentum", "max_momentum", "max_momentum"]
        else:
            ends = [pct * n - 1, n - 1]
            lr_from, lr_to = ["initial_lr", "max_lr"], ["max_lr", "min_lr"]
            m_from, m_to = ["max_momentum", "base_momentum"], ["base_momentum", "max_momentum"]
        self._phases: list[list[Any]] = [list(p) for p in zip(ends, lr_from, lr_to, m_from, m_to)]
        max_lrs = _per_group(who, "max_lr", max_lr, len(groups))
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{who}: cycle_momentum needs an optimizer with a momentum or betas "
                    f"setting ({type(optimizer).__name__} has neither); pass "
                    "cycle_momentum=False"
                )
            self._beta1 = "betas" in optimizer.defaults
            lows = _per_group(who, "base_momentum", base_momentum, len(groups))
            highs = _per_group(who, "max_momentum", max_momentum, len(groups))
        if last_epoch == -1:
            for i, group in enumerate(groups):
                group["initial_lr"] = max_lrs[i] / div
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div
                if self.cycle_momentum:
                    self._set_momentum(group, highs[i])
                    group["max_momentum"], group["base_momentum"] = highs[i], lows[i]
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], m: float) -> None:
        if self._beta1:
            group["betas"] = (m, group["betas"][1])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        k = self.last_epoch
        if k > self.total_steps:
            raise ValueError(
                f"OneCycleLR: stepped {k} times, but total_steps is {self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(self._phases):
                if k <= end or i == len(self._phases) - 1:
                    pct = (k - start) / (end - start)
                    lrs.append(self._anneal(group[lr_a], group[lr_b], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_a], group[m_b], pct))
                    break
                start = end
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by `factor` (not below `min_lr`) when the metric given to
    `step(metric)` has not improved for more than `patience` steps; then wait `cooldown`
    steps. `mode` 'min' (a loss) or 'max' (an accuracy); an improvement must beat the best
    by `threshold`, relative ('rel') or absolute ('abs'). A change smaller than `eps` is not
    made."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        who = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: expected an optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{who}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        self.factor = _float(who, "factor", factor)
        if not 0 < self.factor < 1:
            raise ValueError(f"{who}: factor must be in (0, 1), got {factor}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience = _int(who, "patience", patience, 0)
        self.cooldown = _int(who, "cooldown", cooldown, 0)
        self.threshold = _float(who, "threshold", threshold)
        self.eps = _float(who, "eps", eps)
        self.min_lrs = _per_group(who, "min_lr", min_lr, len(optimizer.param_groups))
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._last_lr = list(self.base_lrs)

    def _better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (1 + th) if self.threshold_mode == "rel" else best + th)

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Note the metric of this epoch (a number, or a 1-element array or Variable) and
        lower the rates if it has not improved for more than `patience` steps."""
        a = np.asarray(metrics.data if isinstance(metrics, Variable) else metrics)
        if a.size != 1 or a.dtype.kind not in "biuf":
            raise TypeError(
                "ReduceLROnPlateau.step: the metric must be a number (or a 1-element array), "
                f"got {type(metrics).__name__}" + (f" of shape {a.shape}" if a.size != 1 else "")
            )
        current = float(a.reshape(()))
        self.last_epoch += 1
        if self._better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        return self.get_last_lr()
