"""Tasks that give their data as torch Datasets: DataLoader streaming, seeding, checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from paretune.trainers import (
    DatasetSplits,
    DataSplits,
    LoaderOptions,
    Strategy,
    Task,
    predict,
    split_accuracy,
    task_example,
    train,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info

N_TRAIN, N_VAL, N_TEST = 40, 12, 12


class Noisy(Dataset[tuple[torch.Tensor, int]]):
    """Item i: ``[i, noise]`` with label ``i % 3``; the noise is a worker-side random draw."""

    def __init__(self, n: int, offset: int = 0) -> None:
        self.n, self.offset = n, offset

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = index + self.offset
        return torch.tensor([float(i), float(torch.rand(()))]), i % 3


class Recorder(nn.Module):
    """A linear classifier that records the inputs it sees in training and in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.trained_on: list[torch.Tensor] = []
        self.evaluated_on: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (self.trained_on if self.training else self.evaluated_on).append(x.detach().clone())
        return self.fc(x)


def noisy_task(workers: int = 0, **fields: object) -> Task:
    def load() -> DatasetSplits:
        return DatasetSplits(train=Noisy(N_TRAIN), val=Noisy(N_VAL, 1000), test=Noisy(N_TEST, 2000))

    return Task(
        name="noisy",
        build_model=lambda dropout: Recorder(),
        load_datasets=load,
        num_classes=3,
        loader_options=LoaderOptions(num_workers=workers),
        **fields,  # type: ignore[arg-type]
    )


def seen(task: Task, strategy: Strategy, **kwargs: object) -> torch.Tensor:
    result = train(task, strategy, device="cpu", keep_model=True, **kwargs)  # type: ignore[arg-type]
    assert result.status.value == "completed", result.reason
    assert isinstance(result.model, Recorder)
    return torch.cat(result.model.trained_on)


def test_same_seed_same_data_order_and_worker_draws_with_workers() -> None:
    strategy = Strategy(epochs=2, batch_size=8, lr=0.01, seed=3)
    first = seen(noisy_task(workers=2), strategy)
    assert len(first) == 2 * N_TRAIN
    assert torch.equal(first, seen(noisy_task(workers=2), strategy))
    # each epoch is a permutation of the training items
    assert sorted(first[:N_TRAIN, 0].tolist()) == list(map(float, range(N_TRAIN)))
    # the order does not depend on the number of workers (the trial's generator draws it)
    assert torch.equal(first[:, 0], seen(noisy_task(workers=0), strategy)[:, 0])


def test_different_trial_seeds_give_different_orders() -> None:
    a = seen(noisy_task(workers=2), Strategy(epochs=1, batch_size=8, seed=0))
    b = seen(noisy_task(workers=2), Strategy(epochs=1, batch_size=8, seed=1))
    assert not torch.equal(a[:, 0], b[:, 0])
    assert not torch.equal(a[:, 1], b[:, 1])  # and different worker-side random draws


def test_augment_is_applied_to_training_batches_only() -> None:
    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + 10_000.0

    task = noisy_task(augment=augment)
    result = train(task, Strategy(epochs=2, batch_size=8), device="cpu", keep_model=True)
    assert isinstance(result.model, Recorder)
    assert all(bool((x[:, 0] >= 10_000).all()) for x in result.model.trained_on)
    evaluated = torch.cat(result.model.evaluated_on)
    assert bool((evaluated[:, 0] < 10_000).all())
    # the validation and test passes (and the cost passes) saw the raw items
    raw = {float(1000 + i) for i in range(N_VAL)} | {float(2000 + i) for i in range(N_TEST)}
    assert set(evaluated[:, 0].tolist()) == raw


