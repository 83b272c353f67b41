#!/usr/bin/env python3
"""proxy407 real-proxy lab.

Starts real forward proxies on loopback (Squid with Basic, Digest, NTLM and Negotiate/Kerberos
against an MIT KDC of its own, tinyproxy with Basic), a tiny origin server, and drives clients
(curl and exact-wire Python socket clients) through every authentication failure cause of
docs/verdicts.md section 4 while tcpdump records the traffic. Everything started here is
stopped at the end.

Only the Python standard library is used. Run it through `lab/run.sh`.
"""

import argparse
import base64
import http.server
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

ORIGIN_PORT = 18080
PORT_BASIC = 3128  # Squid, Basic (also: /blocked is denied, 8 KB header limit)
PORT_DIGEST = 3129  # Squid, Digest
PORT_NTLM = 8080  # Squid, NTLM (fake helper wrapped to reject one user)
PORT_TINY = 8000  # tinyproxy, BasicAuth
PORT_NTLM_CLOSE = 8888  # a closing hop (like an LB without keep-alive) in front of 8080
RELAY_SRC = "127.0.0.200"  # the hop's own upstream address, left out of every capture
PORT_CLOSED = 9090  # nothing listens: connection refused (RST)
PORT_KRB = 3130  # Squid, Negotiate (negotiate_kerberos_auth); found by its 407, not by port
KDC_PORT = 88  # the lab's MIT KDC (krb5kdc), 127.0.0.1 only
REALM = "LAB.TEST"
KRB_PROXY_HOST = "localhost"  # the name clients use for PORT_KRB: the SPN is HTTP/localhost
SPN = f"HTTP/{KRB_PROXY_HOST}@{REALM}"

LO = "127.0.0.1"
ORIGIN = f"http://{LO}:{ORIGIN_PORT}"

# The lab's throwaway credentials. samples/SECRETS.txt lists every password below; no output
# of proxy407 may ever contain one of them.
USERS_BASIC = {"alice": "Lab-Secret-7f3a", "bob": "Lab-Bob-Pw-4e8d", "erin": "Lab-Erin-Pw-0b57",
               "frank": "Lab-Frank-Pw-8d2e"}
# frank also has a Kerberos principal with the same password (as with a directory account).
KRB_USER = ("frank", USERS_BASIC["frank"])
# Kerberos-only principals, every one with pre-authentication required: gina's password has
# expired, hank may get no tickets (locked); WRONG_KRB is what a user mistypes for frank.
KRB_EXPIRED = ("gina", "Lab-Gina-Pw-5c7e")
KRB_LOCKED = ("hank", "Lab-Hank-Pw-9a1d")
WRONG_KRB = "Wrong-Krb-Pw-6f0b"
KRB_UNKNOWN_USER = "ivan"  # no principal
KDC_MASTER = "Lab-Kdc-Master-1f9b"  # the KDC database's master password (never on the wire)
WRONG_BASIC = "Wrong-Pass-91c2"
USERS_DIGEST = {"carol": "Lab-Digest-Pw-5d1e"}
WRONG_DIGEST = "Wrong-Digest-8a4f"
NTLM_GOOD = ("LAB", "dave", "Lab-Ntlm-Pw-3c6b")
NTLM_REJECTED = ("LAB", "mallory", "Lab-Mallory-Pw-6a0f")
TINY_USER = ("tuser", "Lab-Tiny-Pw-2b9c")
WRONG_TINY = "Wrong-Tiny-3e71"

UA = "lab-client/1.0"


