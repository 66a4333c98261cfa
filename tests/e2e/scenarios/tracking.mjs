// A citizen follows a request with its tracking code on `/suivi`: a mistyped code is
// refused with an error the input points to, the right one shows the status. Done once
// with JavaScript and once without; every state of the page is audited.

import { navigation, pageRunsScripts } from '../lib.mjs';

// The characters of a tracking code, in order (Crockford-like base 32).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export default async function tracking(t) {
    t.step('POST /api/v1/requests');
    const answer = await fetch(t.url('/api/v1/requests'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
            category: 'voirie',
            description: 'Nid-de-poule',
            location: { address: '12 rue des Lilas' },
        }),
    });
    const created = await answer.json().catch(() => null);
    t.equal(answer.status, 201, `request creation (${JSON.stringify(created)})`);
    const code = created.tracking_code;
    t.check(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/.test(code), `tracking code ${JSON.stringify(code)}`);
    // Another character of the alphabet in place of the check character: a typo that the
    // check character catches.
    const last = code.at(-1);
    const mistyped = code.slice(0, -1) + ALPHABET[(ALPHABET.indexOf(last) + 1) % ALPHABET.length];

    for (const javaScript of [true, false]) {
        const mode = javaScript ? 'js' : 'nojs';
        const context = await t.context({ javaScript });
        const page = await context.newPage();

        t.step(`${mode}: GET /suivi`);
        t.checkResponse(await page.goto(t.url('/suivi')), 200, 'GET /suivi');
        t.equal(await page.locator('h1').textContent(), 'Suivi de votre demande', 'title');
        t.equal(await pageRunsScripts(page), javaScript, 'page scripts run');
        const input = page.getByLabel('Code de suivi');
        t.equal(await input.count(), 1, 'the code input, found by its label');
        t.equal(await page.getByRole('alert').count(), 0, 'no error before anything is typed');
        await t.audit(page, `${mode} /suivi`);

        t.step(`${mode}: mistyped code`);
        await input.fill(mistyped);
        const refused = await navigation(page, () => page.getByRole('button', { name: 'Afficher ma demande' }).click());
        t.equal(refused.length, 1, 'no redirection');
        t.checkResponse(refused[0], 422, 'a mistyped code');
        t.equal(new URL(page.url()).searchParams.get('code'), mistyped, 'the code is in the address (GET form)');
        const alert = page.getByRole('alert');
        t.equal(await alert.count(), 1, 'one error message');
        const message = (await alert.textContent()).trim();
        t.check(message.includes('mal saisi'), `error message: ${JSON.stringify(message)}`);
        t.check(await alert.isVisible(), 'the error message is visible');
        const invalid = page.getByLabel('Code de suivi');
        t.equal(await invalid.getAttribute('aria-invalid'), 'true', 'aria-invalid of the input');
        const describedBy = ((await invalid.getAttribute('aria-describedby')) || '').split(/\s+/);
        const errorId = await alert.getAttribute('id');
        t.check(errorId && describedBy.includes(errorId), `aria-describedby ${describedBy} names the error ${errorId}`);
        t.equal(await invalid.inputValue(), mistyped, 'the typed code is kept');
        t.equal(await page.locator('#state').count(), 0, 'no status for a mistyped code');
        await t.audit(page, `${mode} /suivi mistyped code`);
        await t.screenshot(page, `${mode}-mistyped`);

        t.step(`${mode}: right code`);
        await invalid.fill(code);
        const found = await navigation(page, () => page.getByRole('button', { name: 'Afficher ma demande' }).click());
        t.equal(found.length, 1, 'no redirection');
        t.checkResponse(found[0], 200, 'the right code');
        const heading = page.getByRole('heading', { level: 2, name: /^Statut : / });
        t.equal(await heading.count(), 1, 'the status heading');
        t.check(await heading.isVisible(), 'the status heading is visible');
        const status = (await heading.textContent()).trim();
        t.check(status.length > 'Statut : '.length, `status heading ${JSON.stringify(status)}`);
        t.equal(await page.getByRole('alert').count(), 0, 'no error left');
        t.equal(await page.getByLabel('Code de suivi').getAttribute('aria-invalid'), null, 'aria-invalid is gone');
        t.check((await page.locator('main').textContent()).includes('Voirie'), 'the category is shown');
        await t.audit(page, `${mode} /suivi right code`);
        await t.screenshot(page, `${mode}-found`);

        await context.close();
    }
}
