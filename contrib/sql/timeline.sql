-- The `timeline` table of `proxy407 export`, from the records of any number of sensors.
-- One row per UTC minute of the episodes' start_ts; the minutes between the first and
-- the last are listed with zeros unless they span more than 100,000 minutes.
-- Reads the view `episodes` over a records directory
-- (contrib/sql/README.md: how to create them on DuckDB, Trino and ClickHouse).
-- Written for DuckDB (SET TimeZone = 'UTC' first); ANSI SQL except where marked [..]:
--   [minutes] every minute from lo to hi:
--             DuckDB unnest(generate_series(lo, hi, INTERVAL '1' MINUTE));
--             Trino: FROM span CROSS JOIN UNNEST(sequence(lo, hi, INTERVAL '1' MINUTE))
--             AS s(minute);
--             ClickHouse: arrayJoin(arrayMap(i -> lo + toIntervalMinute(i),
--                                            range(toUInt32(dateDiff('minute', lo, hi)) + 1))).
--   [minute]  date_trunc('minute', x) on DuckDB and Trino;
--             ClickHouse toDateTime64(toStartOfMinute(x), 6, 'UTC').
--   ClickHouse: run with SETTINGS join_use_nulls = 1, session_timezone = 'UTC' (a LEFT
--   JOIN must give NULL, not 0 or '', where nothing matches).
-- Counts are BIGINT (export writes unsigned 64-bit integers).

WITH
per_minute AS (
    SELECT date_trunc('minute', start_ts) AS minute, -- [minute]
           CAST(SUM(challenges) AS BIGINT) AS challenges,
           CAST(SUM(CASE WHEN outcome = 'authenticated' THEN 1 ELSE 0 END) AS BIGINT) AS authenticated,
           CAST(SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'handshake_broken' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_handshake_broken,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'scheme_mismatch' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_scheme_mismatch,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'bad_credentials' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_bad_credentials,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'no_credentials' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_no_credentials,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'denied' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_denied,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'connection_closed' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_connection_closed,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'no_response' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_no_response,
           CAST(SUM(CASE WHEN outcome = 'failed' AND cause = 'proxy_unreachable' THEN 1 ELSE 0 END) AS BIGINT)
           AS failed_proxy_unreachable
    FROM episodes
    GROUP BY date_trunc('minute', start_ts) -- [minute]
),
span AS (
    SELECT MIN(minute) AS lo, MAX(minute) AS hi FROM per_minute
),
minutes AS (
    SELECT unnest(generate_series(lo, hi, INTERVAL '1' MINUTE)) AS minute -- [minutes]
    FROM span
    WHERE hi <= lo + INTERVAL '100000' MINUTE
    UNION DISTINCT
    SELECT minute FROM per_minute
)
SELECT m.minute,
       CAST(COALESCE(c.challenges, 0) AS BIGINT) AS challenges,
       CAST(COALESCE(c.authenticated, 0) AS BIGINT) AS authenticated,
       CAST(COALESCE(c.failed, 0) AS BIGINT) AS failed,
       CAST(COALESCE(c.failed_handshake_broken, 0) AS BIGINT) AS failed_handshake_broken,
       CAST(COALESCE(c.failed_scheme_mismatch, 0) AS BIGINT) AS failed_scheme_mismatch,
       CAST(COALESCE(c.failed_bad_credentials, 0) AS BIGINT) AS failed_bad_credentials,
       CAST(COALESCE(c.failed_no_credentials, 0) AS BIGINT) AS failed_no_credentials,
       CAST(COALESCE(c.failed_denied, 0) AS BIGINT) AS failed_denied,
       CAST(COALESCE(c.failed_connection_closed, 0) AS BIGINT) AS failed_connection_closed,
       CAST(COALESCE(c.failed_no_response, 0) AS BIGINT) AS failed_no_response,
       CAST(COALESCE(c.failed_proxy_unreachable, 0) AS BIGINT) AS failed_proxy_unreachable
FROM minutes m
LEFT JOIN per_minute c ON c.minute = m.minute
ORDER BY m.minute;