def log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Origin server


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-origin"
    sys_version = ""

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_origin():
    srv = http.server.ThreadingHTTPServer((LO, ORIGIN_PORT), OriginHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


class CloseRelayHandler(socketserver.BaseRequestHandler):
    """Forwards one request to the NTLM Squid, answers with `Connection: close`, closes."""

    def handle(self):
        c = self.request
        c.settimeout(10)
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            up = socket.socket()
            up.settimeout(10)
            up.bind((RELAY_SRC, 0))
            up.connect((LO, PORT_NTLM))
            up.sendall(buf)
            rbuf = b""
            while b"\r\n\r\n" not in rbuf:
                d = up.recv(65536)
                if not d:
                    return
                rbuf += d
            head, body = rbuf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            clen = 0
            kept = [lines[0]]
            for ln in lines[1:]:
                k = ln.split(b":", 1)[0].strip().lower()
                if k == b"content-length":
                    clen = int(ln.split(b":", 1)[1])
                if k not in (b"connection", b"proxy-connection", b"keep-alive"):
                    kept.append(ln)
            kept.append(b"Connection: close")
            while len(body) < clen:
                d = up.recv(65536)
                if not d:
                    break
                body += d
            up.close()
            c.sendall(b"\r\n".join(kept) + b"\r\n\r\n" + body)
        except OSError:
            pass
        finally:
            c.close()


def start_close_relay():
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer((LO, PORT_NTLM_CLOSE), CloseRelayHandler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# --------------------------------------------------------------------------------------------
# Proxies

SQUID_ERRORS = "/usr/share/squid/errors/templates"

NTLM_WRAPPER = r'''
import subprocess, sys
# Wraps ntlm_fake_auth (which accepts everyone): a type 3 for the rejected user is refused.
REJECT = sys.argv[1].lower()
fake = subprocess.Popen(["/usr/lib/squid/ntlm_fake_auth"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True, bufsize=1)
for line in sys.stdin:
    fake.stdin.write(line)
    fake.stdin.flush()
    reply = fake.stdout.readline()
    if not reply:
        break
    parts = reply.split()
    if parts and parts[0] in ("AF", "OK"):
        who = " ".join(parts[1:]).replace("user=", "")
        # ntlm_fake_auth may append stray bytes to OEM names: compare the start.
        if who.split("\\")[-1].lower().startswith(REJECT):
            reply = ("NA" if parts[0] == "AF" else "ERR") + " rejected\n"
    sys.stdout.write(reply)
    sys.stdout.flush()
'''


KRB5_CONF = """[libdefaults]
    default_realm = {realm}
    udp_preference_limit = {udp_limit}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    ignore_acceptor_hostname = false
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{kdc_port}
    }}
[domain_realm]
    {host} = {realm}
"""

KDC_CONF = """[kdcdefaults]
    kdc_listen = 127.0.0.1:{kdc_port}
    kdc_tcp_listen = 127.0.0.1:{kdc_port}
[realms]
    {realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        max_life = 10h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5.log
"""

# Squid runs its helper without our environment: the wrapper gives it the lab's krb5.conf,
# the keytab, and no replay cache file outside the work dir.
NEGOTIATE_WRAPPER = """#!/bin/sh
export KRB5_CONFIG={conf}
export KRB5_KTNAME=FILE:{keytab}
export KRB5RCACHETYPE=none
exec /usr/lib/squid/negotiate_kerberos_auth -s {spn} -k {keytab} -t none
"""


# The prepared Kerberos clients (name -> environment with KRB5_CONFIG and KRB5CCNAME).
KRB_CLIENTS = {}


def squid_conf(d, port, auth, extra=""):
    return f"""
http_port {LO}:{port}
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log
cache_store_log none
cache deny all
cache_mem 4 MB
coredump_dir {d}
error_directory {d}/errors
visible_hostname lab-proxy-{port}
httpd_suppress_version_string on
cache_effective_user proxy
shutdown_lifetime 0 seconds
via off
server_persistent_connections off
forwarded_for delete
icp_port 0
pinger_enable off
htcp_port 0
{auth}
acl authed proxy_auth REQUIRED
acl blocked urlpath_regex ^/blocked
http_access deny !authed
http_access deny blocked
http_access allow authed
http_access deny all
{extra}
"""


class Lab:
    def __init__(self, workdir):
        self.dir = workdir
        self.procs = []  # (name, Popen)
        self.origin = None
        self.relay = None
        self.krb_env = None  # the environment of Kerberos tools: the lab's KRB5_CONFIG
        self.krb_admin_env = None  # and the KDC's profile

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def spawn(self, name, argv, **kw):
        out = open(self.path(f"{name}.out"), "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def write(self, rel, text, mode=0o644):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def start_squid(self, name, port, auth, extra=""):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        errs = os.path.join(d, "errors")
        os.makedirs(errs, exist_ok=True)
        # Tiny error pages keep the captures small; the status line and headers are Squid's.
        for f in os.listdir(SQUID_ERRORS):
            with open(os.path.join(errs, f), "w") as fh:
                fh.write(f"{f}\n")
        conf = os.path.join(d, "squid.conf")
        with open(conf, "w") as fh:
            fh.write(squid_conf(d, port, auth, extra))
        subprocess.run(["chown", "-R", "proxy:proxy", d], check=True)
        self.spawn(name, ["squid", "-N", "-n", name.replace("-", ""), "-f", conf])

    def krb_run(self, argv, stdin=None):
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                           env=self.krb_admin_env)
        if r.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): "
                               f"{(r.stdout + r.stderr).strip()[-500:]}")
        return r.stdout

    def kadmin(self, query):
        return self.krb_run(["kadmin.local", "-q", query])

    def client_ticket(self, name):
        """A client credential cache: frank's TGT and his ticket for the proxy's SPN, fetched
        now so that no KDC exchange falls inside a scenario's capture."""
        cc = f"FILE:{self.path('krb', 'ccache', name)}"
        env = dict(self.krb_env, KRB5CCNAME=cc)
        for argv, stdin in ((["kinit", KRB_USER[0]], KRB_USER[1] + "\n"), (["kvno", SPN], None)):
            r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                raise RuntimeError(f"{argv[0]} failed ({r.returncode}): "
                                   f"{(r.stdout + r.stderr).strip()[-500:]}")
        KRB_CLIENTS[name] = env

    def start_kerberos(self):
        """An MIT KDC for LAB.TEST on 127.0.0.1:88, a Squid with Negotiate on PORT_KRB, and
        two prepared clients: `current` holds a ticket for the proxy's key, `stale` one for
        the key the proxy had before it was changed (kvno 1; the proxy's keytab has kvno 2)."""
        kd = self.path("krb")
        kdc_dir = os.path.join(kd, "kdc")
        os.makedirs(kdc_dir, mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(kd, "ccache"), mode=0o700, exist_ok=True)
        conf = self.write("krb/krb5.conf", KRB5_CONF.format(
            realm=REALM, kdc_port=KDC_PORT, host=KRB_PROXY_HOST, udp_limit=1465))
        # The same realm over TCP (every message larger than 1 byte goes by TCP).
        tcp_conf = self.write("krb/krb5-tcp.conf", KRB5_CONF.format(
            realm=REALM, kdc_port=KDC_PORT, host=KRB_PROXY_HOST, udp_limit=1))
        kdc_conf = self.write("krb/kdc/kdc.conf", KDC_CONF.format(
            realm=REALM, kdc_port=KDC_PORT, d=kdc_dir), 0o600)
        self.write("krb/kdc/kadm5.acl", "", 0o600)
        base = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
        self.krb_env = dict(base, KRB5_CONFIG=conf)
        self.krb_admin_env = dict(self.krb_env, KRB5_KDC_PROFILE=kdc_conf)
        self.krb_run(["kdb5_util", "create", "-s", "-r", REALM, "-P", KDC_MASTER])
        self.kadmin(f"addprinc -pw {KRB_USER[1]} +requires_preauth {KRB_USER[0]}")
        self.kadmin(f"addprinc -pw {KRB_EXPIRED[1]} +requires_preauth -pwexpire now "
                    f"{KRB_EXPIRED[0]}")
        self.kadmin(f"addprinc -pw {KRB_LOCKED[1]} +requires_preauth -allow_tix "
                    f"{KRB_LOCKED[0]}")
        self.kadmin(f"addprinc -randkey HTTP/{KRB_PROXY_HOST}")
        self.spawn("krb5kdc", ["krb5kdc", "-n"], env=self.krb_admin_env)
        wait_port(KDC_PORT, 30, self)
        self.client_ticket("stale")  # kvno 1
        # The proxy's key changes (a new keytab, kvno 2); `stale` keeps its old ticket.
        helper_dir = self.path("krb-helper")
        os.makedirs(helper_dir, exist_ok=True)
        keytab = os.path.join(helper_dir, "http.keytab")
        self.kadmin(f"ktadd -k {keytab} HTTP/{KRB_PROXY_HOST}")
        self.client_ticket("current")  # kvno 2
        wrapper = self.write("krb-helper/negotiate.sh", NEGOTIATE_WRAPPER.format(
            conf=conf, keytab=keytab, spn=SPN), 0o755)
        os.chmod(conf, 0o644)
        os.chmod(tcp_conf, 0o644)
        os.chmod(kd, 0o755)
        # Empty credential caches for the clients that log in inside a capture.
        for name, c in (("fresh", conf), ("fresh-tcp", tcp_conf)):
            KRB_CLIENTS[name] = dict(self.krb_env, KRB5_CONFIG=c,
                                     KRB5CCNAME=f"FILE:{self.path('krb', 'ccache', name)}")
        os.chmod(keytab, 0o600)
        subprocess.run(["chown", "-R", "proxy:proxy", helper_dir], check=True)
        self.start_squid(
            "krb", PORT_KRB,
            f"auth_param negotiate program {wrapper}\n"
            "auth_param negotiate children 2\nauth_param negotiate keep_alive on\n")

    def start(self):
        for port in (PORT_BASIC, PORT_DIGEST, PORT_NTLM, PORT_NTLM_CLOSE, PORT_TINY,
                     PORT_CLOSED, PORT_KRB, KDC_PORT, ORIGIN_PORT):
            if not refused(port):
                raise RuntimeError(f"port {port} is already in use (a leftover proxy?)")
        os.chmod(self.dir, 0o755)
        self.origin = start_origin()
        # Basic
        ht = self.path("basic", "htpasswd")
        os.makedirs(os.path.dirname(ht), exist_ok=True)
        open(ht, "w").close()
        for u, pw in USERS_BASIC.items():
            subprocess.run(["htpasswd", "-b", ht, u, pw], check=True, capture_output=True)
        self.start_squid(
            "basic", PORT_BASIC,
            f"auth_param basic program /usr/lib/squid/basic_ncsa_auth {ht}\n"
            "auth_param basic children 2\nauth_param basic realm LAB\n",
            "request_header_max_size 8 KB\n")
        # Digest
        dp = self.write("digest/passwd",
                        "".join(f"{u}:{pw}\n" for u, pw in USERS_DIGEST.items()), 0o640)
        self.start_squid(
            "digest", PORT_DIGEST,
            f"auth_param digest program /usr/lib/squid/digest_file_auth {dp}\n"
            "auth_param digest children 2\nauth_param digest realm LAB\n")
        # NTLM
        wrap = self.write("ntlm-wrapper.py", NTLM_WRAPPER)
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        ntlm_auth = (f"auth_param ntlm program {py} {wrap} {NTLM_REJECTED[1]}\n"
                     "auth_param ntlm children 4\nauth_param ntlm keep_alive on\n")
        self.start_squid("ntlm", PORT_NTLM, ntlm_auth)
        # A hop without keep-alive in front of the NTLM Squid (Squid itself keeps the
        # connection open after a type 2 even with client_persistent_connections off).
        self.relay = start_close_relay()
        # tinyproxy
        td = self.path("tinyproxy")
        os.makedirs(td, exist_ok=True)
        conf = self.write("tinyproxy/tinyproxy.conf", f"""
User nobody
Group nogroup
Port {PORT_TINY}
Listen {LO}
Timeout 60
MaxClients 20
Allow 127.0.0.0/8
BasicAuth {TINY_USER[0]} {TINY_USER[1]}
LogFile "{td}/tinyproxy.log"
LogLevel Info
PidFile "{td}/tinyproxy.pid"
DisableViaHeader Yes
""")
        subprocess.run(["chown", "-R", "nobody:nogroup", td], check=True)
        self.spawn("tinyproxy", ["tinyproxy", "-d", "-c", conf])
        # Kerberos: the KDC, the Negotiate Squid, the clients' tickets
        self.start_kerberos()
        for port in (PORT_BASIC, PORT_DIGEST, PORT_NTLM, PORT_NTLM_CLOSE, PORT_TINY, PORT_KRB,
                     ORIGIN_PORT):
            wait_port(port, 30, self)
        # Squid answers on its port before its helpers are up: a warm-up request that is
        # not captured.
        time.sleep(0.5)
        log("proxies ready")

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 10
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs = []
        if self.relay:
            self.relay.shutdown()
            self.relay.server_close()
            self.relay = None
        if self.origin:
            self.origin.shutdown()
            self.origin.server_close()
            self.origin = None


