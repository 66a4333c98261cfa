// A citizen makes a request on the portal and follows it: home page, the "Voirie" form
// sent empty first (error summary, fields marked invalid), then filled with a photo, the
// acknowledgement with its tracking code, the tracking page, and information added from
// it (empty first, then a message). Every page state is audited. The tracking code is
// handed back in `data.code`. `citizen-nojs` walks the same path without JavaScript.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG, navigation, pageRunsScripts } from '../lib.mjs';

const CODE = /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/;

// The ids of the elements an element's `aria-describedby` names.
async function describedBy(locator) {
    return ((await locator.getAttribute('aria-describedby')) || '').split(/\s+/).filter(Boolean);
}

// Checks that `id` is marked invalid and described by a visible error message; returns
// the message.
async function checkInvalid(t, page, id) {
    const field = page.locator(`#${id}`);
    t.equal(await field.getAttribute('aria-invalid'), 'true', `aria-invalid of #${id}`);
    const ids = await describedBy(field);
    const errorId = `${id}-error`;
    t.check(ids.includes(errorId), `aria-describedby of #${id} (${ids.join(' ')}) names #${errorId}`);
    const error = page.locator(`#${errorId}`);
    t.equal(await error.count(), 1, `#${errorId} exists`);
    t.check(await error.isVisible(), `#${errorId} is visible`);
    const message = ((await error.textContent()) || '').trim();
    t.check(message.length > 0, `#${errorId} says something`);
    return message;
}

