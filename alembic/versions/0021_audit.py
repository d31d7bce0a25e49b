"""audit keyed chain

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 19:10:00

Rows get a MAC of their own (`row_mac`); the head records where the unkeyed chain of before ends
(`legacy_seq`), the pruning base and its own MAC (`mark`). Rows still waiting for the sealer at the
upgrade were written without a key: they are sealed here the old way, so the legacy chain is closed
and every later row is keyed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import riskcontrol.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64

audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("at", riskcontrol.core.db.UTCDateTime(timezone=True)),
    sa.column("actor_user_id", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
audit_head = sa.table(
    "audit_head",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String()),
    sa.column("last_id", sa.Integer()),
    sa.column("legacy_seq", sa.BigInteger()),
    sa.column("base_seq", sa.BigInteger()),
    sa.column("base_hash", sa.String()),
)


def _legacy_hash(prev_hash: str, seq: int, row: sa.Row[tuple[object, ...]]) -> str:
    """The unkeyed link as the code before this revision computed it (frozen here on purpose)."""
    content = {
        "seq": seq,
        "at": row.at.isoformat(timespec="microseconds"),
        "actor_user_id": row.actor_user_id,
        "actor": row.actor,
        "action": row.action,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "outcome": row.outcome,
        "detail": row.detail,
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _close_legacy_chain() -> None:
    bind = op.get_bind()
    head = bind.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    seq, last_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    waiting = bind.execute(sa.select(audit_log).where(audit_log.c.seq.is_(None)).order_by(audit_log.c.id)).all()
    last_id = None
    for row in waiting:
        seq += 1
        new_hash = _legacy_hash(last_hash, seq, row)
        bind.execute(sa.update(audit_log).where(audit_log.c.id == row.id).values(seq=seq, prev_hash=last_hash, hash=new_hash))
        last_hash, last_id = new_hash, row.id
    values = {"legacy_seq": seq, "base_seq": 0, "base_hash": GENESIS_HASH}
    if head is None:
        bind.execute(sa.insert(audit_head).values(id=1, seq=seq, hash=last_hash, last_id=last_id, **values))
    elif last_id is not None:
        bind.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=last_hash, last_id=last_id, **values))
    else:
        bind.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_mac", sa.String(length=64), nullable=True))
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("base_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("base_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mark", sa.String(length=64), nullable=True))
    _close_legacy_chain()
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.alter_column("legacy_seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("base_seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("base_hash", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    # Keyed links do not verify the old way: a downgraded database keeps its rows but not their proof.
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("mark")
        batch_op.drop_column("base_hash")
        batch_op.drop_column("base_seq")
        batch_op.drop_column("legacy_seq")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("row_mac")
