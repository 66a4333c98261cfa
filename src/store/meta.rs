//! Store-wide values: sequences (gap-free, advanced inside the write that uses them) and
//! markers such as the schema version and whether the catalogue was seeded.

use super::{StoreBuilder, TreeId, Tx, TxResult, keys};
use crate::domain::Result;

#[derive(Clone)]
pub struct MetaRepo {
    tree: sled::Tree,
    id: TreeId,
}

impl MetaRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<MetaRepo> {
        let (tree, id) = builder.tree("meta")?;
        Ok(MetaRepo { tree, id })
    }

    /// Advances a sequence and returns its new value (the first is 1).
    pub fn next(&self, tx: &Tx<'_>, sequence: &str) -> TxResult<u64> {
        let key = seq_key(sequence);
        let current = tx.get(self.id, &key)?.and_then(|v| keys::read_u64(&v, 0)).unwrap_or(0);
        tx.insert(self.id, &key, &(current + 1).to_be_bytes())?;
        Ok(current + 1)
    }

    pub fn sequence(&self, sequence: &str) -> Result<u64> {
        let value = self.tree.get(seq_key(sequence)).map_err(super::store_error)?;
        Ok(value.and_then(|v| keys::read_u64(&v, 0)).unwrap_or(0))
    }

    pub fn set_sequence(&self, tx: &Tx<'_>, sequence: &str, value: u64) -> TxResult<()> {
        tx.insert(self.id, &seq_key(sequence), &value.to_be_bytes())
    }

    /// Every sequence, for export.
    pub fn sequences(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"seq/") {
            let (k, v) = item.map_err(super::store_error)?;
            let name = String::from_utf8_lossy(&k[4..]).into_owned();
            out.push((name, keys::read_u64(&v, 0).unwrap_or(0)));
        }
        Ok(out)
    }

    pub fn get_flag(&self, name: &str) -> Result<Option<u64>> {
        let value = self.tree.get(flag_key(name)).map_err(super::store_error)?;
        Ok(value.and_then(|v| keys::read_u64(&v, 0)))
    }

    pub fn set_flag(&self, tx: &Tx<'_>, name: &str, value: u64) -> TxResult<()> {
        tx.insert(self.id, &flag_key(name), &value.to_be_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

fn seq_key(name: &str) -> Vec<u8> {
    format!("seq/{name}").into_bytes()
}

fn flag_key(name: &str) -> Vec<u8> {
    format!("flag/{name}").into_bytes()
}
