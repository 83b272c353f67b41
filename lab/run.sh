#!/usr/bin/env bash
# Runs the proxy407 real-proxy lab: starts Squid (Basic 3128, Digest 3129, NTLM 8080,
# Negotiate/Kerberos 3130 with an MIT KDC on 88), a closing hop in front of the NTLM Squid
# (8888), tinyproxy (Basic, 8000) and an origin (18080) on loopback, drives every scenario
# through them under tcpdump, stops everything.
#
#   lab/run.sh --out DIR              one pcap per scenario: DIR/NAME.pcap
#   lab/run.sh --combined FILE        one capture of all scenarios
#   lab/run.sh --only a,b --out DIR   some scenarios;   lab/run.sh --list
#
# Needs root (tcpdump on lo, Squid's user switch) and squid, tinyproxy, tcpdump, curl,
# htpasswd (apache2-utils), python3, krb5kdc/kdb5_util (krb5-kdc), kadmin.local
# (krb5-admin-server), kinit/kvno (krb5-user), faketime. Nothing listens on 9090 (the
# unreachable proxy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
exec "$py" "$here/lab.py" "$@"
