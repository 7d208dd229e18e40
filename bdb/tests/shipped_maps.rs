//! The reference maps shipped with the sendmail oracle
//! (/opt/ref/maps/sendmail, made by `makemap hash NAME < NAME`): each .db
//! must hold exactly its text source, keys lower-cased as makemap does.

mod support;

use std::path::Path;

use bdb::{Db, Kind};
use support::*;

const DIR: &str = "/opt/ref/maps/sendmail";

#[test]
fn shipped_maps_match_their_sources() {
    if !Path::new(DIR).is_dir() {
        tool_missing(&format!(
            "{DIR} (run /work/shared/tools/install-sendmail-ref)"
        ));
        return;
    }
    for name in ["access", "mailertable", "virtusertable", "genericstable"] {
        let source = std::fs::read(Path::new(DIR).join(name)).unwrap();
        let db = Db::open(&Path::new(DIR).join(format!("{name}.db")))
            .unwrap_or_else(|e| panic!("{name}.db: {e}"));
        assert_eq!(db.kind(), Kind::Hash, "{name}");
        let expected = parse_source(&source, true, false);
        assert!(!expected.is_empty(), "{name} is empty");
        check_map(&db, &expected);
    }
    let access = Db::open(&Path::new(DIR).join("access.db")).unwrap();
    assert_eq!(
        access.get(b"connect:192.0.2.66").unwrap().as_deref(),
        Some(&b"REJECT"[..])
    );
    assert_eq!(access.get(b"Connect:192.0.2.66").unwrap(), None);
}
