"""The rocksdict store writes exactly the documented byte layout (``tables.aggstore.keys``)."""

from __future__ import annotations

from pathlib import Path

from rocksdict import Options, Rdict

from tables.aggstore import RocksAggregateStore, WindowAggregate
from tables.aggstore.keys import encode_key
from tables.aggstore.rocks import encode_value


def test_put_many_writes_encode_key_and_encode_value_bytes(tmp_path: Path) -> None:
    db = Rdict(str(tmp_path / "agg"), options=Options(raw_mode=True))
    store = RocksAggregateStore(db=db)
    records = [
        WindowAggregate("clicks", "web|de", 60_000, 120_000, {"n.count": 3, "v.sum": 1.5}, False),
        WindowAggregate("clicks.v2", "é|x", 0, 60_000, {"n.count": 1}, True),
        WindowAggregate("clicks", "", 2**40, 2**40 + 60_000, {}, True),
    ]
    assert store.put_many(records) == 3
    expected = {encode_key(r.metric, r.start_ms, r.key): encode_value(r) for r in records}
    assert dict(db.items()) == expected
    assert list(store.range("clicks", 0, 2**41)) == [records[0], records[2]]
    store.close()
