-- The `causes` table of `proxy407 export`, from the records of any number of sensors.
-- One row per cause, in the order of docs/verdicts.md §4.3, 0 where none failed so;
-- users and clients count distinct user keys (`(unknown)` included) and addresses.
-- Reads the view `episodes` over a records directory
-- (contrib/sql/README.md: how to create them on DuckDB, Trino and ClickHouse).
-- Written for DuckDB (SET TimeZone = 'UTC' first); ANSI SQL except where marked [..]:
--   ClickHouse: run with SETTINGS join_use_nulls = 1, session_timezone = 'UTC' (a LEFT
--   JOIN must give NULL, not 0 or '', where nothing matches).
-- Counts are BIGINT (export writes unsigned 64-bit integers).

WITH
failures AS (
    SELECT cause,
           COUNT(*) AS episodes,
           COUNT(DISTINCT COALESCE("user", '(unknown)')) AS users,
           COUNT(DISTINCT client_ip) AS clients
    FROM episodes
    WHERE outcome = 'failed'
    GROUP BY cause
),
causes AS (
    SELECT 0 AS i, 'handshake_broken' AS cause,
           'keep-alive through every hop; sticky load-balancing; check client proxy settings' AS remedy
    UNION ALL
    SELECT 1 AS i, 'scheme_mismatch' AS cause,
           'configure the client for a scheme the proxy offers' AS remedy
    UNION ALL
    SELECT 2 AS i, 'bad_credentials' AS cause,
           'check password, account state, saved credentials; Kerberos: keytab/SPN/clock' AS remedy
    UNION ALL
    SELECT 3 AS i, 'no_credentials' AS cause,
           'the application lacks proxy-auth support or has no credentials configured' AS remedy
    UNION ALL
    SELECT 4 AS i, 'denied' AS cause,
           'check the proxy access policy, or header size limits for large Kerberos tokens' AS remedy
    UNION ALL
    SELECT 5 AS i, 'connection_closed' AS cause,
           'a proxy or network device is dropping connections' AS remedy
    UNION ALL
    SELECT 6 AS i, 'no_response' AS cause,
           'the proxy is overloaded or the path is broken' AS remedy
    UNION ALL
    SELECT 7 AS i, 'proxy_unreachable' AS cause,
           'wrong proxy address/port, proxy down, or a firewall in the way' AS remedy
)
SELECT c.cause,
       CAST(COALESCE(f.episodes, 0) AS BIGINT) AS episodes,
       CAST(COALESCE(f.users, 0) AS BIGINT) AS users,
       CAST(COALESCE(f.clients, 0) AS BIGINT) AS clients,
       c.remedy
FROM causes c
LEFT JOIN failures f ON f.cause = c.cause
ORDER BY c.i;
