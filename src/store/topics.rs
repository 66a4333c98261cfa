//! Topics, their posts (tombstones included) by topic and number, and who read what:
//! the last post number each account has seen in each topic, and subscriptions.

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::topic::{Post, Topic};

impl Versioned for Topic {
    const KIND: &'static str = "topic";
    const VERSION: u8 = 1;
}

impl Versioned for Post {
    const KIND: &'static str = "post";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct TopicRepo {
    topics: sled::Tree,
    topics_id: TreeId,
    /// `topic \0 number (u64 BE)` → post.
    posts: sled::Tree,
    posts_id: TreeId,
    /// Post id → its key in `posts`.
    post_ids_id: TreeId,
    /// `account \0 topic` → last number read (u64 BE).
    read: sled::Tree,
    read_id: TreeId,
    /// `account \0 topic` → subscribed.
    subscriptions: sled::Tree,
    subscriptions_id: TreeId,
}

fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + b.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(0);
    key.extend_from_slice(b.as_bytes());
    key
}

fn unpair(key: &[u8]) -> (String, String) {
    let split = key.iter().position(|b| *b == 0).unwrap_or(key.len());
    let second = key.get(split + 1..).unwrap_or_default();
    (String::from_utf8_lossy(&key[..split]).into_owned(), String::from_utf8_lossy(second).into_owned())
}

fn post_key(topic: &str, number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(topic.len() + 9);
    key.extend_from_slice(topic.as_bytes());
    key.push(0);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

impl TopicRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<TopicRepo> {
        let (topics, topics_id) = builder.tree("topic")?;
        let (posts, posts_id) = builder.tree("post_by_topic")?;
        let (_, post_ids_id) = builder.tree("post_by_id")?;
        let (read, read_id) = builder.tree("topic_read")?;
        let (subscriptions, subscriptions_id) = builder.tree("topic_subscription")?;
        Ok(TopicRepo {
            topics,
            topics_id,
            posts,
            posts_id,
            post_ids_id,
            read,
            read_id,
            subscriptions,
            subscriptions_id,
        })
    }

    pub fn topics(&self) -> Result<Vec<Topic>> {
        self.topics.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v))).collect()
    }

    pub fn topic(&self, id: &str) -> Result<Option<Topic>> {
        self.topics.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn topic_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Topic>> {
        Ok(tx.get(self.topics_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_topic(&self, tx: &Tx<'_>, topic: &Topic) -> TxResult<()> {
        tx.insert(self.topics_id, topic.id.as_bytes(), &codec::encode(topic)?)
    }

    /// The posts of a topic in order, tombstones included.
    pub fn posts(&self, topic: &str) -> Result<Vec<Post>> {
        let mut prefix = topic.as_bytes().to_vec();
        prefix.push(0);
        self.posts
            .scan_prefix(prefix)
            .map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
            .collect()
    }

    pub fn post_tx(&self, tx: &Tx<'_>, topic: &str, number: u64) -> TxResult<Option<Post>> {
        Ok(tx.get(self.posts_id, &post_key(topic, number))?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_post(&self, tx: &Tx<'_>, post: &Post) -> TxResult<()> {
        let key = post_key(&post.topic, post.number);
        tx.insert(self.post_ids_id, post.id.as_bytes(), &key)?;
        tx.insert(self.posts_id, &key, &codec::encode(post)?)
    }

    /// A post by its id.
    pub fn post_by_id_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Post>> {
        let Some(key) = tx.get(self.post_ids_id, id.as_bytes())? else { return Ok(None) };
        Ok(tx.get(self.posts_id, &key)?.map(|v| codec::decode(&v)).transpose()?)
    }

    /// Every post, for export.
    pub fn all_posts(&self) -> impl Iterator<Item = Result<Post>> + '_ {
        self.posts.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
    }

    /// The last post number `account` has seen in `topic` (0: none).
    pub fn last_read(&self, account: &str, topic: &str) -> Result<u64> {
        let value = self.read.get(pair(account, topic)).map_err(store_error)?;
        Ok(value.and_then(|v| super::keys::read_u64(&v, 0)).unwrap_or(0))
    }

    /// Moves the read marker forward to `number`; never back (two pages read at once may
    /// come in any order).
    pub fn set_last_read(&self, tx: &Tx<'_>, account: &str, topic: &str, number: u64) -> TxResult<()> {
        let key = pair(account, topic);
        let current = tx.get(self.read_id, &key)?.and_then(|v| super::keys::read_u64(&v, 0)).unwrap_or(0);
        if number > current {
            tx.insert(self.read_id, &key, &number.to_be_bytes())?;
        }
        Ok(())
    }

    /// Every read marker: (account, topic, last number read), for the dump.
    pub fn read_markers(&self) -> Result<Vec<(String, String, u64)>> {
        let mut out = Vec::new();
        for item in self.read.iter() {
            let (key, value) = item.map_err(store_error)?;
            let (account, topic) = unpair(&key);
            out.push((account, topic, super::keys::read_u64(&value, 0).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Every subscription: (account, topic), for the dump.
    pub fn subscriptions(&self) -> Result<Vec<(String, String)>> {
        self.subscriptions.iter().map(|item| item.map(|(key, _)| unpair(&key)).map_err(store_error)).collect()
    }

    pub fn subscribed(&self, account: &str, topic: &str) -> Result<bool> {
        self.subscriptions.contains_key(pair(account, topic)).map_err(store_error)
    }

    pub fn set_subscribed(&self, tx: &Tx<'_>, account: &str, topic: &str, on: bool) -> TxResult<()> {
        if on {
            tx.insert(self.subscriptions_id, &pair(account, topic), &[])
        } else {
            tx.remove(self.subscriptions_id, &pair(account, topic))
        }
    }

    /// Who is subscribed to `topic` (for notifications).
    pub fn subscribers(&self, topic: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for item in self.subscriptions.iter() {
            let (key, _) = item.map_err(store_error)?;
            if let Some(at) = key.iter().position(|b| *b == 0)
                && &key[at + 1..] == topic.as_bytes()
            {
                out.push(String::from_utf8_lossy(&key[..at]).into_owned());
            }
        }
        Ok(out)
    }
}
