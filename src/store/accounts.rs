//! Accounts, found by id or by e-mail address, and guest invitations.

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::account::{Account, Guest};

impl Versioned for Account {
    const KIND: &'static str = "account";
    const VERSION: u8 = 1;
}

impl Versioned for Guest {
    const KIND: &'static str = "guest";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct AccountRepo {
    accounts: sled::Tree,
    accounts_id: TreeId,
    by_email: sled::Tree,
    by_email_id: TreeId,
    guests: sled::Tree,
    guests_id: TreeId,
}

impl AccountRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<AccountRepo> {
        let (accounts, accounts_id) = builder.tree("account")?;
        let (by_email, by_email_id) = builder.tree("email_account")?;
        let (guests, guests_id) = builder.tree("guest")?;
        Ok(AccountRepo { accounts, accounts_id, by_email, by_email_id, guests, guests_id })
    }

    pub fn get(&self, id: &str) -> Result<Option<Account>> {
        self.accounts.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn get_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Account>> {
        Ok(tx.get(self.accounts_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    /// The account of a normalised e-mail address, read inside a write so that two first
    /// logins of the same person cannot create two accounts.
    pub fn by_email_tx(&self, tx: &Tx<'_>, email: &str) -> TxResult<Option<Account>> {
        match tx.get(self.by_email_id, email.as_bytes())? {
            Some(id) => self.get_tx(tx, &String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn by_email(&self, email: &str) -> Result<Option<Account>> {
        match self.by_email.get(email.as_bytes()).map_err(store_error)? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Stores an account and its e-mail index entry (the address never changes).
    pub fn put(&self, tx: &Tx<'_>, account: &Account) -> TxResult<()> {
        tx.insert(self.accounts_id, account.id.as_bytes(), &codec::encode(account)?)?;
        tx.insert(self.by_email_id, account.email.as_bytes(), account.id.as_bytes())
    }

    pub fn all(&self) -> Result<Vec<Account>> {
        all(&self.accounts)
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn guest(&self, id: &str) -> Result<Option<Guest>> {
        self.guests.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn guest_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Guest>> {
        Ok(tx.get(self.guests_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_guest(&self, tx: &Tx<'_>, guest: &Guest) -> TxResult<()> {
        tx.insert(self.guests_id, guest.id.as_bytes(), &codec::encode(guest)?)
    }

    pub fn guests(&self) -> Result<Vec<Guest>> {
        all(&self.guests)
    }
}

fn all<T: Versioned>(tree: &sled::Tree) -> Result<Vec<T>> {
    tree.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v))).collect()
}
