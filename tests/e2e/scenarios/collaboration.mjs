// An administrator plans a public council in the collectivité's agenda with the event form
// (monthly, three times), finds it in the month, week and list views, then opens a topic,
// writes a post with a photo and corrects it; a visitor finds the council on the portal's
// agenda. Every page is audited, the agenda views and forms included.
//
// Env: `LINK`, a single-use sign-in link of an administrator.

import { PNG, navigation } from '../lib.mjs';

async function heading(page) {
    return (await page.locator('h1').textContent()).replace(/\s+/g, ' ').trim();
}

export default async function collaboration(t) {
    const context = await t.context();
    const page = await context.newPage();

    t.step('sign in');
    t.checkResponse(await page.goto(t.env('LINK')), 200, 'GET the sign-in link');
    await navigation(page, () => page.getByRole('button', { name: 'Ouvrir ma session' }).click());

    t.step('/agent/agendas');
    t.checkResponse(await page.goto(t.url('/agent')), 200, 'GET /agent');
    await navigation(page, () => page.getByRole('navigation', { name: 'Navigation des agents' }).getByRole('link', { name: 'Agendas', exact: true }).click());
    t.equal(new URL(page.url()).pathname, '/agent/agendas', 'the nav link leads to');
    await t.audit(page, '/agent/agendas');
    await navigation(page, () => page.getByRole('link', { name: 'Agenda de la collectivité' }).click());
    t.equal(await heading(page), 'Agenda de la collectivité', 'title');
    t.equal(await page.getByRole('table').count(), 1, 'the month, as a table');
    await t.audit(page, '/agent/agendas/general (month)');

    t.step('a new event');
    await navigation(page, () => page.getByRole('link', { name: 'Nouvel événement' }).click());
    await t.audit(page, 'the event form');
    await page.getByLabel('Titre *').fill('Conseil municipal');
    await page.getByLabel('Lieu').fill('Salle du conseil');
    await page.getByLabel('Date de début *').fill('2026-12-15');
    await page.getByLabel('Heure de début').fill('18:30');
    await page.getByLabel('Heure de fin').fill('20:00');
    await page.getByRole('group', { name: 'Se répète' }).getByLabel('Chaque mois').check();
    await page.getByLabel('Un nombre de fois').check();
    await page.getByLabel('Nombre de fois', { exact: true }).fill('3');
    await page.getByRole('group', { name: 'Visibilité' }).getByLabel('Publique').check();
    const saved = await navigation(page, () => page.getByRole('button', { name: 'Enregistrer' }).click());
    t.equal(saved[0].status(), 303, 'the event is accepted with a redirection');
    t.equal(await heading(page), 'Conseil municipal', 'the event page');
    const details = (await page.locator('main dl').textContent()).replace(/\s+/g, ' ');
    t.check(details.includes('mardi 15 décembre 2026, 18 h 30 – 20 h 00'), `when, in words (${details})`);
    t.check(details.includes('Chaque mois, 3 fois'), `the repetition, in words (${details})`);
    await t.audit(page, 'the event page');
    await t.screenshot(page, 'event');

    t.step('the views');
    // The list covers 60 days: 15 December and 15 January.
    for (const [view, label, times] of [['mois', 'month', 1], ['semaine', 'week', 1], ['liste', 'list', 2]]) {
        t.checkResponse(await page.goto(t.url(`/agent/agendas/general?vue=${view}&date=2026-12-15`)), 200, `GET ${view}`);
        t.equal(await page.getByRole('link', { name: 'Conseil municipal' }).count(), times, `the council in the ${label} view`);
        await t.audit(page, `/agent/agendas/general (${label})`);
        await t.screenshot(page, `agenda-${label}`);
    }

    t.step('a topic');
    await navigation(page, () => page.getByRole('link', { name: 'Thématiques', exact: true }).first().click());
    t.equal(new URL(page.url()).pathname, '/agent/thematiques', 'the topics');
    await t.audit(page, '/agent/thematiques');
    const newTopic = page.getByRole('group', { name: 'Nouvelle thématique' });
    await newTopic.getByLabel('Titre *').fill('Travaux de la salle des fêtes');
    await navigation(page, () => newTopic.getByRole('button', { name: 'Créer' }).click());
    t.equal(await heading(page), 'Travaux de la salle des fêtes', 'the topic page');
    const write = page.getByRole('group', { name: 'Écrire un message' });
    await write.getByLabel('Message').fill('**Devis** reçu pour la toiture.');
    await write.getByLabel('Fichier joint (facultatif)').setInputFiles({ name: 'devis.png', mimeType: 'image/png', buffer: PNG });
    const posted = await navigation(page, () => write.getByRole('button', { name: 'Publier' }).click());
    t.equal(posted[0].status(), 303, 'the post is accepted with a redirection');
    const post = page.locator('#message-1');
    t.equal(await post.locator('strong', { hasText: 'Devis' }).count(), 1, 'Markdown rendered');
    t.equal(await post.getByRole('img', { name: 'devis.png' }).count(), 1, 'the photo, with a text alternative');
    await t.audit(page, 'the topic with a post');

    t.step('the post corrected');
    await navigation(page, () => post.getByRole('link', { name: /Modifier/ }).click());
    const edit = page.getByLabel('Modifier le message');
    await edit.fill('**Devis** reçu pour la toiture et la façade.');
    await navigation(page, () => page.locator('#message-1').getByRole('button', { name: 'Enregistrer' }).click());
    const text = (await page.locator('#message-1').textContent()).replace(/\s+/g, ' ');
    t.check(text.includes('et la façade') && text.includes('(modifié)'), `the post says it was changed (${text})`);
    await t.audit(page, 'the topic after an edit');
    await t.screenshot(page, 'topic');

    t.step('the portal\'s agenda');
    const visitor = await (await t.context()).newPage();
    t.checkResponse(await visitor.goto(t.url('/agenda')), 200, 'GET /agenda');
    const agendaText = (await visitor.locator('main').textContent()).replace(/\s+/g, ' ');
    t.check(agendaText.includes('Conseil municipal'), 'the public council is on the portal');
    await t.audit(visitor, '/agenda');
}
