"""Knowledge transfer: init schemes, pretrained start, frozen / scaled backbone, distillation."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from paretune.trainers import (
    MLP,
    Strategy,
    Task,
    TrainStatus,
    distillation_loss,
    get_task,
    initialize,
    train,
)
from torch import nn

SCHEMES: dict[str, Callable[..., torch.Tensor]] = {
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": lambda w, generator: nn.init.kaiming_uniform_(
        w, nonlinearity="relu", generator=generator
    ),
    "kaiming_normal": lambda w, generator: nn.init.kaiming_normal_(
        w, nonlinearity="relu", generator=generator
    ),
}


def _std(scheme: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation each scheme's formula gives (Glorot 2010, He 2015)."""
    if scheme.startswith("xavier"):
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_init_equals_torch_nn_init_with_the_same_seed(scheme: str) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 5), nn.Linear(5, 2))
    initialize(model, scheme, seed=7)
    generator = torch.Generator().manual_seed(7)
    for layer in (model[0], model[2], model[3]):
        expected = SCHEMES[scheme](torch.empty_like(layer.weight), generator=generator)
        assert torch.equal(layer.weight.detach(), expected)
        assert torch.count_nonzero(layer.bias) == 0
    other = nn.Sequential(nn.Linear(8, 5))
    initialize(other, scheme, seed=8)
    assert not torch.equal(other[0].weight, model[2].weight)


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_init_std_matches_the_formula_on_a_large_layer(scheme: str, layer: str) -> None:
    if layer == "linear":
        module: nn.Module = nn.Linear(1500, 1000)
        fan_in, fan_out = 1500, 1000
    else:
        module = nn.Conv2d(64, 256, 5)
        fan_in, fan_out = 64 * 25, 256 * 25
    assert initialize(module, scheme, seed=0) == 1
    weight = module.weight.detach().double()
    assert abs(float(weight.mean())) < 1e-3
    assert float(weight.std()) == pytest.approx(_std(scheme, fan_in, fan_out), rel=0.01)


def test_default_init_changes_nothing_and_other_layers_are_left_alone() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Embedding(3, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert initialize(model, "default", seed=0) == 0
    assert initialize(model, "xavier_normal", seed=0) == 1  # only the Linear
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("0."))
    assert not torch.equal(before["0.weight"], after["0.weight"])


# -- a digits MLP whose weights are recorded at its first forward pass (step 0) -----------


class _Recorder:
    """A digits MLP factory that keeps the state_dict its model had at the first forward."""

    def __init__(self, hidden: tuple[int, ...] = (32,)) -> None:
        self.hidden = hidden
        self.first: dict[str, torch.Tensor] | None = None

    def __call__(self, dropout: float) -> nn.Module:
        model = MLP(in_features=64, hidden=self.hidden, num_classes=10, dropout=dropout)

        def hook(module: nn.Module, inputs: object) -> None:
            if self.first is None:
                self.first = {k: v.detach().clone() for k, v in module.state_dict().items()}

        model.register_forward_pre_hook(hook)
        return model


def _digits(**changes: object) -> Task:
    return dataclasses.replace(get_task("digits-mlp"), **changes)  # type: ignore[arg-type]


def _save(path: Path, model: nn.Module) -> Path:
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def pretrained(tmp_path: Path) -> Path:
    torch.manual_seed(123)
    return _save(tmp_path / "weights.pt", MLP(in_features=64, hidden=(32,), num_classes=10))


def test_train_applies_init_to_the_model_at_step_zero() -> None:
    recorder = _Recorder()
    train(_digits(build_model=recorder), Strategy(epochs=1, init="kaiming_uniform", seed=3))
    model = MLP(in_features=64, hidden=(32,), num_classes=10)
    initialize(model, "kaiming_uniform", seed=3)
    assert recorder.first is not None
    for key, value in model.state_dict().items():
        assert torch.equal(recorder.first[key], value), key


def test_pretrained_start_reproduces_the_file_at_step_zero(pretrained: Path) -> None:
    recorder = _Recorder()
    task = _digits(build_model=recorder, pretrained=pretrained)
    result = train(task, Strategy(epochs=1, init="xavier_normal"), device="cpu")
    assert result.status is TrainStatus.COMPLETED and recorder.first is not None
    saved = torch.load(pretrained, weights_only=True)
    assert set(saved) == set(recorder.first)
    for key, value in saved.items():
        assert torch.equal(recorder.first[key], value), key


def test_a_new_head_of_another_shape_keeps_its_own_initialisation(tmp_path: Path) -> None:
    torch.manual_seed(5)
    file = _save(tmp_path / "five.pt", MLP(in_features=64, hidden=(32,), num_classes=5))
    recorder = _Recorder()
    task = _digits(build_model=recorder, pretrained=file, head=("3",))
    train(task, Strategy(epochs=1), device="cpu")
    saved = torch.load(file, weights_only=True)
    assert recorder.first is not None
    assert torch.equal(recorder.first["1.weight"], saved["1.weight"])
    assert recorder.first["3.weight"].shape == (10, 32)


