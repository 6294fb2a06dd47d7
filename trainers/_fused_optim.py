"""Optimizer updates over stacked parameters: one update for K members, each its own settings.

A fused group (see :mod:`paretune.trainers._fused`) holds each parameter as one tensor of
shape ``(K, *shape)``; member ``k`` is row ``k``. :class:`StackedOptimizer` updates every row
as the member's own ``torch.optim`` optimizer would (``lr``, ``weight_decay``, momentum,
Nesterov, betas, eps, decoupled weight decay, each per member), with one call per parameter
and optimizer family instead of one per member. Members of one group may use different
optimizers: each family (SGD with momentum or Nesterov; Adam and AdamW; Adagrad; RMSprop)
updates the rows of its members.

The update rules are those of ``torch.optim`` with its defaults (no dampening, no amsgrad,
no ``lr_decay``, RMSprop smoothing 0.99, not centered); the tests compare them row by row
with ``torch.optim`` for every entry of the optimizer registry.

On the CPU the stack is updated row by row instead, each row by the member's own
``torch.optim`` optimizer (``fused=True`` where torch has a fused CPU kernel: Adam, AdamW,
SGD, Adagrad). An element-wise update is bound by memory traffic on a CPU: one pass over a
member's row that stays in cache costs less than a dozen passes over the whole stack, while
on a GPU the stacked update's few kernel launches are what counts.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._optimizers import build_optimizer, optimizer_info
from ._row_kernels import DirectStep
from ._strategy import Strategy

__all__ = ["StackedOptimizer", "family_order", "fusable_optimizer"]


class _Family(enum.Enum):
    SGD = "sgd"
    NESTEROV = "nesterov"
    ADAM = "adam"
    ADAGRAD = "adagrad"
    RMSPROP = "rmsprop"


_FAMILIES: dict[type[torch.optim.Optimizer], _Family] = {
    torch.optim.SGD: _Family.SGD,
    torch.optim.Adam: _Family.ADAM,
    torch.optim.AdamW: _Family.ADAM,
    torch.optim.Adagrad: _Family.ADAGRAD,
    torch.optim.RMSprop: _Family.RMSPROP,
}


def fusable_optimizer(strategy: Strategy) -> str | None:
    """Why ``strategy``'s optimizer cannot be updated stacked, or None when it can.

    Examples:
        >>> fusable_optimizer(Strategy(optimizer="adamw")) is None
        True
    """
    info = optimizer_info(strategy.optimizer)
    if info.torch_class not in _FAMILIES:
        return (
            f"optimizer {strategy.optimizer!r} builds {info.torch_class.__name__}, which has "
            "no stacked update"
        )
    return None


@dataclass
class _Group:
    """Consecutive members of one family: their rows, settings (shape ``(n,)``), state."""

    family: _Family
    rows: slice  # consecutive rows of the stack: updated as views, in place
    lr: torch.Tensor
    weight_decay: torch.Tensor  # the L2 term added to the gradient
    decoupled: torch.Tensor  # AdamW's decoupled decay (0 for the others)
    momentum: torch.Tensor
    beta1: torch.Tensor
    beta2: torch.Tensor
    eps: torch.Tensor
    step: int = 0
    state: list[list[torch.Tensor]] | None = None  # per parameter: the family's buffers

    uses_l2: bool = False
    uses_decoupled: bool = False
    uses_momentum: bool = False

    def settle(self) -> None:
        """Note which terms any row uses (read once, not at every step: no device sync)."""
        self.uses_l2 = bool((self.weight_decay != 0).any())
        self.uses_decoupled = bool((self.decoupled != 0).any())
        self.uses_momentum = bool((self.momentum != 0).any())


_SETTINGS = ("lr", "weight_decay", "decoupled", "momentum", "beta1", "beta2", "eps")


def _runs(rows: Sequence[int]) -> list[list[int]]:
    """``rows`` (increasing) cut into runs of consecutive rows.

    Examples:
        >>> _runs([0, 1, 3, 4, 5, 7])
        [[0, 1], [3, 4, 5], [7]]
    """
    runs: list[list[int]] = []
    for row in rows:
        if runs and runs[-1][-1] == row - 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def family_order(strategy: Strategy) -> int:
    """A sort key that puts members of one optimizer family next to each other (their rows
    then update as views of the stack, without copies).

    Examples:
        >>> family_order(Strategy(optimizer="adam")) == family_order(Strategy(optimizer="adamw"))
        True
    """
    info = optimizer_info(strategy.optimizer)
    family = _FAMILIES.get(info.torch_class)
    if family is None:
        return len(_Family)
    if family is _Family.SGD and info.nesterov:
        family = _Family.NESTEROV
    return list(_Family).index(family)


def _column(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _shaped(values: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``values`` (one per row) broadcastable against a stacked parameter."""
    return values.reshape(-1, *([1] * (param.dim() - 1)))


