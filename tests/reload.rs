//! Hot reload: sinks that stay lose nothing while events stream in and the configuration is
//! reloaded repeatedly (valid and invalid, adding, changing and removing sinks).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::daemon::{get, TestDaemon};
use crate::support::eventually;
use crate::support::listeners::StreamReceiver;

const WAIT: Duration = Duration::from_secs(60);
const EVENTS: usize = 6000;

fn sink(name: &str, url: &str, extra: &str) -> String {
    format!("[sinks.{name}]\nformat = \"rfc5424\"\nurl = \"{url}\"\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\n{extra}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_that_stay_lose_nothing_across_reloads_under_load() {
    let a = StreamReceiver::tcp().await;
    let b = StreamReceiver::tcp().await;
    let c = StreamReceiver::tcp().await;
    let (a_url, b_url, c_url) = (a.url("tcp"), b.url("tcp"), c.url("tcp"));
    let initial = format!("{}{}", sink("a", &a_url, ""), sink("b", &b_url, ""));
    let daemon = TestDaemon::start(&initial).await;
    let socket = daemon.socket.clone();
    let writer = tokio::spawn(async move {
        let mut accepted = 0;
        for chunk in 0..30 {
            let text: String = (0..EVENTS / 30)
                .map(|i| format!("{{\"event\":\"load\",\"id\":\"e{}\"}}\n", chunk * (EVENTS / 30) + i))
                .collect();
            accepted += siem_relay::client::send(&socket, text.as_bytes()).await.expect("send").accepted;
            // Spread the stream over the reloads below.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        accepted
    });

    let configs = [
        // a changes (structured data), b stays.
        format!(
            "{}{}",
            sink("a", &a_url, "sd_fields = [\"id\"]").replace("[\"id\"]", "[{ name = \"copy\", field = \"id\" }]"),
            sink("b", &b_url, "")
        ),
        // Invalid: refused, the running configuration stays.
        format!("{}{}", sink("a", &a_url, "facility = \"nowhere\""), sink("b", &b_url, "")),
        // c is added.
        format!("{}{}{}", sink("a", &a_url, ""), sink("b", &b_url, ""), sink("c", &c_url, "")),
        // b is removed, a's queue is resized.
        format!("{}{}", sink("a", &a_url, "queue = { max_events = 50 }"), sink("c", &c_url, "")),
    ];
    let mut outcomes = Vec::new();
    for config in &configs {
        tokio::time::sleep(Duration::from_millis(30)).await;
        outcomes.push(daemon.reload(config).await);
    }
    assert!(outcomes[0].as_ref().is_ok_and(|s| s.changed == ["a"] && s.unchanged == ["b"]), "{:?}", outcomes[0]);
    assert!(outcomes[1].as_ref().is_err_and(|e| e.contains("sinks.a.facility")), "{:?}", outcomes[1]);
    assert!(outcomes[2].as_ref().is_ok_and(|s| s.added == ["c"]), "{:?}", outcomes[2]);
    assert!(outcomes[3].as_ref().is_ok_and(|s| s.removed == ["b"] && s.changed == ["a"]), "{:?}", outcomes[3]);

    assert_eq!(writer.await.expect("writer"), EVENTS as u64);
    let expected: HashSet<String> = (0..EVENTS).map(|i| format!("e{i}")).collect();
    let got = || a.octet_ids().into_iter().collect::<HashSet<_>>();
    assert!(eventually(WAIT, || got() == expected).await, "sink a lost {} events", expected.difference(&got()).count());

    let reloads = &daemon.handles.reloads;
    assert_eq!((reloads.succeeded.load(Ordering::Relaxed), reloads.failed.load(Ordering::Relaxed)), (3, 1));
    let stats = daemon.sink_stats("a");
    assert_eq!(get(&stats.received), EVENTS as u64, "a's counters carried over every reload");
    let report = daemon.stop().await;
    let a_stats = &report.sinks.iter().find(|(n, _)| n == "a").expect("a").1;
    assert_eq!(get(&a_stats.dropped_shutdown) + get(&a_stats.dropped_newest) + get(&a_stats.dropped_oldest), 0);
    // c saw only what arrived after it was added, all of it intact.
    assert!(c.octet_ids().iter().all(|id| expected.contains(id)));
}
