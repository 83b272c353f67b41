# proxy407's words in English. Every human output (the terminal report, the HTML report,
# the dashboard) takes its text from here or from ja.ftl; machine outputs (JSON, CSV,
# Parquet, metric names, cause and finding codes) never do.
# Numbers arrive formatted ($n: "1,234"); $n_plural is the same count for plural choice.

## Causes (docs/verdicts.md §4.3): label, what the wire showed, remedy, prevention.

cause-handshake_broken = handshake_broken
cause-handshake_broken-meaning = a connection-bound NTLM/Negotiate handshake was cut before its final message
cause-handshake_broken-remedy = keep-alive through every hop; sticky load-balancing; check client proxy settings
cause-handshake_broken-prevention = keep connections alive end to end and make balancers sticky per client (source address or cookie), so each handshake stays on one proxy connection
cause-scheme_mismatch = scheme_mismatch
cause-scheme_mismatch-meaning = the client answered with a scheme the proxy did not offer
cause-scheme_mismatch-remedy = configure the client for a scheme the proxy offers
cause-scheme_mismatch-prevention = push one proxy configuration by policy or PAC file, so every client is set up for the schemes the proxy offers
cause-bad_credentials = bad_credentials
cause-bad_credentials-meaning = the proxy rejected the credentials
cause-bad_credentials-remedy = check password, account state, saved credentials; Kerberos: keytab/SPN/clock
cause-bad_credentials-prevention = clear saved credentials (browser, credential manager, keychain) whenever a password changes; keep the proxy's SPN registered and clocks synchronised (NTP)
cause-no_credentials = no_credentials
cause-no_credentials-meaning = the client never sent credentials after the challenge
cause-no_credentials-remedy = the application lacks proxy-auth support or has no credentials configured
cause-no_credentials-prevention = before rolling out an application, give it proxy credentials or an exemption by policy; prefer clients that support Negotiate or NTLM
cause-denied = denied
cause-denied-meaning = the proxy authenticated the client but refused the request
cause-denied-remedy = check the proxy access policy, or header size limits for large Kerberos tokens
cause-denied-prevention = review access rules when groups change; allow request headers large enough for the Kerberos tokens of users in many groups
cause-connection_closed = connection_closed
cause-connection_closed-meaning = the connection was closed or reset with a request unanswered
cause-connection_closed-remedy = a proxy or network device is dropping connections
cause-connection_closed-prevention = keep the idle timeouts of firewalls and balancers longer than the proxy's keep-alive; watch for devices that reset connections
cause-no_response = no_response
cause-no_response-meaning = a request got no response within the retry window
cause-no_response-remedy = the proxy is overloaded or the path is broken
cause-no_response-prevention = monitor the proxy's load and response time, and alert before users notice
cause-proxy_unreachable = proxy_unreachable
cause-proxy_unreachable-meaning = connection attempts to the proxy port got no answer or a reset
cause-proxy_unreachable-remedy = wrong proxy address/port, proxy down, or a firewall in the way
cause-proxy_unreachable-prevention = hand out the proxy address by policy or PAC file rather than by hand, and monitor the proxy port

## Findings (docs/verdicts.md §5).

finding-lockout_risk = lockout_risk
finding-lockout_risk-meaning = rejected credential attempts reached the lockout threshold
finding-cleartext_basic = cleartext_basic
finding-cleartext_basic-meaning = Basic credentials sent on an unencrypted proxy connection
finding-ntlm_fallback = ntlm_fallback
finding-ntlm_fallback-meaning = Negotiate carried NTLM instead of Kerberos
finding-ntlmv1 = ntlmv1
finding-ntlmv1-meaning = NTLMv1 responses (weak)
finding-stale_nonce = stale_nonce
finding-stale_nonce-meaning = Digest stale-nonce leg (benign)
finding-oversized_token = oversized_token
finding-oversized_token-meaning = credentials header over 8 KiB
finding-capture_gap = capture_gap
finding-capture_gap-meaning = the episode crossed missing capture bytes
finding-domain_mismatch = domain_mismatch
finding-domain_mismatch-meaning = NTLM type 3 signed for another domain than the proxy's type 2 named

## Counted words.

