//! Paired instances, by base URL, and the invitations to pair, by id.

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::federation::{Invitation, Peer, PeerStatus};

impl Versioned for Peer {
    const KIND: &'static str = "peer";
    const VERSION: u8 = 1;
}

impl Versioned for Invitation {
    const KIND: &'static str = "pair_invitation";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct PeerRepo {
    peers: sled::Tree,
    peers_id: TreeId,
    invitations: sled::Tree,
    invitations_id: TreeId,
}

impl PeerRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<PeerRepo> {
        let (peers, peers_id) = builder.tree("peer")?;
        let (invitations, invitations_id) = builder.tree("pair_invitation")?;
        Ok(PeerRepo { peers, peers_id, invitations, invitations_id })
    }

    pub fn peer(&self, base_url: &str) -> Result<Option<Peer>> {
        self.peers.get(base_url).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn peer_tx(&self, tx: &Tx<'_>, base_url: &str) -> TxResult<Option<Peer>> {
        Ok(tx.get(self.peers_id, base_url.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_peer(&self, tx: &Tx<'_>, peer: &Peer) -> TxResult<()> {
        tx.insert(self.peers_id, peer.base_url.as_bytes(), &codec::encode(peer)?)
    }

    pub fn peers(&self) -> Result<Vec<Peer>> {
        self.peers.iter().map(|item| codec::decode(&item.map_err(store_error)?.1)).collect()
    }

    /// The peers messages go to and come from (not awaiting approval, not revoked).
    pub fn active(&self) -> Result<Vec<Peer>> {
        Ok(self.peers()?.into_iter().filter(|p| p.status == PeerStatus::Active).collect())
    }

    /// Whether `base_url` is an active peer, as `tx` sees it.
    pub fn is_active_tx(&self, tx: &Tx<'_>, base_url: &str) -> TxResult<bool> {
        Ok(self.peer_tx(tx, base_url)?.is_some_and(|p| p.status == PeerStatus::Active))
    }

    pub fn invitation(&self, id: &str) -> Result<Option<Invitation>> {
        self.invitations.get(id).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn invitation_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Invitation>> {
        Ok(tx.get(self.invitations_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_invitation(&self, tx: &Tx<'_>, invitation: &Invitation) -> TxResult<()> {
        tx.insert(self.invitations_id, invitation.id.as_bytes(), &codec::encode(invitation)?)
    }

    pub fn invitations(&self) -> Result<Vec<Invitation>> {
        self.invitations.iter().map(|item| codec::decode(&item.map_err(store_error)?.1)).collect()
    }
}
