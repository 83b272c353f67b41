#!/usr/bin/env python3
"""The fleet view of proxy407 records, on Spark.

Reads a records directory written by ``proxy407 ... --records DIR`` (hive-partitioned
Parquet, ``DIR/episodes/date=.../hour=.../*.parquet`` and ``DIR/transactions/...``, from
any number of sensors and shards: the ``sensor`` column names each) and writes the
tables of ``proxy407 export``: ``users``, ``clients``, ``proxies``, ``targets``,
``causes`` and ``timeline``, each as a Parquet directory ``OUT/<table>/``, with the
columns of ``proxy407 export --format parquet`` in the same order.

    spark-submit contrib/spark/tables.py RECORDS OUT  # on a cluster
    python3 contrib/spark/tables.py RECORDS OUT       # local mode, pip install pyspark

RECORDS and OUT may be any path Spark's Hadoop file systems read (``hdfs://``,
``s3a://``, a local directory).

How each number is made (``docs/verdicts.md`` of proxy407):

- Every per-key column is computed from the episode records as ``src/stats/`` does it:
  the keys (user, or ``(unknown)``; client address; proxy ``ip:port``, ``[v6]:port``;
  target), the sums, the findings (episodes carrying each; for the request findings,
  ``cleartext_basic``, ``ntlmv1``, ``stale_nonce`` and ``oversized_token``, the requests
  showing each, from the transaction records, which also give a row to a key seen only
  in such requests), ``first_seen`` /
  ``last_seen``, the most frequent domain, the sorted distinct lists,
  ``max_failures_10min``, the row order (failed, then episodes, descending, then the
  key).
- Percentiles (``time_to_auth_p50_ms``, ``time_to_auth_p95_ms``) are exact nearest rank
  (§3.8: the ``ceil(p/100*n)``-th smallest value) over the key's authenticated episodes.
  ``export`` is exact up to 32 values per row and within 5 % beyond.
- ``lockout_risk`` (§5.2) is computed across sensors from the transaction records: every
  transaction whose ``lockout_account`` is set is a rejection of final credentials
  counted at its response time; when the rejections of one account within the window
  reach the threshold, every episode that contributed one carries the finding, whichever
  sensor saw it. The episodes of a sensor that wrote no transaction records keep their
  own finding.
- Not applied: the caps of one proxy407 process (``--max-keys`` rows and the ``(other)``
  row, 256 values per list column, the timeline's latest 100,000 minutes), since a
  cluster has no such memory bound.

Types: Spark has no unsigned integers, so the counts that ``export`` writes as UInt64
are written as Int64 here; timestamps are Parquet timestamps in microseconds, UTC; lists
are lists of strings; everything else has the export's type.

A records file whose columns differ from those this job reads (a column missing or of
another type: records of another proxy407 version) is refused with a message naming the
file; a file with extra columns is read without them, and named on standard error."""

import argparse
import re
import sys

CAUSES = [
    "handshake_broken",
    "scheme_mismatch",
    "bad_credentials",
    "no_credentials",
    "denied",
    "connection_closed",
    "no_response",
    "proxy_unreachable",
]

REMEDIES = {
    "handshake_broken": "keep-alive through every hop; sticky load-balancing; "
    "check client proxy settings",
    "scheme_mismatch": "configure the client for a scheme the proxy offers",
    "bad_credentials": "check password, account state, saved credentials; "
    "Kerberos: keytab/SPN/clock",
    "no_credentials": "the application lacks proxy-auth support or has no credentials "
    "configured",
    "denied": "check the proxy access policy, or header size limits for large Kerberos "
    "tokens",
    "connection_closed": "a proxy or network device is dropping connections",
    "no_response": "the proxy is overloaded or the path is broken",
    "proxy_unreachable": "wrong proxy address/port, proxy down, "
    "or a firewall in the way",
}

FINDINGS = [
    "lockout_risk",
    "cleartext_basic",
    "ntlm_fallback",
    "ntlmv1",
    "stale_nonce",
    "oversized_token",
    "capture_gap",
    "domain_mismatch",
]

# Properties of one request's credentials (docs/verdicts.md §5.1): counted per key in the
# requests that show them, from the transaction records' ``findings``.
REQUEST_FINDINGS = ["cleartext_basic", "ntlmv1", "stale_nonce", "oversized_token"]