n-episodes = { $n } { $n_plural ->
    [one] episode
   *[other] episodes
}
n-users = { $n } { $n_plural ->
    [one] user
   *[other] users
}
n-clients = { $n } { $n_plural ->
    [one] client
   *[other] clients
}
n-requests = { $n } { $n_plural ->
    [one] request
   *[other] requests
}
n-packets = { $n } { $n_plural ->
    [one] packet
   *[other] packets
}
n-limit-hits = { $n } { $n_plural ->
    [one] limit hit
   *[other] limit hits
}

## Tables.

table-users = Top users
table-clients = Top clients
table-proxies = Top proxies
table-targets = Top targets
table-shown = { $title } ({ $shown } of { $total })
col-user = user
col-client = client_ip
col-proxy = proxy
col-target = target
col-episodes = episodes
col-auth = auth
col-failed = failed
col-unresolved = unres
col-main-cause = main cause
col-max-10min = max/10min
col-auth-p50 = auth p50
col-clients = clients
col-users = users
col-findings = findings

## The terminal report (and the HTML report's headings).

report-title = proxy407: proxy authentication diagnosis
report-capture = Capture: { $files } { $files_plural ->
    [one] file
   *[other] files
}, { $packets } packets{ $when }
report-capture-when = , { $first } to { $last } ({ $span })
heading-headline = Headline
headline-counts = 407 challenges { $challenges }   episodes { $episodes }   authenticated { $authenticated }   failed { $failed }   unresolved { $unresolved }
headline-users = users affected { $affected } of { $seen }{ $unknown }   clients affected { $clients }
headline-unknown-user = {" "}(plus failures with no user name)
headline-all-good = Every challenged client that finished got through the proxy.
headline-most = Most failures: { $cause } ({ $n } of { $failed }): { $meaning }.
headline-failed = { $n } failed episodes.
headline-unresolved = Unresolved: the decisive message is missing (a gap, or the capture ended); not a failure.
loss-gap-bytes = { $bytes } missing in TCP gaps
loss-truncated = { $packets } cut by the snap length
loss-dropped = { $packets } dropped by the kernel
loss-queue-dropped = { $packets } dropped while the analysis was behind
loss-flow-limit = { $hits } of the flow table
loss-gap-episodes = { $episodes } crossed a gap
warn-lossy = WARNING: the capture is lossy:
warn-lossy-list = { $list }.
warn-lossy-advice = Missing bytes look like failing users: check the mirror port, snap length and drops before blaming accounts.
warn-no-proxy = No proxy connection found
warn-no-proxy-rest = among { $n } TCP connections: no 407, CONNECT or absolute-form request was seen.
warn-proxy-port = If the proxy listens on a port of its own, name it: --proxy-port PORT (e.g. --proxy-port 8081).
warn-snaplen = The snap length cut the payload of { $n } packets on proxy ports: the requests and responses cannot be read. Capture again with the whole packets (tcpdump -s 0, or a snap length of at least 1600).
warn-snaplen-headers = The snap length cut { $n } packets, some inside their TCP headers: not even the connections can be read. Capture again with the whole packets (tcpdump -s 0).
detail-new_challenge_after_type3-remedy = { $n } of them got a fresh NTLM challenge in answer to its type 3 on the same connection: a load balancer in front of the proxies sent the legs of one handshake to different proxies. Make the balancer sticky (by client address, or one proxy for the whole of a client connection).
detail-kerberos_token_rejected-remedy = { $n } of them sent a Kerberos ticket that the proxy rejected without a reason on the wire, and the KDC reported no error: the client's clock is likely off from the proxy's (more than 5 minutes), or the proxy's keytab lacks the ticket's key (its key version changed). Check the proxy's log, its clock and its keytab.
detail-krb_error-KDC_ERR_PREAUTH_FAILED-remedy = { $n } of them: the KDC rejected the user's password (KDC_ERR_PREAUTH_FAILED): a mistyped or old saved password. Sign in again with the current password and clear saved credentials.
detail-krb_error-KDC_ERR_CLIENT_REVOKED-remedy = { $n } of them: the KDC refused the account (KDC_ERR_CLIENT_REVOKED): disabled, locked out or not allowed tickets. Enable or unlock it in the directory, and find what locked it.
detail-krb_error-KDC_ERR_KEY_EXPIRED-remedy = { $n } of them: the user's password has expired (KDC_ERR_KEY_EXPIRED). The user must change it; a ticket for kadmin/changepw after it is that change, not a login.
detail-krb_error-KDC_ERR_C_PRINCIPAL_UNKNOWN-remedy = { $n } of them: the KDC knows no such user (KDC_ERR_C_PRINCIPAL_UNKNOWN): a mistyped user name, another realm, or a deleted account.
detail-krb_error-KDC_ERR_S_PRINCIPAL_UNKNOWN-remedy = { $n } of them: the KDC has no service principal for the name the client used for the proxy (KDC_ERR_S_PRINCIPAL_UNKNOWN; asked for: { $names }): register HTTP/<that name> for the proxy's account, or give clients the proxy's registered name instead of an IP address or an alias.
detail-krb_error-KRB_AP_ERR_SKEW-remedy = { $n } of them: the KDC found the client's clock off by more than the allowed skew (KRB_AP_ERR_SKEW, usually 5 minutes). Synchronise the client's clock (NTP, domain time).
warn-flood-only = The proxy ports saw only connection attempts, from a flood or scan (below).
warn-tls = { $n } connections to a proxy port speak TLS (an HTTPS proxy): their authentication is hidden.
warn-no-episode = No episode: none of the { $requests } requests on { $connections } proxy connections met a 407 challenge.
heading-floods = Connection floods and scans (not counted as clients)
flood-name = connection flood or scan
flood-one-syn = , one SYN each
flood-attempts = , { $n } attempts
flood-more-than = more than{" "}
flood-line = { $name } against { $proxy }: { $more }{ $sources } sources{ $each }, { $first } to { $last }
heading-causes = Failures by cause
cause-line = { $cause }  { $episodes }, { $users }, { $clients }
label-what = what:
label-remedy = remedy:
label-prevention = prevent:
heading-findings = Findings
finding-users = { $users }: { $names }
finding-and-more = and { $n } more
finding-requests = { $requests } in { $episodes }
none = none
heading-schemes = Schemes (episodes)
schemes-offered = offered:
schemes-used = used:
heading-time-to-auth = Time to authenticate
tta-line = p50 { $p50 }   p95 { $p95 }   max { $max }   over { $n } authenticated episodes
tta-none = no authenticated episode
heading-health = Capture health
health-packets = packets { $packets } ({ $bytes }){ $links }
health-link-types = {"   "}link types: { $list }
health-connections = TCP connections { $tcp }   proxy connections { $proxy }   TLS to a proxy port { $tls }   failed connection attempts { $failed }
health-http = requests { $requests }   responses { $responses }   407s { $r407 }   CONNECT { $connect }   with credentials { $credentialed }   unanswered { $unanswered }
health-truncated = truncated packets { $n }
health-gap-bytes = gap bytes { $n }
health-decode-errors = decode errors { $n }
health-http-anomalies = HTTP anomalies { $n }
health-ip-fragments = IP fragments { $n }
health-flow-limit = flow limit hits { $n }
health-kernel-dropped = kernel dropped { $n }
health-queue-dropped = dropped behind the analysis { $n }
health-shard = shard { $shard }: the clients of the other shards were skipped ({ $n } TCP packets)
health-encapsulations = encapsulations: { $list }
health-mirror-packets = { $n } packets
health-tls-hidden = { $n } connections to a proxy port speak TLS (an HTTPS proxy): their authentication is hidden and not in the episodes.
health-no-loss = no loss seen in the capture
health-anomalies = anomalies:
health-notices = notices:

