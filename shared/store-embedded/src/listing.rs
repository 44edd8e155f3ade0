//! Newest-first listings. An account's charges, payouts and cash-outs (all of them, or those
//! of one status) are each one contiguous key range of an index table, ordered by
//! `(created_at, id)`: a page is a reverse range read bounded by `from`/`to`/the cursor, never
//! a full scan.

use pixgw_domain::error::StoreError;

use crate::tables::db_err;

/// The most items one page may hold, whatever the query asks (the ports promise 1..=100).
pub(crate) const MAX_PAGE: u32 = 100;

/// The values (record ids) of an index's entries in `lower..upper`, newest (greatest key)
/// first, at most `limit`; and whether more entries follow. Reads one entry past the page to
/// know, so a listing never answers a "next" cursor that leads to an empty page.
pub(crate) fn newest_ids(
    index: &redb::ReadOnlyTable<&str, &str>,
    lower: &str,
    upper: &str,
    limit: usize,
) -> Result<(Vec<String>, bool), StoreError> {
    let mut ids = Vec::with_capacity(limit + 1);
    for entry in index.range::<&str>(lower..upper).map_err(db_err)?.rev() {
        let (_, id) = entry.map_err(db_err)?;
        ids.push(id.value().to_owned());
        if ids.len() > limit {
            break;
        }
    }
    let more = ids.len() > limit;
    ids.truncate(limit);
    Ok((ids, more))
}
