//! Multicast MPEG-TS, as a satellite receiver or IRD sends it: run in a private network namespace
//! (only loopback, multicast enabled on it) so the test never touches the host's network.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

fn enter_private_netns() {
    // SAFETY: unshare(2) only changes this thread's namespaces; children spawned from it inherit them.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET) failed (the tests run as root): {}",
        std::io::Error::last_os_error()
    );
    for args in [
        vec!["link", "set", "lo", "up"],
        vec!["link", "set", "lo", "multicast", "on"],
        vec!["route", "add", "224.0.0.0/4", "dev", "lo"],
    ] {
        let st = Command::new("ip")
            .args(&args)
            .status()
            .expect("ip (iproute2) is needed");
        assert!(st.success(), "ip {args:?} failed");
    }
}

#[test]
fn multicast_udp_joined_on_a_chosen_interface() {
    // everything in one thread that owns the namespace
    std::thread::spawn(|| {
        enter_private_netns();
        let a = Atoll::start("mcast");
        let port = free_udp_port();
        let source = format!("udp://@239.1.1.1:{port}?localaddr=127.0.0.1");
        let body = json!({"id": "mcast", "name": "Multicast", "sources": [source]}).to_string();
        assert_eq!(a.api("POST", "/api/channels", Some(&body)).0, 201);
        let _tx = udp_feed_to(&format!(
            "udp://239.1.1.1:{port}?pkt_size=1316&localaddr=127.0.0.1&ttl=1"
        ));
        a.wait_playlist("mcast", 2, Duration::from_secs(40));
        assert_eq!(
            ffprobe_streams(&a.url("/live/mcast/index.m3u8")),
            vec!["aac,48000".to_string(), "h264,320,240".to_string()]
        );
        assert_eq!(a.channel("mcast")["state"], "live");
    })
    .join()
    .unwrap();
}
