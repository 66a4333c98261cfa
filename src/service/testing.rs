//! A core on a real store in a temporary directory, with a clock the test moves, for the
//! services' own tests.

use std::sync::Arc;

use jiff::SignedDuration;

use super::{AuthSettings, Core, Settings};
use crate::clock::Clock;
use crate::domain::account::AutoApproval;
use crate::domain::actor::Role;
use crate::domain::holidays::HolidayCalendar;

/// `mail`: whether e-mail is set up (messages are queued, not sent: no sender runs).
pub fn core(clock: Arc<dyn Clock>, mail: bool) -> (tempfile::TempDir, Arc<Core>) {
    core_at(clock, mail, "http://127.0.0.1:1", [7; 32])
}

/// A core answering at `public_url`, whose instance key has that seed.
pub fn core_at(clock: Arc<dyn Clock>, mail: bool, public_url: &str, seed: [u8; 32]) -> (tempfile::TempDir, Arc<Core>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = crate::store::open(&dir.path().join("store"), 8 << 20).unwrap();
    let files = crate::store::files::FileStore::open(dir.path()).unwrap();
    let settings = Settings {
        instance_name: "Test".into(),
        public_url: public_url.into(),
        contact_email: String::new(),
        contact_phone: String::new(),
        contact_address: String::new(),
        appeal_text: String::new(),
        calendar: HolidayCalendar::new(false),
        max_files: 1,
        max_file_bytes: 1,
        max_request_bytes: 1,
        allowed_types: Vec::new(),
        auth: AuthSettings {
            session_idle: SignedDuration::from_mins(120),
            session_max: SignedDuration::from_hours(12),
            auto_approval: AutoApproval { email_domains: vec![], sirets: vec![], role: Role::Agent },
            link_validity: SignedDuration::from_hours(24),
            guest_link_validity: SignedDuration::from_mins(60),
            admin_acr: String::new(),
        },
        mail_enabled: mail,
        sms_enabled: false,
        inbound_category: "autre".into(),
        inbound_max_bytes: 1 << 20,
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let ring = Arc::new(crate::federation::KeyRing::new(key, Vec::new(), dir.path().join("keys")));
    let outbox = Arc::new(crate::federation::Outbox::new(settings.public_url.clone(), ring));
    (dir, Arc::new(Core { store, repos, files, clock, settings, wake_mailer: Arc::default(), outbox }))
}