def test_a_file_that_does_not_match_gets_one_message_with_every_key(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = MLP(in_features=64, hidden=(16,), num_classes=10).state_dict()
    state["extra.weight"] = torch.zeros(2)
    del state["3.bias"]
    file = tmp_path / "other.pt"
    torch.save(state, file)
    task = _digits(build_model=_Recorder(), pretrained=file)
    message = (
        f"Task 'digits-mlp': the pretrained file {str(file)!r} does not match the model: "
        "missing keys 3.bias; unexpected keys extra.weight; mis-shaped keys "
        "1.weight (file (16, 64), model (32, 64)), 1.bias (file (16,), model (32,)), "
        "3.weight (file (10, 16), model (10, 32))."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        train(task, Strategy(epochs=1), device="cpu")
    torch.save([1, 2], file)
    with pytest.raises(ValueError, match="must hold a state_dict"):
        train(task, Strategy(epochs=1), device="cpu")
    file.write_bytes(b"not a torch file")
    with pytest.raises(
        ValueError, match=r"cannot be read as a state_dict: it is not a file torch\.save wrote"
    ):
        train(task, Strategy(epochs=1), device="cpu")
    torch.save(nn.Linear(2, 2), file)  # a whole model, pickled: never unpickled
    with pytest.raises(
        ValueError,
        match=r"cannot be read as a state_dict: it holds pickled objects other than tensors "
        r"\(a whole model\?\); save model\.state_dict\(\) instead$",
    ):
        train(task, Strategy(epochs=1), device="cpu")


def _backbone_and_head(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    state = model.state_dict()
    return [state["1.weight"], state["1.bias"]], [state["3.weight"], state["3.bias"]]


@pytest.mark.parametrize("epochs", [2, 3])
def test_freezing_keeps_the_backbone_for_n_epochs_then_trains_it(
    pretrained: Path, epochs: int
) -> None:
    task = _digits(build_model=_Recorder(), pretrained=pretrained, head=("3",))
    strategy = Strategy(epochs=epochs, freeze_epochs=2, lr=0.01)
    result = train(task, strategy, device="cpu", keep_model=True)
    assert result.model is not None
    backbone, head = _backbone_and_head(result.model)
    start_backbone, start_head = _backbone_and_head(_load(pretrained))
    assert not any(torch.equal(a, b) for a, b in zip(head, start_head, strict=True))
    unchanged = [torch.equal(a, b) for a, b in zip(backbone, start_backbone, strict=True)]
    assert unchanged == ([True, True] if epochs == 2 else [False, False])
    assert all(p.requires_grad for p in result.model.parameters())


def _load(path: Path) -> nn.Module:
    model = MLP(in_features=64, hidden=(32,), num_classes=10)
    model.load_state_dict(torch.load(path, weights_only=True))
    return model


def test_backbone_lr_scale_scales_the_backbone_step_only(pretrained: Path) -> None:
    task = _digits(build_model=_Recorder(), pretrained=pretrained, head=("3",))
    start_backbone, start_head = _backbone_and_head(_load(pretrained))
    moved = {}
    for scale in (1.0, 0.25):
        # plain SGD, one full-batch step: the update is -lr * scale * grad on the backbone
        strategy = Strategy(optimizer="sgd", lr=0.1, batch_size=4096, epochs=1)
        strategy = strategy.replace(backbone_lr_scale=scale)
        model = train(task, strategy, device="cpu", keep_model=True).model
        assert model is not None
        backbone, head = _backbone_and_head(model)
        moved[scale] = (
            [a - b for a, b in zip(backbone, start_backbone, strict=True)],
            [a - b for a, b in zip(head, start_head, strict=True)],
        )
    for full, quarter in zip(moved[1.0][0], moved[0.25][0], strict=True):
        torch.testing.assert_close(quarter, 0.25 * full, rtol=1e-4, atol=1e-7)
    for full, quarter in zip(moved[1.0][1], moved[0.25][1], strict=True):
        torch.testing.assert_close(quarter, full)


@pytest.mark.parametrize(
    ("changes", "strategy", "message"),
    [
        ({}, {"distill_alpha": 0.5}, "'distill_alpha' parameter of Strategy applies only to a "
         "task with a teacher; task 'digits-mlp' has none. Got 0.5 instead; leave it None."),
        ({}, {"distill_temperature": 2.0}, "'distill_temperature' parameter of Strategy applies"),
        ({}, {"freeze_epochs": 1}, "'freeze_epochs' parameter of Strategy applies only to a "
         "task with a pretrained file"),
        ({"pretrained": "x.pt"}, {"backbone_lr_scale": 0.1}, "applies only to a task with a "
         "head (Task.head)"),
        ({"pretrained": "x.pt"}, {}, "Task 'digits-mlp': the pretrained file 'x.pt' does not "
         "exist."),
        ({"pretrained": "PRETRAINED", "head": ("fc",)}, {}, "the head prefix 'fc' names no "
         "parameter of the model (its modules: 0, 1, 2, 3)"),
    ],
)  # fmt: skip
def test_transfer_fields_without_their_task_part_are_errors(
    pretrained: Path, changes: dict[str, object], strategy: dict[str, object], message: str
) -> None:
    if changes.get("pretrained") == "PRETRAINED":
        changes = {**changes, "pretrained": pretrained}
    task = _digits(build_model=_Recorder(), **changes)
    with pytest.raises(ValueError, match=re.escape(message)):
        train(task, Strategy(epochs=1, **strategy), device="cpu")  # type: ignore[arg-type]


# -- distillation -------------------------------------------------------------------------


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize(("alpha", "temperature"), [(0.0, 1.0), (0.3, 2.0), (1.0, 4.0)])
def test_distillation_loss_equals_a_hand_computation(alpha: float, temperature: float) -> None:
    student = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    teacher = np.array([[1.5, 0.0, -0.5], [-1.0, 2.5, 1.0]])
    labels = np.array([0, 2])
    hard = -_log_softmax(student)[np.arange(2), labels].mean()
    log_q, log_p = _log_softmax(student / temperature), _log_softmax(teacher / temperature)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean()
    expected = (1 - alpha) * hard + alpha * temperature**2 * kl
    s, t = torch.tensor(student), torch.tensor(teacher)
    hard_torch = nn.functional.cross_entropy(s, torch.tensor(labels))
    got = distillation_loss(s, t, hard_torch, alpha=alpha, temperature=temperature)
    assert float(got) == pytest.approx(expected, rel=1e-6)


class _Teacher:
    """A fixed random MLP as teacher (its predictions are not the labels)."""

    def __call__(self) -> nn.Module:
        generator = torch.Generator().manual_seed(99)
        model = MLP(in_features=64, hidden=(16,), num_classes=10)
        for p in model.parameters():
            p.data = torch.randn(p.shape, generator=generator)
        return model


def _agreement(model: nn.Module, teacher: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == teacher(x).argmax(1)).float().mean())


def test_alpha_one_learns_the_teacher_and_alpha_zero_is_plain_training() -> None:
    plain_task = _digits(build_model=_Recorder())
    task = dataclasses.replace(plain_task, teacher=_Teacher())
    strategy = Strategy(epochs=8, lr=0.01)
    plain = train(plain_task, strategy, device="cpu", keep_model=True)
    zero = train(task, strategy.replace(distill_alpha=0.0), device="cpu", keep_model=True)
    assert [p["train_loss"] for p in zero.curve] == [p["train_loss"] for p in plain.curve]
    one = train(task, strategy.replace(distill_alpha=1.0, distill_temperature=1.0), keep_model=True)
    assert one.model is not None and plain.model is not None
    x_val = task.data().x_val
    teacher = _Teacher()().eval()
    assert _agreement(one.model, teacher, x_val) > 0.6  # vs 0.1 by chance
    assert _agreement(one.model, teacher, x_val) > _agreement(plain.model, teacher, x_val) + 0.4
    assert one.val_accuracy < plain.val_accuracy - 0.3  # the teacher is not the labels


def _five_class_teacher() -> nn.Module:
    return MLP(in_features=64, hidden=(16,), num_classes=5)


def test_a_teacher_of_another_output_width_is_named() -> None:
    task = _digits(build_model=_Recorder(), teacher=_five_class_teacher)
    with pytest.raises(
        ValueError,
        match=r"^The teacher's outputs have shape \(\d+, 5\) and the student's \(\d+, 10\): "
        "a teacher must output one score per class",
    ):
        train(task, Strategy(epochs=1, distill_alpha=0.5), device="cpu")


def test_a_teacher_file_of_the_tasks_own_model_is_loaded(tmp_path: Path) -> None:
    teacher = _Teacher()()
    file = _save(tmp_path / "teacher.pt", teacher)
    task = _digits(build_model=_Recorder(hidden=(16,)), teacher=str(file))
    result = train(task, Strategy(epochs=8, lr=0.01, distill_alpha=1.0), keep_model=True)
    assert result.model is not None
    assert _agreement(result.model, teacher.eval(), task.data().x_val) > 0.6
    wrong = _digits(build_model=_Recorder(hidden=(8,)), teacher=str(file))
    with pytest.raises(ValueError, match="the teacher file .* does not match the model"):
        train(wrong, Strategy(epochs=1), device="cpu")
