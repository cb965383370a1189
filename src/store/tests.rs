use super::*;

fn retention(max_events: u64, max_bytes: u64, max_age_ms: u64) -> Retention {
    Retention { max_events, max_bytes, max_age: Duration::from_millis(max_age_ms) }
}

fn envelope(id: &str) -> Vec<u8> {
    format!(r#"{{"schema_version":"1","event":"x","id":"{id}","timestamp":"2024-05-01T12:00:00Z","data":{{}}}}"#)
        .into_bytes()
}

fn append(store: &Store, ids: &[&str]) -> usize {
    let envelopes: Vec<Vec<u8>> = ids.iter().map(|id| envelope(id)).collect();
    let refs: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
    store.append(&refs).expect("append")
}

fn ids(page: &Page) -> Vec<String> {
    page.events.iter().map(|(_, e)| envelope_id(e).expect("id").to_string()).collect()
}

#[test]
fn events_are_read_after_cursors_and_by_id_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("open");
    assert_eq!(append(&store, &["a", "b", "c"]), 3);
    let page = store.read(None, 2).expect("read");
    assert_eq!(ids(&page), ["a", "b"]);
    assert!(page.more);
    let rest = store.read(Some(page.next), 10).expect("read");
    assert_eq!(ids(&rest), ["c"]);
    assert!(!rest.more);
    assert_eq!(store.get("b").map(|(_, e)| e), Some(envelope("b")));
    assert!(store.get("zz").is_none());
    // A repeated id keeps the first and counts the duplicate.
    assert_eq!(append(&store, &["b", "d", "d"]), 1);
    assert_eq!(store.stats.duplicates.load(Ordering::Relaxed), 2);
    let next = store.read(Some(rest.next), 10).expect("read").next;
    drop(store);
    let store = Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("reopen");
    assert_eq!(ids(&store.read(None, 10).expect("read")), ["a", "b", "c", "d"]);
    assert!(store.read(Some(next), 10).expect("the old cursor").events.is_empty());
    assert_eq!(append(&store, &["e", "a"]), 1, "ids stay unique after a restart");
}

#[test]
fn bad_cursors_are_refused_and_expired_ones_name_the_oldest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), retention(2, 1 << 20, 3_600_000)).expect("open");
    append(&store, &["a", "b", "c", "d"]);
    assert_eq!(store.stats.expired.load(Ordering::Relaxed), 2);
    assert_eq!(ids(&store.read(None, 10).expect("read")), ["c", "d"]);
    let oldest = store.oldest();
    assert_eq!(ids(&store.read(Some(oldest), 10).expect("read")), ["c", "d"]);
    let expired = Cursor { seq: 1, ..oldest };
    assert_eq!(store.read(Some(expired), 10).expect_err("expired"), ReadError::Expired { oldest });
    let foreign = Cursor { store: oldest.store ^ 1, seq: 3 };
    assert!(matches!(store.read(Some(foreign), 10), Err(ReadError::Invalid(why)) if why.contains("another store")));
    let ahead = Cursor { seq: 99, ..oldest };
    assert!(matches!(store.read(Some(ahead), 10), Err(ReadError::Invalid(why)) if why.contains("ahead")));
}

#[test]
fn retention_by_bytes_and_age_removes_the_oldest_and_whole_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = records::record_len(TIME_LEN + envelope("a").len()) as u64;
    let store = Store::open(dir.path(), retention(1000, 3 * one, 3_600_000)).expect("open");
    append(&store, &["a", "b", "c", "d", "e"]);
    assert_eq!(ids(&store.read(None, 10).expect("read")), ["c", "d", "e"]);
    assert_eq!(store.size(), (3, 3 * one));
    drop(store);
    // max_age 0: everything older than now goes at the next look.
    let store = Store::open(dir.path(), retention(1000, 1 << 20, 0)).expect("open");
    std::thread::sleep(Duration::from_millis(5));
    assert!(store.read(None, 10).expect("read").events.is_empty());
    // Retention removes whole segments from disk; the two removed before the restart were in
    // the one segment still kept, so the looser limits of the reopened store saw them again.
    assert_eq!(store.stats.expired.load(Ordering::Relaxed), 5);
}

#[test]
fn a_torn_tail_is_cut_and_appends_go_on_after_the_last_intact_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("open");
    append(&store, &["a", "b"]);
    drop(store);
    let segment = dir.path().join(records::segment_name(1));
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
    std::fs::write(&segment, &bytes).expect("write");
    let store = Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("open");
    append(&store, &["c"]);
    drop(store);
    let store = Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("open");
    assert_eq!(ids(&store.read(None, 10).expect("read")), ["a", "b", "c"]);
}

#[tokio::test]
async fn a_long_poll_wakes_when_an_event_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(Store::open(dir.path(), retention(100, 1 << 20, 3_600_000)).expect("open"));
    let start = store.oldest();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.read_waiting(Some(start), 10, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    append(&store, &["late"]);
    let page =
        tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woke").expect("task").expect("read");
    assert_eq!(ids(&page), ["late"]);
}
