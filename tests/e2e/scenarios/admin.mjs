// The first administrator (single-use link of the server's log, env `LINK`) opens the
// accounts page, creates the request category "Graffitis" (after a first try with a
// wrong delay), which citizens then find on the portal with its form; then the audit
// journal, which records the creation; the portal settings (a colour refused for its
// contrast, then the mention, colour, public map and logo the portal then shows); and the
// dashboard. Every page is audited.
//
// Env: `LINK`; `REQUESTS`, how many requests the server holds (the dashboard's total).

import { PNG, navigation } from '../lib.mjs';

const CATEGORY = {
    name: 'Graffitis',
    id: 'graffitis',
    description: 'Tags et graffitis sur un bâtiment ou du mobilier urbain.',
    department: 'Environnement et cadre de vie',
    days: '7',
};

// Follows the link named `name` and checks the page it leads to.
async function follow(t, page, name, path) {
    const responses = await navigation(page, () => page.getByRole('link', { name, exact: true }).click());
    t.equal(new URL(page.url()).pathname, path, `the link ${JSON.stringify(name)} leads to`);
    t.checkResponse(responses.at(-1), 200, `GET ${path}`);
    return responses;
}

async function heading(page) {
    return (await page.locator('h1').textContent()).trim();
}

export default async function admin(t) {
    const link = t.url(new URL(t.env('LINK')).pathname);
    const requests = Number(t.env('REQUESTS'));

    const context = await t.context();
    const page = await context.newPage();

    t.step('become the first administrator');
    t.checkResponse(await page.goto(link), 200, 'GET the link');
    await page.getByLabel('Adresse électronique').fill('dgs@mairie.example');
    await page.getByLabel('Prénom').fill('Anne');
    await page.getByLabel('Nom', { exact: true }).fill('Roux');
    const signedIn = await navigation(page, () => page.getByRole('button', { name: 'Ouvrir ma session' }).click());
    t.equal(signedIn[0].status(), 303, 'the form is accepted with a redirection');
    t.equal(new URL(page.url()).pathname, '/espace', 'landed on');
    t.check((await page.locator('main dl').textContent()).includes('Administrateur'), 'the role is shown');

    t.step('/admin');
    await follow(t, page, 'Comptes et accès', '/admin');
    t.equal(await heading(page), 'Comptes et accès', 'title');
    const invite = page.getByRole('group', { name: 'Inviter un agent' });
    t.equal(await invite.getByLabel('Adresse électronique').count(), 1, 'the invitation e-mail, found by its label');
    t.equal(await invite.getByLabel('Rôle').count(), 1, 'the invitation role, found by its label');
    const me = page.getByRole('region', { name: /Anne Roux/ });
    t.equal(await me.count(), 1, 'the administrator\'s own account, a region named after them');
    t.check((await me.textContent()).includes('dgs@mairie.example'), 'the account shows its e-mail');
    await t.audit(page, '/admin');
    await t.screenshot(page, 'accounts');

    t.step('/admin/categories');
    await follow(t, page, 'Types de demande', '/admin/categories');
    t.equal(await heading(page), 'Types de demande', 'title');
    t.equal(await page.getByRole('cell', { name: /\(graffitis\)/ }).count(), 0, 'no Graffitis category yet');
    await t.audit(page, '/admin/categories');
    await t.screenshot(page, 'categories');

    // The new category's form, its fields found by their labels.
    const fields = () => {
        const form = page.getByRole('group', { name: 'Nouveau type de demande', exact: true });
        return {
            name: form.getByLabel('Nom', { exact: true }),
            id: form.getByLabel('Identifiant'),
            description: form.getByLabel('Description'),
            department: form.getByLabel('Service'),
            days: form.getByLabel('Délai maximal de traitement (jours ouvrés)'),
            location: form.getByRole('group', { name: 'Informations obligatoires' }).getByLabel('Où ?'),
            public: form.getByLabel('Proposé sur le portail'),
            create: form.getByRole('button', { name: 'Créer' }),
        };
    };
    const fill = async (days) => {
        const f = fields();
        await f.name.fill(CATEGORY.name);
        await f.id.fill(CATEGORY.id);
        await f.description.fill(CATEGORY.description);
        await f.department.selectOption({ label: CATEGORY.department });
        await f.days.fill(days);
        await f.location.check();
        await f.public.check();
        return f.create;
    };

    t.step('a category with a wrong delay');
    let create = await fill('sept');
    const refused = await navigation(page, () => create.click());
    t.equal(refused.length, 1, 'no redirection');
    t.checkResponse(refused[0], 422, 'a delay in letters');
    const alert = page.getByRole('alert');
    t.equal(await alert.count(), 1, 'one error message');
    t.equal((await alert.textContent()).trim(), 'Le délai est un nombre de jours ouvrés, par exemple 15.', 'the error');
    t.equal(await page.getByRole('cell', { name: /\(graffitis\)/ }).count(), 0, 'nothing created');
    // As on the other forms: what was typed is kept, and the field at fault is marked and
    // points to the message.
    let f = fields();
    t.expectEqual(await f.name.inputValue(), CATEGORY.name, 'the typed name is kept after the error');
    t.expectEqual(await f.days.inputValue(), 'sept', 'the typed delay is kept after the error');
    t.expectEqual(await f.days.getAttribute('aria-invalid'), 'true', 'aria-invalid of the delay');
    const errorId = await alert.getAttribute('id');
    const describedBy = ((await f.days.getAttribute('aria-describedby')) || '').split(/\s+/);
    t.expect(errorId && describedBy.includes(errorId), `aria-describedby of the delay (${describedBy.join(' ')}) names the error (id ${errorId})`);
    await t.audit(page, '/admin/categories with an error');
    await t.screenshot(page, 'categories-error');

    t.step('the category created');
    create = await fill(CATEGORY.days);
    const created = await navigation(page, () => create.click());
    t.equal(created.length, 2, 'a redirection, then a page');
    t.equal(created[0].status(), 303, 'the category is accepted with a redirection');
    t.checkResponse(created[1], 200, 'the categories after the creation');
    t.equal((await page.getByRole('status').textContent()).trim(), 'Modification enregistrée.', 'the confirmation');
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: /\(graffitis\)/ }) });
    t.equal(await row.count(), 1, 'the new category is listed');
    const cells = (await row.getByRole('cell').allTextContents()).map((c) => c.replace(/\s+/g, ' ').trim());
    t.equal(
        JSON.stringify(cells),
        JSON.stringify(['Graffitis (graffitis)', CATEGORY.department, '7 jours ouvrés', 'Oui']),
        'the new row',
    );
    f = fields();
    t.equal(await f.name.inputValue(), '', 'the form is empty again');
    await t.audit(page, '/admin/categories after the creation');
    await t.screenshot(page, 'categories-created');

    t.step('the portal lists the category');
    const citizen = await t.context();
    const portal = await citizen.newPage();
    t.checkResponse(await portal.goto(t.url('/')), 200, 'GET /');
    const entry = portal.getByRole('listitem').filter({ has: portal.getByRole('link', { name: 'Graffitis', exact: true }) });
    t.equal(await entry.count(), 1, 'the portal lists Graffitis');
    const entryText = (await entry.textContent()).replace(/\s+/g, ' ');
    t.check(entryText.includes(CATEGORY.description), 'with its description');
    t.check(entryText.includes('7 jours ouvrés'), 'with its delay');
    await t.audit(portal, '/ with Graffitis');
    const opened = await navigation(portal, () => portal.getByRole('link', { name: 'Graffitis', exact: true }).click());
    t.equal(new URL(portal.url()).pathname, '/demande/graffitis', 'the form is at');
    t.checkResponse(opened.at(-1), 200, 'GET /demande/graffitis');
    t.equal(await heading(portal), 'Graffitis', 'title');
    t.check((await portal.locator('main').textContent()).includes('7 jours ouvrés'), 'the delay is shown');
    t.equal(await portal.getByLabel('Adresse ou lieu *').count(), 1, 'the location is marked required');
    t.equal(await portal.getByLabel('Description *').count(), 1, 'the description field');
    await t.audit(portal, '/demande/graffitis');
    await t.screenshot(portal, 'portal-graffitis');
    await citizen.close();

    t.step('/admin/journal');
    t.checkResponse(await page.goto(t.url('/admin')), 200, 'GET /admin');
    await follow(t, page, 'Journal d\'audit', '/admin/journal');
    t.equal(await heading(page), 'Journal d\'audit', 'title');
    const journal = page.getByRole('table', { name: 'Dernières opérations' });
    t.equal(await journal.count(), 1, 'the journal table, named by its caption');
    const entries = journal.locator('tbody tr');
    t.check((await entries.count()) >= 3, `the journal has entries (${await entries.count()})`);
    const graffitis = entries.filter({ hasText: 'graffitis' });
    t.check((await graffitis.count()) >= 1, 'the creation of the category is in the journal');
    const first = (await entries.first().locator('td').first().textContent()).trim();
    const last = (await entries.last().locator('td').first().textContent()).trim();
    t.check(Number(first) > Number(last), `most recent first (${first} … ${last})`);
    await t.audit(page, '/admin/journal');
    await t.screenshot(page, 'journal');

    t.step('/admin/parametres');
    await follow(t, page, 'Paramètres', '/admin/parametres');
    t.equal(await heading(page), 'Paramètres', 'title');
    await t.audit(page, '/admin/parametres');
    const portalForm = page.getByRole('group', { name: 'Portail des usagers', exact: true });
    const color = portalForm.getByLabel('Couleur principale');
    const save = portalForm.getByRole('button', { name: 'Enregistrer' });
    await portalForm.getByRole('group', { name: /État de conformité/ }).getByLabel('partiellement conforme').check();
    await color.fill('#ffcc00');
    const tooLight = await navigation(page, () => save.click());
    t.checkResponse(tooLight[0], 422, 'a colour too light for white');
    const colorError = page.getByRole('alert');
    t.check((await colorError.textContent()).includes('contraste inférieur à 4,5:1'), 'the contrast is explained');
    t.expectEqual(await color.getAttribute('aria-invalid'), 'true', 'aria-invalid of the colour');
    t.expect(((await color.getAttribute('aria-describedby')) || '').includes('s-color-error'), 'the colour points to its error');
    t.expectEqual(await color.inputValue(), '#ffcc00', 'the typed colour is kept');
    await t.audit(page, '/admin/parametres with an error');
    await color.fill('#6a1b4d');
    await portalForm.getByLabel('Publier la carte des signalements en cours').check();
    const settingsSaved = await navigation(page, () => save.click());
    t.equal(settingsSaved[0].status(), 303, 'the settings are accepted with a redirection');
    t.equal((await page.getByRole('status').textContent()).trim(), 'Modification enregistrée.', 'the confirmation');
    const logoForm = page.getByRole('group', { name: 'Logo', exact: true });
    await logoForm.getByLabel('Image du logo').setInputFiles({ name: 'blason.png', mimeType: 'image/png', buffer: PNG });
    const logoSent = await navigation(page, () => logoForm.getByRole('button', { name: 'Remplacer le logo' }).click());
    t.equal(logoSent[0].status(), 303, 'the logo is accepted with a redirection');
    t.equal(await page.getByRole('img', { name: 'Logo actuel' }).count(), 1, 'the logo is shown, with a text alternative');
    await t.audit(page, '/admin/parametres after the changes');
    await t.screenshot(page, 'settings');

    const visitor = await t.context();
    const home = await visitor.newPage();
    t.checkResponse(await home.goto(t.url('/')), 200, 'GET / after the changes');
    const footer = (await home.getByRole('contentinfo').textContent()).replace(/\s+/g, ' ');
    t.check(footer.includes('Accessibilité : partiellement conforme'), 'the footer shows the new mention');
    const linkColor = await home.getByRole('link', { name: 'Carte des signalements en cours' }).evaluate((a) => getComputedStyle(a).color);
    t.equal(linkColor, 'rgb(106, 27, 77)', 'links take the new colour; the public map is offered');
    const logoShown = await home.locator('.brand a').evaluate((a) => getComputedStyle(a, '::before').backgroundImage);
    t.check(logoShown.includes('/logo?v='), `the logo is drawn next to the name (${logoShown})`);
    await t.audit(home, '/ with the new settings');
    await visitor.close();

    t.step('/agent/tableau-de-bord');
    await follow(t, page, 'Tableau de bord', '/agent/tableau-de-bord');
    t.equal(await heading(page), 'Tableau de bord', 'title');
    const total = page.locator('dl.figures dt', { hasText: 'Demandes enregistrées' }).locator('xpath=following-sibling::dd[1]');
    t.equal((await total.textContent()).trim(), String(requests), 'the total');
    const charts = page.getByRole('img');
    t.check((await charts.count()) >= 1, 'charts are drawn');
    const sections = page.locator('main section');
    for (let i = 0; i < (await sections.count()); i += 1) {
        const section = sections.nth(i);
        const title = (await section.locator('h2').textContent()).trim();
        const chart = section.getByRole('img');
        if ((await chart.count()) === 0) continue;
        t.equal(await section.getByRole('img', { name: title, exact: true }).count(), 1, `the chart "${title}" is named by its heading`);
        const table = section.getByRole('table');
        t.equal(await table.count(), 1, `the chart "${title}" has its data as a table`);
        t.check((await table.locator('tbody tr').count()) >= 1, `the table of "${title}" has rows`);
    }
    await t.audit(page, '/agent/tableau-de-bord');
    await t.screenshot(page, 'dashboard');

    await context.close();
}
