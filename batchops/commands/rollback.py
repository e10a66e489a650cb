"""``batchops batch-trailer ID``: the line a batch PR's body carries so its squash commit names the batch."""

from __future__ import annotations

import argparse

from batchops.adapters import runner
from batchops.core.rollback import batch_line, validate_batch_id
from batchops.flags import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batch_id", metavar="BATCH_ID", help="the batch id, e.g. 2026-05-01-npm")


def _run(args: argparse.Namespace) -> int:
    runner.out(batch_line(validate_batch_id(args.batch_id, field="BATCH_ID")))
    return 0


TRAILER = Command(
    help="print the `batch_id: ID` line for a batch PR's body (the squash commit then names the batch)",
    configure=_configure,
    run=_run,
)
