//! The IMAP poller against a real IMAP server: Debian's Dovecot (installed by tests/run),
//! started here on loopback with implicit TLS and the test certificate, its mailbox a
//! Maildir the test delivers into.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::mail::{SmtpSink, header};

const TLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
const MAIL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mail");

/// Dovecot on 127.0.0.1 (IMAPS), one account `mairie` / `secret`.
struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    delivered: usize,
}

impl Dovecot {
    fn start() -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Dovecot's processes run as its own users and the mail user as `nobody`: they must
        // reach the directory (a temporary one is private to its owner).
        run("chmod", &["755", d.to_str().unwrap()]);
        for sub in ["run", "state", "mail/mairie/Maildir/cur", "mail/mairie/Maildir/new", "mail/mairie/Maildir/tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run("chown", &["-R", "nobody:nogroup", d.join("mail").to_str().unwrap()]);
        std::fs::write(d.join("passwd"), "mairie:{PLAIN}secret\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let path = |p: &str| d.join(p).display().to_string();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {run}\nstate_dir = {state}\ninstance_name = test-{port}\n\
             log_path = /dev/stderr\nssl = required\nssl_cert = <{TLS}/cert.pem\nssl_key = <{TLS}/key.pem\n\
             auth_failure_delay = 0\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {passwd}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={mail}/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  \
             inet_listener imaps {{\n    address = 127.0.0.1\n    port = {port}\n    ssl = yes\n  }}\n}}\n",
            run = path("run"),
            state = path("state"),
            passwd = path("passwd"),
            mail = path("mail"),
        );
        std::fs::write(d.join("dovecot.conf"), config).unwrap();
        let log = std::fs::File::create(d.join("dovecot.log")).unwrap();
        let child = Command::new("/usr/sbin/dovecot")
            .args(["-F", "-c"])
            .arg(d.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("Dovecot must be installed (tests/run installs dovecot-imapd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Dovecot did not start: {}", Dovecot::log_of(d));
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot { dir, port, child, delivered: 0 }
    }

    fn log_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/mairie/Maildir")
    }

    /// Puts a message in the mailbox, unread, as the mail server would.
    fn deliver(&mut self, raw: &[u8]) {
        self.delivered += 1;
        let name = format!("{}.M{}P1.guichet-test", 1_800_000_000 + self.delivered, self.delivered);
        let (tmp, new) = (self.maildir().join("tmp").join(&name), self.maildir().join("new").join(&name));
        std::fs::write(&tmp, raw).unwrap();
        run("chown", &["nobody:nogroup", tmp.to_str().unwrap()]);
        std::fs::rename(tmp, new).unwrap();
    }

    /// Puts a message in the mailbox already read by someone (Maildir flag `S`).
    fn deliver_read(&mut self, raw: &[u8]) {
        self.delivered += 1;
        let name = format!("{}.M{}P1.guichet-test", 1_800_000_000 + self.delivered, self.delivered);
        let (tmp, cur) =
            (self.maildir().join("tmp").join(&name), self.maildir().join("cur").join(format!("{name}:2,S")));
        std::fs::write(&tmp, raw).unwrap();
        run("chown", &["nobody:nogroup", tmp.to_str().unwrap()]);
        std::fs::rename(tmp, cur).unwrap();
    }

    /// How many messages carry Guichet's keyword (Dovecot writes the first keyword of a
    /// Maildir as the flag `a`) and the read flag `S`.
    fn recorded_count(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.maildir().join("cur")) else { return 0 };
        let flagged = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned());
        flagged
            .filter(|name| name.split_once(":2,").is_some_and(|(_, flags)| flags.contains('S') && flags.contains('a')))
            .count()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?}");
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{MAIL}/{name}")).unwrap()
}