def wait_port(port, timeout, lab=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if lab:
            for name, p in lab.procs:
                if p.poll() is not None:
                    out = open(lab.path(f"{name}.out"), errors="replace").read()[-2000:]
                    raise RuntimeError(f"{name} exited early ({p.returncode}): {out}")
        try:
            s = socket.create_connection((LO, port), timeout=1)
            s.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


# --------------------------------------------------------------------------------------------
# Capture


class Capture:
    def __init__(self, path):
        self.path = path
        # -B: a 32 MiB capture buffer. With the default one, tcpdump on this kernel drops
        # packets under load (tinyproxy's many small segments), leaving holes in the streams.
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode", "-B", "32768", "-w", path,
             f"(tcp or udp port {KDC_PORT}) and not host {RELAY_SRC}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        # tcpdump says "listening on lo" once the capture is open.
        line = self.proc.stderr.readline().decode(errors="replace")
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"tcpdump did not start: {line.strip()}")
        time.sleep(0.2)

    def stop(self):
        """Stops tcpdump; returns how many packets it says the kernel dropped (None if it
        did not say)."""
        # tcpdump may still hold the last packets: send a marker through loopback on a
        # connection of our own (not HTTP, not a proxy port, so the analysis passes over it)
        # and stop only once the marker is in the file, so no scenario loses its tail.
        marker = f"lab-capture-marker-{os.getpid()}-{time.time_ns()}".encode()
        with socket.socket() as listener:
            listener.bind((LO, 0))
            listener.listen(1)
            with socket.create_connection(listener.getsockname(), timeout=2) as c:
                peer, _ = listener.accept()
                c.sendall(marker)
                peer.recv(len(marker))
                peer.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.path, "rb") as f:
                if marker in f.read():
                    break
            time.sleep(0.05)
        time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        stats = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        m = re.search(r"(\d+) packets? dropped by kernel", stats)
        return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------
# Clients


def curl(*args, src=None, env=None, wrap=()):
    argv = list(wrap) + ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\n",
                         "--max-time", "10", "--noproxy", ""]
    if src:
        argv += ["--interface", src]
    argv += list(args)
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    return r.stdout.strip()