## The HTML report.

html-heading-charts = Charts
html-heading-tables = Top users, clients, proxies and targets
html-heading-failed = Failed episodes and their evidence
html-sort-hint = Click a column header to sort the table.
html-failed-none = No failed episode.
html-failed-kept = The latest { $kept } of { $seen } failed episodes.
html-filter = display filter
html-generated = Written by proxy407 from the capture's packets; passwords, hashes and tokens never reach this report.
html-no-failure = No episode failed.
html-no-data = nothing to draw
html-tile-challenges = 407 challenges
html-tile-episodes = episodes
html-tile-authenticated = authenticated
html-tile-failed = failed
html-tile-unresolved = unresolved
html-tile-users-affected = users affected
html-tile-median = median time to authenticate
html-chart-causes = Failures by cause
html-chart-timeline = Challenges and failures per minute
html-chart-timeline-n = Challenges and failures per { $n } minutes
html-chart-tta = Time to authenticate, by percentile
html-legend-challenges = 407 challenges
html-legend-failed = failed episodes
html-max = max
html-tta-samples = authenticated episodes
html-h-files = files
html-h-packets = packets
html-h-bytes = bytes
html-h-link-type = packets by link type
html-h-tcp = TCP connections
html-h-proxy = proxy connections
html-h-tls = TLS to a proxy port
html-h-failed-attempts = failed connection attempts
html-h-truncated = truncated packets
html-h-gap-bytes = gap bytes
html-h-decode-errors = decode errors
html-h-http-anomalies = HTTP anomalies
html-h-ip-fragments = IP fragments
html-h-flow-limit = flow limit hits
html-h-kernel-dropped = kernel dropped
html-h-requests = requests
html-h-responses = responses
html-h-407 = 407 responses
html-h-connect = CONNECT requests
html-h-credentialed = requests with credentials
html-h-unanswered = unanswered requests
html-ep-id = episode
html-ep-span = from, to
html-ep-scheme = scheme used
html-ep-offered = schemes offered
html-ep-steps = steps
html-ep-steps-value = { $challenges } { $challenges_plural ->
    [one] challenge
   *[other] challenges
}, { $attempts } credential { $attempts_plural ->
    [one] attempt
   *[other] attempts
}, { $connections } { $connections_plural ->
    [one] connection
   *[other] connections
}
html-ep-status = final status
html-ep-detail = detail
html-ep-domain = domain
html-ep-workstation = workstation
html-ep-user-source = user name from
html-ep-user-agent = user agent