class StackedOptimizer:
    """Updates stacked parameters row by row as each member's ``torch.optim`` optimizer would.

    Args:
        params: The stacked parameters (leaf tensors of shape ``(K, ...)``).
        strategies: One strategy per row (its optimizer, ``lr``, ``weight_decay`` and the
            optimizer's sub-parameters).
        per_row: Update each row with its member's own ``torch.optim`` optimizer (True) or
            all rows of a family at once (False); None: per row on the CPU (module docstring).

    Examples:
        >>> w = torch.ones(2, 3, requires_grad=True)
        >>> opt = StackedOptimizer([w], [Strategy(optimizer="sgd", lr=0.1),
        ...                              Strategy(optimizer="adam", lr=0.01)])
        >>> w.grad = torch.ones(2, 3)
        >>> opt.step(torch.tensor([0.1, 0.01]))
        >>> [round(v, 6) for v in w[:, 0].tolist()]  # sgd: 1 - 0.1; adam: 1 - 0.01
        [0.9, 0.99]
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        strategies: Sequence[Strategy],
        *,
        per_row: bool | None = None,
    ) -> None:
        if not params:
            raise ValueError("StackedOptimizer needs at least one parameter.")
        self.params = list(params)
        k = len(strategies)
        for p in self.params:
            if p.dim() < 1 or p.shape[0] != k:
                raise ValueError(
                    f"Each stacked parameter must have {k} rows (one per strategy); got shape "
                    f"{tuple(p.shape)}."
                )
        like = self.params[0]
        by_family: dict[_Family, list[int]] = {}
        for row, strategy in enumerate(strategies):
            reason = fusable_optimizer(strategy)
            if reason is not None:
                raise ValueError(f"Strategy {row} cannot be fused: {reason}.")
            info = optimizer_info(strategy.optimizer)
            family = _FAMILIES[info.torch_class]
            if family is _Family.SGD and info.nesterov:
                family = _Family.NESTEROV
            by_family.setdefault(family, []).append(row)
        if per_row is None:
            per_row = like.device.type == "cpu"
        self.groups: list[_Group] = []  # the stacked update's (none when updated per row)
        for family, rows in (
            (family, run)
            for family, members in by_family.items()
            for run in _runs(members)
            if not per_row
        ):
            picked = [strategies[r] for r in rows]
            infos = [optimizer_info(s.optimizer) for s in picked]
            kwargs = [info.torch_kwargs(s) for info, s in zip(infos, picked, strict=True)]
            decoupled = [info.decoupled_weight_decay for info in infos]
            self.groups.append(
                _Group(
                    family=family,
                    rows=slice(rows[0], rows[-1] + 1),
                    lr=_column([s.lr for s in picked], like),
                    weight_decay=_column(
                        [
                            0.0 if d else kw["weight_decay"]
                            for d, kw in zip(decoupled, kwargs, strict=True)
                        ],
                        like,
                    ),
                    decoupled=_column(
                        [
                            kw["weight_decay"] if d else 0.0
                            for d, kw in zip(decoupled, kwargs, strict=True)
                        ],
                        like,
                    ),
                    momentum=_column([kw.get("momentum", 0.0) for kw in kwargs], like),
                    beta1=_column([kw.get("betas", (0.9, 0.999))[0] for kw in kwargs], like),
                    beta2=_column([kw.get("betas", (0.9, 0.999))[1] for kw in kwargs], like),
                    eps=_column([kw.get("eps", 0.0) for kw in kwargs], like),
                )
            )
            self.groups[-1].settle()
        # on the CPU: each row by its member's own torch optimizer (module docstring)
        self.per_row: list[torch.optim.Optimizer] | None = None
        # each row's fused update as a direct call, once its first step made the state
        self.direct: list[DirectStep] = []
        if per_row:
            self.per_row = [self._row_optimizer(s, row) for row, s in enumerate(strategies)]
            self.direct = [DirectStep(optimizer) for optimizer in self.per_row]

    def _row_optimizer(self, strategy: Strategy, row: int) -> torch.optim.Optimizer:
        return build_optimizer(self._rows(row), strategy, fused=True)  # one pass over the row

    def _rows(self, row: int) -> list[torch.Tensor]:
        """Row ``row`` of each stacked parameter as a leaf sharing its memory."""
        return [p.detach()[row].requires_grad_() for p in self.params]

    def keep(self, rows: Sequence[int]) -> None:
        """Keep the members at ``rows`` (increasing; after the parameters were cut to the same
        rows). A run of consecutive rows stays consecutive once renumbered."""
        if self.per_row is not None:
            self.per_row = [self.per_row[r] for r in rows]
            for row, optimizer in enumerate(self.per_row):  # onto the cut parameters' rows
                settings = optimizer.param_groups[0]
                new = self._rows(row)
                for old, tensor in zip(settings["params"], new, strict=True):
                    if old in optimizer.state:
                        optimizer.state[tensor] = optimizer.state.pop(old)
                settings["params"] = new
            self.direct = [DirectStep(optimizer) for optimizer in self.per_row]
            for direct in self.direct:  # onto the new rows, where a step made the state
                if direct.optimizer.state:
                    direct.made()
            return
        new_row = {old: new for new, old in enumerate(rows)}
        kept: list[_Group] = []
        for group in self.groups:
            start = group.rows.start
            mine = [r for r in range(start, group.rows.stop) if r in new_row]
            if not mine:
                continue
            index = torch.tensor([r - start for r in mine], device=group.lr.device)
            group.rows = slice(new_row[mine[0]], new_row[mine[-1]] + 1)
            for name in _SETTINGS:
                setattr(group, name, getattr(group, name)[index])
            if group.state is not None:
                group.state = [[b[index] for b in buffers] for buffers in group.state]
            group.settle()
            kept.append(group)
        self.groups = kept

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        """One update of every row with the learning rates ``lr`` (one per row, this epoch's)."""
        if self.per_row is not None:
            rates = lr.tolist()
            every = all(p.grad is not None for p in self.params)
            for row, (optimizer, rate) in enumerate(zip(self.per_row, rates, strict=True)):
                direct = self.direct[row]
                if every and direct([p.grad[row] for p in self.params if p.grad is not None], rate):
                    continue
                settings = optimizer.param_groups[0]
                settings["lr"] = rate
                for p, tensor in zip(self.params, settings["params"], strict=True):
                    tensor.grad = None if p.grad is None else p.grad[row]
                optimizer.step()
                direct.made()
            return
        for group in self.groups:
            group.step += 1
            group.lr = lr[group.rows]
            if group.state is None:
                group.state = [self._new_state(group, p) for p in self.params]
            for p, buffers in zip(self.params, group.state, strict=True):
                if p.grad is not None:  # views of the stack: updated in place
                    self._update(group, p[group.rows], p.grad[group.rows], buffers)

    @staticmethod
    def _new_state(group: _Group, p: torch.Tensor) -> list[torch.Tensor]:
        n = group.rows.stop - group.rows.start
        zeros = torch.zeros((n, *p.shape[1:]), dtype=p.dtype, device=p.device)
        if group.family in (_Family.ADAM, _Family.RMSPROP):
            return [zeros, zeros.clone()]  # exp_avg and exp_avg_sq; square_avg and momentum
        return [zeros]  # momentum buffer, or sum of squares

    @staticmethod
    def _update(
        group: _Group, p: torch.Tensor, grad: torch.Tensor, buffers: list[torch.Tensor]
    ) -> None:
        """One family's update of rows ``p`` in place (``grad`` is overwritten: the step
        owns it). Few passes over memory: per-row settings broadcast in in-place ops."""
        lr = _shaped(group.lr, p)
        if group.uses_l2:
            grad.addcmul_(_shaped(group.weight_decay, p), p)  # the L2 term
        family = group.family
        if family in (_Family.SGD, _Family.NESTEROV):
            if not group.uses_momentum:
                p.addcmul_(lr, grad, value=-1.0)
                return
            (buf,) = buffers
            momentum = _shaped(group.momentum, p)
            buf.mul_(momentum).add_(grad)  # the first step gives buf = grad, as torch's clone
            if family is _Family.NESTEROV:
                grad.addcmul_(momentum, buf)
                p.addcmul_(lr, grad, value=-1.0)
            else:
                p.addcmul_(lr, buf, value=-1.0)
        elif family is _Family.ADAM:
            exp_avg, exp_avg_sq = buffers
            if group.uses_decoupled:
                p.mul_(1 - lr * _shaped(group.decoupled, p))
            beta1, beta2 = _shaped(group.beta1, p), _shaped(group.beta2, p)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad * (1 - beta2))
            bias1 = 1 - beta1.double() ** group.step
            bias2 = 1 - beta2.double() ** group.step
            denom = exp_avg_sq.sqrt().mul_((1 / bias2.sqrt()).to(p.dtype))
            denom.add_(_shaped(group.eps, p)).div_((lr.double() / bias1).to(p.dtype))
            p.addcdiv_(exp_avg, denom, value=-1.0)
        elif family is _Family.ADAGRAD:
            (state_sum,) = buffers
            state_sum.addcmul_(grad, grad)
            std = state_sum.sqrt().add_(_shaped(group.eps, p)).div_(lr)
            p.addcdiv_(grad, std, value=-1.0)
        else:  # RMSprop, smoothing 0.99, not centered
            square_avg, buf = buffers
            square_avg.mul_(0.99).addcmul_(grad, grad, value=0.01)
            avg = square_avg.sqrt().add_(_shaped(group.eps, p))
            if not group.uses_momentum:
                p.addcdiv_(grad, avg.div_(lr), value=-1.0)
                return
            buf.mul_(_shaped(group.momentum, p)).addcdiv_(grad, avg)  # momentum 0: grad / avg
            p.addcmul_(lr, buf, value=-1.0)
