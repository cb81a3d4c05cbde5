"""The key-value store adapters keep short-lived state in: claims, expiry, purging."""

from __future__ import annotations

import datetime as dt

from app.wiring import App
from storage.kv import kv_add, kv_delete, kv_get, kv_live, kv_peek, kv_purge_expired, kv_put


def test_a_claim_holds_until_it_expires_and_expired_rows_are_purged_by_prefix(app: App) -> None:
    db, now = app.db, app.services.clock.now()
    soon, later = now + dt.timedelta(minutes=1), now + dt.timedelta(hours=1)
    assert kv_add(db, "wechat:pending:1", "first", soon, now)
    assert not kv_add(db, "wechat:pending:1", "second", soon, now)  # held: one claim
    assert kv_get(db, "wechat:pending:1", now) == "first"
    assert kv_peek(db, "wechat:pending:1") == "first"
    # after its expiry the key may be claimed again
    assert kv_add(db, "wechat:pending:1", "third", later, soon + dt.timedelta(seconds=1))
    kv_put(db, "wechat:pending:2", "gone soon", soon)
    kv_put(db, "wecom:card:9", "a card", soon)
    kv_put(db, "other:1", "not ours", soon)
    past = soon + dt.timedelta(seconds=1)
    assert kv_live(db, "wechat:pending:", past) == ["third"]
    assert kv_purge_expired(db, ("wechat:", "wecom:card:"), past) == 2
    assert kv_get(db, "other:1", now) == "not ours"  # another prefix is left alone
    kv_delete(db, "wechat:pending:1")
    assert kv_get(db, "wechat:pending:1", now) is None
