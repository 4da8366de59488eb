"""Coupon stock in shards (库存分片): a flash sale puts every claim on the stock, and one
DynamoDB partition takes about 1,000 writes a second, so a large template keeps its stock in
N items, each its own partition. A claim takes one unit from a shard with stock; a raise
spreads over the shards; a lowering takes from the fullest, never below what was claimed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chalicelib.domain.coupons import MAX_SHARDS

STOCK_PER_SHARD = 500  # a shard per 500 of stock, up to MAX_SHARDS, unless the template says


@dataclass
class StockFigures:
    """A template's stock as its shards hold it: stock = claimed + remaining, always."""

    stock: int
    claimed: int
    remaining: int
    per_shard: list[int] = field(default_factory=list)


def shard_count(stock: int, explicit: int | None = None) -> int:
    if explicit is not None:
        return explicit
    return max(1, min(MAX_SHARDS, math.ceil(stock / STOCK_PER_SHARD)))


def spread(amount: int, shards: int) -> list[int]:
    """`amount` over the shards as evenly as integers allow (a new stock, a raise)."""
    share, rest = divmod(amount, shards)
    return [share + (1 if index < rest else 0) for index in range(shards)]


def plan_lowering(remaining: list[int], amount: int) -> list[int] | None:
    """What to take from each shard to lower the stock by `amount`, the fullest first (level
    them down); None when the shards do not hold that much unclaimed (below what was claimed)."""
    if amount > sum(remaining):
        return None
    if amount <= 0:
        return [0] * len(remaining)
    low, high = 0, max(remaining)
    while low < high:  # the highest level L with sum(max(0, r - L)) >= amount
        middle = (low + high + 1) // 2
        if sum(max(0, r - middle) for r in remaining) >= amount:
            low = middle
        else:
            high = middle - 1
    takes = [max(0, r - low) for r in remaining]
    excess = sum(takes) - amount  # fewer than the shards above the level: one back from each
    for index in sorted(range(len(takes)), key=lambda i: -remaining[i]):
        if excess and takes[index]:
            takes[index] -= 1
            excess -= 1
    return takes


PARTITION_WRITES_PER_SECOND = 1000  # DynamoDB: one partition takes about 1,000 write units a second
TRANSACTION_WRITE_UNITS = 2  # an item written in TransactWriteItems costs two (prepare + commit)


def shards_for(claims: int, seconds: float, *, headroom: float = 2.0) -> int:
    """The shards a sale of `claims` within `seconds` needs: each claim writes one shard item
    in a transaction; `headroom` covers the uneven spread of random picks and the sale's tail,
    when the last shards with stock take every claim."""
    per_second = claims / seconds
    return max(1, math.ceil(per_second * TRANSACTION_WRITE_UNITS * headroom / PARTITION_WRITES_PER_SECOND))
