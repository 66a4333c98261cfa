//! API tokens for scripts and integrations, stored by the SHA-256 of the secret.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::actor::Role;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Public identifier (shown in lists and the audit journal, never the secret).
    pub id: String,
    pub role: Role,
    pub label: String,
    pub created_at: Timestamp,
    pub revoked: bool,
}

impl Versioned for ApiToken {
    const KIND: &'static str = "api_token";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct TokenRepo {
    tree: sled::Tree,
    id: TreeId,
}

impl TokenRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<TokenRepo> {
        let (tree, id) = builder.tree("api_token_by_hash")?;
        Ok(TokenRepo { tree, id })
    }

    pub fn by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>> {
        self.tree.get(hash).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn put(&self, tx: &Tx<'_>, hash: &[u8], token: &ApiToken) -> TxResult<()> {
        tx.insert(self.id, hash, &codec::encode(token)?)
    }

    /// Every token with its hash, for listing and export.
    pub fn all(&self) -> Result<Vec<(Vec<u8>, ApiToken)>> {
        self.tree
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(store_error)?;
                Ok((k.to_vec(), codec::decode(&v)?))
            })
            .collect()
    }
}
