//! The EPCI's roster and shared topics, with three real processes on loopback: an EPCI
//! and two member communes paired with it only. The roster lets the communes trust each
//! other: a topic between them goes directly; in the EPCI's topic a commune's post goes
//! once to the EPCI, which relays it, as signed by the commune, to the other one (even
//! across a kill -9 of the EPCI while the other is down), a guest one commune invites
//! included. A commune taken off the roster
//! stops being trusted by the other. Each scenario ends with the instances converged.

use serde_json::Value;

use crate::browser::{Browser, signed_in};
use crate::fed::{converged, eventually, federation, instance, pair, queued};
use crate::support::Server;
use crate::topics::{open_topic, write};

/// The peers `s` lists, by base URL.
fn peer(s: &Server, url: &str) -> Option<Value> {
    federation(s, &["peers"]).as_array().unwrap().iter().find(|p| p["base_url"] == url).cloned()
}

/// Reads the topic `id` of `s` until it shows `text` (up to 30 s).
async fn showing(browser: &mut Browser, s: &Server, id: &str, text: &str) -> String {
    let url = s.at(&format!("/agent/thematiques/{id}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = browser.get(&url).await;
        if page.status == 200 && page.body.contains(text) {
            return page.body;
        }
        assert!(std::time::Instant::now() < deadline, "{url} never showed {text:?}: {}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn members_trust_each_other_through_the_roster_and_the_epci_relays_its_topics() {
    let mut epci = instance("Communauté de communes du Ried", "epci", "").await;
    let exemple = instance("Commune d'Exemple", "commune", "67482").await;
    let mut voisine = instance("Commune de Voisine", "commune", "67100").await;
    pair(&epci, &exemple);
    pair(&epci, &voisine);

    // Each commune gets the roster, and knows the other through it, without a pairing.
    for (s, other) in [(&exemple, &voisine), (&voisine, &exemple)] {
        eventually("the roster lists both communes", || async {
            let rosters = federation(s, &["rosters"]);
            rosters[0]["members"].as_array().is_some_and(|m| m.len() == 2)
                && peer(s, &other.url).is_some_and(|p| p["status"] == "active")
        })
        .await;
        let known = peer(s, &other.url).unwrap();
        assert_eq!(known["vouched_by"], epci.url.as_str(), "{known}");
        let rosters = federation(s, &["rosters"]);
        assert!(rosters[0]["competences"].as_array().unwrap().iter().any(|c| c[1] == "Déchets"), "{rosters}");
    }
    let mut at_exemple = signed_in(&exemple, "dgs@exemple.example", "admin").await;
    let mut at_voisine = signed_in(&voisine, "dgs@voisine.example", "admin").await;
    let mut at_epci = signed_in(&epci, "dgs@ried.example", "admin").await;
    let page = at_epci.get(&epci.at("/admin/federation")).await.body;
    assert!(page.contains("Retirer des membres"), "the EPCI lists its members: {page}");
    let page = at_exemple.get(&exemple.at("/admin/federation")).await.body;
    assert!(page.contains("Rôle des membres de") && page.contains("Commune de Voisine"), "{page}");

    // A topic between the two communes goes directly from one to the other.
    let exemple_url = exemple.url.clone();
    let voisine_url = voisine.url.clone();
    let fields = [("title", "Fête de la musique commune"), ("confidentiality", "open"), ("instances", &voisine_url)];
    let joint = open_topic(&exemple, &mut at_exemple, &fields).await;
    let there = guichet::federation::mirror_id(&exemple.url, &joint);
    let page = showing(&mut at_voisine, &voisine, &there, "Fête de la musique commune").await;
    let named = page.contains("Commune d&#39;Exemple") || page.contains("Commune d'Exemple");
    assert!(page.contains("Thématique de") && named, "{page}");
    let reply = write(&voisine, &mut at_voisine, &there, "Nous prêtons la scène.", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = showing(&mut at_exemple, &exemple, &joint, "Nous prêtons la scène.").await;
    assert!(page.contains("(Commune de Voisine)"), "the author's instance is named: {page}");
    assert_eq!(queued(&epci, &exemple) + queued(&epci, &voisine), 0, "nothing went through the EPCI");

    // The EPCI's topic with both communes: a commune's post goes once, to the EPCI,
    // which relays it to the other commune.
    let fields = [
        ("title", "Collecte des biodéchets"),
        ("confidentiality", "open"),
        ("instances", &exemple_url),
        ("instances", &voisine_url),
    ];
    let biowaste = open_topic(&epci, &mut at_epci, &fields).await;
    let at_e = guichet::federation::mirror_id(&epci.url, &biowaste);
    showing(&mut at_exemple, &exemple, &at_e, "Collecte des biodéchets").await;
    showing(&mut at_voisine, &voisine, &at_e, "Collecte des biodéchets").await;
    write(&exemple, &mut at_exemple, &at_e, "Exemple sera prête en mars.", None).await;
    showing(&mut at_voisine, &voisine, &at_e, "Exemple sera prête en mars.").await;
    showing(&mut at_epci, &epci, &biowaste, "Exemple sera prête en mars.").await;
    let sent = federation(&exemple, &["deliveries"]);
    let to_voisine = sent.as_array().unwrap().iter().find(|d| d["base_url"] == voisine.url.as_str()).unwrap().clone();
    assert_eq!(to_voisine["delivered"], 1, "only the joint topic went directly: {to_voisine}");

    // Voisine invites a partner of its own to the EPCI's topic: the guest sees it, and what
    // the guest writes reaches the other instances.
    let csrf = at_voisine.get(&voisine.at(&format!("/agent/thematiques/{at_e}"))).await.input("csrf_token").unwrap();
    let until =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_zoned(jiff::tz::TimeZone::UTC).date();
    let proposed = at_voisine
        .post_form(
            &voisine.at(&format!("/agent/thematiques/{at_e}/invites")),
            &[
                ("csrf_token", &csrf),
                ("email", "bureau@etudes.example"),
                ("name", "Bureau d'études"),
                ("until", &until.to_string()),
            ],
        )
        .await;
    assert_eq!(proposed.status, 200, "{}", proposed.body);
    let manager = voisine.token("manager");
    let (_, guests) = voisine.get("/api/v1/guests", Some(&manager)).await;
    let guest = guests.as_array().unwrap().iter().find(|g| g["email"] == "bureau@etudes.example").unwrap().clone();
    let approve = format!("/api/v1/guests/{}/approve", guest["id"].as_str().unwrap());
    let (status, approved) = voisine.post(&approve, Some(&manager), &serde_json::json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let link = approved["link"]["url"].as_str().unwrap().to_owned();
    let mut partner = Browser::new();
    partner.get(&link).await;
    assert_eq!(partner.post_form(&link, &[]).await.status, 200);
    showing(&mut partner, &voisine, &at_e, "Exemple sera prête en mars.").await;
    assert_eq!(partner.get(&voisine.at(&format!("/agent/thematiques/{there}"))).await.status, 404, "that topic only");
    write(&voisine, &mut partner, &at_e, "Étude de faisabilité jointe au dossier.", None).await;
    showing(&mut at_exemple, &exemple, &at_e, "Étude de faisabilité jointe au dossier.").await;

    // Voisine deletes its reply in the joint topic: a tombstone at Exemple.
    let csrf = at_voisine.get(&voisine.at(&format!("/agent/thematiques/{there}"))).await.input("csrf_token").unwrap();
    let deleted = at_voisine
        .post_form(&voisine.at(&format!("/agent/thematiques/{there}/messages/1/suppression")), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    showing(&mut at_exemple, &exemple, &joint, "Message supprimé par son auteur.").await;

    // Voisine is down; Exemple posts; the EPCI is killed with the relay still queued for
    // Voisine: after both restart, Voisine gets it, once.
    voisine.stop();
    write(&exemple, &mut at_exemple, &at_e, "Nous commandons les bacs.", None).await;
    eventually("the EPCI holds the relay for Voisine", || async { queued(&epci, &voisine) == 1 }).await;
    epci.kill9();
    epci.restart().await;
    voisine.restart().await;
    let mut at_voisine = signed_in(&voisine, "dgs2@voisine.example", "admin").await;
    let page = showing(&mut at_voisine, &voisine, &at_e, "Nous commandons les bacs.").await;
    assert_eq!(page.matches("Nous commandons les bacs.").count(), 1, "{page}");

    for (a, b) in [(&exemple, &voisine), (&exemple, &epci), (&voisine, &epci)] {
        assert!(converged(a, b).await >= 2, "{} and {}", a.url, b.url);
    }

    // The EPCI takes Voisine off its roster: Voisine is told and stops trusting Exemple
    // through it; Exemple gets the new roster and stops trusting Voisine.
    let off = federation(&epci, &["member", &voisine.url, "--off"]);
    assert_eq!(off["member"], false, "{off}");
    eventually("each commune stops trusting the other", || async {
        peer(&exemple, &voisine.url).is_some_and(|p| p["status"] == "revoked")
            && peer(&voisine, &exemple.url).is_some_and(|p| p["status"] == "revoked")
    })
    .await;
    let rosters = federation(&voisine, &["rosters"]);
    assert_eq!(rosters[0]["members"], serde_json::json!([]), "{rosters}");
    converged(&exemple, &epci).await;
    converged(&voisine, &epci).await;
}
