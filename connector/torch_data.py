"""PyTorch access to a staged version: an ``IterableDataset`` of column tensors.

Needs ``torch`` (not a dependency of the service). Each data-loader worker reads its own share
of the part files, so with ``num_workers=N`` every row is read exactly once::

    from torch.utils.data import DataLoader
    from connector.torch_data import StagedBatches

    loader = DataLoader(StagedBatches(path, columns=["age", "lvef"]), batch_size=None, num_workers=2)
    for batch in loader:      # {"age": tensor([...]), "lvef": tensor([...])}
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import torch
from torch.utils.data import IterableDataset, get_worker_info

from connector.client import SCAN_DEFAULTS, open_dataset


class StagedBatches(IterableDataset):
    """Record batches of a staged version as ``{column: tensor}``; numeric and boolean columns
    only (nulls in float columns become NaN; other columns with nulls are refused)."""

    def __init__(self, path_or_url: str, *, columns: Sequence[str], batch_size: int = 65_536,
                 verify: bool = False, **open_options: Any) -> None:
        super().__init__()
        self.path_or_url, self.columns, self.batch_size = path_or_url, list(columns), batch_size
        self.verify, self.open_options = verify, open_options

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        dataset = open_dataset(self.path_or_url, verify=self.verify, **self.open_options)
        missing = [c for c in self.columns if c not in dataset.schema.names]
        if missing:
            raise KeyError(f"the staged version has no column(s) {', '.join(missing)}")
        fragments = list(dataset.get_fragments())
        worker = get_worker_info()
        if worker is not None:
            fragments = fragments[worker.id::worker.num_workers]
        for fragment in fragments:
            for batch in fragment.to_batches(columns=self.columns, batch_size=self.batch_size,
                                             batch_readahead=SCAN_DEFAULTS["batch_readahead"]):
                yield {name: _tensor(name, batch.column(name)) for name in self.columns}


def _tensor(name: str, column: pa.Array) -> torch.Tensor:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise TypeError(f"column {name!r} is {kind}; only numbers and booleans become tensors")
    if column.null_count and not pa.types.is_floating(kind):
        raise ValueError(f"column {name!r} has {column.null_count} nulls; fill or drop them first")
    return torch.from_numpy(column.to_numpy(zero_copy_only=False, writable=True))