class Conn:
    """An exact-wire HTTP/1.1 client on one TCP connection to a proxy."""

    def __init__(self, port, src=None):
        self.port, self.src = port, src
        self.must_close = False
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(10)
        if src:
            self.s.bind((src, 0))
        self.s.connect((LO, port))
        self.buf = b""
        self.closed_by_peer = False

    def request(self, target=ORIGIN + "/ok", auth=None, method="GET", extra=None):
        host = target.split("/")[2] if "://" in target else target
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {UA}",
                 "Proxy-Connection: keep-alive"]
        if auth:
            lines.append(f"Proxy-Authorization: {auth}")
        lines += extra or []
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.response()

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            self.closed_by_peer = True
            raise ConnectionError("closed by proxy")
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip().lower(), v.strip()))
        if any(k in ("connection", "proxy-connection") and v.lower() == "close"
               for k, v in headers):
            self.must_close = True
        clen = next((int(v) for k, v in headers if k == "content-length"), None)
        if clen is not None:
            while len(self.buf) < clen:
                self._fill()
            self.buf = self.buf[clen:]
        elif self.must_close and status >= 200 and status not in (204, 304):
            # A body delimited by the close (tinyproxy's HTTP/1.0 error pages): read it all.
            try:
                while True:
                    self._fill()
            except ConnectionError:
                self.buf = b""
        return status, headers

    def close(self):
        self.s.close()

    def again(self):
        """This connection if the proxy keeps it open, else a new one (as clients do)."""
        if self.must_close or self.closed_by_peer:
            self.close()
            return Conn(self.port, self.src)
        return self

    def wait_peer_close(self, timeout=2):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except (socket.timeout, OSError):
            return False


def header(headers, name, prefix=""):
    for k, v in headers:
        if k == name and v.startswith(prefix):
            return v
    return None


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def ntlm_type1():
    flags = 0x00088207 | 0x00001000 | 0x00002000  # unicode, oem, target, ntlm, sign, ess
    msg = b"NTLMSSP\0" + struct.pack("<I", 1) + struct.pack("<I", flags)
    msg += struct.pack("<HHI", 0, 0, 0) * 2
    return "NTLM " + base64.b64encode(msg).decode()


def ntlm_type3(domain, user, ws="LABPC"):
    # NTLMv2-sized responses; ntlm_fake_auth checks no response, only reads the names.
    lm = b"\x11" * 24
    nt = b"\x22" * 16 + b"\x01\x01\0\0\0\0\0\0" + b"\x33" * 40
    d, u, w = (x.encode("utf-16-le") for x in (domain, user, ws))
    off = 64
    bufs = b""
    fields = []
    for data in (lm, nt, d, u, w, b""):
        fields.append(struct.pack("<HHI", len(data), len(data), off + len(bufs)))
        bufs += data
    flags = 0x00088205
    msg = b"NTLMSSP\0" + struct.pack("<I", 3) + b"".join(fields) + struct.pack("<I", flags)
    return "NTLM " + base64.b64encode(msg + bufs).decode()


def refused(port, src=None):
    s = socket.socket()
    if src:
        s.bind((src, 0))
    try:
        s.connect((LO, port))
        s.close()
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


# --------------------------------------------------------------------------------------------
# Scenarios: each returns a short note of what the proxy did on the wire.


def sc_basic_success(src=None, user="alice"):
    return curl("-x", f"{LO}:{PORT_BASIC}", "--proxy-anyauth", "-U",
                f"{user}:{USERS_BASIC[user]}", ORIGIN + "/ok", src=src)


def sc_basic_wrong_password(src=None, user="bob", rounds=5):
    # A client with a saved wrong password that keeps retrying on the same connection.
    c = Conn(PORT_BASIC, src)
    st = [c.request()[0]]
    for _ in range(rounds):
        c = c.again()
        st.append(c.request(auth=basic(user, WRONG_BASIC))[0])
        time.sleep(0.05)
    c.close()
    return st


def sc_basic_preemptive(src=None, user="alice"):
    # Basic sent up front (curl's default with -U): never challenged, two requests on one
    # connection, each with the password in the clear.
    return curl("-x", f"{LO}:{PORT_BASIC}", "-U", f"{user}:{USERS_BASIC[user]}",
                ORIGIN + "/ok", ORIGIN + "/ok2", src=src)


def sc_digest_success(src=None):
    return curl("-x", f"{LO}:{PORT_DIGEST}", "--proxy-digest", "-U",
                f"carol:{USERS_DIGEST['carol']}", ORIGIN + "/ok", src=src)


def sc_digest_wrong_password(src=None):
    return curl("-x", f"{LO}:{PORT_DIGEST}", "--proxy-digest", "-U",
                f"carol:{WRONG_DIGEST}", ORIGIN + "/ok", src=src)


def sc_ntlm_success(src=None):
    d, u, pw = NTLM_GOOD
    return curl("-x", f"{LO}:{PORT_NTLM}", "--proxy-anyauth", "-U", f"{d}\\{u}:{pw}",
                ORIGIN + "/ok", src=src)


def sc_ntlm_rejected_user(src=None):
    d, u, pw = NTLM_REJECTED
    return curl("-x", f"{LO}:{PORT_NTLM}", "--proxy-anyauth", "-U", f"{d}\\{u}:{pw}",
                ORIGIN + "/ok", src=src)


def sc_ntlm_type3_new_connection(src=None):
    # A load balancer without stickiness: the type 3 reaches the proxy on another connection.
    a = Conn(PORT_NTLM, src)
    st = [a.request()[0]]
    a = a.again()
    st.append(a.request(auth=ntlm_type1())[0])
    b = Conn(PORT_NTLM, src)
    a.close()
    st.append(b.request(auth=ntlm_type3(*NTLM_GOOD[:2]))[0])
    b.close()
    return st


def sc_ntlm_stopped_after_type2(src=None):
    # The client starts NTLM, gets the type 2 and abandons the handshake.
    c = Conn(PORT_NTLM, src)
    st = [c.request()[0]]
    c = c.again()
    st.append(c.request(auth=ntlm_type1())[0])
    time.sleep(0.2)
    c.close()
    return st


def sc_ntlm_proxy_closes_after_type2(src=None):
    # Through a hop without keep-alive: the type 2 comes with Connection: close and a FIN.
    c = Conn(PORT_NTLM_CLOSE, src)
    st = [c.request()[0]]
    c = c.again()
    st.append(c.request(auth=ntlm_type1())[0])
    st.append("closed" if c.wait_peer_close() else "open")
    c.close()
    return st


