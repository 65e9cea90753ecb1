"""Training jobs read a staged version through a PyTorch DataLoader, each row exactly once."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from connector.torch_data import StagedBatches
from tests.staging.conftest import stage

ROWS = 5000


@pytest.mark.parametrize("workers", [0, 2])
def test_every_row_is_read_once_whatever_the_number_of_workers(tier, workers):
    published = stage(tier, rows=ROWS)
    assert len(published.files) >= 2  # several parts, so workers share them
    loader = DataLoader(StagedBatches(published.url, columns=["id", "lvef", "consent"],
                                      batch_size=700), batch_size=None, num_workers=workers)
    ids: list[int] = []
    nan = 0
    for batch in loader:
        assert batch["id"].dtype == torch.int64 and batch["lvef"].dtype == torch.float64
        ids.extend(batch["id"].tolist())
        nan += int(torch.isnan(batch["lvef"]).sum())
    assert sorted(ids) == list(range(ROWS))
    assert nan == math.ceil(ROWS / 10)  # the nulls of a float column arrive as NaN


def test_text_columns_and_unknown_columns_are_refused_by_name(tier):
    published = stage(tier, rows=100)
    with pytest.raises(TypeError, match="'site'"):
        next(iter(StagedBatches(published.url, columns=["site"])))
    with pytest.raises(KeyError, match="nope"):
        next(iter(StagedBatches(published.url, columns=["nope"])))