UNKNOWN_USER = "(unknown)"
TEN_MINUTES_US = 600_000_000
MINUTE_US = 60_000_000
TIMELINE_MAX_DENSE_MINUTES = 100_000
TABLES = ["users", "clients", "proxies", "targets", "causes", "timeline"]
KEY_COLUMN = {
    "users": "user",
    "clients": "client_ip",
    "proxies": "proxy",
    "targets": "target",
}

# The columns of the records as Spark reads them (Parquet UInt64 is decimal(20,0),
# UInt32 is bigint), in the order proxy407 writes them.
EPISODE_COLUMNS = [
    ("episode_id", "decimal(20,0)"),
    ("start_ts", "timestamp"),
    ("end_ts", "timestamp"),
    ("client_ip", "string"),
    ("proxy_ip", "string"),
    ("proxy_port", "bigint"),
    ("target", "string"),
    ("user", "string"),
    ("domain", "string"),
    ("workstation", "string"),
    ("user_source", "string"),
    ("scheme", "string"),
    ("offered_schemes", "array<string>"),
    ("challenges", "bigint"),
    ("credential_attempts", "bigint"),
    ("connections", "bigint"),
    ("outcome", "string"),
    ("cause", "string"),
    ("detail", "string"),
    ("findings", "array<string>"),
    ("final_status", "bigint"),
    ("time_to_auth_ms", "double"),
    ("user_agent", "string"),
    ("capture_file", "string"),
    ("frames", "array<decimal(20,0)>"),
    ("frame_count", "bigint"),
    ("display_filter", "string"),
    ("sensor", "string"),
]

TRANSACTION_COLUMNS = [
    ("ts", "timestamp"),
    ("response_ts", "timestamp"),
    ("conn_id", "decimal(20,0)"),
    ("community_id", "string"),
    ("client_ip", "string"),
    ("client_port", "bigint"),
    ("proxy_ip", "string"),
    ("proxy_port", "bigint"),
    ("method", "string"),
    ("target", "string"),
    ("status", "bigint"),
    ("offered_schemes", "array<string>"),
    ("auth_scheme", "string"),
    ("auth_step", "string"),
    ("user", "string"),
    ("domain", "string"),
    ("workstation", "string"),
    ("user_agent", "string"),
    ("episode_id", "decimal(20,0)"),
    ("lockout_account", "string"),
    ("findings", "array<string>"),
    ("capture_file", "string"),
    ("frames", "array<decimal(20,0)>"),
    ("display_filter", "string"),
    ("sensor", "string"),
]


class RecordsError(Exception):
    """A records directory that cannot be read as this version's records."""


_DURATION_UNITS = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}


def parse_duration_us(text):
    """``10m``, ``600s``, ``1h30m``: the duration in microseconds."""
    parts = re.findall(r"\s*(\d+)\s*([a-z]+)", text)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text):
        raise ValueError(f"{text!r} is not a duration (such as 10m, 600s, 1h)")
    total = 0
    for number, unit in parts:
        if unit not in _DURATION_UNITS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}")
        total += int(number) * _DURATION_UNITS[unit]
    return total


def parse_lockout(text):
    """``COUNT`` or ``COUNT/WINDOW``, as proxy407's ``--lockout-threshold``."""
    count, _, window = text.partition("/")
    try:
        n = int(count.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"count {count!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("the count must be at least 1")
    try:
        w = parse_duration_us(window) if window else TEN_MINUTES_US
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return n, w


def arguments(argv):
    p = argparse.ArgumentParser(
        prog="tables.py",
        description="Write the users, clients, proxies, targets, causes and timeline "
        "tables of proxy407 export from a records directory of any number of "
        "sensors, as Parquet directories OUT/<table>/.",
        epilog="Run with spark-submit on a cluster, or with python3 in local mode. "
        "Lockout risk is counted across sensors from the transaction records "
        "(proxy407 --records-transactions).",
    )
    p.add_argument("records", metavar="RECORDS", help="the records directory")
    p.add_argument("out", metavar="OUT", help="the output directory")
    p.add_argument(
        "--lockout-threshold",
        metavar="N[/D]",
        type=parse_lockout,
        default=(5, TEN_MINUTES_US),
        help="rejected credential attempts of one account within D that raise "
        "lockout_risk, as proxy407's option (default: 5/10m)",
    )
    p.add_argument(
        "--tables",
        metavar="LIST",
        default=",".join(TABLES),
        help="comma-separated tables to write (default: all six)",
    )
    p.add_argument("--force", action="store_true", help="replace tables already in OUT")
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in tables if t not in TABLES]
    if unknown or not tables:
        p.error(f"--tables: unknown table(s) {', '.join(unknown) or '(none)'}")
    args.tables = tables
    return args