class Pairs(Dataset[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.a, self.b = torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g)
        self.y = torch.randint(0, 4, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        return (self.a[i], self.b[i]), self.y[i]


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa, self.fb = nn.Linear(3, 4), nn.Linear(2, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fa(a) + self.fb(b)


def pairs_task(micro_batch: int | None) -> Task:
    return Task(
        name="pairs",
        build_model=lambda dropout: TwoInputs(),
        load_datasets=lambda: DatasetSplits(
            train=Pairs(64, 0), val=Pairs(16, 1), test=Pairs(16, 2)
        ),
        num_classes=4,
        micro_batch=micro_batch,
    )


def test_accumulation_on_the_loader_path_equals_the_full_batch() -> None:
    strategy = Strategy(epochs=2, batch_size=16, optimizer="sgd", lr=0.1, seed=5)
    full = train(pairs_task(None), strategy, device="cpu", keep_model=True)
    micro = train(pairs_task(4), strategy, device="cpu", keep_model=True)
    assert full.model is not None and micro.model is not None
    for p, q in zip(full.model.parameters(), micro.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert full.curve[-1]["train_loss"] == pytest.approx(micro.curve[-1]["train_loss"], rel=1e-5)
    assert not torch.equal(  # training did move the weights
        full.model.fa.weight, pairs_task(None).new_model(0.0).fa.weight
    )


class Stream(IterableDataset[tuple[torch.Tensor, int]]):
    """Items split between workers by ``get_worker_info``; no ``__len__``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(start, self.n, step):
            yield torch.tensor([float(i % 3), 1.0]), i % 3


def stream_task(workers: int) -> Task:
    return Task(
        name="stream",
        build_model=lambda dropout: Recorder(),
        load_datasets=lambda: DatasetSplits(train=Stream(30), val=Stream(9), test=Stream(9)),
        num_classes=3,
        loader_options=LoaderOptions(num_workers=workers),
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_iterable_datasets_train(workers: int) -> None:
    result = train(
        stream_task(workers),
        Strategy(epochs=3, batch_size=4, lr=0.1),
        device="cpu",
        keep_model=True,
    )
    assert result.status.value == "completed"
    assert isinstance(result.model, Recorder)
    assert sum(len(x) for x in result.model.trained_on) == 3 * 30
    assert 0.0 <= result.val_accuracy <= 1.0


def test_pruning_an_iterable_dataset_without_len_is_refused() -> None:
    with pytest.raises(ValueError, match="Task 'stream'.*must define __len__"):
        train(stream_task(0), Strategy(epochs=1, prune_rate=0.5), device="cpu")


def test_fit_on_validation_chains_train_and_val() -> None:
    strategy = Strategy(epochs=1, batch_size=8)
    trained = seen(noisy_task(), strategy, fit_on_validation=True)
    assert sorted(trained[:, 0].tolist()) == sorted(
        [float(i) for i in range(N_TRAIN)] + [float(1000 + i) for i in range(N_VAL)]
    )


def test_resume_from_a_checkpoint_continues_the_same_run(tmp_path: Path) -> None:
    strategy = Strategy(epochs=3, batch_size=8, lr=0.05, seed=2)
    whole = train(noisy_task(), strategy, device="cpu", checkpoint_dir=str(tmp_path / "a"))
    stopped = train(
        noisy_task(),
        strategy,
        device="cpu",
        checkpoint_dir=str(tmp_path / "b"),
        report=lambda epoch, metrics: epoch == 1,
    )
    assert stopped.epochs == 1
    resumed = train(noisy_task(), strategy, device="cpu", checkpoint_dir=str(tmp_path / "b"))
    assert resumed.epochs == 3
    assert [p["train_loss"] for p in resumed.curve] == [p["train_loss"] for p in whole.curve]


def test_predict_is_the_same_on_tensors_and_on_a_dataloader() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    out_t, y_t = predict(model, (x, y), batch_size=7)
    out_l, y_l = predict(model, DataLoader(TensorDataset(x, y), batch_size=9))
    torch.testing.assert_close(out_t, out_l)
    torch.testing.assert_close(out_t, model(x).detach())
    assert torch.equal(y_t, y) and torch.equal(y_l, y)
    assert split_accuracy(model, (x, y)) == int((model(x).argmax(1) == y).sum()) / 50
    model.train()
    predict(model, (x, y))
    assert model.training  # the mode is restored


class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, features: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.fc(features) * scale.unsqueeze(1)


def test_dict_inputs_train_and_give_the_cost_example() -> None:
    class Named(Dataset[tuple[dict[str, torch.Tensor], int]]):
        def __len__(self) -> int:
            return 20

        def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int]:
            return {"features": torch.full((3,), float(i)), "scale": torch.tensor(1.0)}, i % 2

    task = Task(
        name="named",
        build_model=lambda dropout: DictModel(),
        load_datasets=lambda: DatasetSplits(train=Named(), val=Named(), test=Named()),
        num_classes=2,
    )
    example = task_example(task)
    assert isinstance(example, dict) and example["features"].shape == (8, 3)
    result = train(task, Strategy(epochs=1, batch_size=4, prune_rate=0.5, bits=4), device="cpu")
    assert result.status.value == "completed" and result.sparsity >= 0.5


# -- bad input -------------------------------------------------------------------------------


def bad_task(load: object, **fields: object) -> Task:
    return Task(
        name="bad",
        build_model=lambda dropout: nn.Linear(2, 3),
        load_datasets=load,  # type: ignore[arg-type]
        num_classes=3,
        **fields,  # type: ignore[arg-type]
    )


class Items(Dataset[object]):
    def __init__(self, item: object) -> None:
        self.item = item

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> object:
        return self.item


def splits(item: object) -> DatasetSplits:
    return DatasetSplits(train=Items(item), val=Items(item), test=Items(item))


@pytest.mark.parametrize(
    ("load", "fields", "message"),
    [
        (lambda: {"train": []}, {}, r"Task 'bad': load_datasets\(\) must return a DatasetSplits"),
        (
            lambda: splits((torch.zeros(2), 0.5)),
            {},
            r"Task 'bad': a val batch must be \(inputs, targets\) with class labels of an "
            r"integer dtype \(torch.long\); got targets a float64 tensor of shape \(6,\)",
        ),
        (
            lambda: splits(torch.zeros(2)),
            {},
            r"Task 'bad': a val batch must be a pair \(inputs, targets\) .*got a float32 tensor "
            r"of shape \(6, 2\)",
        ),
        (
            lambda: splits(("text", 1)),
            {},
            r"Task 'bad': a val batch must have inputs that are a tensor, a tuple of tensors or "
            r"a dict .*got a tuple of 6 \(a str, a str, a str, \.\.\.\)",
        ),
        (
            lambda: splits((torch.zeros(5), 1)),
            {"input_shape": (2,)},
            r"Task 'bad': a val batch must have inputs of shape \(batch, \*\(2,\)\) "
            r"\(Task.input_shape\); got a float32 tensor of shape \(6, 5\)",
        ),
        (
            lambda: splits((torch.zeros(5), 1)),
            {},
            r"Task 'bad': the model cannot run on the first validation batch "
            r"\(inputs a float32 tensor of shape \(6, 5\)\)",
        ),
    ],
)
def test_bad_datasets_get_one_clear_message(load: object, fields: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        train(bad_task(load, **fields), Strategy(epochs=1), device="cpu")  # type: ignore[arg-type]


def test_a_bad_training_split_is_named_when_it_is_first_read() -> None:
    good = Items((torch.zeros(2), 1))
    task = bad_task(lambda: DatasetSplits(train=Items((torch.zeros(2), 0.5)), val=good, test=good))
    with pytest.raises(TypeError, match=r"Task 'bad': a train batch must be .*class labels"):
        train(task, Strategy(epochs=1), device="cpu")


def test_task_and_loader_options_are_validated() -> None:
    with pytest.raises(ValueError, match="has both load_data and load_datasets"):
        Task(
            name="x",
            build_model=lambda d: nn.Linear(1, 2),
            load_data=lambda: DataSplits(
                x_train=torch.zeros(1, 1),
                y_train=torch.zeros(1),
                x_val=torch.zeros(1, 1),
                y_val=torch.zeros(1),
                x_test=torch.zeros(1, 1),
                y_test=torch.zeros(1),
            ),
            load_datasets=lambda: splits((torch.zeros(1), 0)),
            num_classes=2,
        )
    with pytest.raises(ValueError, match="'persistent_workers' parameter of LoaderOptions needs"):
        LoaderOptions(persistent_workers=True)
    with pytest.raises(ValueError, match="'pin_memory' parameter of LoaderOptions must be a bool"):
        LoaderOptions(pin_memory="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'val' parameter of DatasetSplits must be a torch"):
        DatasetSplits(train=Items(0), val=[1], test=Items(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gives its data as datasets"):
        noisy_task().data()
