-- The `targets` table of `proxy407 export`, from the records of any number of sensors.
-- One row per target (docs/verdicts.md §3.1).
-- Reads the views `episodes` and `transactions` over a records directory
-- (contrib/sql/README.md: how to create them on DuckDB, Trino and ClickHouse).
-- lockout_risk is counted across sensors from the transactions (docs/verdicts.md §5.2):
-- a rejection is a transaction with a lockout_account, at its response time; when the
-- rejections of one account within the window reach the threshold, each episode that
-- contributed one carries it. Threshold 5 within 600 s: change `5` and `600000000`
-- (microseconds) in `lockout_windows` and `lockout_marks`. A sensor that wrote no
-- transactions keeps its episodes' own finding.
-- Written for DuckDB (SET TimeZone = 'UTC' first); ANSI SQL except where marked [..]:
--   [micros]  microseconds since 1970 of a timestamp: DuckDB epoch_us(x);
--             Trino CAST(round(to_unixtime(x) * 1e6) AS BIGINT);
--             ClickHouse toUnixTimestamp64Micro(x).
--   [contains] list membership: DuckDB and Trino contains(list, x); ClickHouse has(list, x).
--   [list]    sorted distinct values: DuckDB and Trino array_sort(array_agg(DISTINCT x));
--             ClickHouse arraySort(groupUniqArray(x)).
--   [group]   a regular expression's group: DuckDB and Trino regexp_extract(s, re, 2);
--             ClickHouse extractGroups(s, re)[2].
--   [empty]   an empty list of strings: DuckDB CAST(ARRAY[] AS VARCHAR ARRAY);
--             Trino CAST(ARRAY[] AS ARRAY(VARCHAR)); ClickHouse CAST([] AS Array(String)).
--   ClickHouse: run with SETTINGS join_use_nulls = 1, session_timezone = 'UTC' (a LEFT
--   JOIN must give NULL, not 0 or '', where nothing matches).
-- Counts are BIGINT (export writes unsigned 64-bit integers).