# ---- reading -------------------------------------------------------------------------


def list_parquet_files(spark, root):
    """Every ``*.parquet`` file under ``root`` (recursively), through Hadoop's file
    system, leaving out the writers' temporary and hidden files."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(root)
    fs = path.getFileSystem(conf)
    if not fs.exists(path):
        return []
    files = []
    it = fs.listFiles(path, True)
    while it.hasNext():
        p = it.next().getPath()
        name = p.getName()
        if name.endswith(".parquet") and not name.startswith((".", "_")):
            files.append(p.toString())
    return sorted(files)


def footer_schemas(spark, files):
    """The Parquet schema of each file as text, read from its footer through Hadoop's
    file system, eight files at a time."""
    from concurrent.futures import ThreadPoolExecutor

    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    input_file = jvm.org.apache.parquet.hadoop.util.HadoopInputFile
    parquet_reader = jvm.org.apache.parquet.hadoop.ParquetFileReader

    def one(f):
        try:
            r = parquet_reader.open(input_file.fromPath(hadoop_path(f), conf))
        except Exception as e:
            java = getattr(e, "java_exception", None)
            why = java.toString() if java is not None else str(e).strip()
            raise RecordsError(f"{f}: not a readable Parquet file ({why})") from None
        try:
            return r.getFooter().getFileMetaData().getSchema().toString()
        finally:
            r.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, files))


def check_schema(spark, path, expected, alike=0):
    """Refuses a file whose columns are not this version's (``alike``: how many more
    files have the same columns); names extra columns."""
    got = {f.name: f.dataType.simpleString() for f in spark.read.parquet(path).schema}
    more = ""
    if alike:
        more = (
            f" (and {alike} more file{'s' if alike > 1 else ''} with the same columns)"
        )
    for name, ty in expected:
        if name not in got:
            raise RecordsError(
                f"{path}{more}: column `{name}` is missing (records of another "
                "proxy407 version?); not mixing it with the others"
            )
        if got[name] != ty:
            raise RecordsError(
                f"{path}{more}: column `{name}` is {got[name]}, expected {ty} (records "
                "of another proxy407 version?); not mixing it with the others"
            )
    extra = sorted(set(got) - {n for n, _ in expected})
    if extra:
        print(
            f"note: {path}{more}: columns {', '.join(extra)} are not read by this job",
            file=sys.stderr,
        )


def check_files(spark, files, expected):
    """Refuses the records when a file's columns are not this version's, naming it: the
    files are grouped by the schema in their footers, and one of each group is read by
    Spark, which decides the types."""
    groups = {}
    for f, schema in zip(files, footer_schemas(spark, files)):
        groups.setdefault(schema, []).append(f)
    for alike in groups.values():
        check_schema(spark, alike[0], expected, len(alike) - 1)


def read_records(spark, root, table, columns):
    schema = ", ".join(f"`{n}` {t}" for n, t in columns)
    files = list_parquet_files(spark, f"{root.rstrip('/')}/{table}")
    check_files(spark, files, columns)
    if not files:
        return spark.createDataFrame([], schema), 0
    return spark.read.schema(schema).parquet(*files), len(files)


# ---- the fleet's episodes ------------------------------------------------------------


def with_fleet_lockout(episodes, transactions, threshold, window_us):
    """The episodes with a column ``lockout`` (bool): §5.2 applied to the rejections of
    every sensor together."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rej = transactions.where(F.col("lockout_account").isNotNull()).select(
        F.col("lockout_account").alias("account"),
        F.unix_micros(F.coalesce("response_ts", "ts")).alias("t"),
        "sensor",
        "client_ip",
        "episode_id",
    )
    by_time = Window.partitionBy("account").orderBy("t")
    # Attempts in [t - window, t]: a rejection whose window holds the threshold marks
    # every attempt of that window, so an attempt is marked when such a rejection comes
    # within [its t, its t + window].
    rej = rej.withColumn(
        "in_window", F.count(F.lit(1)).over(by_time.rangeBetween(-window_us, 0))
    )
    rej = rej.withColumn(
        "marked",
        F.max((F.col("in_window") >= threshold).cast("int")).over(
            by_time.rangeBetween(0, window_us)
        ),
    )
    marked = (
        rej.where(F.col("marked") == 1)
        .select("sensor", "client_ip", "episode_id")
        .distinct()
        .withColumn("fleet_lockout", F.lit(True))
    )
    with_tx = transactions.select("sensor").distinct().withColumn("has_tx", F.lit(True))
    out = episodes.join(marked, ["sensor", "client_ip", "episode_id"], "left").join(
        with_tx, ["sensor"], "left"
    )
    own = F.array_contains("findings", "lockout_risk")
    return out.withColumn(
        "lockout",
        F.when(
            F.col("has_tx"), F.coalesce(F.col("fleet_lockout"), F.lit(False))
        ).otherwise(own),
    ).drop("fleet_lockout", "has_tx")


