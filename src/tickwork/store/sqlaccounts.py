"""Users, API tokens, the audit log and run-time control in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tickwork.domain.access import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    NewAuditEntry,
    Role,
    Scope,
    User,
)
from tickwork.errors import ConflictError, NotFoundError
from tickwork.store import rows
from tickwork.store.base import ControlState
from tickwork.store.sql import audit, control, tokens, users
from tickwork.store.sqlbase import SqlBase

# Columns of a token joined with its user's name (list_tokens, get_token, revoke_token).
_TOKEN_WITH_USER = sa.select(tokens, users.c.name.label("user_name")).join(
    users, users.c.id == tokens.c.user_id
)


class SqlAccounts(SqlBase):
    """The Store protocol's accounts, audit and control methods."""

    # --- run-time control --------------------------------------------------------------------
    async def get_control(self) -> ControlState:
        return await self._call_read(self._get_control)

    def _get_control(self) -> ControlState:
        with self._read() as conn:
            return rows.control_from_rows(conn.execute(sa.select(control)).mappings().all())

    async def set_control(self, state: ControlState) -> ControlState:
        return await self._call(self._set_control, state)

    def _set_control(self, state: ControlState) -> ControlState:
        # Every field is written (a default as its value), so the state keeps who changed it
        # last even when that change was back to the defaults.
        now = state.updated_at
        if now is None:
            raise ValueError("set_control needs updated_at")
        values = [
            {
                "name": name,
                "value": getattr(state, name),
                "updated_at": now,
                "updated_by": state.updated_by,
            }
            for name in rows.CONTROL_FIELDS
        ]
        insert = self._dialect_insert(control)
        stmt = insert.on_conflict_do_update(
            index_elements=[control.c.name],
            set_={
                "value": insert.excluded.value,
                "updated_at": insert.excluded.updated_at,
                "updated_by": insert.excluded.updated_by,
            },
        )
        with self._write() as conn:
            for value in values:
                conn.execute(stmt, value)
            return rows.control_from_rows(conn.execute(sa.select(control)).mappings().all())

    # --- users -------------------------------------------------------------------------------
    async def create_user(
        self, name: str, password_hash: str | None, role: Role, now: datetime
    ) -> User:
        return await self._call(self._create_user, name, password_hash, role, now)

    def _create_user(self, name: str, password_hash: str | None, role: Role, now: datetime) -> User:
        try:
            with self._write() as conn:
                row = (
                    conn.execute(
                        users.insert()
                        .values(
                            name=name, password_hash=password_hash, role=role.value, created_at=now
                        )
                        .returning(*users.c)
                    )
                    .mappings()
                    .one()
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"a user named {name!r} already exists") from None
        return rows.user_from_row(row)

    async def get_user(self, name: str) -> User | None:
        return await self._call_read(self._get_user, name)

    def _get_user(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        return None if row is None else rows.user_from_row(row)

    async def get_password_hash(self, name: str) -> str | None:
        return await self._call_read(self._get_password_hash, name)

    def _get_password_hash(self, name: str) -> str | None:
        with self._read() as conn:
            found: str | None = conn.execute(
                sa.select(users.c.password_hash).where(
                    users.c.name == name, users.c.disabled_at.is_(None)
                )
            ).scalar()
        return found

    async def set_password_hash(self, name: str, password_hash: str) -> None:
        await self._call(self._set_password_hash, name, password_hash)

    def _set_password_hash(self, name: str, password_hash: str) -> None:
        with self._write() as conn:
            conn.execute(
                users.update().where(users.c.name == name).values(password_hash=password_hash)
            )

    async def list_users(self) -> list[User]:
        return await self._call_read(self._list_users)

    def _list_users(self) -> list[User]:
        with self._read() as conn:
            found = conn.execute(sa.select(users).order_by(users.c.name)).mappings().all()
        return [rows.user_from_row(r) for r in found]

    async def count_users(self) -> int:
        return await self._call_read(self._count_users)

    def _count_users(self) -> int:
        with self._read() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(users).where(users.c.disabled_at.is_(None))
            ).scalar()
        return int(count or 0)

    async def update_user(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled_at: datetime | None = None,
        enable: bool = False,
    ) -> User | None:
        return await self._call(self._update_user, name, role, disabled_at, enable)

    def _update_user(
        self, name: str, role: Role | None, disabled_at: datetime | None, enable: bool
    ) -> User | None:
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role.value
        if disabled_at is not None:
            changes["disabled_at"] = disabled_at
        elif enable:
            changes["disabled_at"] = None
        with self._write() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            if row is None:
                return None
            if changes:
                conn.execute(users.update().where(users.c.id == row["id"]).values(**changes))
            if disabled_at is not None:
                # A disabled user's tokens die with it: re-enabling must not bring them back.
                conn.execute(
                    tokens.update()
                    .where(tokens.c.user_id == row["id"], tokens.c.revoked_at.is_(None))
                    .values(revoked_at=disabled_at)
                )
            updated = conn.execute(sa.select(users).where(users.c.id == row["id"])).mappings().one()
        return rows.user_from_row(updated)

    # --- tokens ------------------------------------------------------------------------------
    async def create_token(
        self,
        user_id: int,
        name: str,
        scopes: frozenset[Scope],
        secret_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiToken:
        return await self._call(
            self._create_token, user_id, name, scopes, secret_hash, expires_at, now
        )

    def _create_token(
        self,
        user_id: int,
        name: str,
        scopes: frozenset[Scope],
        secret_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiToken:
        with self._write() as conn:
            user_name = conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar()
            if user_name is None:
                raise NotFoundError(f"no user with ID {user_id}")
            row = (
                conn.execute(
                    tokens.insert()
                    .values(
                        user_id=user_id,
                        name=name,
                        scopes=sorted(s.value for s in scopes),
                        secret_hash=secret_hash,
                        created_at=now,
                        expires_at=expires_at,
                    )
                    .returning(*tokens.c)
                )
                .mappings()
                .one()
            )
        return rows.token_from_row(row, user_name)

    async def get_token(self, token_id: int) -> tuple[ApiToken, str, User] | None:
        return await self._call_read(self._get_token, token_id)

    def _get_token(self, token_id: int) -> tuple[ApiToken, str, User] | None:
        with self._read() as conn:
            token_row = (
                conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).mappings().first()
            )
            if token_row is None:
                return None
            user_row = (
                conn.execute(sa.select(users).where(users.c.id == token_row["user_id"]))
                .mappings()
                .first()
            )
        if user_row is None:
            return None
        user = rows.user_from_row(user_row)
        return rows.token_from_row(token_row, user.name), token_row["secret_hash"], user

    async def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        return await self._call_read(self._list_tokens, user_name)

    def _list_tokens(self, user_name: str | None) -> list[ApiToken]:
        query = _TOKEN_WITH_USER.order_by(tokens.c.id)
        if user_name is not None:
            query = query.where(users.c.name == user_name)
        with self._read() as conn:
            found = conn.execute(query).mappings().all()
        return [rows.token_from_row(r, r["user_name"]) for r in found]

    async def revoke_token(self, token_id: int, now: datetime) -> ApiToken | None:
        return await self._call(self._revoke_token, token_id, now)

    def _revoke_token(self, token_id: int, now: datetime) -> ApiToken | None:
        with self._write() as conn:
            conn.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return self._token_with_user(conn, token_id)

    def _token_with_user(self, conn: Any, token_id: int) -> ApiToken | None:
        row = conn.execute(_TOKEN_WITH_USER.where(tokens.c.id == token_id)).mappings().first()
        return None if row is None else rows.token_from_row(row, row["user_name"])

    async def touch_token(self, token_id: int, now: datetime) -> None:
        await self._call(self._touch_token, token_id, now)

    def _touch_token(self, token_id: int, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=now))

    # --- audit -------------------------------------------------------------------------------
    async def add_audit(self, entry: NewAuditEntry) -> int:
        return await self._call(self._add_audit, entry)

    def _add_audit(self, entry: NewAuditEntry) -> int:
        with self._write() as conn:
            new_id = conn.execute(
                audit.insert().values(**rows.audit_values(entry)).returning(audit.c.id)
            ).scalar_one()
        return int(new_id)

    async def add_audits(self, entries: Sequence[NewAuditEntry]) -> None:
        if entries:
            await self._call(self._add_audits, entries)

    def _add_audits(self, entries: Sequence[NewAuditEntry]) -> None:
        with self._write() as conn:
            # One row per statement: IDs follow the given order on both backends.
            for entry in entries:
                conn.execute(audit.insert().values(**rows.audit_values(entry)))

    async def query_audit(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._call_read(self._query_audit, query)

    def _query_audit(self, q: AuditQuery) -> list[AuditEntry]:
        stmt = sa.select(audit)
        if q.actor is not None:
            stmt = stmt.where(audit.c.actor == q.actor)
        if q.action is not None:
            if q.action.endswith("."):
                stmt = stmt.where(audit.c.action.startswith(q.action, autoescape=True))
            else:
                stmt = stmt.where(audit.c.action == q.action)
        if q.target_type is not None:
            stmt = stmt.where(audit.c.target_type == q.target_type)
        if q.target is not None:
            stmt = stmt.where(audit.c.target == q.target)
        if q.since is not None:
            stmt = stmt.where(audit.c.at >= q.since)
        if q.until is not None:
            stmt = stmt.where(audit.c.at < q.until)
        if q.before_id is not None:
            stmt = stmt.where(audit.c.id < q.before_id)
        if q.after_id is not None:
            stmt = stmt.where(audit.c.id > q.after_id).order_by(audit.c.id)
        else:
            stmt = stmt.order_by(audit.c.id.desc())
        with self._read() as conn:
            found = conn.execute(stmt.limit(q.limit)).mappings().all()
        return [rows.audit_from_row(r) for r in found]