## The dashboard.

cause-handshake_broken-short = handshake_broken
cause-scheme_mismatch-short = scheme_mismatch
cause-bad_credentials-short = bad_credentials
cause-no_credentials-short = no_credentials
cause-denied-short = denied
cause-connection_closed-short = connection_closed
cause-no_response-short = no_response
cause-proxy_unreachable-short = proxy_unreachable
finding-lockout_risk-short = lockout risk
finding-cleartext_basic-short = cleartext Basic
finding-ntlm_fallback-short = Kerberos→NTLM
finding-ntlmv1-short = NTLMv1
finding-stale_nonce-short = stale nonce
finding-oversized_token-short = oversized token
finding-capture_gap-short = capture gap
finding-domain_mismatch-short = wrong domain
outcome-authenticated = authenticated
outcome-failed = failed
outcome-unresolved = unresolved
tui-too-small = proxy407: the terminal is too small (needs 60x16; 80x24 is best)
tui-ok = ok
tui-lossy = LOSSY ({ $list })
tui-bad-drops = drops
tui-bad-gaps = gaps
tui-bad-truncated = truncated
tui-bad-decode = decode errors
tui-bad-limits = limits hit
tui-live = LIVE
tui-replay = REPLAY x{ $speed }
tui-replay-max = REPLAY max speed
tui-paused = [PAUSED]
tui-end = [END OF CAPTURE]
tui-stopped = [STOPPED]
tui-rates = elapsed { $elapsed }  { $pps } pkt/s  { $bps }b/s
tui-capture = capture
tui-top-anomaly = top anomaly { $name } { $n }
tui-flood = flood or scan vs { $proxy }: { $sources } sources
tui-via = via { $list }
tui-packets = packets { $n }
tui-drops = drops { $n }
tui-gap-bytes = gap bytes { $n }
tui-truncated = truncated { $n }
tui-decode-errors = decode errors { $n }
tui-tls = TLS-to-proxy { $n }
tui-open = open { $open } settling { $settling }
tui-tile-challenges = Challenges
tui-tile-authenticated = Authenticated
tui-tile-failed = Failed
tui-tile-unresolved = Unresolved
tui-tile-users = Users failing
tui-tile-median = Median auth
tui-causes = Failures by cause
tui-remedy = remedy: { $text }
tui-prevent = prevent: { $text }
tui-timeline-span = Timeline/min { $from }-{ $to }
tui-timeline = Timeline per minute
tui-407s = 407s
tui-fail = fail
tui-recent = Recent failures
tui-findings = Findings (f: recent failures)
tui-findings-wide = Findings
tui-recent-toggle = Recent failures (f: findings)
tui-finding-label = { $label }:{" "}
tui-findings-none = no finding yet
tui-lockout-user = { $user } ({ $n } failed/10min)
tui-tab-users = Users
tui-tab-clients = Clients
tui-tab-proxies = Proxies
tui-tab-targets = Targets
tui-sort = sort: { $col } { $dir }
tui-asc = asc
tui-desc = desc
tui-filter = filter: { $text }
tui-no-episodes = no episodes yet
tui-no-match = no row matches the filter
tui-col-top-cause = top cause
tui-col-p50 = p50 ms
tui-col-last-seen = last seen
tui-drill-title = Episodes of { $kind } { $key }: { $n } episodes, { $failed } failed{ $kept } (Esc: back)
tui-drill-kept = ; the latest { $n } kept, older ones are gone
tui-d-start = start
tui-d-id = id
tui-d-verdict = verdict
tui-d-cause = cause
tui-d-detail = detail
tui-d-scheme = scheme
tui-d-auth-ms = auth ms
tui-d-conns = conns
tui-d-client = client
tui-d-user = user
tui-d-target = target
tui-filter-edit = / filter { $table }: { $text }_   (Enter: keep, Esc: clear)
tui-paused-held = paused: { $n } new episodes held (p: resume)
tui-keys = tab:panel  <>:table  enter:drill  /:filter  s:sort  f:findings  e:export  ?:help  q:quit
tui-exported = exported the tables and the report to { $dir }
tui-export-failed = export failed: { $error }
tui-help-title = Help: keys
tui-help-close = any key closes this help
tui-help-tab = move between panels: table, causes, recent failures
tui-help-tables = users, clients, proxies, targets table
tui-help-move = move the selection
tui-help-enter = drill into the selected user, client, proxy or target
tui-help-ladder = in a drill-down: the selected episode's ladder and verdict
tui-help-esc = back from a drill-down; clear the filter
tui-help-filter = filter the table by key (enter keeps, esc clears)
tui-help-sort = sort by the next column / reverse the order
tui-help-findings = findings or recent failures in the lower right panel
tui-help-pause = pause (the replay waits; live episodes are held)
tui-help-speed = replay faster / slower
tui-help-export = export the current tables and the HTML report
tui-help-help = this help
tui-help-quit = quit

