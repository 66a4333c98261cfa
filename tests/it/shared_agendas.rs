//! Agendas shared between the instances of a territory, with real processes on loopback:
//! the EPCI's council appears, read-only, in its member communes' agendas and stays up to
//! date there; a commune shares its own agenda back.

use crate::browser::{Browser, signed_in};
use crate::fed::{converged, instance, pair};
use crate::support::Server;

/// The form of an event: a council on 15 December 2026, 18:30–20:30 in Paris, public.
fn event_form(csrf: &str, title: &str, visibility: &str) -> Vec<(&'static str, String)> {
    [
        ("csrf_token", csrf),
        ("title", title),
        ("place", "Salle des fêtes de Exemple"),
        ("description", "Ordre du jour : collecte des déchets."),
        ("start_date", "15/12/2026"),
        ("start_time", "18:30"),
        ("end_date", ""),
        ("end_time", "20:30"),
        ("repeat", "none"),
        ("interval", "1"),
        ("ends", "never"),
        ("count", ""),
        ("exceptions", ""),
        ("visibility", visibility),
    ]
    .map(|(k, v)| (k, v.to_owned()))
    .to_vec()
}

fn event_id(page: &crate::browser::Page) -> String {
    let path = page.url.split("/agent/evenements/").nth(1).expect("on an event's page");
    path.split(['?', '#']).next().unwrap().to_owned()
}

/// Reads `url` until it shows `text` (up to 30 s).
async fn showing(browser: &mut Browser, url: &str, text: &str) -> crate::browser::Page {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page = browser.get(url).await;
        if page.status == 200 && page.body.contains(text) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "{url} never showed {text:?}: {}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The address at `s` of the copy of the agenda `id` of `owner`, in December 2026.
fn copy_url(s: &Server, owner: &Server, id: &str) -> String {
    let here = guichet::federation::mirror_id(&owner.url, id);
    s.at(&format!("/agent/agendas/{here}?vue=liste&date=2026-12-01"))
}

/// Shares the agenda `id` of `s` (as its admin).
async fn share(admin: &mut Browser, s: &Server, id: &str) -> String {
    let page = admin.get(&s.at(&format!("/agent/agendas/{id}"))).await;
    let csrf = page.input("csrf_token").unwrap();
    let shared = admin
        .post_values(
            &s.at(&format!("/agent/agendas/{id}/partage")),
            &[("csrf_token", csrf.clone()), ("shared", "1".into())],
        )
        .await;
    assert_eq!(shared.status, 200, "{}", shared.body);
    assert!(shared.body.contains("Cet agenda est partagé"), "{}", shared.body);
    csrf
}

#[tokio::test]
async fn the_epci_council_appears_in_its_communes_agendas_and_a_commune_shares_back() {
    let epci = instance("Communauté de communes du Ried", "epci", "").await;
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    let mut epci_admin = signed_in(&epci, "dgs@ried.example", "admin").await;
    let mut commune_admin = signed_in(&commune, "dgs@mairie.example", "admin").await;
    let mut commune_agent = signed_in(&commune, "accueil@mairie.example", "agent").await;

    // An event planned before the agenda was shared goes when it is shared; a restricted
    // one never does.
    let page = epci_admin.get(&epci.at("/agent/agendas/general")).await;
    let csrf = page.input("csrf_token").unwrap();
    let early = epci_admin
        .post_values(&epci.at("/agent/agendas/general/nouveau"), &event_form(&csrf, "Bureau communautaire", "internal"))
        .await;
    assert_eq!(early.status, 200, "{}", early.body);
    let private = epci_admin
        .post_values(
            &epci.at("/agent/agendas/general/nouveau"),
            &event_form(&csrf, "Réunion des vice-présidents", "restricted"),
        )
        .await;
    assert_eq!(private.status, 200);
    share(&mut epci_admin, &epci, "general").await;
    let council = epci_admin
        .post_values(&epci.at("/agent/agendas/general/nouveau"), &event_form(&csrf, "Conseil communautaire", "public"))
        .await;
    assert_eq!(council.status, 200, "{}", council.body);
    let council_id = event_id(&council);
    let copy_of_epci = copy_url(&commune, &epci, "general");
    showing(&mut commune_agent, &copy_of_epci, "Conseil communautaire").await;
    let copy = showing(&mut commune_agent, &copy_of_epci, "Bureau communautaire").await;
    assert!(copy.body.contains("Communauté de communes du Ried — Agenda de la collectivité"), "{}", copy.body);
    assert!(!copy.body.contains("Réunion des vice-présidents"), "restricted events stay at the EPCI");
    assert!(!copy.body.contains("/nouveau"), "read-only here: {}", copy.body);
    // The council is public: the commune's citizens see it on its portal too.
    let portal = commune.http.get(commune.at("/agenda?date=2026-12-01")).send().await.unwrap().text().await.unwrap();
    assert!(portal.contains("Conseil communautaire"), "{portal}");

    // Nobody at the commune can change the EPCI's event, not even its admin.
    let here = guichet::federation::mirror_id(&epci.url, &council_id);
    let page = commune_admin.get(&commune.at(&format!("/agent/evenements/{here}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf_c = page.input("csrf_token").unwrap();
    let refused = commune_admin
        .post_values(&commune.at(&format!("/agent/evenements/{here}")), &event_form(&csrf_c, "Détourné", "public"))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = commune_admin
        .post_values(&commune.at(&format!("/agent/evenements/{here}/annulation")), &[("csrf_token", csrf_c.clone())])
        .await;
    assert_eq!(refused.status, 403);

    // The EPCI moves the council and then cancels it: the commune follows.
    let page = epci_admin.get(&epci.at(&format!("/agent/evenements/{council_id}?modifier=1"))).await;
    let version = page.input("version").unwrap_or_default();
    let mut changed = event_form(&csrf, "Conseil communautaire (salle changée)", "public");
    changed.push(("version", version));
    let saved = epci_admin.post_values(&epci.at(&format!("/agent/evenements/{council_id}")), &changed).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    showing(&mut commune_agent, &copy_of_epci, "salle changée").await;
    let cancelled = epci_admin
        .post_values(&epci.at(&format!("/agent/evenements/{council_id}/annulation")), &[("csrf_token", csrf.clone())])
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    showing(&mut commune_agent, &commune.at(&format!("/agent/evenements/{here}")), "Cet événement est annulé.").await;

    // The commune shares its own agenda: its market day appears at the EPCI.
    let csrf_c = share(&mut commune_admin, &commune, "general").await;
    let market = commune_admin
        .post_values(&commune.at("/agent/agendas/general/nouveau"), &event_form(&csrf_c, "Marché de Noël", "public"))
        .await;
    assert_eq!(market.status, 200, "{}", market.body);
    showing(&mut epci_admin, &copy_url(&epci, &commune, "general"), "Marché de Noël").await;

    // Same state on both sides: the commune's market, the EPCI's live bureau, and the
    // roster the EPCI sends its member.
    assert_eq!(converged(&commune, &epci).await, 3);
}
