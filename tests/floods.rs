//! Floods and scans against a proxy (`docs/verdicts.md` §3.11) on real bytes: a capture of
//! many one-shot SYNs from random sources is counted as one flood against the proxy, not as
//! a million unreachable clients, while a client that retries its SYN, a client seen making
//! requests, and a few one-shot sources are still `proxy_unreachable` clients.

mod common;

use common::*;
use proxy407_testkit::{LinkKind, Packet};
use serde_json::Value;
use std::path::Path;

const PROXY: &str = "10.0.0.10:3128";

/// One SYN from each of `n` sources, 5 ms apart from `start_ms`, never answered.
fn one_shot_syns(n: u32, start_ms: i64) -> Vec<Packet> {
    let mut v = Vec::new();
    for i in 0..n {
        let client = format!("172.16.{}.{}:{}", i / 250, i % 250 + 1, 40_000 + i % 20_000);
        let mut c = conv(&client, PROXY, start_ms + i64::from(i) * 5);
        c.syn();
        v.extend(c.into_packets());
    }
    v
}

/// A client whose SYN goes unanswered and is sent again after 1 s and 3 s.
fn retrying_client(client: &str, start_ms: i64) -> Vec<Packet> {
    let mut c = conv(client, PROXY, start_ms);
    c.syn().wait(1_000_000).syn().wait(2_000_000).syn();
    c.into_packets()
}

/// A client that talks to the proxy (a request answered), then later sends one SYN that is
/// refused.
fn known_client(client: &str, start_ms: i64) -> Vec<Packet> {
    let mut ok = conv(client, PROXY, start_ms);
    ok.handshake()
        .client_send(&req(
            "GET",
            "http://example.com/",
            &[("Host", "example.com")],
        ))
        .server_send(&resp200())
        .client_fin()
        .server_fin();
    let port = 50_000;
    let again = client.replace(":51000", &format!(":{port}"));
    let mut refused = conv(&again, PROXY, start_ms + 2_000);
    refused.syn().server_rst();
    let mut v = ok.into_packets();
    v.extend(refused.into_packets());
    v
}

fn analyze(path: &Path) -> Value {
    let r = run(&["analyze", "--json", "--quiet"], &[path]);
    assert!(r.ok, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("json")
}

#[test]
fn a_flood_of_one_shot_syns_is_one_flood_and_clients_stay_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.pcap");
    let packets = merged(vec![
        one_shot_syns(300, 0),
        retrying_client("192.168.1.50:45000", 100),
        known_client("192.168.1.60:51000", 200),
    ]);
    write_pcap(&path, &packets, LinkKind::Ethernet);
    let v = analyze(&path);
    let floods = v["floods"].as_array().expect("floods");
    assert_eq!(floods.len(), 1, "{floods:?}");
    assert_eq!(floods[0]["proxy_ip"], "10.0.0.10");
    assert_eq!(floods[0]["proxy_port"], 3128);
    assert_eq!(floods[0]["sources"], 300);
    assert_eq!(floods[0]["attempts"], 300);
    assert_eq!(floods[0]["sources_capped"], false);
    // The two real clients cannot reach their proxy; no flood source is a client.
    assert_eq!(v["causes"]["proxy_unreachable"], 2, "{v:#}");
    assert_eq!(v["episodes"]["total"], 2, "{v:#}");
    let clients: Vec<&str> = v["top"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["client_ip"].as_str())
        .collect();
    assert!(
        clients.iter().all(|c| !c.starts_with("172.16.")),
        "{clients:?}"
    );
    assert!(clients.contains(&"192.168.1.50") && clients.contains(&"192.168.1.60"));
    // The report names it.
    let r = run(&["analyze", "--quiet", "--no-color"], &[&path]);
    assert!(
        r.stdout
            .contains("connection flood or scan against 10.0.0.10:3128: 300 sources, one SYN each"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_few_one_shot_sources_are_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("few.pcap");
    let mut lists = Vec::new();
    for i in 0..3 {
        let mut c = conv(&format!("192.168.2.{}:40000", i + 1), PROXY, i * 500);
        c.syn().server_rst();
        lists.push(c.into_packets());
    }
    write_pcap(&path, &merged(lists), LinkKind::Ethernet);
    let v = analyze(&path);
    assert_eq!(v["floods"].as_array().map(Vec::len), Some(0), "{v:#}");
    assert_eq!(v["causes"]["proxy_unreachable"], 3, "{v:#}");
}