## The evidence of failed episodes (the terminal report, the HTML report, the dashboard).

heading-evidence = Evidence: the latest { $shown } of { $seen } failed episodes
evidence-file = file:
evidence-frames = frames:
evidence-filter = filter:
evidence-explain = explain:

## The ladder of one episode (`proxy407 explain`, Enter in the dashboard's drill-down).

ladder-title = Episode #{ $id }  { $user }  { $client } → { $proxy }  { $target }
ladder-no-response = (no response)
ladder-no-heads = no HTTP head: connection attempts only
ladder-verdict = verdict:
ladder-rule = rule:
ladder-unknown-episode = no episode #{ $id } in { $files } (its episodes are numbered 1 to { $n })
ladder-no-episodes = no episode in { $files }
rule-unresolved = Unresolved
rule-authenticated = Outcomes, and the order of judging
step-basic = { $scheme } user and password
step-digest = { $scheme } response
step-ntlm_type1 = { $scheme } type 1 (negotiate)
step-ntlm_type2 = { $scheme } type 2 (challenge)
step-ntlm_type3 = { $scheme } type 3 (authenticate)
step-kerberos = { $scheme } Kerberos ticket
step-negotiate_reply = { $scheme } reply
step-unknown = { $scheme } (not readable)
step-none = no credentials
step-challenge = challenge: { $schemes }
tui-ladder-title = The episode's ladder (Esc: back to the list)
tui-evidence-title = Evidence of episode #{ $id } (Enter: its ladder)