WITH
lockout_rejections AS (
    SELECT lockout_account AS account,
           epoch_us(COALESCE(response_ts, ts)) AS t, -- [micros]
           sensor, client_ip, episode_id
    FROM transactions
    WHERE lockout_account IS NOT NULL
),
lockout_windows AS (
    SELECT lr.*,
           COUNT(*) OVER (PARTITION BY account ORDER BY t
                          RANGE BETWEEN 600000000 PRECEDING AND CURRENT ROW) AS in_window
    FROM lockout_rejections lr
),
lockout_marks AS (
    -- An attempt is marked when a rejection within [t, t + window] had the threshold.
    SELECT lw.*,
           MAX(CASE WHEN in_window >= 5 THEN 1 ELSE 0 END)
               OVER (PARTITION BY account ORDER BY t
                     RANGE BETWEEN CURRENT ROW AND 600000000 FOLLOWING) AS marked
    FROM lockout_windows lw
),
locked AS (
    -- Named apart from the episodes' columns, which `e.*` below keeps as they are.
    SELECT DISTINCT sensor AS locked_sensor, client_ip AS locked_client,
           episode_id AS locked_episode
    FROM lockout_marks
    WHERE marked = 1
),
sensors_with_transactions AS (
    SELECT DISTINCT sensor AS tx_sensor FROM transactions
),
ep AS (
    SELECT e.*,
           COALESCE(e."user", '(unknown)') AS user_key,
           CASE WHEN POSITION(':' IN e.proxy_ip) > 0
                THEN '[' || e.proxy_ip || ']:' || CAST(e.proxy_port AS VARCHAR)
                ELSE e.proxy_ip || ':' || CAST(e.proxy_port AS VARCHAR)
           END AS proxy_key,
           CASE WHEN s.tx_sensor IS NULL
                THEN CASE WHEN contains(e.findings, 'lockout_risk') THEN 1 ELSE 0 END -- [contains]
                WHEN l.locked_episode IS NOT NULL THEN 1
                ELSE 0
           END AS lockout
    FROM episodes e
    LEFT JOIN locked l
           ON l.locked_sensor = e.sensor AND l.locked_client = e.client_ip
          AND l.locked_episode = e.episode_id
    LEFT JOIN sensors_with_transactions s ON s.tx_sensor = e.sensor
),
keyed AS (
    SELECT target AS k,
           CAST(COUNT(*) AS BIGINT) AS episodes,
           CAST(SUM(CASE WHEN outcome = 'authenticated' THEN 1 ELSE 0 END) AS BIGINT) AS authenticated,
           CAST(SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
           CAST(SUM(CASE WHEN outcome = 'unresolved' THEN 1 ELSE 0 END) AS BIGINT) AS unresolved,
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
           AS failed_proxy_unreachable,
           CAST(SUM(challenges) AS BIGINT) AS challenges,
           CAST(SUM(credential_attempts) AS BIGINT) AS credential_attempts,
           CAST(SUM(lockout) AS BIGINT) AS lockout_risk,
           CAST(SUM(CASE WHEN contains(findings, 'ntlm_fallback') THEN 1 ELSE 0 END) AS BIGINT) AS ntlm_fallback,
           CAST(SUM(CASE WHEN contains(findings, 'capture_gap') THEN 1 ELSE 0 END) AS BIGINT) AS capture_gap,
           CAST(SUM(CASE WHEN contains(findings, 'domain_mismatch') THEN 1 ELSE 0 END) AS BIGINT) AS domain_mismatch,
           MIN(start_ts) AS first_seen,
           MAX(GREATEST(end_ts, start_ts)) AS last_seen
    FROM ep
    GROUP BY target
),
requested AS (
    -- The request findings (docs/verdicts.md §5.1) count the requests that show them,
    -- challenged or not, keyed by the request's own target.
    SELECT k,
           CAST(SUM(CASE WHEN contains(findings, 'cleartext_basic') THEN 1 ELSE 0 END) AS BIGINT) AS cleartext_basic,
           CAST(SUM(CASE WHEN contains(findings, 'ntlmv1') THEN 1 ELSE 0 END) AS BIGINT) AS ntlmv1,
           CAST(SUM(CASE WHEN contains(findings, 'stale_nonce') THEN 1 ELSE 0 END) AS BIGINT) AS stale_nonce,
           CAST(SUM(CASE WHEN contains(findings, 'oversized_token') THEN 1 ELSE 0 END) AS BIGINT) AS oversized_token -- [contains]
    FROM (SELECT CASE WHEN UPPER(t.method) = 'CONNECT' THEN LOWER(t.target)
                     WHEN POSITION('://' IN t.target) > 0
                     THEN LOWER(regexp_extract(t.target, '://([^/?#]*@)?([^/?#]*)', 2)) -- [group]
                     ELSE t.target
                END AS k,
                 t.findings
          FROM transactions t
          WHERE contains(t.findings, 'cleartext_basic') OR contains(t.findings, 'ntlmv1') -- [contains]
             OR contains(t.findings, 'stale_nonce') OR contains(t.findings, 'oversized_token')) tk
    GROUP BY k
),
all_keys AS (
    -- A key seen only in such requests has a row with no episode.
    SELECT k FROM keyed
    UNION
    SELECT k FROM requested
),
ranked AS (
    -- Percentiles by nearest rank (docs/verdicts.md §3.8): the ceil(p/100 * n)-th smallest.
    SELECT target AS k, time_to_auth_ms AS v,
           ROW_NUMBER() OVER (PARTITION BY target ORDER BY time_to_auth_ms) AS rn,
           COUNT(*) OVER (PARTITION BY target) AS n
    FROM ep
    WHERE outcome = 'authenticated' AND time_to_auth_ms IS NOT NULL
),
percentiles AS (
    SELECT k,
           MAX(CASE WHEN rn = CEIL(CAST(0.5 AS DOUBLE) * CAST(n AS DOUBLE)) THEN v END) AS p50,
           MAX(CASE WHEN rn = CEIL(CAST(0.95 AS DOUBLE) * CAST(n AS DOUBLE)) THEN v END) AS p95
    FROM ranked
    GROUP BY k
),
list_users AS (
    SELECT target AS k, array_sort(array_agg(DISTINCT user_key)) AS v -- [list]
    FROM ep
    WHERE user_key IS NOT NULL
    GROUP BY target
),
list_clients AS (
    SELECT target AS k, array_sort(array_agg(DISTINCT client_ip)) AS v -- [list]
    FROM ep
    WHERE client_ip IS NOT NULL
    GROUP BY target
)
SELECT a.k AS "target",
       COALESCE(k.episodes, 0) AS episodes,
       COALESCE(k.authenticated, 0) AS authenticated,
       COALESCE(k.failed, 0) AS failed,
       COALESCE(k.unresolved, 0) AS unresolved,
       COALESCE(k.failed_handshake_broken, 0) AS failed_handshake_broken,
       COALESCE(k.failed_scheme_mismatch, 0) AS failed_scheme_mismatch,
       COALESCE(k.failed_bad_credentials, 0) AS failed_bad_credentials,
       COALESCE(k.failed_no_credentials, 0) AS failed_no_credentials,
       COALESCE(k.failed_denied, 0) AS failed_denied,
       COALESCE(k.failed_connection_closed, 0) AS failed_connection_closed,
       COALESCE(k.failed_no_response, 0) AS failed_no_response,
       COALESCE(k.failed_proxy_unreachable, 0) AS failed_proxy_unreachable,
       COALESCE(k.challenges, 0) AS challenges,
       COALESCE(k.credential_attempts, 0) AS credential_attempts,
       COALESCE(k.lockout_risk, 0) AS lockout_risk,
       COALESCE(r.cleartext_basic, 0) AS cleartext_basic,
       COALESCE(k.ntlm_fallback, 0) AS ntlm_fallback,
       COALESCE(r.ntlmv1, 0) AS ntlmv1,
       COALESCE(r.stale_nonce, 0) AS stale_nonce,
       COALESCE(r.oversized_token, 0) AS oversized_token,
       COALESCE(k.capture_gap, 0) AS capture_gap,
       COALESCE(k.domain_mismatch, 0) AS domain_mismatch,
       p.p50 AS time_to_auth_p50_ms,
       p.p95 AS time_to_auth_p95_ms,
       k.first_seen,
       k.last_seen,
       -- [empty]
       COALESCE(l_users.v, CAST(ARRAY[] AS VARCHAR ARRAY)) AS users,
       COALESCE(l_clients.v, CAST(ARRAY[] AS VARCHAR ARRAY)) AS clients
FROM all_keys a
LEFT JOIN keyed k ON k.k = a.k
LEFT JOIN requested r ON r.k = a.k
LEFT JOIN percentiles p ON p.k = a.k
LEFT JOIN list_users l_users ON l_users.k = a.k
LEFT JOIN list_clients l_clients ON l_clients.k = a.k
ORDER BY COALESCE(k.failed, 0) DESC, COALESCE(k.episodes, 0) DESC, a.k;
