//! What both sequential models read at query time: the query's sequence, checked.

use tastebud_core::{Error, ItemIdx, Result};

use crate::Query;

/// The query's items in order, checked against the catalogue, the last `max_len` when given.
pub(crate) fn query_sequence(
    q: &Query<'_>,
    n_items: usize,
    max_len: Option<usize>,
) -> Result<Vec<ItemIdx>> {
    for &(i, _) in q.history {
        check(i, n_items)?;
    }
    let s = q.items_in_order();
    for &i in s.iter() {
        check(i, n_items)?;
    }
    let from = max_len.map_or(0, |m| s.len().saturating_sub(m));
    Ok(s[from..].to_vec())
}

fn check(i: ItemIdx, n_items: usize) -> Result<()> {
    if i.get() < n_items {
        Ok(())
    } else {
        Err(Error::IndexOutOfRange {
            kind: "item",
            index: i.0,
            len: n_items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_sequence_is_the_given_order_or_the_history() {
        let h = [(ItemIdx(2), 1.0), (ItemIdx(0), 1.0)];
        let s = [ItemIdx(0), ItemIdx(2), ItemIdx(0)];
        let q = Query::new(&h);
        assert_eq!(
            query_sequence(&q, 3, None).unwrap(),
            [ItemIdx(2), ItemIdx(0)]
        );
        let q = q.sequence(&s);
        assert_eq!(
            query_sequence(&q, 3, Some(2)).unwrap(),
            [ItemIdx(2), ItemIdx(0)]
        );
        assert!(query_sequence(&q, 2, None).is_err());
    }
}