def sc_no_credentials(src=None, ua=None):
    args = ["-x", f"{LO}:{PORT_BASIC}", ORIGIN + "/ok"]
    if ua:
        args = ["-A", ua] + args
    return curl(*args, src=src)


def sc_scheme_mismatch(src=None):
    # NTLM-only proxy; the client answers with Basic.
    c = Conn(PORT_NTLM, src)
    st = [c.request()[0]]
    c = c.again()
    st.append(c.request(auth=basic("alice", USERS_BASIC["alice"]))[0])
    c.close()
    return st


def sc_denied_after_auth(src=None):
    return curl("-x", f"{LO}:{PORT_BASIC}", "--proxy-anyauth", "-U",
                f"alice:{USERS_BASIC['alice']}", ORIGIN + "/blocked/page", src=src)


def sc_proxy_unreachable(src=None):
    return [refused(PORT_CLOSED, src) for _ in range(3)]


def sc_connect_basic(src=None, user="erin"):
    return curl("-x", f"{LO}:{PORT_BASIC}", "-p", "--proxy-anyauth", "-U",
                f"{user}:{USERS_BASIC[user]}", ORIGIN + "/ok", src=src)


def sc_oversized_token(src=None):
    c = Conn(PORT_BASIC, src)
    st = [c.request()[0]]
    c = c.again()
    big = "Basic " + base64.b64encode(b"alice:" + b"x" * 9000).decode()
    st.append(c.request(auth=big)[0])
    st.append("closed" if c.must_close else "open")
    c.close()
    return st


def sc_tinyproxy_success(src=None):
    return curl("-x", f"{LO}:{PORT_TINY}", "--proxy-anyauth", "-U",
                f"{TINY_USER[0]}:{TINY_USER[1]}", ORIGIN + "/ok", src=src)


def sc_tinyproxy_wrong_password(src=None):
    c = Conn(PORT_TINY, src)
    st = [c.request()[0], "close" if c.must_close else "keep-alive"]
    c = c.again()
    status, hdrs = c.request(auth=basic(TINY_USER[0], WRONG_TINY))
    st += [status, header(hdrs, "www-authenticate"), header(hdrs, "proxy-authenticate")]
    c.close()
    return st


def krb_curl(client, src, wrap=()):
    # curl's SPNEGO: the first request goes without credentials (--proxy-anyauth), the 407
    # offers Negotiate, the retry carries the AP-REQ for HTTP/localhost. -4: the proxy name
    # must not resolve to ::1, where nothing listens.
    return curl("-4", "--proxy-anyauth", "-U", ":", "-x", f"http://{KRB_PROXY_HOST}:{PORT_KRB}",
                ORIGIN + "/ok", src=src, env=KRB_CLIENTS[client], wrap=wrap)


def sc_kerberos_success(src="127.0.0.21"):
    # frank logs in with Basic first, then with Kerberos from the same address: the
    # Kerberos episode's user can only be inferred from that earlier login.
    return {"frank basic": sc_basic_success(src, "frank"),
            "frank kerberos": krb_curl("current", src)}


def sc_kerberos_rejected(src="127.0.0.22"):
    # The client's service ticket is for the proxy's previous key (kvno 1); the proxy's
    # keytab has kvno 2 only: the helper fails (BH) and Squid answers 407 again.
    return krb_curl("stale", src)


def sc_kerberos_clock_skew(src="127.0.0.23"):
    # A client clock 10 minutes ahead (libfaketime): the authenticator is outside the
    # acceptor's 5 minute window (Clock skew too great) and Squid answers 407 again.
    return krb_curl("current", src, wrap=("faketime", "-f", "+600s"))


def kinit(client, user, password, wrap=()):
    """A login inside the capture (the KDC exchange is on the wire); its exit status. The
    cache is emptied first, so each scenario starts without tickets."""
    env = KRB_CLIENTS[client]
    subprocess.run(["kdestroy", "-q"], env=env, capture_output=True)
    r = subprocess.run(list(wrap) + ["kinit", user], input=password + "\n",
                       capture_output=True, text=True, env=env)
    return r.returncode


# The scenarios with the KDC on the wire run from 127.0.0.1: the Kerberos library does not
# bind a source address, so the client's KDC traffic and its proxy traffic share that one.
def sc_kerberos_kdc_success():
    # frank logs in (AS-REQ, PREAUTH_REQUIRED, AS-REQ with a timestamp, AS-REP), then curl
    # asks for HTTP/localhost after the 407 (TGS-REQ, TGS-REP) and gets 200. All by TCP.
    return {"kinit": kinit("fresh-tcp", KRB_USER[0], KRB_USER[1]),
            "curl": krb_curl("fresh-tcp", None)}


def sc_kerberos_wrong_password():
    # A mistyped password: KDC_ERR_PREAUTH_FAILED; curl then has no ticket to offer.
    return {"kinit": kinit("fresh", KRB_USER[0], WRONG_KRB), "curl": krb_curl("fresh", None)}


def sc_kerberos_unknown_spn():
    # frank holds a TGT, but the proxy is addressed by its IP: curl asks the KDC for
    # HTTP/127.0.0.1, which no principal has (KDC_ERR_S_PRINCIPAL_UNKNOWN).
    r = kinit("fresh", KRB_USER[0], KRB_USER[1])
    st = curl("-4", "--proxy-anyauth", "-U", ":", "-x", f"http://{LO}:{PORT_KRB}",
              ORIGIN + "/ok", env=KRB_CLIENTS["fresh"])
    return {"kinit": r, "curl": st}


def sc_kerberos_unknown_user():
    # A user name the realm does not have: KDC_ERR_C_PRINCIPAL_UNKNOWN.
    return {"kinit": kinit("fresh", KRB_UNKNOWN_USER, WRONG_KRB), "curl": krb_curl("fresh", None)}


def sc_kerberos_expired_password():
    # gina's password has expired: KDC_ERR_KEY_EXPIRED (kinit then asks for a new one and
    # gets none).
    return {"kinit": kinit("fresh", KRB_EXPIRED[0], KRB_EXPIRED[1]),
            "curl": krb_curl("fresh", None)}


def sc_kerberos_locked():
    # hank may get no tickets (-allow_tix, as a disabled or locked-out account):
    # KDC_ERR_CLIENT_REVOKED.
    return {"kinit": kinit("fresh", KRB_LOCKED[0], KRB_LOCKED[1]),
            "curl": krb_curl("fresh", None)}


