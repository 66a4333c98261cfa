// An agent signs in through the OpenID provider (`agent@mairie.example`, approved at first
// login by its domain), finds a citizen's request in the inbox with the filters, moves it
// to "En cours de traitement", answers the citizen and leaves an internal note; the
// citizen then sees the answer on the tracking page, and not the note. The agent also
// opens the form that records a request received by phone or at the counter. Every page
// of Guichet is audited (the provider's login page is not Guichet's).
//
// Env: `CODE` and `REQUEST_ID`, the tracking code and id of a "Voirie" request (department
// "Services techniques") still "Reçue"; `OTHER_ID`, the id of an open request of another
// department, which the department filter must leave out.

import { navigation } from '../lib.mjs';

const LOGIN = 'agent@mairie.example';
const REPLY = 'Nous intervenons jeudi.';
const NOTE = 'Prévoir la nacelle et prévenir la police municipale.';

// The links of the inbox table to request pages, as their ids.
async function listedIds(page) {
    return page
        .locator('table.inbox a[href^="/agent/demandes/"]')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href').split('/').pop()));
}

// Sends the form that holds `field` with its submit button; returns the responses.
async function sendForm(page, field) {
    const form = page.locator('form', { has: page.locator(field) });
    return navigation(page, () => form.locator('button[type="submit"]').click());
}

