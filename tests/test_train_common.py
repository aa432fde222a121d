"""The training loop's shared log and timing pieces (moscale.train.common)."""
from __future__ import annotations

import csv

import torch

from moscale.train import common


class Bar:
    def __init__(self):
        self.postfix = None

    def set_postfix(self, **kwargs):
        self.postfix = kwargs


RUNTIME = common.Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def test_running_means_log_one_row_per_interval(tmp_path, capsys):
    log, bar = common.LossLog(tmp_path / "log.csv"), Bar()
    means = common.RunningMeans(RUNTIME, log, bar, {"loss": "{loss:.2f}"}, ("loss", "lr"), echo=True)
    means.add({"loss": 1.0, "accuracy": 0.5})
    means.add({"loss": 3.0, "accuracy": 1.0})
    row = means.flush(step=2, lr=0.1)
    assert row == {"loss": 2.0, "accuracy": 0.75, "step": 2, "lr": 0.1}
    assert bar.postfix == {"loss": "2.00"}
    assert capsys.readouterr().out == "step 2: loss=2 lr=0.1\n"
    means.add({"loss": 5.0, "accuracy": 0.0})
    assert means.flush(step=3, lr=0.1)["loss"] == 5.0  # a new interval: the old sums are gone
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [(r["step"], r["loss"]) for r in rows] == [("2", "2.0"), ("3", "5.0")]


def test_running_means_off_the_main_process_log_nothing(capsys):
    means = common.RunningMeans(RUNTIME, None, Bar(), {"loss": "{loss:.2f}"}, ("loss",), echo=True)
    means.add({"loss": 1.0})
    assert means.flush(step=1) == {"loss": 1.0, "step": 1}
    assert capsys.readouterr().out == ""


def test_is_due_every_n_and_at_the_end():
    assert [s for s in range(1, 8) if common.is_due(s, 3, 7)] == [3, 6, 7]
    assert [s for s in range(1, 8) if common.is_due(s, 0, 7)] == [7]


def test_stopwatch_leaves_out_paused_time(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(common.time, "perf_counter", lambda: now[0])
    clock = common.Stopwatch(10.0)  # 10 s carried over from a resumed run
    now[0] += 2.0
    with clock.paused():
        assert clock.seconds() == 12.0
        now[0] += 5.0  # saving: not counted
        assert clock.seconds() == 12.0
    now[0] += 1.0
    assert clock.seconds() == 13.0