async function walk(t, javaScript, photo) {
    const mode = javaScript ? 'js' : 'nojs';
    const description = `Nid-de-poule profond devant le numéro 12 (${mode}).`;
    const context = await t.context({ javaScript });
    const page = await context.newPage();

    t.step(`${mode}: home page`);
    t.checkResponse(await page.goto(t.url('/')), 200, 'GET /');
    t.equal(await pageRunsScripts(page), javaScript, 'page scripts run');
    t.equal((await page.locator('h1').textContent()).trim(), 'Faire une demande à la mairie', 'title');
    const categories = page.getByRole('list', { name: 'Quelle est votre demande ?' }).getByRole('listitem');
    t.check((await categories.count()) >= 10, `the seeded categories are listed (${await categories.count()})`);
    const voirie = page.getByRole('link', { name: 'Voirie', exact: true });
    t.equal(await voirie.count(), 1, 'the "Voirie" link');
    t.equal(await voirie.getAttribute('href'), '/demande/voirie', 'the "Voirie" link goes to');
    await t.audit(page, `${mode} /`);
    await t.screenshot(page, 'home');

    t.step(`${mode}: the Voirie form`);
    const opened = await navigation(page, () => voirie.click());
    t.checkResponse(opened.at(-1), 200, 'GET /demande/voirie');
    t.equal(new URL(page.url()).pathname, '/demande/voirie', 'the form is at');
    t.equal((await page.locator('h1').textContent()).trim(), 'Voirie', 'title');
    t.equal(await page.getByRole('alert').count(), 0, 'no error before the form is sent');
    // Every field the scenario uses is found by its label.
    const fields = {
        description: page.getByLabel('Description *'),
        address: page.getByLabel('Adresse ou lieu *'),
        name: page.getByLabel('Nom et prénom'),
        email: page.getByLabel('Adresse électronique'),
        byEmail: page.getByLabel('Par courriel'),
        photos: page.getByLabel('Photos', { exact: true }),
    };
    for (const [name, field] of Object.entries(fields)) {
        t.equal(await field.count(), 1, `the ${name} field, found by its label`);
    }
    t.equal(await fields.photos.getAttribute('type'), 'file', 'the photos input');
    const send = page.getByRole('button', { name: 'Envoyer ma demande' });
    t.equal(await send.count(), 1, 'the send button');
    await t.audit(page, `${mode} /demande/voirie`);
    await t.screenshot(page, 'form');

    t.step(`${mode}: the form sent empty`);
    const refused = await navigation(page, () => send.click());
    t.equal(refused.length, 1, 'no redirection');
    t.checkResponse(refused[0], 422, 'the empty form');
    t.check((await page.title()).startsWith('Erreur'), `the page title says there are errors: ${await page.title()}`);
    const summary = page.getByRole('alert');
    t.equal(await summary.count(), 1, 'one error summary');
    t.check(await summary.isVisible(), 'the error summary is visible');
    t.equal(
        (await summary.getByRole('heading').textContent()).trim(),
        'Votre demande n\'a pas pu être envoyée. Corrigez les points suivants :',
        'the summary heading',
    );
    const links = await summary.getByRole('link').evaluateAll((as) =>
        as.map((a) => ({ href: a.getAttribute('href'), text: a.textContent.trim(), target: !!document.getElementById(a.hash.slice(1)) })),
    );
    // Only the two missing fields: an empty file input (no photo chosen) is no error.
    t.expectEqual(links.map((l) => l.href).sort().join(' '), '#address #description', 'the summary links to the fields in error');
    for (const l of links) {
        t.check(l.target, `the summary link ${l.href} leads to an element`);
        t.check(l.text.length > 0, `the summary link ${l.href} says something`);
    }
    for (const id of ['description', 'address']) {
        const message = await checkInvalid(t, page, id);
        const listed = links.find((l) => l.href === `#${id}`);
        t.equal(listed?.text, message, `the summary repeats the error of #${id}`);
    }
    for (const id of ['contact_name', 'contact_email', 'photos']) {
        t.expectEqual(await page.locator(`#${id}`).getAttribute('aria-invalid'), null, `#${id} is not marked invalid`);
    }
    await t.audit(page, `${mode} /demande/voirie with errors`);
    await t.screenshot(page, 'form-errors');

    t.step(`${mode}: the form filled`);
    await fields.description.fill(description);
    await fields.address.fill('12 rue des Lilas');
    await fields.name.fill('Marie Dupont');
    await fields.email.fill('marie.dupont@example.fr');
    await fields.byEmail.check();
    await fields.photos.setInputFiles(photo);
    const sent = await navigation(page, () => send.click());
    t.equal(sent.length, 2, 'a redirection, then a page');
    t.equal(sent[0].status(), 303, 'the filled form is accepted with a redirection');
    const ackPath = new URL(page.url()).pathname;
    t.check(/^\/accuse\/[0-9A-Z-]+$/.test(ackPath), `landed on the acknowledgement, not ${ackPath}`);
    t.checkResponse(sent[1], 200, `GET ${ackPath}`);

    t.step(`${mode}: the acknowledgement`);
    t.equal((await page.locator('h1').textContent()).trim(), 'Accusé de réception', 'title');
    const code = (await page.locator('.code').textContent()).trim();
    t.check(CODE.test(code), `tracking code ${JSON.stringify(code)}`);
    t.equal(ackPath, `/accuse/${code}`, 'the acknowledgement address names the code');
    const ack = (await page.locator('main').textContent()).replace(/\s+/g, ' ');
    for (const expected of ['Voirie', 'Services techniques', 'Formulaire en ligne', 'Date maximale de traitement']) {
        t.check(ack.includes(expected), `the acknowledgement shows ${JSON.stringify(expected)}`);
    }
    const follow = page.getByRole('link', { name: 'Suivre votre demande' });
    t.equal(await follow.count(), 1, 'the tracking link');
    t.equal(new URL(await follow.getAttribute('href')).pathname, `/suivi/${code}`, 'the tracking link goes to');
    await t.audit(page, `${mode} /accuse/{code}`);
    await t.screenshot(page, 'acknowledgement');

    t.step(`${mode}: the tracking page`);
    t.checkResponse(await page.goto(t.url(`/suivi/${code}`)), 200, `GET /suivi/${code}`);
    const status = page.getByRole('heading', { level: 2, name: /^Statut : / });
    t.equal((await status.textContent()).trim(), 'Statut : Reçue', 'status heading');
    const timeline = page.locator('ol.timeline > li');
    t.equal(await timeline.count(), 1, 'one event in the timeline');
    t.check((await timeline.first().textContent()).includes('Demande enregistrée'), 'the timeline starts with the creation');
    const message = page.getByLabel('Votre message');
    t.equal(await message.count(), 1, 'the message field, found by its label');
    const add = page.getByRole('button', { name: 'Envoyer' });
    t.equal(await add.count(), 1, 'the add button');
    await t.audit(page, `${mode} /suivi/{code}`);

    t.step(`${mode}: information added empty`);
    const empty = await navigation(page, () => add.click());
    t.equal(empty.length, 1, 'no redirection');
    t.checkResponse(empty[0], 422, 'an empty message');
    const problem = await checkInvalid(t, page, 'message');
    t.equal(problem, 'Écrivez votre message.', 'the error');
    t.equal(await page.locator('ol.timeline > li').count(), 1, 'nothing added to the timeline');
    await t.audit(page, `${mode} /suivi/{code} empty message`);
    await t.screenshot(page, 'tracking-empty-message');

    t.step(`${mode}: information added`);
    const text = `La flaque cache le trou : attention aux vélos (${mode}).`;
    await page.getByLabel('Votre message').fill(text);
    const added = await navigation(page, () => page.getByRole('button', { name: 'Envoyer' }).click());
    t.equal(added.length, 2, 'a redirection, then a page');
    t.equal(added[0].status(), 303, 'the message is accepted with a redirection');
    t.equal(new URL(page.url()).pathname, `/suivi/${code}`, 'back on the tracking page');
    t.checkResponse(added[1], 200, 'the tracking page after the message');
    const notice = page.getByRole('status');
    t.equal(await notice.count(), 1, 'one confirmation');
    t.equal((await notice.textContent()).trim(), 'Votre message a été ajouté à votre demande.', 'the confirmation');
    const events = page.locator('ol.timeline > li');
    t.equal(await events.count(), 2, 'two events in the timeline');
    const last = (await events.last().textContent()).replace(/\s+/g, ' ');
    t.check(last.includes('Votre message') && last.includes(text), `the message is in the timeline: ${JSON.stringify(last)}`);
    t.equal(await page.getByLabel('Votre message').inputValue(), '', 'the message field is empty again');
    await t.audit(page, `${mode} /suivi/{code} message added`);
    await t.screenshot(page, 'tracking-message-added');

    await context.close();
    return code;
}

// The whole path, in a browser with JavaScript on or off; the photo is written to a
// temporary directory, removed afterwards.
export async function citizenPath(t, javaScript) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guichet-e2e-'));
    const photo = path.join(dir, 'nid-de-poule.png');
    fs.writeFileSync(photo, PNG);
    try {
        t.record('code', await walk(t, javaScript, photo));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

export default async function citizen(t) {
    await citizenPath(t, true);
}