export default async function agent(t) {
    const code = t.env('CODE');
    const id = t.env('REQUEST_ID');
    const other = t.env('OTHER_ID');
    const requestPath = `/agent/demandes/${id}`;

    const context = await t.context();
    const page = await context.newPage();

    t.step('/connexion');
    t.checkResponse(await page.goto(t.url('/connexion')), 200, 'GET /connexion');
    t.equal((await page.locator('h1').textContent()).trim(), 'Connexion des agents', 'title');
    const signIn = page.getByRole('button', { name: 'Se connecter avec le compte de ma collectivité' });
    t.equal(await signIn.count(), 1, 'the sign-in button');
    await t.audit(page, '/connexion');
    await t.screenshot(page, 'connexion');

    t.step('the provider\'s login form');
    const toProvider = await navigation(page, () => signIn.click());
    t.equal(toProvider[0].status(), 303, '/auth/login sends to the provider');
    const providerUrl = new URL(page.url());
    t.check(providerUrl.origin !== new URL(t.base).origin, `left Guichet for the provider: ${page.url()}`);
    t.check(providerUrl.pathname.startsWith('/interaction/'), `the provider's login form: ${page.url()}`);
    await page.locator('input[name="login"]').fill(LOGIN);
    await page.locator('input[name="password"]').fill('any password');
    const back = await navigation(page, () => page.locator('button[type="submit"]').click());

    t.step('/espace');
    t.equal(new URL(page.url()).pathname, '/espace', 'landed on');
    t.check(back.some((r) => new URL(r.url()).pathname === '/auth/callback'), 'through /auth/callback');
    t.checkResponse(back.at(-1), 200, 'GET /espace');
    const greeting = (await page.locator('h1').textContent()).trim();
    t.check(greeting.startsWith('Bonjour'), `greeting ${JSON.stringify(greeting)}`);
    t.check((await page.locator('main dl').textContent()).includes('Agent'), 'the role is shown');
    await t.audit(page, '/espace');
    await t.screenshot(page, 'espace');

    t.step('the inbox');
    const inbox = await navigation(page, () => page.getByRole('link', { name: 'Demandes à traiter' }).click());
    t.equal(new URL(page.url()).pathname, '/agent', 'the inbox is at');
    t.checkResponse(inbox.at(-1), 200, 'GET /agent');
    t.equal((await page.locator('h1').textContent()).trim(), 'Demandes à traiter', 'title');
    const all = await listedIds(page);
    t.check(all.includes(id) && all.includes(other), `both open requests are listed: ${all}`);
    t.equal(await page.getByRole('table', { name: /^Demandes/ }).count(), 1, 'the table has a caption');
    await t.audit(page, '/agent');
    await t.screenshot(page, 'inbox');

    t.step('the inbox filtered');
    const filters = {
        department: page.getByLabel('Service', { exact: true }),
        status: page.getByLabel('Statut', { exact: true }),
        channel: page.getByLabel('Canal', { exact: true }),
        category: page.getByLabel('Type de demande', { exact: true }),
        sort: page.getByLabel('Trier par'),
        overdue: page.getByLabel('En retard seulement'),
        mine: page.getByLabel('Qui me sont attribuées'),
    };
    for (const [name, field] of Object.entries(filters)) {
        t.equal(await field.count(), 1, `the ${name} filter, found by its label`);
    }
    await filters.status.selectOption({ label: 'Reçue' });
    await filters.department.selectOption({ label: 'Services techniques' });
    const filtered = await navigation(page, () => page.getByRole('button', { name: 'Appliquer les filtres' }).click());
    t.checkResponse(filtered.at(-1), 200, 'the filtered inbox');
    const query = new URL(page.url()).searchParams;
    t.equal(query.get('status'), 'received', 'status in the address (GET form)');
    t.equal(query.get('department'), 'technique', 'department in the address');
    t.equal(await filters.status.evaluate((s) => s.selectedOptions[0].textContent.trim()), 'Reçue', 'the status filter stays selected');
    t.equal(
        await filters.department.evaluate((s) => s.selectedOptions[0].textContent.trim()),
        'Services techniques',
        'the department filter stays selected',
    );
    const kept = await listedIds(page);
    t.check(kept.includes(id), `the request is listed: ${kept}`);
    t.check(!kept.includes(other), `the other department's request is not: ${kept}`);
    const row = page.locator('table.inbox tr', { has: page.locator(`a[href="${requestPath}"]`) });
    const rowText = (await row.textContent()).replace(/\s+/g, ' ');
    for (const expected of ['Voirie', 'Formulaire en ligne', 'Services techniques', 'Reçue']) {
        t.check(rowText.includes(expected), `the row shows ${JSON.stringify(expected)}: ${JSON.stringify(rowText)}`);
    }
    await t.audit(page, '/agent filtered');
    await t.screenshot(page, 'inbox-filtered');

    t.step('the request');
    const opened = await navigation(page, () => page.locator(`table.inbox a[href="${requestPath}"]`).click());
    t.equal(new URL(page.url()).pathname, requestPath, 'the request page is at');
    t.checkResponse(opened.at(-1), 200, `GET ${requestPath}`);
    t.equal((await page.locator('.code').first().textContent()).trim(), code, 'the tracking code is shown');
    for (const label of ['Message', 'Note interne (agents seulement)', 'Réponse publique (visible par l\'usager)', 'Nouveau statut']) {
        t.equal(await page.getByLabel(label, { exact: true }).count(), 1, `the field ${JSON.stringify(label)}, found by its label`);
    }
    // "Motif" twice, each in its fieldset (status change, transfer), which names it.
    for (const legend of ['Changer le statut', 'Transmettre à un autre service']) {
        const group = page.getByRole('group', { name: legend, exact: true });
        t.equal(await group.getByLabel('Motif', { exact: true }).count(), 1, `"Motif" in the group ${JSON.stringify(legend)}`);
    }
    await t.audit(page, requestPath);
    await t.screenshot(page, 'request');

    t.step('status change');
    await page.getByLabel('Nouveau statut').selectOption({ label: 'En cours de traitement' });
    const changed = await sendForm(page, '#status');
    t.equal(changed.length, 2, 'a redirection, then a page');
    t.equal(changed[0].status(), 303, 'the change is accepted with a redirection');
    t.checkResponse(changed[1], 200, 'the request page after the change');
    t.equal((await page.getByRole('status').textContent()).trim(), 'Modification enregistrée.', 'the confirmation');
    const statusValue = page.locator('main dl dt', { hasText: /^Statut$/ }).locator('xpath=following-sibling::dd[1]');
    t.check((await statusValue.textContent()).trim().startsWith('En cours de traitement'), 'the new status is shown');
    t.check(
        (await page.locator('ol.timeline').textContent()).includes('Nouveau statut : En cours de traitement'),
        'the change is in the timeline',
    );

    t.step('public reply');
    await page.getByLabel('Message', { exact: true }).fill(REPLY);
    await page.getByLabel('Réponse publique (visible par l\'usager)').check();
    const replied = await sendForm(page, '#body');
    t.equal(replied[0].status(), 303, 'the reply is accepted with a redirection');
    t.checkResponse(replied.at(-1), 200, 'the request page after the reply');
    const reply = page.locator('ol.timeline > li.public');
    t.equal(await reply.count(), 1, 'one public reply in the timeline');
    t.check((await reply.textContent()).includes(REPLY), 'the reply is in the timeline');

    t.step('internal note');
    await page.getByLabel('Message', { exact: true }).fill(NOTE);
    await page.getByLabel('Note interne (agents seulement)').check();
    const noted = await sendForm(page, '#body');
    t.equal(noted[0].status(), 303, 'the note is accepted with a redirection');
    t.checkResponse(noted.at(-1), 200, 'the request page after the note');
    const note = page.locator('ol.timeline > li.internal');
    t.equal(await note.count(), 1, 'one internal note in the timeline');
    const noteText = (await note.textContent()).replace(/\s+/g, ' ');
    t.check(noteText.includes(NOTE), 'the note is in the timeline');
    // Told apart in words, not by style alone.
    t.check(noteText.includes('Interne :'), `the note is marked as internal in words: ${JSON.stringify(noteText)}`);
    await t.audit(page, `${requestPath} after the changes`);
    await t.screenshot(page, 'request-worked');

    t.step('/agent/nouvelle');
    const record = await navigation(page, () => page.getByRole('link', { name: 'Enregistrer une demande' }).click());
    t.equal(new URL(page.url()).pathname, '/agent/nouvelle', 'the recording form is at');
    t.checkResponse(record.at(-1), 200, 'GET /agent/nouvelle');
    t.equal((await page.locator('h1').textContent()).trim(), 'Enregistrer une demande', 'title');
    const form = page.locator('form[enctype="multipart/form-data"]');
    t.check((await form.getAttribute('action')).startsWith('/agent/nouvelle?csrf_token='), 'the form carries its CSRF token');
    for (const label of ['Canal *', 'Type de demande *', 'Reçue le', 'Description *', 'Photos']) {
        t.equal(await form.getByLabel(label, { exact: true }).count(), 1, `the field ${JSON.stringify(label)}, found by its label`);
    }
    await t.audit(page, '/agent/nouvelle');
    await t.screenshot(page, 'record');

    t.step('/agent/nouvelle sent empty');
    const refused = await navigation(page, () => page.getByRole('button', { name: 'Enregistrer la demande' }).click());
    t.equal(refused.length, 1, 'no redirection');
    t.checkResponse(refused[0], 422, 'the empty form');
    const summary = page.getByRole('alert');
    t.equal(await summary.count(), 1, 'one error summary');
    const hrefs = await summary.getByRole('link').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    t.check(hrefs.includes('#description'), `the summary names the description: ${hrefs}`);
    t.equal(await page.locator('#description').getAttribute('aria-invalid'), 'true', 'aria-invalid of the description');
    // An empty file input (no scan attached) is no error.
    t.expect(!hrefs.includes('#photos'), `the summary names no problem with the photos: ${hrefs}`);
    await t.audit(page, '/agent/nouvelle with errors');
    await t.screenshot(page, 'record-errors');

    await context.close();

    t.step('the citizen\'s tracking page');
    const citizen = await t.context();
    const tracking = await citizen.newPage();
    t.checkResponse(await tracking.goto(t.url(`/suivi/${code}`)), 200, `GET /suivi/${code}`);
    const heading = tracking.getByRole('heading', { level: 2, name: /^Statut : / });
    t.equal((await heading.textContent()).trim(), 'Statut : En cours de traitement', 'status heading');
    const main = (await tracking.locator('main').textContent()).replace(/\s+/g, ' ');
    t.check(main.includes(REPLY), 'the citizen sees the reply');
    t.check(!main.includes(NOTE) && !main.includes('nacelle'), 'the citizen does not see the internal note');
    t.equal(await tracking.locator('.reply', { hasText: REPLY }).count(), 1, 'the reply is shown as a reply');
    await t.audit(tracking, '/suivi/{code} answered');
    await t.screenshot(tracking, 'tracking-answered');
    await citizen.close();
}