def sc_kerberos_kdc_skew():
    # The client's clock 10 minutes ahead when it logs in: its encrypted timestamp is outside
    # the KDC's window (KRB_AP_ERR_SKEW).
    return {"kinit": kinit("fresh", KRB_USER[0], KRB_USER[1], wrap=("faketime", "-f", "+600s")),
            "curl": krb_curl("fresh", None)}


def sc_office_mix(src=None):
    notes = {}
    notes["alice basic"] = [sc_basic_success("127.0.0.11", "alice") for _ in range(2)]
    notes["alice-pc updater"] = sc_no_credentials("127.0.0.11", ua="Updater/2.1")
    notes["bob wrong x5"] = [curl("-x", f"{LO}:{PORT_BASIC}", "--proxy-anyauth", "-U",
                                  f"bob:{WRONG_BASIC}", ORIGIN + "/ok", src="127.0.0.12")
                             for _ in range(5)]
    notes["carol digest"] = sc_digest_success("127.0.0.13")
    notes["dave ntlm"] = sc_ntlm_success("127.0.0.14")
    notes["mallory ntlm"] = sc_ntlm_rejected_user("127.0.0.15")
    notes["erin connect"] = sc_connect_basic("127.0.0.16", "erin")
    notes["kiosk wrong port"] = sc_proxy_unreachable("127.0.0.17")
    return notes


SCENARIOS = [
    ("basic-success", sc_basic_success),
    ("basic-wrong-password", sc_basic_wrong_password),
    ("basic-preemptive", sc_basic_preemptive),
    ("digest-success", sc_digest_success),
    ("digest-wrong-password", sc_digest_wrong_password),
    ("ntlm-success", sc_ntlm_success),
    ("ntlm-rejected-user", sc_ntlm_rejected_user),
    ("ntlm-type3-new-connection", sc_ntlm_type3_new_connection),
    ("ntlm-stopped-after-type2", sc_ntlm_stopped_after_type2),
    ("ntlm-proxy-closes-after-type2", sc_ntlm_proxy_closes_after_type2),
    ("no-credentials", sc_no_credentials),
    ("scheme-mismatch", sc_scheme_mismatch),
    ("denied-after-auth", sc_denied_after_auth),
    ("proxy-unreachable", sc_proxy_unreachable),
    ("connect-basic", sc_connect_basic),
    ("oversized-token", sc_oversized_token),
    ("tinyproxy-success", sc_tinyproxy_success),
    ("tinyproxy-wrong-password", sc_tinyproxy_wrong_password),
    ("kerberos-success", sc_kerberos_success),
    ("kerberos-rejected", sc_kerberos_rejected),
    ("kerberos-clock-skew", sc_kerberos_clock_skew),
    ("kerberos-kdc-success", sc_kerberos_kdc_success),
    ("kerberos-wrong-password", sc_kerberos_wrong_password),
    ("kerberos-unknown-spn", sc_kerberos_unknown_spn),
    ("kerberos-unknown-user", sc_kerberos_unknown_user),
    ("kerberos-expired-password", sc_kerberos_expired_password),
    ("kerberos-locked", sc_kerberos_locked),
    ("kerberos-kdc-skew", sc_kerberos_kdc_skew),
    ("office-mix", sc_office_mix),
]


# --------------------------------------------------------------------------------------------
# What proxy407 must find in each scenario's capture: part of the JSON summary
# (docs/verdicts.md section 6.2). Written to samples/NAME.expected.json by --write-expected;
# tests/lab.rs compares the keys present.

CAUSES = ["handshake_broken", "scheme_mismatch", "bad_credentials", "no_credentials",
          "denied", "connection_closed", "no_response", "proxy_unreachable"]


def expect(about, requests, r407, cred, causes=(), authenticated=0, connect=0,
           findings=None, users=None, schemes_used=None):
    failed = len(causes)
    extra = {"schemes": {"used": dict(schemes_used)}} if schemes_used else {}
    return {
        **extra,
        "_about": about,
        "capture": {"files": 1, "truncated_packets": 0, "gap_bytes": 0},
        "http": {"requests": requests, "responses": requests, "responses_407": r407,
                 "connect_requests": connect, "credentialed_requests": cred,
                 "unanswered_requests": 0},
        "episodes": {"total": authenticated + failed, "authenticated": authenticated,
                     "failed": failed, "unresolved": 0},
        "causes": {c: sum(1 for x in causes if x == c) for c in CAUSES},
        "findings": dict(findings or {}),
        "top": {"users": list(users or [])},
    }


def u(name, **counts):
    return dict(user=name, **counts)


NO_LOCKOUT = {"lockout_risk": 0, "oversized_token": 0, "capture_gap": 0}

