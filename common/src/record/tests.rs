//! The record's entries: their format, their keys, and the record's tags.

use super::test_keys::{K1, K2};
use super::*;

const CLUSTER: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";
const K3: &str = "77777777-2222-3333-4444-555555555555";

#[test]
fn the_cluster_key_is_stable_and_ignores_case() {
    let k = cluster_key(CLUSTER);
    assert!(is_guid(&k));
    assert_eq!(k, cluster_key(&CLUSTER.to_uppercase()));
    assert_ne!(k, cluster_key(&CLUSTER.replace("aks1", "aks2")));
}

#[test]
fn entries_round_trip_within_entras_limits() {
    let op = Url::parse("https://management.azure.com/subscriptions/s/providers/Microsoft.ContainerService/locations/eastus/operations/x?t=1").unwrap();
    let full = Entry {
        key: Some(K1.into()),
        pending: Some(K2.into()),
        switch: true,
        operation: Some(operation_key(&op)),
        run: Some(run_mark()),
        was: vec![K3.into()],
    };
    let tag = full.tag(&cluster_key(CLUSTER));
    assert!(
        tag.len() <= 256 && !tag.contains(char::is_whitespace),
        "{tag}"
    );
    assert_eq!(Entry::parse(&tag), Some((cluster_key(CLUSTER), full)));
    assert_eq!(
        Entry::parse(&format!(
            "{TAG_PREFIX}{};key=nope;switch=1",
            cluster_key(CLUSTER)
        )),
        Some((cluster_key(CLUSTER), Entry::default())),
        "a malformed key names nothing; switch without pending is nothing"
    );
    assert_eq!(Entry::parse("team=a"), None);
    assert_eq!(Entry::parse("xtenant-cluster:not-a-guid;key=x"), None);
}

#[test]
fn a_record_keeps_other_tags_and_names_every_key() {
    let c = cluster_key(CLUSTER);
    let r = Record {
        tags: vec![
            "team-a".into(),
            Entry {
                key: Some(K1.into()),
                ..Entry::default()
            }
            .tag(&c),
        ],
        ..Record::default()
    };
    assert!(r.entry(CLUSTER).unwrap().holds(K1));
    let e = Entry {
        key: Some(K1.into()),
        pending: Some(K2.into()),
        ..Entry::default()
    };
    let tags = r.with(&c, Some(&e));
    assert_eq!(tags[0], "team-a");
    assert_eq!(tags.len(), 2);
    let r2 = Record {
        tags,
        ..Record::default()
    };
    assert_eq!(
        r2.keys(),
        [K1.to_owned(), K2.to_owned()].into_iter().collect()
    );
    assert_eq!(r2.with(&c, None), vec!["team-a".to_owned()]);
    // A tag with the prefix that is no entry still keeps the key ids it names.
    let odd = Record {
        tags: vec![format!("{TAG_PREFIX}x;key={K2}")],
        ..Record::default()
    };
    assert!(odd.keys().contains(K2) && odd.is_empty());
}
