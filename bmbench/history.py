"""Performance history: every result kept in one store, series per case x metric x hardware class
x branch, and change points found in them.

The store is SQLite (the default, one file under the user's data directory; `--db` chooses), or
PostgreSQL for a fleet of runners (`--db postgresql://...`, through pg8000).  A result is stored whole (its JSON document, so it round-trips unchanged) and indexed: one `runs`
row keyed by the digest of the document (adding the same result again is a no-op), with its git
revision (the result's own, else `--revision`), branch, creation time, hardware class (gate's:
arch-flavour-compiler) and suite; one `points` row per case x metric (value, interval, unit, which
way is better, provenance).  Writers take the database's write lock for the whole add
(SQLite: BEGIN IMMEDIATE, WAL journal, a busy timeout; PostgreSQL: a transaction-scoped advisory
lock), so CI jobs adding at once queue instead of corrupting it.  The schema is versioned (table
bmbench_schema) and migrated forward on open.

Change points come from Apache Otava (the e-divisive means family with a Student t significance
test, as Hunter and MongoDB's tooling use); nothing statistical is written here.  A series is one
case x metric of one hardware class and branch, in the order the results were created; hardware
classes and branches are never mixed.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import BmbenchError
from .results import RunResult, hardware_class, load, to_dict

# Each migration brings a store from version i to i + 1; {id} and {float} are the dialect's types.
MIGRATIONS = [
    """
    CREATE TABLE runs (
        id {id},
        digest TEXT NOT NULL UNIQUE,      -- sha256 of the canonical JSON document
        revision TEXT NOT NULL,
        branch TEXT NOT NULL,
        created TEXT NOT NULL,            -- the result's creation time (ISO 8601)
        added TEXT NOT NULL,
        hardware_class TEXT NOT NULL,
        suite TEXT NOT NULL,
        document TEXT NOT NULL            -- the whole result, as written
    );
    CREATE TABLE points (
        run_id BIGINT NOT NULL REFERENCES runs(id),
        case_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        value {float} NOT NULL,
        low {float},
        high {float},
        unit TEXT,
        better TEXT NOT NULL,
        provenance TEXT NOT NULL,
        PRIMARY KEY (run_id, case_id, metric)
    );
    CREATE INDEX points_series ON points (case_id, metric)
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
DEFAULT_PVALUE = 1e-4  # per series; a store holds hundreds of series, so stricter than Otava's 1e-3
WINDOW = 50            # Otava's sliding window (points)
COLUMNS = ("revision", "branch", "created", "hardware_class", "suite", "case_id", "metric", "value", "low", "high",
           "unit", "better", "provenance")


def default_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "bmbench" / "history.sqlite"


