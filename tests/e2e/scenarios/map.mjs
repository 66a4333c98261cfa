// A citizen shows where a problem is: the address search finds "12 rue des Lilas" and the
// chosen address fills the address and the coordinates; a click on the map moves the
// place; with the keyboard only, the arrows move the map and Enter places the marker at
// its centre, announced to screen readers. The request is sent; an agent then finds it
// on the map of requests (a marker, opened with the keyboard, whose popup links to it), and
// a visitor on the public map. Last, with the tile server unreachable, the form's map and
// its help give way to the address field. Every page is audited with its map drawn.
//
// Env: `AGENT_LINK`, a single-use sign-in link of an agent; `TILES`, the address of the
// tile server (made unreachable at the end). The server's maps open on 12 rue des Lilas.

import { navigation } from '../lib.mjs';

const CODE = /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/;

async function tilesLoaded(page, selector) {
    await page.locator(`${selector} img.leaflet-tile-loaded`).first().waitFor({ state: 'attached', timeout: 10_000 });
    return page.locator(`${selector} img.leaflet-tile-loaded`).count();
}

async function coordinates(page) {
    return { lat: await page.locator('#lat').inputValue(), lon: await page.locator('#lon').inputValue() };
}

export default async function map(t) {
    const context = await t.context();
    const page = await context.newPage();

    t.step('the form with its map');
    t.checkResponse(await page.goto(t.url('/demande/voirie')), 200, 'GET /demande/voirie');
    const mapRegion = page.getByRole('region', { name: 'Carte pour indiquer le lieu' });
    t.check(await mapRegion.isVisible(), 'the map is shown');
    t.check((await tilesLoaded(page, '#locate-map')) > 0, 'tiles come from the configured server');
    t.check(await page.locator('#locate-help').isVisible(), 'the map\'s help is shown with it');
    t.equal(await page.getByRole('button', { name: 'Zoomer', exact: true }).count(), 1, 'the zoom buttons are named in French');

    t.step('the address search');
    const address = page.getByLabel('Adresse ou lieu *');
    await address.fill('12 rue des Lilas');
    await page.getByRole('button', { name: 'Chercher cette adresse' }).click();
    const results = page.locator('#geocoder-results');
    t.equal(await results.getAttribute('aria-live'), 'polite', 'the results are announced');
    const paris = results.getByRole('button', { name: '12 Rue des Lilas 75019 Paris' });
    await paris.waitFor({ timeout: 10_000 });
    t.equal(await results.getByRole('button').count(), 2, 'both addresses found are offered');
    await t.audit(page, '/demande/voirie with the addresses found');
    await paris.click();
    t.equal(await address.inputValue(), '12 Rue des Lilas 75019 Paris', 'the chosen address fills the field');
    t.equal(JSON.stringify(await coordinates(page)), JSON.stringify({ lat: '48.877100', lon: '2.393300' }), 'and the coordinates');
    t.check(await address.evaluate((el) => el === document.activeElement), 'the focus goes back to the address');

    t.step('a click on the map');
    const box = await mapRegion.boundingBox();
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height * 0.5);
    const clicked = await coordinates(page);
    t.check(Number(clicked.lon) > 2.3933 && Math.abs(Number(clicked.lat) - 48.8771) < 0.01, `the click moved the place east (${JSON.stringify(clicked)})`);
    t.equal(await page.getByRole('img', { name: 'Lieu indiqué' }).count(), 1, 'one marker, named');
    const status = page.locator('#locate-status');
    t.check((await status.textContent()).includes(clicked.lat), 'the place is announced');

    t.step('the keyboard');
    await address.focus();
    // From the address field, the tab order reaches the address search, then the map.
    for (let i = 0; i < 6 && !(await mapRegion.evaluate((el) => el === document.activeElement)); i += 1) {
        await page.keyboard.press('Tab');
    }
    t.check(await mapRegion.evaluate((el) => el === document.activeElement), 'the map takes the keyboard focus');
    const ring = await mapRegion.evaluate((el) => getComputedStyle(el, '::after').borderTopStyle);
    t.equal(ring, 'solid', 'a ring shows where Enter places the marker');
    for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowDown');
    // The map pans with an animation: Enter is pressed again until it has moved (a busy
    // machine may take a while), each press placing the marker at the centre of the moment.
    let typed = await coordinates(page);
    for (let i = 0; i < 20 && !(Number(typed.lat) < 48.8771); i += 1) {
        await page.waitForTimeout(200);
        await page.keyboard.press('Enter');
        typed = await coordinates(page);
    }
    t.check(Number(typed.lat) < 48.8771, `the marker went to the centre, moved south (${JSON.stringify(typed)})`);
    t.equal(
        (await status.textContent()).trim(),
        `Lieu indiqué sur la carte : latitude ${typed.lat}, longitude ${typed.lon}.`,
        'the new place is announced',
    );
    await t.audit(page, '/demande/voirie with a place on the map');
    await t.screenshot(page, 'form-map');

    t.step('the request sent');
    await page.getByLabel('Description *').fill('Un lampadaire ne s\'allume plus.');
    const sent = await navigation(page, () => page.getByRole('button', { name: 'Envoyer ma demande' }).click());
    t.equal(sent[0].status(), 303, 'the request is accepted with a redirection');
    const code = (await page.locator('.code').textContent()).trim();
    t.check(CODE.test(code), `tracking code ${JSON.stringify(code)}`);
    t.record('lat', typed.lat);
    t.record('lon', typed.lon);

    t.step('the agents\' map');
    const agent = await (await t.context()).newPage();
    t.checkResponse(await agent.goto(t.env('AGENT_LINK')), 200, 'GET the sign-in link');
    await navigation(agent, () => agent.getByRole('button', { name: 'Ouvrir ma session' }).click());
    t.checkResponse(await agent.goto(t.url('/agent/carte')), 200, 'GET /agent/carte');
    t.check((await tilesLoaded(agent, '#map')) > 0, 'the agents\' map is drawn');
    const marker = agent.locator('#map .leaflet-marker-icon');
    t.equal(await marker.count(), 1, 'one marker for the one located request');
    const label = await marker.getAttribute('title');
    t.check(/^\d{4}-\d{6} – Voirie$/.test(label), `the marker is named after the request (${label})`);
    await t.audit(agent, '/agent/carte');
    // With the keyboard: the marker takes the focus, Enter opens its popup.
    await marker.focus();
    await agent.keyboard.press('Enter');
    const popupLink = agent.locator('.leaflet-popup-content a');
    await popupLink.waitFor({ timeout: 5_000 });
    t.equal(await popupLink.count(), 1, 'its popup links to the request');
    const opened = await navigation(agent, () => popupLink.click());
    t.checkResponse(opened.at(-1), 200, 'the request page, from the map');
    t.check(/^\/agent\/demandes\/\d+$/.test(new URL(agent.url()).pathname), `landed on ${agent.url()}`);

    t.step('the public map');
    const visitor = await (await t.context()).newPage();
    t.checkResponse(await visitor.goto(t.url('/carte')), 200, 'GET /carte');
    t.check((await tilesLoaded(visitor, '#map')) > 0, 'the public map is drawn');
    t.equal(await visitor.locator('#map .leaflet-marker-icon').count(), 1, 'one marker');
    const publicText = await visitor.locator('main').textContent();
    t.check(!publicText.includes('lampadaire'), 'the public map does not show the description');
    await t.audit(visitor, '/carte');
    await t.screenshot(visitor, 'public-map');

    t.step('tiles unreachable');
    const tiles = t.env('TILES');
    t.tolerate(tiles);
    const offline = await t.context();
    await offline.route(`${tiles}/**`, (route) => route.abort('connectionrefused'));
    const form = await offline.newPage();
    t.checkResponse(await form.goto(t.url('/demande/voirie')), 200, 'GET /demande/voirie without tiles');
    await form.locator('#locate-map').waitFor({ state: 'hidden', timeout: 10_000 });
    t.equal(await form.locator('#locate-map .leaflet-pane').count(), 0, 'the map is removed');
    t.check(!(await form.locator('#locate-help').isVisible()), 'its help too');
    t.check(await form.getByLabel('Adresse ou lieu *').isEditable(), 'the address field is there');
    await t.audit(form, '/demande/voirie without tiles');
}