def proxy_key():
    """``ip:port`` (``[v6]:port``) of the records' proxy."""
    from pyspark.sql import functions as F

    return F.when(
        F.instr("proxy_ip", ":") > 0,
        F.concat(
            F.lit("["),
            F.col("proxy_ip"),
            F.lit("]:"),
            F.col("proxy_port").cast("string"),
        ),
    ).otherwise(
        F.concat(F.col("proxy_ip"), F.lit(":"), F.col("proxy_port").cast("string"))
    )


def keyed(episodes):
    """The episodes with their keys in the four per-key tables."""
    from pyspark.sql import functions as F

    return (
        episodes.withColumn("user_key", F.coalesce(F.col("user"), F.lit(UNKNOWN_USER)))
        .withColumn("proxy_key", proxy_key())
        .withColumn("minute_ts", F.date_trunc("minute", "start_ts"))
    )


def request_findings(transactions, table):
    """Per key of ``table``: the requests showing each request finding, keyed as proxy407
    keys a transaction (its own user name, client, proxy, site)."""
    from pyspark.sql import functions as F

    site = (
        F.when(F.upper("method") == "CONNECT", F.lower("target"))
        .when(
            F.instr("target", "://") > 0,
            F.lower(F.regexp_extract("target", r"://([^/?#]*@)?([^/?#]*)", 2)),
        )
        .otherwise(F.col("target"))
    )
    key = {
        "users": F.coalesce(F.col("user"), F.lit(UNKNOWN_USER)),
        "clients": F.col("client_ip"),
        "proxies": proxy_key(),
        "targets": site,
    }[table]
    shown = transactions.select(key.alias("k"), F.explode("findings").alias("f")).where(
        F.col("f").isin(REQUEST_FINDINGS)
    )
    return shown.groupBy("k").agg(
        *[
            F.sum((F.col("f") == f).cast("long")).alias(f"request_{f}")
            for f in REQUEST_FINDINGS
        ]
    )


def sorted_set(col):
    from pyspark.sql import functions as F

    return F.array_sort(F.collect_set(col))


