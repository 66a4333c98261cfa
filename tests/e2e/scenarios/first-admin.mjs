// The first administrator opens the single-use link the server printed in its log
// (env `LINK`), confirms it with the keyboard only after a first empty try, lands on
// `/espace`, and logs out. Every page is audited.

import { navigation, tabTo } from '../lib.mjs';

async function focusedId(page) {
    return page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase());
}

export default async function firstAdmin(t) {
    const given = new URL(t.env('LINK'));
    // The link as printed names the server's public address; the scenario reaches the
    // server at GUICHET_URL.
    const link = t.url(given.pathname);
    t.check(/^\/auth\/link\/[A-Za-z0-9_-]{43}$/.test(given.pathname), `LINK ${given.href} is not a sign-in link`);

    const context = await t.context();
    const page = await context.newPage();

    t.step('open the link');
    t.checkResponse(await page.goto(link), 200, 'GET the link');
    t.equal(await page.locator('h1').textContent(), 'Premier administrateur', 'title');
    const email = page.getByLabel('Adresse électronique');
    const givenName = page.getByLabel('Prénom');
    const familyName = page.getByLabel('Nom', { exact: true });
    for (const [field, type] of [[email, 'email'], [givenName, 'text'], [familyName, 'text']]) {
        t.equal(await field.count(), 1, `${await field.getAttribute('name')}: one input found by its label`);
        t.equal(await field.evaluate((e) => e.type), type, `${await field.getAttribute('name')}: input type`);
        t.equal(await field.inputValue(), '', `${await field.getAttribute('name')}: empty`);
        t.check(await field.evaluate((e) => e.required), `${await field.getAttribute('name')} is required`);
    }
    const confirm = page.getByRole('button', { name: 'Ouvrir ma session' });
    t.equal(await confirm.count(), 1, 'the confirmation button');
    t.equal(await page.getByRole('alert').count(), 0, 'no error before the form is sent');
    await t.audit(page, 'first-admin link form');
    await t.screenshot(page, 'form');

    t.step('send the form empty');
    // The browser's own validation stops an empty form (the fields are `required`) and
    // moves the focus to the first field to fill.
    await tabTo(t, page, confirm);
    await page.keyboard.press('Enter');
    const focused = await page
        .waitForFunction(() => document.activeElement?.id === 'email', null, { timeout: 5_000 })
        .then(() => true, () => false);
    t.check(focused, `focus moved to the first missing field, not to ${await focusedId(page)}`);
    t.equal(page.url(), link, 'the browser kept the empty form');
    t.check(await email.evaluate((e) => e.validity.valueMissing), 'the e-mail is reported missing');
    // The server checks too: the same form without the browser's validation.
    await page.locator('form', { has: confirm }).evaluate((f) => {
        f.noValidate = true;
    });
    const refused = await navigation(page, () => page.keyboard.press('Enter'));
    t.equal(refused.length, 1, 'no redirection');
    t.checkResponse(refused[0], 422, 'the empty form');
    t.equal(page.url(), link, 'the form is shown again at the link');
    const alert = page.getByRole('alert');
    t.equal(await alert.count(), 1, 'one error message');
    t.check(await alert.isVisible(), 'the error message is visible');
    t.check(((await alert.textContent()) || '').trim().length > 0, 'the error message says something');
    t.equal(await email.getAttribute('aria-invalid'), 'true', 'aria-invalid of the e-mail');
    t.equal(await page.getByRole('button', { name: 'Ouvrir ma session' }).count(), 1, 'the form is there again');
    await t.audit(page, 'first-admin link form with errors');
    await t.screenshot(page, 'errors');

    t.step('fill the form with the keyboard only');
    // From the top of the page: the skip link, then the fields in reading order.
    await page.locator('body').evaluate(() => document.activeElement?.blur());
    const order = await tabTo(t, page, email);
    t.equal(order.at(0), 'a', 'the first Tab stop is the skip link');
    await page.keyboard.type('dgs@mairie.example');
    await page.keyboard.press('Tab');
    t.equal(await focusedId(page), 'given_name', 'Tab after the e-mail');
    await page.keyboard.type('Anne');
    await page.keyboard.press('Tab');
    t.equal(await focusedId(page), 'family_name', 'Tab after the given name');
    await page.keyboard.type('Roux');
    const accepted = await navigation(page, () => page.keyboard.press('Enter'));
    t.equal(accepted.length, 2, 'a redirection, then a page');
    t.equal(accepted[0].status(), 303, 'the form is accepted with a redirection');

    t.step('/espace');
    t.equal(new URL(page.url()).pathname, '/espace', 'landed on');
    t.checkResponse(accepted[1], 200, 'GET /espace');
    const hello = (await page.locator('h1').textContent()).trim();
    t.check(hello.includes('Anne Roux'), `greeting ${JSON.stringify(hello)}`);
    t.check((await page.locator('main').textContent()).includes('Administrateur'), 'the role is shown');
    await t.audit(page, '/espace');
    await t.screenshot(page, 'espace');

    t.step('log out');
    const out = await navigation(page, () => page.getByRole('button', { name: 'Se déconnecter' }).click());
    t.equal(out.length, 2, 'a redirection, then a page');
    t.equal(out[0].status(), 303, 'logout answers with a redirection');
    t.equal(new URL(page.url()).pathname, '/auth/logged-out', 'landed on');
    t.checkResponse(out[1], 200, 'GET /auth/logged-out');
    t.equal((await page.locator('h1').textContent()).trim(), 'Vous êtes déconnecté', 'title');
    await t.audit(page, '/auth/logged-out');
    await t.screenshot(page, 'logged-out');

    t.step('after logging out');
    await page.goto(t.url('/espace'));
    t.equal(new URL(page.url()).pathname, '/connexion', '/espace without a session sends to');
    const used = await page.goto(link);
    t.equal(used.status(), 404, 'the link works only once');
    await t.audit(page, 'used first-admin link');

    await context.close();
}