def _digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _Sqlite:
    types = dict(id="INTEGER PRIMARY KEY", float="REAL")

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
        self.con.execute("PRAGMA foreign_keys=ON")

    def begin_write(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first write: adds queue

    @staticmethod
    def sql(q: str) -> str:
        return q


class _Postgres:
    types = dict(id="BIGSERIAL PRIMARY KEY", float="DOUBLE PRECISION")

    def __init__(self, url: str):
        import pg8000.dbapi
        from urllib.parse import unquote, urlsplit
        u = urlsplit(url)
        self.con = pg8000.dbapi.connect(user=unquote(u.username or "postgres"), password=unquote(u.password or "") or None,
                                        host=u.hostname or "localhost", port=u.port or 5432,
                                        database=unquote(u.path.lstrip("/")) or "postgres", timeout=60)
        self.con.autocommit = True

    def begin_write(self, cur) -> None:
        cur.execute("BEGIN")
        cur.execute("SELECT pg_advisory_xact_lock(20261206)")  # one writer at a time, as SQLite

    @staticmethod
    def sql(q: str) -> str:
        return q.replace("?", "%s")


class Store:
    """The results store: a SQLite file (created with its directory on first use), or a PostgreSQL
    database (`postgresql://user:password@host:port/dbname`) shared by many runners."""

    def __init__(self, db: str | os.PathLike | None = None):
        text = str(db) if db else str(default_db())
        self.path = text if text.startswith(("postgresql://", "postgres://")) else Path(text)
        try:
            self.backend = _Sqlite(self.path) if isinstance(self.path, Path) else _Postgres(text)
            self._migrate()
        except ImportError:
            raise BmbenchError("a PostgreSQL history needs pg8000: pip install 'bmbench[postgresql]'") from None
        except _db_errors() as e:
            raise BmbenchError(f"history database {self.path}: {_one_line(e)} (not reachable, not a bmbench "
                               "history database, or damaged)") from None
        except OSError as e:
            raise BmbenchError(f"history database {self.path}: {e.strerror or e}") from None

    def close(self) -> None:
        self.backend.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, work):
        """work(cursor) inside one write transaction, rolled back on any error."""
        cur = self.backend.con.cursor()
        self.backend.begin_write(cur)
        try:
            out = work(cur)
            cur.execute("COMMIT")
            return out
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        def work(cur):
            cur.execute("CREATE TABLE IF NOT EXISTS bmbench_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM bmbench_schema")
            row = cur.fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise BmbenchError(f"history database {self.path} has schema {version}, newer than this "
                                   f"bmbench's {SCHEMA_VERSION}: upgrade bmbench")
            for v in range(version, SCHEMA_VERSION):
                for stmt in filter(str.strip, MIGRATIONS[v].format(**self.backend.types).split(";")):
                    cur.execute(stmt)
            if row is None:
                cur.execute(self.backend.sql("INSERT INTO bmbench_schema VALUES (?)"), (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                cur.execute(self.backend.sql("UPDATE bmbench_schema SET version = ?"), (SCHEMA_VERSION,))
        self._write(work)

    def add(self, run: RunResult, revision: str | None = None, branch: str | None = None) -> bool:
        """Store one result; False if this very document is already stored."""
        rev = run.git_revision or revision
        if not rev:
            raise BmbenchError("the result records no git revision: pass --revision")
        doc = to_dict(run)
        q = self.backend.sql

        def work(cur):
            cur.execute(q("INSERT INTO runs (digest, revision, branch, created, added, hardware_class, suite, document) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING RETURNING id"),
                        (_digest(doc), rev, branch or "main", run.created,
                         datetime.now(timezone.utc).isoformat(timespec="seconds"), hardware_class(run), run.suite,
                         json.dumps(doc)))
            row = cur.fetchone()
            if row is None:
                return False
            cur.executemany(q("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            [(row[0], c.case_id, name, m.value, m.low, m.high, m.unit, m.better, m.provenance)
                             for c in run.ok_cases() for name, m in c.metrics.items() if m.value is not None])
            return True
        try:
            return self._write(work)
        except _db_errors() as e:
            raise BmbenchError(f"history database {self.path}: {_one_line(e)}") from None

    def _query(self, sql: str, args=()) -> list[tuple]:
        try:
            cur = self.backend.con.cursor()
            cur.execute(self.backend.sql(sql), tuple(args))
            return [tuple(r) for r in cur.fetchall()]
        except _db_errors() as e:
            raise BmbenchError(f"history database {self.path}: {_one_line(e)}") from None

    def documents(self) -> list[dict]:
        return [json.loads(d) for (d,) in self._query("SELECT document FROM runs ORDER BY created, id")]

    def points(self, case: str | None = None, metric: str | None = None, since: str | None = None,
               branch: str | None = None, measured_only: bool = False):
        """The stored points as a DataFrame (COLUMNS), oldest result first; `case` and `metric` are
        shell-style patterns (`*`, `?`, `[..]`)."""
        import pandas as pd
        where, args = [], []
        if since:
            where.append("r.created >= ?")
            args.append(since)
        if branch:
            where.append("r.branch = ?")
            args.append(branch)
        if measured_only:
            where.append("p.provenance = 'measured'")
        rows = self._query(
            "SELECT r.revision, r.branch, r.created, r.hardware_class, r.suite, p.case_id, p.metric, p.value, p.low, "
            "p.high, p.unit, p.better, p.provenance FROM points p JOIN runs r ON r.id = p.run_id"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.created, r.id", args)
        df = pd.DataFrame([list(r) for r in rows], columns=list(COLUMNS))
        for col, pattern in (("case_id", case), ("metric", metric)):
            if pattern:
                df = df[[fnmatch.fnmatchcase(v, pattern) for v in df[col]]]
        return df.astype({c: "float64" for c in ("value", "low", "high")}).reset_index(drop=True)


def _db_errors() -> tuple:
    """What the database drivers raise (a bad file, a refused connection, bad credentials, SQL)."""
    try:
        import pg8000.dbapi
        return (sqlite3.Error, pg8000.dbapi.Error)
    except ImportError:
        return (sqlite3.Error,)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def add_files(store: Store, paths: list[str], revision: str | None = None, branch: str | None = None) -> list[tuple[str, bool]]:
    """Every result file is read and checked before any is stored."""
    runs = [(p, load(p)) for p in paths]
    return [(p, store.add(run, revision=revision, branch=branch)) for p, run in runs]


# ------------------------------------------------------------------------------ change points
@dataclass(frozen=True)
class ChangePoint:
    hardware_class: str
    branch: str
    case_id: str
    metric: str
    revision: str      # the first revision of the new level
    created: str
    index: int         # its position in the series
    before: float      # mean of the level before / after
    after: float
    change_pct: float  # (after - before) / before, in %
    pvalue: float
    better: str
    unit: str

    @property
    def series(self) -> tuple:
        """The series it belongs to (SERIES' values)."""
        return (self.hardware_class, self.branch, self.case_id, self.metric)

    @property
    def regression(self) -> bool:
        return (self.change_pct < 0) == (self.better == "higher")


SERIES = ["hardware_class", "branch", "case_id", "metric"]  # what makes one series: classes never mixed


def series(df):
    """SERIES' values -> its rows, oldest first."""
    return df.groupby(SERIES, sort=True)


def change_points(df, pvalue: float = DEFAULT_PVALUE) -> list[ChangePoint]:
    """Every significant change point of every series of the points frame (Otava)."""
    from otava.analysis import compute_change_points
    out = []
    for (hw, br, case, metric), s in series(df):
        values = s["value"].tolist()
        if len(values) < 3:
            continue
        cps, _ = compute_change_points(values, window_len=WINDOW, max_pvalue=pvalue)
        for cp in cps:
            row = s.iloc[cp.index]
            out.append(ChangePoint(
                hardware_class=hw, branch=br, case_id=case, metric=metric, revision=row["revision"],
                created=row["created"], index=int(cp.index), before=float(cp.stats.mean_before()),
                after=float(cp.stats.mean_after()), change_pct=float(cp.stats.forward_change_percent()),
                pvalue=float(cp.stats.pvalue), better=row["better"], unit=row["unit"] or ""))
    return out


def gate(cps: list[ChangePoint], threshold_pct: float) -> list[ChangePoint]:
    """The series whose newest change point is a regression beyond the threshold."""
    newest: dict[tuple, ChangePoint] = {}
    for cp in cps:
        if cp.series not in newest or cp.index > newest[cp.series].index:
            newest[cp.series] = cp
    return [cp for cp in newest.values() if cp.regression and abs(cp.change_pct) > threshold_pct]
