"""Bulk writes inside the caller's transaction, for bulk order intake
(services/bulk_intake.py).

On PostgreSQL ids come from the sequences (`draw`, one round trip) and rows go
in with COPY (psycopg's C row formatter). Writes are held until `release()`,
then run in order by a background thread on the transaction's connection (so
it is never used by two threads at once), as do look-ups queued with `call()`;
`sync()` waits until all is done and raises the first error. Elsewhere
(SQLite) rows are written at once with executemany and `RETURNING ...
sort_by_parameter_order`.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Sequence

from sqlalchemy import Table, bindparam, insert, text, update

from qoima.db import tables as t
from qoima.platform.unit_of_work import UnitOfWork


class RowWriter:
    """Bulk writes inside the caller's transaction.

    PostgreSQL: ids come from the sequences (`draw`, one round trip), rows go in with COPY.
    Writes are held until `release()`, then run in order by a background thread on the same
    connection, as do look-ups queued with `call()`; `sync()` waits until all is done (and raises
    the first error). Elsewhere: executemany at once (ids by RETURNING)."""

    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.pg = uow.is_postgres
        self._sequences: dict[str, str] = {}
        self._ids: dict[str, list[int]] = {}
        self._held: list[Callable] = []
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abandon = False

    # ------------------------------------------------------------ ids
    def draw(self, counts: dict[Table, int]) -> dict[str, list[int]]:
        """PostgreSQL: new ids from the tables' sequences (ascending), one query for all the tables.
        The caller hands them to add_ids(); the connection must be free (see call())."""
        wanted = [(table, n) for table, n in counts.items() if n > 0]
        if not self.pg or not wanted:
            return {}
        for table, _ in wanted:
            if table.name not in self._sequences:
                self._sequences[table.name] = self.uow.execute(
                    text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
        sql = "SELECT " + ", ".join(
            f"ARRAY(SELECT nextval(CAST(:s{i} AS regclass)) FROM generate_series(1, :n{i}))"
            for i in range(len(wanted)))
        params = {}
        for i, (table, n) in enumerate(wanted):
            params[f"s{i}"], params[f"n{i}"] = self._sequences[table.name], n
        row = self.uow.execute(text(sql), params).one()
        return {table.name: sorted(ids) for (table, _), ids in zip(wanted, row)}

    def add_ids(self, drawn: dict[str, list[int]]) -> None:
        """Ids for the next inserts (after those not used yet: still ascending)."""
        for name, ids in drawn.items():
            self._ids.setdefault(name, []).extend(ids)

    def _take_ids(self, table: Table, n: int) -> list[int]:
        pool = self._ids.get(table.name, [])
        if len(pool) < n:  # not expected (look-ups draw enough), but never short
            self.sync()
            self.add_ids(self.draw({table: n - len(pool)}))
            pool = self._ids[table.name]
        taken, self._ids[table.name] = pool[:n], pool[n:]
        return taken

    # ------------------------------------------------------------ writes
    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple], ids: bool = False) -> list[int]:
        """Insert rows (tuples in `columns` order); with ids=True return the new ids in row order."""
        if not rows:
            return []
        if not self.pg:
            values = [dict(zip(columns, r)) for r in rows]
            if ids:
                return self.uow.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                        values).scalars().all()
            self.uow.execute(insert(table), values)
            return []
        new_ids: list[int] = []
        if ids:
            new_ids = self._take_ids(table, len(rows))
            rows = [(i, *r) for i, r in zip(new_ids, rows)]
            columns = ("id", *columns)
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"

        def copy(cursor) -> None:
            with cursor.copy(statement) as cp:
                write = cp.write_row
                for r in rows:
                    write(r)
        self._held.append(copy)
        return new_ids

    def add_reserved(self, per_stock: list[tuple[int, int]]) -> None:
        """stock.reserved += n for (stock id, n), atomically in SQL (the CHECK refuses too much)."""
        if not self.pg:
            self.uow.execute(update(t.stock).where(t.stock.c.id == bindparam("sid"))
                             .values(reserved=t.stock.c.reserved + bindparam("n")),
                             [{"sid": sid, "n": n} for sid, n in per_stock])
            return
        ids, ns = [s for s, _ in per_stock], [n for _, n in per_stock]
        self._held.append(lambda cursor: cursor.execute(
            "UPDATE stock SET reserved = stock.reserved + v.n FROM unnest(%s::bigint[], %s::integer[]) AS v(id, n) "
            "WHERE stock.id = v.id", (ids, ns)))

    def update_customers(self, rows: list[tuple[int, str | None, str | None]]) -> None:
        """(id, phone, email): contacts filled in on stored customers."""
        if not self.pg:
            self.uow.execute(update(t.customers).where(t.customers.c.id == bindparam("cid"))
                             .values(phone=bindparam("new_phone"), email=bindparam("new_email")),
                             [{"cid": cid, "new_phone": p, "new_email": e} for cid, p, e in rows])
            return
        cols = [list(c) for c in zip(*rows)]
        self._held.append(lambda cursor: cursor.execute(
            "UPDATE customers SET phone = v.phone, email = v.email "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, phone, email) WHERE customers.id = v.id",
            cols))

    def execute(self, sql: str) -> None:
        if not self.pg:
            self.uow.execute(text(sql))
            return
        self._held.append(lambda cursor: cursor.execute(sql))

    # ------------------------------------------------------------ the background thread
    def call(self, fn: Callable[[], object]) -> "_Call":
        """Run fn (statements of our own) on the connection: on PostgreSQL in the background thread,
        after what was released before and before what is released next; elsewhere at once.
        `.result()` waits for it and returns fn's value (or raises its error, or an earlier write's)."""
        done = _Call(fn)
        if not self.pg:
            done.run()
            return done
        self._start()
        self._queue.put(done)
        return done

    def in_worker(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def release(self) -> None:
        """Hand the held writes to the background thread (in order)."""
        if not self._held:
            return
        self._start()
        for job in self._held:
            self._queue.put(job)
        self._held = []

    def _start(self) -> None:
        if self._queue is None:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="qoima-bulk-copy", daemon=True)
            self._thread.start()

    def sync(self) -> None:
        """Wait until the released writes are done; raise the first error."""
        if self._queue is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the thread; writes still held or queued (after an error) are dropped."""
        self._held = []
        if self._queue is None:
            return
        self._abandon = True
        self._queue.put(None)
        self._thread.join()
        self._queue = self._thread = None

    def _run(self) -> None:
        cursor = self.uow.conn.connection.driver_connection.cursor()
        try:
            while True:
                job = self._queue.get()
                try:
                    if job is None:
                        return
                    if self._error is not None or self._abandon:
                        if isinstance(job, _Call):
                            job.fail(self._error or RuntimeError("bulk intake closed"))
                    elif isinstance(job, _Call):
                        job.run()
                        if job.error is not None:
                            self._error = job.error
                    else:
                        job(cursor)
                except BaseException as exc:  # noqa: BLE001 - raised by sync() in the caller's thread
                    self._error = exc
                finally:
                    self._queue.task_done()
        finally:
            cursor.close()


class _Call:
    """A function run by RowWriter.call, and its outcome."""

    def __init__(self, fn: Callable[[], object]):
        self.fn, self.value, self.error = fn, None, None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # noqa: BLE001 - raised by result() in the caller's thread
            self.error = exc
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._done.set()

    def result(self):
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.value