def percentiles(episodes, key):
    """Nearest-rank p50 and p95 of ``time_to_auth_ms`` per key, exact."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    v = episodes.where(
        (F.col("outcome") == "authenticated")
        & F.col("time_to_auth_ms").isNotNull()
        & ~F.isnan("time_to_auth_ms")
    ).select(F.col(key).alias("k"), F.col("time_to_auth_ms").alias("v"))
    w = Window.partitionBy("k")
    v = v.withColumn("rn", F.row_number().over(w.orderBy("v"))).withColumn(
        "n", F.count(F.lit(1)).over(w)
    )

    def rank(p):
        r = F.ceil(F.lit(p / 100.0) * F.col("n").cast("double"))
        return F.least(F.greatest(r, F.lit(1)), F.col("n"))

    return v.groupBy("k").agg(
        F.max(F.when(F.col("rn") == rank(50.0), F.col("v"))).alias(
            "time_to_auth_p50_ms"
        ),
        F.max(F.when(F.col("rn") == rank(95.0), F.col("v"))).alias(
            "time_to_auth_p95_ms"
        ),
    )


def per_key_table(episodes, transactions, table):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = {
        "users": "user_key",
        "clients": "client_ip",
        "proxies": "proxy_key",
        "targets": "target",
    }[table]
    failed = F.col("outcome") == "failed"
    aggs = [
        F.count(F.lit(1)).alias("episodes"),
        F.sum((F.col("outcome") == "authenticated").cast("long")).alias(
            "authenticated"
        ),
        F.sum(failed.cast("long")).alias("failed"),
        F.sum((F.col("outcome") == "unresolved").cast("long")).alias("unresolved"),
    ]
    aggs += [
        F.sum((failed & (F.col("cause") == c)).cast("long")).alias(f"failed_{c}")
        for c in CAUSES
    ]
    aggs += [
        F.sum("challenges").cast("long").alias("challenges"),
        F.sum("credential_attempts").cast("long").alias("credential_attempts"),
    ]
    for f in FINDINGS:
        if f in REQUEST_FINDINGS:
            continue
        flag = (
            F.col("lockout") if f == "lockout_risk" else F.array_contains("findings", f)
        )
        aggs.append(F.sum(flag.cast("long")).alias(f))
    aggs += [
        F.min("start_ts").alias("first_seen"),
        F.max(F.greatest("end_ts", "start_ts")).alias("last_seen"),
    ]
    if table == "users":
        aggs += [
            sorted_set("client_ip").alias("client_ips"),
            sorted_set("workstation").alias("workstations"),
            sorted_set("scheme").alias("schemes"),
            F.collect_set("user_agent").alias("episode_user_agents"),
        ]
    elif table == "clients":
        aggs.append(sorted_set("user_key").alias("users"))
    else:
        aggs += [
            sorted_set("user_key").alias("users"),
            sorted_set("client_ip").alias("clients"),
        ]
    rows = episodes.groupBy(F.col(key).alias("k")).agg(*aggs)
    rows = rows.join(percentiles(episodes, key), "k", "left")
    if table == "users":
        # The most frequent domain; ties go to the first by name.
        dom = (
            episodes.where(F.col("domain").isNotNull())
            .groupBy(F.col(key).alias("k"), "domain")
            .count()
        )
        dom = (
            dom.withColumn(
                "r",
                F.row_number().over(
                    Window.partitionBy("k").orderBy(F.desc("count"), F.asc("domain"))
                ),
            )
            .where(F.col("r") == 1)
            .select("k", "domain")
        )
        # The most failed episodes whose start times fit in 10 minutes
        # (t_last - t_first < 10 min): counted from each failure forward.
        fails = episodes.where(failed).select(
            F.col(key).alias("k"), F.unix_micros("start_ts").alias("t")
        )
        fails = fails.withColumn(
            "c",
            F.count(F.lit(1)).over(
                Window.partitionBy("k").orderBy("t").rangeBetween(0, TEN_MINUTES_US - 1)
            ),
        )
        mf = fails.groupBy("k").agg(F.max("c").cast("long").alias("max_failures_10min"))
        # Transactions add the user agents they show to their user's row.
        tx_ua = (
            transactions.where(
                F.col("user").isNotNull() & F.col("user_agent").isNotNull()
            )
            .groupBy(F.col("user").alias("k"))
            .agg(F.collect_set("user_agent").alias("tx_user_agents"))
        )
        rows = rows.join(dom, "k", "left").join(mf, "k", "left")
    # A key seen only in requests showing a request finding has a row with no episode.
    rows = rows.join(request_findings(transactions, table), "k", "full")
    zero = F.lit(0).cast("long")
    counted = ["episodes", "authenticated", "failed", "unresolved", "challenges"]
    counted += ["credential_attempts"] + [f"failed_{c}" for c in CAUSES]
    counted += [f for f in FINDINGS if f not in REQUEST_FINDINGS]
    for c in counted:
        rows = rows.withColumn(c, F.coalesce(F.col(c), zero))
    for f in REQUEST_FINDINGS:
        rows = rows.withColumn(f, F.coalesce(F.col(f"request_{f}"), zero))
    empty = F.array().cast("array<string>")
    lists = {
        "users": ["client_ips", "workstations", "schemes", "episode_user_agents"],
        "clients": ["users"],
    }.get(table, ["users", "clients"])
    for c in lists:
        rows = rows.withColumn(c, F.coalesce(F.col(c), empty))
    if table == "users":
        rows = (
            rows.join(tx_ua, "k", "left")
            .withColumn(
                "user_agents",
                F.array_sort(
                    F.array_distinct(
                        F.concat(
                            "episode_user_agents",
                            F.coalesce("tx_user_agents", empty),
                        )
                    )
                ),
            )
            .withColumn("max_failures_10min", F.coalesce("max_failures_10min", zero))
        )
    columns = (
        [F.col("k").alias(KEY_COLUMN[table])]
        + [F.col(c) for c in ["episodes", "authenticated", "failed", "unresolved"]]
        + [F.col(f"failed_{c}") for c in CAUSES]
        + [F.col("challenges"), F.col("credential_attempts")]
        + [F.col(f).cast("long").alias(f) for f in FINDINGS]
        + [F.col(c) for c in ["time_to_auth_p50_ms", "time_to_auth_p95_ms"]]
        + [F.col("first_seen"), F.col("last_seen")]
    )
    if table == "users":
        columns += [
            F.col(c)
            for c in [
                "domain",
                "client_ips",
                "workstations",
                "schemes",
                "user_agents",
            ]
        ]
        columns.append(F.col("max_failures_10min").cast("long"))
    elif table == "clients":
        columns.append(F.col("users"))
    else:
        columns += [F.col("users"), F.col("clients")]
    order = [F.desc("failed"), F.desc("episodes"), F.asc(KEY_COLUMN[table])]
    return rows.select(*columns), order


def causes_table(spark, episodes):
    from pyspark.sql import functions as F

    fixed = spark.createDataFrame(
        [(i, c, REMEDIES[c]) for i, c in enumerate(CAUSES)],
        "i int, cause string, remedy string",
    )
    counts = (
        episodes.where(F.col("outcome") == "failed")
        .groupBy("cause")
        .agg(
            F.count(F.lit(1)).alias("episodes"),
            F.countDistinct("user_key").alias("users"),
            F.countDistinct("client_ip").alias("clients"),
        )
    )
    t = fixed.join(counts, "cause", "left")
    return (
        t.select(
            "i",
            "cause",
            *[
                F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c)
                for c in ["episodes", "users", "clients"]
            ],
            "remedy",
        ),
        [F.asc("i")],
    )


def timeline_table(episodes):
    from pyspark.sql import functions as F

    failed = F.col("outcome") == "failed"
    counts = episodes.groupBy(F.col("minute_ts").alias("minute")).agg(
        F.sum("challenges").cast("long").alias("challenges"),
        F.sum((F.col("outcome") == "authenticated").cast("long")).alias(
            "authenticated"
        ),
        F.sum(failed.cast("long")).alias("failed"),
        *[
            F.sum((failed & (F.col("cause") == c)).cast("long")).alias(f"failed_{c}")
            for c in CAUSES
        ],
    )
    # The span in whole minutes, computed by Spark (no round trip through Python's
    # local time).
    span = counts.agg(F.min("minute").alias("lo"), F.max("minute").alias("hi"))
    minutes = span.select(
        F.floor((F.unix_micros("hi") - F.unix_micros("lo")) / MINUTE_US).alias("m")
    ).first()["m"]
    if minutes is not None and minutes <= TIMELINE_MAX_DENSE_MINUTES:
        every = F.sequence("lo", "hi", F.expr("INTERVAL 1 MINUTE"))
        dense = span.select(F.explode(every).alias("minute"))
        counts = dense.join(counts, "minute", "left")
    value_columns = ["challenges", "authenticated", "failed"] + [
        f"failed_{c}" for c in CAUSES
    ]
    return (
        counts.select(
            "minute",
            *[
                F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c)
                for c in value_columns
            ],
        ),
        [F.asc("minute")],
    )


def write(df, order, out, table, force):
    """One table as a Parquet directory ``OUT/<table>/``, in one file, rows in order."""
    (
        df.coalesce(1)
        .sortWithinPartitions(*order)
        .drop(*[c for c in df.columns if c == "i"])
        .write.mode("overwrite" if force else "errorifexists")
        .parquet(f"{out.rstrip('/')}/{table}")
    )


def main(argv=None):
    args = arguments(sys.argv[1:] if argv is None else argv)
    from pyspark.sql import SparkSession
    from pyspark.sql.utils import AnalysisException

    spark = (
        SparkSession.builder.appName("proxy407-fleet-tables")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    try:
        episodes, n_ep = read_records(spark, args.records, "episodes", EPISODE_COLUMNS)
        transactions, n_tx = read_records(
            spark, args.records, "transactions", TRANSACTION_COLUMNS
        )
        if n_ep == 0:
            raise RecordsError(f"no episode records under {args.records}/episodes")
        threshold, window_us = args.lockout_threshold
        episodes = keyed(
            with_fleet_lockout(episodes, transactions, threshold, window_us)
        )
        episodes = episodes.cache()
        for table in args.tables:
            if table in KEY_COLUMN:
                df, order = per_key_table(episodes, transactions, table)
            elif table == "causes":
                df, order = causes_table(spark, episodes)
            else:
                df, order = timeline_table(episodes)
            write(df, order, args.out, table, args.force)
        print(
            f"{len(args.tables)} tables written to {args.out} from {n_ep} episode and "
            f"{n_tx} transaction files",
            file=sys.stderr,
        )
        return 0
    except RecordsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AnalysisException as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