EXPECTED = {
    "basic-success": expect(
        "curl, Basic on Squid: 407, then the retry with credentials gets 200",
        2, 1, 1, authenticated=1, findings={**NO_LOCKOUT, "cleartext_basic": 1},
        users=[u("alice", authenticated=1, failed=0)]),
    "basic-wrong-password": expect(
        "a saved wrong Basic password retried 5 times on one keep-alive connection: "
        "every try answered 407; one bad_credentials episode, lockout risk for bob",
        6, 6, 5, ["bad_credentials"],
        findings={"lockout_risk": 1, "cleartext_basic": 5, "oversized_token": 0},
        users=[u("bob", failed=1, failed_bad_credentials=1)]),
    "basic-preemptive": expect(
        "curl -U without --proxy-anyauth: Basic sent up front on two requests and accepted; "
        "no 407, no episode, but two passwords in the clear",
        2, 0, 2, findings={**NO_LOCKOUT, "cleartext_basic": 2}),
    "digest-success": expect(
        "curl --proxy-digest on Squid: 407 with a nonce, the Digest retry gets 200",
        2, 1, 1, authenticated=1, findings={**NO_LOCKOUT, "cleartext_basic": 0},
        users=[u("carol", authenticated=1)]),
    "digest-wrong-password": expect(
        "curl --proxy-digest with a wrong password: Squid answers 407 with a new nonce "
        "(stale=false); curl gives up",
        2, 2, 1, ["bad_credentials"], findings={**NO_LOCKOUT, "stale_nonce": 0},
        users=[u("carol", failed=1)]),
    "ntlm-success": expect(
        "curl --proxy-anyauth on the NTLM Squid: 407 (NTLM offered), type 1 -> 407 with "
        "type 2, type 3 -> 200, all on one connection",
        3, 2, 2, authenticated=1, findings={**NO_LOCKOUT, "ntlmv1": 0},
        users=[u("dave", authenticated=1)]),
    "ntlm-rejected-user": expect(
        "curl NTLM handshake for a user the helper rejects: the type 3 is answered 407",
        3, 3, 2, ["bad_credentials"], findings=NO_LOCKOUT,
        users=[u("mallory", failed=1)]),
    "ntlm-type3-new-connection": expect(
        "type 1 and type 2 on one connection, the type 3 on a new one (a load balancer "
        "without stickiness); Squid answers it with a fresh type 2, the client gives up",
        3, 3, 2, ["handshake_broken"], findings=NO_LOCKOUT),
    "ntlm-stopped-after-type2": expect(
        "the client sends type 1, gets type 2 on a kept-open connection and closes "
        "without a type 3 (stopped_after_type2)",
        2, 2, 1, ["no_credentials"], findings=NO_LOCKOUT),
    "ntlm-proxy-closes-after-type2": expect(
        "through a hop without keep-alive in front of the NTLM Squid: the type 2 comes "
        "with Connection: close and the proxy side closes; no type 3 can follow",
        2, 2, 1, ["handshake_broken"], findings=NO_LOCKOUT),
    "no-credentials": expect(
        "curl without --proxy-user: one 407, no retry",
        1, 1, 0, ["no_credentials"], findings={**NO_LOCKOUT, "cleartext_basic": 0}),
    "scheme-mismatch": expect(
        "the NTLM-only Squid offers NTLM; the client answers with Basic and gets 407 again",
        2, 2, 1, ["scheme_mismatch"], findings={**NO_LOCKOUT, "cleartext_basic": 1}),
    "denied-after-auth": expect(
        "good Basic credentials for a URL Squid's http_access denies: 407, then 403",
        2, 1, 1, ["denied"], findings={**NO_LOCKOUT, "cleartext_basic": 1},
        users=[u("alice", failed=1, failed_denied=1)]),
    "proxy-unreachable": expect(
        "three connection attempts to 127.0.0.1:9090 where no proxy listens (RST): "
        "one proxy_unreachable episode",
        0, 0, 0, ["proxy_unreachable"], findings=NO_LOCKOUT),
    "connect-basic": expect(
        "curl -p (CONNECT) with Basic: 407, then 200 Connection established; the tunnel "
        "that follows is opaque",
        2, 1, 1, authenticated=1, connect=2,
        findings={**NO_LOCKOUT, "cleartext_basic": 1}, users=[u("erin", authenticated=1)]),
    "oversized-token": expect(
        "a 9 KB Proxy-Authorization against Squid with request_header_max_size 8 KB: "
        "431 and close",
        2, 1, 1, ["denied"], findings={"oversized_token": 1, "lockout_risk": 0}),
    "tinyproxy-success": expect(
        "curl Basic on tinyproxy: 407 with Connection: close, a new connection with "
        "credentials gets 200",
        2, 1, 1, authenticated=1, findings={**NO_LOCKOUT, "cleartext_basic": 1},
        users=[u("tuser", authenticated=1)]),
    "tinyproxy-wrong-password": expect(
        "tinyproxy answers a wrong Basic password with 401 and WWW-Authenticate repeating "
        "its proxy challenge (not 407), then closes",
        2, 1, 1, ["bad_credentials"], findings={**NO_LOCKOUT, "cleartext_basic": 1},
        users=[u("tuser", failed=1)]),
    "kerberos-success": expect(
        "frank (127.0.0.21) logs in with Basic on 3128 (407, 200), then curl --proxy-anyauth "
        "with a Kerberos ticket on the Negotiate Squid (3130): 407 offering Negotiate, the "
        "AP-REQ gets 200 with no Proxy-Authenticate (no mutual-auth token on the wire); the "
        "Kerberos episode's user is inferred from the Basic login of the same address",
        4, 2, 2, authenticated=2, findings={**NO_LOCKOUT, "cleartext_basic": 1},
        users=[u("frank", authenticated=2, failed=0)],
        schemes_used={"Basic": 1, "Negotiate": 1}),
    "kerberos-rejected": expect(
        "a service ticket for the proxy's previous key (kvno 1; the proxy's keytab has kvno "
        "2): the helper fails and Squid answers 407 with a bare Negotiate again (no KRB-ERROR "
        "token); curl gives up. The realm comes from the ticket, the user is unknown",
        2, 2, 1, ["bad_credentials"], findings={**NO_LOCKOUT, "ntlm_fallback": 0},
        users=[u("(unknown)", failed=1, failed_bad_credentials=1, domain=REALM)],
        schemes_used={"Negotiate": 1}),
    "kerberos-clock-skew": expect(
        "a client clock 10 minutes ahead (libfaketime): the proxy's acceptor finds the "
        "authenticator outside its 5 minute window and Squid answers 407 with a bare "
        "Negotiate, exactly as for a wrong key: the skew is not visible on the wire",
        2, 2, 1, ["bad_credentials"], findings={**NO_LOCKOUT, "ntlm_fallback": 0},
        users=[u("(unknown)", failed=1, failed_bad_credentials=1, domain=REALM)],
        schemes_used={"Negotiate": 1}),
    "kerberos-kdc-success": expect(
        "frank logs in inside the capture (AS-REQ, KDC_ERR_PREAUTH_REQUIRED, AS-REQ with an "
        "encrypted timestamp, AS-REP), then curl gets the 407, asks the KDC for HTTP/localhost "
        "(TGS-REQ, TGS-REP naming frank) and sends the AP-REQ: 200. Every KDC message by TCP; "
        "the episode's user comes from the TGS-REP (user_source kdc)",
        2, 1, 1, authenticated=1, findings={**NO_LOCKOUT, "ntlm_fallback": 0},
        users=[u("frank", authenticated=1, failed=0, domain=REALM)],
        schemes_used={"Negotiate": 1}),
    "kerberos-wrong-password": expect(
        "kinit with a mistyped password: KDC_ERR_PREAUTH_REQUIRED (a normal first leg), then "
        "KDC_ERR_PREAUTH_FAILED; curl has no ticket and sends no credentials after the 407s "
        "(no_credentials, detail krb_error=KDC_ERR_PREAUTH_FAILED, user frank from the error)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u("frank", failed=1, failed_no_credentials=1, domain=REALM)]),
    "kerberos-unknown-spn": expect(
        "frank holds a TGT but addresses the proxy by its IP: after the 407 curl asks for "
        "HTTP/127.0.0.1 and the KDC answers KDC_ERR_S_PRINCIPAL_UNKNOWN "
        "(detail krb_error=KDC_ERR_S_PRINCIPAL_UNKNOWN spn=HTTP/127.0.0.1)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u("frank", failed=1, failed_no_credentials=1)]),
    "kerberos-unknown-user": expect(
        "kinit for a user the realm does not have: KDC_ERR_C_PRINCIPAL_UNKNOWN "
        "(detail krb_error=KDC_ERR_C_PRINCIPAL_UNKNOWN)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u(KRB_UNKNOWN_USER, failed=1, failed_no_credentials=1)]),
    "kerberos-expired-password": expect(
        "gina's password has expired: KDC_ERR_KEY_EXPIRED, then an AS exchange for "
        "kadmin/changepw (the password change, not a login); curl has no ticket "
        "(detail krb_error=KDC_ERR_KEY_EXPIRED)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u("gina", failed=1, failed_no_credentials=1)]),
    "kerberos-locked": expect(
        "hank may get no tickets (-allow_tix, as a disabled or locked-out account): "
        "KDC_ERR_CLIENT_REVOKED (detail krb_error=KDC_ERR_CLIENT_REVOKED)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u("hank", failed=1, failed_no_credentials=1)]),
    "kerberos-kdc-skew": expect(
        "kinit under faketime +600s: the KDC's first error carries its time and the client "
        "logs in with that offset kept in its cache; curl (outside faketime) then asks for "
        "HTTP/localhost and the KDC answers KRB_AP_ERR_SKEW (detail krb_error=KRB_AP_ERR_SKEW)",
        2, 2, 0, ["no_credentials"], findings=NO_LOCKOUT,
        users=[u("frank", failed=1, failed_no_credentials=1)]),
    "office-mix": expect(
        "an office: alice (127.0.0.11) browses twice with Basic and her updater has no "
        "credentials; bob (.12) tries a wrong password 5 times; carol (.13) Digest; dave "
        "(.14) NTLM; mallory (.15) NTLM rejected; erin (.16) CONNECT; a kiosk (.17) points "
        "at the dead port 9090",
        25, 20, 13,
        ["bad_credentials"] * 6 + ["no_credentials", "proxy_unreachable"],
        authenticated=5, connect=2,
        findings={"lockout_risk": 1, "cleartext_basic": 8, "oversized_token": 0},
        users=[u("bob", failed=5, failed_bad_credentials=5), u("mallory", failed=1),
               u("carol", authenticated=1), u("dave", authenticated=1),
               u("erin", authenticated=1)]),
}

SECRETS = (
    [f"{n}:{pw}" for n, pw in USERS_BASIC.items()]
    + [f"bob:{WRONG_BASIC}"]
    + [f"{n}:{pw}" for n, pw in USERS_DIGEST.items()]
    + [f"carol:{WRONG_DIGEST}"]
    + [f"{NTLM_GOOD[1]}:{NTLM_GOOD[2]}", f"{NTLM_REJECTED[1]}:{NTLM_REJECTED[2]}"]
    + [f"{TINY_USER[0]}:{TINY_USER[1]}", f"{TINY_USER[0]}:{WRONG_TINY}"]
    + [f"K/M:{KDC_MASTER}", f"{KRB_USER[0]}:{WRONG_KRB}", f"{KRB_UNKNOWN_USER}:{WRONG_KRB}", f"{KRB_EXPIRED[0]}:{KRB_EXPIRED[1]}",
       f"{KRB_LOCKED[0]}:{KRB_LOCKED[1]}"]
)


def write_expected(d):
    import json
    os.makedirs(d, exist_ok=True)
    for name, _ in SCENARIOS:
        with open(os.path.join(d, f"{name}.expected.json"), "w") as f:
            json.dump(EXPECTED[name], f, indent=2)
            f.write("\n")
    with open(os.path.join(d, "SECRETS.txt"), "w") as f:
        f.write("# The lab's throwaway credentials, one user:password a line. Searched for in\n"
                "# every output of proxy407 (also as base64 of user:password); never found.\n")
        f.write("".join(x + "\n" for x in SECRETS))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write one pcap per scenario into this directory")
    ap.add_argument("--combined", help="also write one capture of all scenarios to this file")
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--write-expected", metavar="DIR",
                    help="write NAME.expected.json and SECRETS.txt into DIR and exit")
    args = ap.parse_args()
    if args.write_expected:
        write_expected(args.write_expected)
        return 0
    names = [n for n, _ in SCENARIOS]
    if args.list:
        print("\n".join(names))
        return 0
    chosen = SCENARIOS
    if args.only:
        want = args.only.split(",")
        bad = [w for w in want if w not in names]
        if bad:
            ap.error(f"unknown scenario(s): {', '.join(bad)}")
        chosen = [s for s in SCENARIOS if s[0] in want]
    for tool in ("squid", "tcpdump", "tinyproxy", "curl", "htpasswd", "krb5kdc", "kdb5_util",
                 "kadmin.local", "kinit", "kvno", "kdestroy", "faketime"):
        if shutil.which(tool) is None:
            log(f"{tool} is not installed")
            return 3
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="proxy407-lab-")
    lab = Lab(work)
    combined = None
    rc = 0

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        lab.start()
        if args.combined:
            combined = Capture(os.path.abspath(args.combined))
        for name, fn in chosen:
            # A capture that lost packets is taken again (the scenarios can be repeated).
            for attempt in range(1, 4):
                cap = Capture(os.path.join(args.out, f"{name}.pcap")) if args.out else None
                dropped = None
                try:
                    note = fn()
                finally:
                    if cap:
                        dropped = cap.stop()
                if not dropped:
                    break
                log(f"{name}: tcpdump dropped {dropped} packets (attempt {attempt})")
                time.sleep(0.5)
            else:
                raise RuntimeError(f"{name}: every capture lost packets")
            print(f"{name}: {note}", flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    except Exception as e:  # report, then clean up
        log(f"error: {e}")
        rc = 1
    finally:
        if combined and combined.stop():
            log("the combined capture lost packets")
            rc = rc or 1
        lab.stop()
        if args.keep_workdir:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
