"""Performance history: every result kept in one store, series per case x metric x hardware class
x branch, and change points found in them.

The store is SQLite (the default, one file under the user's data directory; `--db` chooses).  A
result is stored whole (its JSON document, so it round-trips unchanged) and indexed: one `runs`
row keyed by the digest of the document (adding the same result again is a no-op), with its git
revision (the result's own, else `--revision`), branch, creation time, hardware class (gate's:
arch-flavour-compiler) and suite; one `points` row per case x metric (value, interval, unit, which
way is better, provenance).  Writers take the database's write lock for the whole add
(BEGIN IMMEDIATE, WAL journal, a busy timeout), so CI jobs adding at once queue instead of
corrupting it.  The schema is versioned (PRAGMA user_version) and migrated forward on open.

Change points come from Apache Otava (the e-divisive means family with a Student t significance
test, as Hunter and MongoDB's tooling use); nothing statistical is written here.  A series is one
case x metric of one hardware class and branch, in the order the results were created; hardware
classes and branches are never mixed.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .errors import BmbenchError
from .results import RunResult, hardware_class, load, to_dict

MIGRATIONS = [  # index i brings a database from user_version i to i + 1
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,      -- sha256 of the canonical JSON document
        revision TEXT NOT NULL,
        branch TEXT NOT NULL,
        created TEXT NOT NULL,            -- the result's creation time (ISO 8601)
        added TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        hardware_class TEXT NOT NULL,
        suite TEXT NOT NULL,
        document TEXT NOT NULL            -- the whole result, as written
    );
    CREATE TABLE points (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        case_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        low REAL,
        high REAL,
        unit TEXT,
        better TEXT NOT NULL,
        provenance TEXT NOT NULL,
        PRIMARY KEY (run_id, case_id, metric)
    );
    CREATE INDEX points_series ON points (case_id, metric);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
DEFAULT_PVALUE = 1e-4  # per series; a store holds hundreds of series, so stricter than Otava's 1e-3
WINDOW = 50            # Otava's sliding window (points)


def default_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "bmbench" / "history.sqlite"


def _digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Store:
    """The results store in a SQLite file (created with its directory on first use)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise BmbenchError(f"history database {self.path}: {e} (not a bmbench history database, or damaged)") from None
        except OSError as e:
            raise BmbenchError(f"history database {self.path}: {e.strerror or e}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _migrate(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BmbenchError(f"history database {self.path} has schema {version}, newer than this "
                                   f"bmbench's {SCHEMA_VERSION}: upgrade bmbench")
            for v in range(version, SCHEMA_VERSION):
                for stmt in filter(str.strip, MIGRATIONS[v].split(";")):
                    self.db.execute(stmt)
                self.db.execute(f"PRAGMA user_version = {v + 1}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add(self, run: RunResult, revision: str | None = None, branch: str | None = None) -> bool:
        """Store one result; False if this very document is already stored."""
        rev = run.git_revision or revision
        if not rev:
            raise BmbenchError("the result records no git revision: pass --revision")
        doc = to_dict(run)
        try:
            self.db.execute("BEGIN IMMEDIATE")  # the write lock for the whole add
            try:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO runs (digest, revision, branch, created, hardware_class, suite, document) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (_digest(doc), rev, branch or "main", run.created, hardware_class(run), run.suite, json.dumps(doc)))
                if cur.rowcount == 1:
                    self.db.executemany(
                        "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(cur.lastrowid, c.case_id, name, m.value, m.low, m.high, m.unit, m.better, m.provenance)
                         for c in run.ok_cases() for name, m in c.metrics.items() if m.value is not None])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
            raise BmbenchError(f"history database {self.path}: {e}") from None
        return cur.rowcount == 1

    def documents(self) -> list[dict]:
        return [json.loads(d) for (d,) in self.db.execute("SELECT document FROM runs ORDER BY created, id")]

    def points(self, case: str | None = None, metric: str | None = None, since: str | None = None,
               branch: str | None = None, measured_only: bool = False):
        """The stored points as a DataFrame, oldest first: revision, branch, created, hardware_class,
        suite, case_id, metric, value, low, high, unit, better, provenance.  `case` and `metric` are
        SQL GLOB patterns (`*` and `?`)."""
        import pandas as pd
        where, args = [], []
        for col, val in (("p.case_id", case), ("p.metric", metric)):
            if val:
                where.append(f"{col} GLOB ?")
                args.append(val)
        if since:
            where.append("r.created >= ?")
            args.append(since)
        if branch:
            where.append("r.branch = ?")
            args.append(branch)
        if measured_only:
            where.append("p.provenance = 'measured'")
        sql = ("SELECT r.revision, r.branch, r.created, r.hardware_class, r.suite, p.case_id, p.metric, p.value, "
               "p.low, p.high, p.unit, p.better, p.provenance FROM points p JOIN runs r ON r.id = p.run_id"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.created, r.id")
        try:
            return pd.read_sql_query(sql, self.db, params=args)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:
            raise BmbenchError(f"history database {self.path}: {e}") from None


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
    def regression(self) -> bool:
        return (self.change_pct < 0) == (self.better == "higher")


def series(df):
    """(hardware_class, branch, case_id, metric) -> its rows, oldest first."""
    return df.groupby(["hardware_class", "branch", "case_id", "metric"], sort=True)


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
        key = (cp.hardware_class, cp.branch, cp.case_id, cp.metric)
        if key not in newest or cp.index > newest[key].index:
            newest[key] = cp
    return [cp for cp in newest.values() if cp.regression and abs(cp.change_pct) > threshold_pct]
