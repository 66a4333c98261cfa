// The page types no other scenario visits, each loaded with its expected status and title
// and audited, signed in as an administrator: the notices, the board by status, the
// departments, a category's form, the outbox, federation (and an invitation made there), a
// request, an unknown request and an unknown address (error pages in the site's layout, not
// JSON). Then a browser without a session opening an agents' page is sent to the sign-in
// page.
//
// Env: `LINK`, a single-use sign-in link of an administrator; `REQUEST_ID`, a request.

import { navigation } from '../lib.mjs';

export default async function pages(t) {
    const context = await t.context();
    const page = await context.newPage();

    t.step('sign in');
    t.checkResponse(await page.goto(t.env('LINK')), 200, 'GET the sign-in link');
    await navigation(page, () => page.getByRole('button', { name: 'Ouvrir ma session' }).click());
    t.equal(new URL(page.url()).pathname, '/espace', 'signed in');

    const visits = [
        ['/accessibilite', 200, 'Accessibilité'],
        ['/mentions-legales', 200, 'Mentions légales et données personnelles'],
        ['/agent/par-statut', 200, 'Vue par statut'],
        ['/admin/services', 200, 'Services'],
        ['/admin/categories/voirie', 200, 'Voirie (voirie)'],
        ['/admin/federation', 200, 'Fédération'],
        ['/admin/courriels', 200, 'Messages en attente'],
        [`/agent/demandes/${t.env('REQUEST_ID')}`, 200, null],
        ['/agent/demandes/999999', 404, 'Page introuvable'],
        ['/une-adresse-inconnue', 404, 'Page introuvable'],
    ];
    for (const [path, status, title] of visits) {
        t.step(path);
        t.checkResponse(await page.goto(t.url(path)), status, `GET ${path}`);
        const h1 = (await page.locator('h1').textContent()).replace(/\s+/g, ' ').trim();
        if (title) t.equal(h1, title, 'title');
        t.equal(await page.getByRole('contentinfo').count(), 1, 'the site\'s footer');
        await t.audit(page, path);
    }
    await t.screenshot(page, 'not-found');

    t.step('/admin/federation with an invitation');
    await page.goto(t.url('/admin/federation'));
    await navigation(page, () => page.getByRole('button', { name: 'Créer une invitation' }).click());
    const link = await page.locator('#invitation-link').inputValue();
    t.check(link.startsWith(t.url('/federation/v1/invitation#')), 'the invitation link is shown');
    await t.audit(page, '/admin/federation with an invitation');

    t.step('a citizen\'s browser on an agents\' page');
    const citizen = await (await t.context()).newPage();
    await citizen.goto(t.url('/agent'));
    t.equal(new URL(citizen.url()).pathname, '/connexion', 'sent to the sign-in page');
    await t.audit(citizen, '/connexion from /agent');
}
