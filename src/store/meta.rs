//! Store-wide values: sequences (gap-free, advanced inside the write that uses them),
//! markers such as the schema version and whether the catalogue was seeded, and the portal
//! settings admins changed.

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, keys};
use crate::domain::Result;
use crate::domain::portal::PortalSettings;

impl Versioned for PortalSettings {
    const KIND: &'static str = "portal_settings";
    const VERSION: u8 = 1;
}

const PORTAL_KEY: &[u8] = b"doc/portal";

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

    /// A sequence's current value, as `tx` sees it.
    pub fn sequence_tx(&self, tx: &Tx<'_>, sequence: &str) -> TxResult<u64> {
        Ok(tx.get(self.id, &seq_key(sequence))?.and_then(|v| keys::read_u64(&v, 0)).unwrap_or(0))
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

    pub fn get_flag_tx(&self, tx: &Tx<'_>, name: &str) -> TxResult<Option<u64>> {
        Ok(tx.get(self.id, &flag_key(name))?.and_then(|v| keys::read_u64(&v, 0)))
    }

    pub fn set_flag(&self, tx: &Tx<'_>, name: &str, value: u64) -> TxResult<()> {
        tx.insert(self.id, &flag_key(name), &value.to_be_bytes())
    }

    /// The portal settings, once an admin has changed them (until then, the configuration's).
    pub fn portal(&self) -> Result<Option<PortalSettings>> {
        let value = self.tree.get(PORTAL_KEY).map_err(super::store_error)?;
        value.map(|v| codec::decode(&v)).transpose()
    }

    pub fn portal_tx(&self, tx: &Tx<'_>) -> TxResult<Option<PortalSettings>> {
        Ok(tx.get(self.id, PORTAL_KEY)?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_portal(&self, tx: &Tx<'_>, settings: &PortalSettings) -> TxResult<()> {
        tx.insert(self.id, PORTAL_KEY, &codec::encode(settings)?)
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
