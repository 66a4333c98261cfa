// Every step done with the keyboard alone (Tab, typing, Space, arrows, Enter), the focus
// visible at each stop: a citizen opens the "Voirie" form from the home page and sends a
// request; an administrator confirms a sign-in link, opens the request from the inbox,
// moves it to "En cours de traitement" and answers the citizen publicly, who then reads
// the answer on the tracking page.
//
// Env: `LINK`, a single-use sign-in link of an administrator. Hands back `data.code`.

import { navigation, tabTo } from '../lib.mjs';

const REPLY = 'Nous passons demain matin.';

export default async function keyboard(t) {
    const context = await t.context();
    const page = await context.newPage();

    t.step('the citizen\'s request');
    t.checkResponse(await page.goto(t.url('/')), 200, 'GET /');
    await tabTo(t, page, page.getByRole('link', { name: 'Voirie', exact: true }), 40);
    const opened = await navigation(page, () => page.keyboard.press('Enter'));
    t.checkResponse(opened.at(-1), 200, 'the form, opened with Enter');
    await tabTo(t, page, page.getByLabel('Description *'), 15);
    await page.keyboard.type('Plaque d\'égout descellée, dangereuse pour les vélos.');
    await tabTo(t, page, page.getByLabel('Adresse ou lieu *'), 10);
    await page.keyboard.type('5 place du Marché');
    await tabTo(t, page, page.getByLabel('Adresse électronique'), 15);
    await page.keyboard.type('paul.martin@example.fr');
    // A radio group is one Tab stop; Space ticks the focused button.
    await tabTo(t, page, page.getByLabel('Par courriel'), 10);
    await page.keyboard.press('Space');
    t.check(await page.getByLabel('Par courriel').isChecked(), 'notification by e-mail ticked with Space');
    await tabTo(t, page, page.getByRole('button', { name: 'Envoyer ma demande' }), 15);
    const sent = await navigation(page, () => page.keyboard.press('Enter'));
    t.equal(sent[0].status(), 303, 'the request is accepted');
    const code = (await page.locator('.code').textContent()).trim();
    t.record('code', code);
    await t.audit(page, 'the acknowledgement reached with the keyboard');

    t.step('the administrator signs in');
    const agent = await (await t.context()).newPage();
    t.checkResponse(await agent.goto(t.env('LINK')), 200, 'GET the sign-in link');
    await tabTo(t, agent, agent.getByRole('button', { name: 'Ouvrir ma session' }), 10);
    const signedIn = await navigation(agent, () => agent.keyboard.press('Enter'));
    t.equal(new URL(agent.url()).pathname, '/espace', `signed in (${signedIn.length} responses)`);

    t.step('the request, from the inbox');
    t.checkResponse(await agent.goto(t.url('/agent')), 200, 'GET /agent');
    await tabTo(t, agent, agent.locator('table.inbox a[href^="/agent/demandes/"]').first(), 80);
    const request = await navigation(agent, () => agent.keyboard.press('Enter'));
    t.checkResponse(request.at(-1), 200, 'the request page, opened with Enter');

    t.step('the status changed');
    const status = agent.getByLabel('Nouveau statut');
    await tabTo(t, agent, status, 80);
    // The first status offered after "Reçue" is "En cours de traitement".
    t.equal(await status.inputValue(), 'in_progress', 'the status offered first');
    const statusForm = agent.locator('form', { has: status });
    await tabTo(t, agent, statusForm.getByRole('button', { name: 'Enregistrer' }), 5);
    const changed = await navigation(agent, () => agent.keyboard.press('Enter'));
    t.equal(changed[0].status(), 303, 'the status is saved');

    t.step('the public answer');
    await tabTo(t, agent, agent.getByLabel('Message'), 80);
    await agent.keyboard.type(REPLY);
    // In the radio group, the arrow moves from the internal note to the public reply.
    await tabTo(t, agent, agent.getByLabel('Note interne (agents seulement)'), 5);
    await agent.keyboard.press('ArrowDown');
    t.check(await agent.getByLabel('Réponse publique (visible par l\'usager)').isChecked(), 'public reply chosen with the arrow');
    const replyForm = agent.locator('form', { has: agent.getByLabel('Message') });
    await tabTo(t, agent, replyForm.getByRole('button', { name: 'Envoyer' }), 5);
    const answered = await navigation(agent, () => agent.keyboard.press('Enter'));
    t.equal(answered[0].status(), 303, 'the answer is saved');
    await t.audit(agent, 'the request after keyboard changes');

    t.step('the citizen reads the answer');
    t.checkResponse(await page.goto(t.url(`/suivi/${code}`)), 200, `GET /suivi/${code}`);
    const main = (await page.locator('main').textContent()).replace(/\s+/g, ' ');
    t.check(main.includes('En cours de traitement') && main.includes(REPLY), 'the new status and the answer');
}