async fn wait_until<F: Fn() -> bool>(what: &str, seconds: u64, done: F) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after {seconds} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_mailbox_is_read_over_imaps_and_each_message_recorded_once() {
    let mut dovecot = Dovecot::start();
    dovecot.deliver(&fixture("latin1.eml"));
    dovecot.deliver(&fixture("multipart-attachments.eml"));
    dovecot.deliver(&fixture("autoreply.eml"));
    // Opened by the secretary before Guichet read it: recorded all the same.
    dovecot.deliver_read(&fixture("html-only.eml"));
    let mut big =
        b"From: Jean Gros <jean.gros@example.fr>\r\nTo: mairie@guichet.example\r\nSubject: Plans\r\n\r\n".to_vec();
    big.resize(2 << 20, b'x');
    dovecot.deliver(&big);

    let sink = SmtpSink::started();
    let (port, ca) =
        (format!("inbound_mail.imap_port={}", dovecot.port), format!("inbound_mail.imap_ca_file={TLS}/cert.pem"));
    let mut flags = Vec::new();
    for setting in [
        "inbound_mail.imap_host=localhost",
        &port,
        "inbound_mail.imap_username=mairie",
        "inbound_mail.imap_password=secret",
        "inbound_mail.imap_poll_seconds=5",
        &ca,
        "inbound_mail.max_message_mib=1",
    ] {
        flags.extend(["--set", setting]);
    }
    let s = sink.guichet(&flags).await;
    let admin = s.token("admin");

    // Every message is read and marked: three requests (one from a message someone had
    // already opened), the auto-reply set aside, the oversized one refused (not
    // downloaded) with a notice to its sender.
    wait_until("five messages marked", 30, || dovecot.recorded_count() == 5).await;
    let requests = s.list_all("", 50, &admin).await;
    let mut subjects: Vec<&str> = requests.iter().map(|r| r["subject"].as_str().unwrap()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        ["Graffitis sur l'école", "Lampadaire éteint place du Marché", "Trottoir abîmé rue de l'Église"]
    );
    assert!(requests.iter().all(|r| r["channel"] == "email"), "{requests:?}");
    let messages = sink.wait_for(4, 20).await;
    let mut to: Vec<&str> = messages.iter().filter_map(|m| header(m, "X-Envelope-To")).collect();
    to.sort_unstable();
    let html_sender = header(std::str::from_utf8(&fixture("html-only.eml")).unwrap(), "From").unwrap().to_owned();
    assert_eq!(to.len(), 4, "{to:?}");
    for expected in ["francoise.leger@example.fr", "jean.gros@example.fr", "rene.dupre@example.fr"] {
        assert!(to.contains(&expected), "{expected} in {to:?}");
    }
    assert!(to.iter().any(|t| html_sender.contains(t)), "{html_sender} in {to:?}");
    let notice = messages.iter().find(|m| header(m, "X-Envelope-To") == Some("jean.gros@example.fr")).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(notice.as_bytes()).unwrap();
    assert!(parsed.body_text(0).unwrap().contains("dépasse 1 Mo"), "{notice}");

    // A later answer, carrying the tracking code, joins its request at the next round; a
    // message already read is never read again.
    let latin1 = requests.iter().find(|r| r["subject"] == "Lampadaire éteint place du Marché").unwrap();
    let id = latin1["id"].as_u64().unwrap();
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&admin)).await;
    let code = detail["request"]["tracking_code"].as_str().unwrap().to_owned();
    let answer = format!(
        "From: rene.dupre@example.fr\r\nTo: mairie@guichet.example\r\nSubject: Re: {code}\r\n\r\nToujours éteint ce soir.\r\n"
    );
    dovecot.deliver(answer.as_bytes());
    wait_until("the answer marked", 30, || dovecot.recorded_count() == 6).await;
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&admin)).await;
    let bodies: Vec<&str> =
        detail["events"].as_array().unwrap().iter().filter_map(|e| e["change"]["body"].as_str()).collect();
    assert_eq!(bodies, ["Toujours éteint ce soir."], "{detail}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(s.list_all("", 50, &admin).await.len(), 3, "nothing recorded twice");
}
