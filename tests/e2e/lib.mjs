// Shared helpers of the end-to-end scenarios: the browser, the accessibility audit, the
// screenshots, and the little harness (`Run`) a scenario is given.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

// Debian's Chromium: playwright-core never downloads a browser of its own.
export const CHROMIUM = '/usr/bin/chromium';

// No sandbox (CI runs as root, where Chromium's sandbox refuses to start), no GPU, and
// none of the background traffic a fresh profile would send out: the only host a
// scenario talks to is the Guichet under test.
export const CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-quic',
    '--disable-sync',
];

// Hosts a scenario's pages may reach (see `Run.context`).
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

// Where screenshots go: `E2E_OUT`, by default `target/e2e` (relative to the working
// directory).
// A valid 1×1 PNG.
export const PNG = Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000050001' +
        '0d0a2db40000000049454e44ae426082',
    'hex',
);

export const OUT = process.env.E2E_OUT || 'target/e2e';

// The WCAG levels the audit checks: A and AA of WCAG 2.0 and 2.1.
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// Impacts that fail a scenario.
export const BLOCKING = new Set(['serious', 'critical']);

// axe-core's source, evaluated in the page through the DevTools protocol: the pages'
// Content-Security-Policy (`script-src 'self'`) applies to the page's own scripts, not to
// that, so the browser enforces the policy exactly as for a citizen.
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// How long one browser action or navigation may take.
const ACTION_TIMEOUT_MS = 15_000;

export async function launch() {
    return chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: 30_000,
    });
}

// A fresh browser profile (no cookies). `javaScript: false` makes a context where pages run
// no script at all, as for a citizen whose browser has JavaScript turned off. The pages'
// Content-Security-Policy is enforced: a script, style, image or connection it does not
// allow fails to load, which fails the scenario.
export async function newContext(browser, { javaScript = true } = {}) {
    const context = await browser.newContext({
        javaScriptEnabled: javaScript,
        locale: 'fr-FR',
        timezoneId: 'Europe/Paris',
        viewport: { width: 1024, height: 768 },
        acceptDownloads: false,
        serviceWorkers: 'block',
    });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    javaScriptOff.set(context, !javaScript);
    return context;
}

// Contexts made with `javaScript: false`.
const javaScriptOff = new WeakMap();

// One shared context, with JavaScript, where pages of script-less contexts are audited.
const auditContexts = new WeakMap();

async function auditContextFor(browser) {
    let context = auditContexts.get(browser);
    if (!context) {
        context = await newContext(browser);
        auditContexts.set(browser, context);
    }
    return context;
}

// Runs axe-core (WCAG 2.0 and 2.1, levels A and AA) on what `page` shows and returns every
// violation, each as `{page, url, id, impact, help, helpUrl, targets}` (`targets`: one CSS
// selector per offending element).
//
// axe is a script: in a context without JavaScript it cannot run inside the page. There,
// the page's current DOM is served again, at the same URL and with the same stylesheets,
// to a page of a context with JavaScript, and audited there.
export async function audit(page, label) {
    let target = page;
    let scratch = null;
    if (javaScriptOff.get(page.context())) {
        const html = await page.content();
        const url = page.url();
        const context = await auditContextFor(page.context().browser());
        scratch = await context.newPage();
        await scratch.route(
            (u) => u.href === url,
            (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }),
            { times: 1 },
        );
        await scratch.goto(url, { waitUntil: 'load' });
        target = scratch;
    }
    try {
        await target.evaluate(AXE_SOURCE);
        const result = await target.evaluate(async (tags) => {
            // eslint-disable-next-line no-undef
            const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
            return r.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                helpUrl: v.helpUrl,
                targets: v.nodes.map((n) => n.target.map((t) => (Array.isArray(t) ? t.join(' >>> ') : t)).join(' ')),
            }));
        }, AXE_TAGS);
        result.push(...(await labelsNextToBoxes(target)));
        return result.map((v) => ({ page: label, url: page.url(), ...v }));
    } finally {
        if (scratch) await scratch.close();
    }
}

// A check axe-core does not make (RGAA 4.1, criterion 11.4: a field and its label are
// next to each other): every visible checkbox and radio button has its label on the same
// line, starting at most 1.5 rem after the box it draws. Measured from the box's centre, so
// that an input stretched by a style (the box is drawn in the middle of the input) counts
// as far from its label. Returns violations in axe's format, impact `serious`.
const LABEL_RULE = {
    id: 'rgaa-11.4-label-next-to-box',
    impact: 'serious',
    help: 'Checkboxes and radio buttons must have their label right next to them',
    helpUrl: 'https://accessibilite.numerique.gouv.fr/methode/criteres-et-tests/#11.4',
};

async function labelsNextToBoxes(page) {
    const far = await page.evaluate(() => {
        const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
        const found = [];
        for (const input of document.querySelectorAll('input[type="checkbox"], input[type="radio"]')) {
            const box = input.getBoundingClientRect();
            const label = input.labels && input.labels[0];
            if (!label || box.width === 0 || box.height === 0) continue;
            const text = label.getClientRects()[0];
            if (!text) continue;
            const centre = box.left + box.width / 2;
            const gap = text.left - centre - box.height / 2;
            const sameLine = text.top < box.bottom && box.top < text.bottom;
            if (!sameLine || gap < -1 || gap > 1.5 * rem) {
                const where = input.id ? `#${CSS.escape(input.id)}` : `input[name="${input.name}"]`;
                found.push(`${where} (label ${Math.round(gap)} px after its box${sameLine ? '' : ', not on its line'})`);
            }
        }
        return found;
    });
    return far.length ? [{ ...LABEL_RULE, targets: far }] : [];
}

// Runs `action` (a click, a key press) and waits until the navigation it starts has
// loaded; returns the responses of that navigation in order, redirections included (the
// last one is the page shown).
export async function navigation(page, action) {
    const responses = [];
    const listener = (r) => {
        if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) responses.push(r);
    };
    page.on('response', listener);
    try {
        await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), action()]);
    } finally {
        page.off('response', listener);
    }
    return responses;
}

// Presses Tab until `target` (a locator) has the focus, checking that the focus can be
// seen there (an outline or a shadow); returns the ids (or tag names) met on the way.
// Fails after `limit` presses.
export async function tabTo(t, page, target, limit = 10) {
    const met = [];
    for (let i = 0; i < limit; i += 1) {
        await page.keyboard.press('Tab');
        met.push(
            await page.evaluate(() => {
                const e = document.activeElement;
                return e && e !== document.body ? e.id || e.tagName.toLowerCase() : null;
            }),
        );
        if (await target.evaluate((e) => e === document.activeElement)) {
            const ring = await target.evaluate((e) => {
                const style = getComputedStyle(e);
                return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 ? 'outline' : style.boxShadow;
            });
            t.check(ring !== 'none', `the focus on ${met.at(-1)} is visible`);
            return met;
        }
    }
    t.check(false, `${target} never got the focus with Tab; focus went through ${JSON.stringify(met)}`);
    return met;
}

// Whether scripts of the page itself run: a script element added to the page runs only
// where JavaScript is on (the harness's own calls run either way). Answering false takes
// two seconds.
export async function pageRunsScripts(page) {
    // A script from the page's own origin (served by the test itself), which the
    // Content-Security-Policy allows: it runs unless JavaScript is off.
    const probe = new URL('/__e2e/probe.js', page.url()).href;
    await page.route(probe, (route) =>
        route.fulfill({ status: 200, contentType: 'text/javascript', body: 'window.__e2eScriptRan = true;' }),
    );
    try {
        await page.evaluate((src) => {
            const script = document.createElement('script');
            script.src = src;
            document.head.append(script);
        }, probe);
        // Without JavaScript nothing runs in the page, timers included: wait from here.
        for (let i = 0; i < 20; i += 1) {
            if (await page.evaluate(() => window.__e2eScriptRan === true)) return true;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return false;
    } finally {
        await page.unroute(probe);
    }
}

// A full-page PNG `OUT/NAME.png`; returns its path.
export async function screenshot(page, name) {
    fs.mkdirSync(OUT, { recursive: true });
    const file = path.join(OUT, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
}

// A failed expectation of a scenario.
export class CheckFailed extends Error {}

// What a scenario is given: the server's address, its environment, the browser, and the
// helpers that record what it did. `run.mjs` creates it and prints the result.
export class Run {
    constructor(scenario) {
        this.scenario = scenario;
        // Set by `run.mjs` once Chromium has started.
        this.browser = null;
        this.base = required('GUICHET_URL').replace(/\/+$/, '');
        // What is being done, for error messages.
        this.stepName = 'start';
        this.checks = 0;
        this.pages = [];
        this.violations = [];
        this.minorViolations = [];
        this.screenshots = [];
        this.problems = [];
        // Failed `expect` checks.
        this.failures = [];
        // What the scenario hands back to its caller (`record`), in the report's `data`.
        this.data = {};
        // Address prefixes whose failures are expected (`tolerate`).
        this.tolerated = [];
    }

    // Failed requests to addresses starting with `prefix` are part of the scenario (a
    // server made unreachable on purpose), not problems of the page.
    tolerate(prefix) {
        this.tolerated.push(prefix);
    }

    expected(url) {
        return this.tolerated.some((prefix) => url.startsWith(prefix));
    }

    // A scenario-specific environment variable; missing or empty is an error.
    env(name) {
        return required(name);
    }

    step(name) {
        this.stepName = name;
    }

    // Hands a value back to whoever runs the scenario: the report's `data.KEY` (for
    // instance the tracking codes of the requests a scenario made, which the Rust test then
    // looks up through the API).
    record(key, value) {
        this.data[key] = value;
    }

    // An absolute URL on the server under test.
    url(path) {
        return `${this.base}${path}`;
    }

    // A new browser context whose pages are watched: on a page of Guichet, an uncaught
    // script error, or a stylesheet or other sub-resource that fails to load, fails the
    // scenario. Requests to hosts other than the loopback ones (where Guichet and the test
    // OpenID provider run) are blocked: they fail the scenario when a page of Guichet makes
    // them, and are ignored from another site's page (the provider's login page asks for a
    // web font).
    async context(options = {}) {
        const context = await newContext(this.browser, options);
        await context.route((url) => !LOOPBACK.has(url.hostname), (route) => route.abort('blockedbyclient'));
        context.on('page', (page) => this.watch(page));
        return context;
    }

    // Whether `page` shows a page of the Guichet under test.
    ours(page) {
        return page.url().startsWith(`${this.base}/`);
    }

    watch(page) {
        page.on('pageerror', (e) => {
            if (this.ours(page)) this.problems.push(`script error on ${page.url()}: ${e.message}`);
        });
        // What the Content-Security-Policy refused (Chromium reports it on the console).
        page.on('console', (message) => {
            if (message.type() === 'error' && message.text().includes('Content Security Policy') && this.ours(page)) {
                this.problems.push(`refused by the Content-Security-Policy on ${page.url()}: ${message.text()}`);
            }
        });
        page.on('requestfailed', (r) => {
            // ERR_ABORTED: cancelled by the browser itself, when the page is left while
            // images (map tiles) are still loading.
            const cancelled = r.failure()?.errorText === 'net::ERR_ABORTED';
            if (r.resourceType() !== 'document' && this.ours(page) && !cancelled && !this.expected(r.url())) {
                this.problems.push(`${r.resourceType()} ${r.url()} failed: ${r.failure()?.errorText}`);
            }
        });
        page.on('response', (r) => {
            if (r.request().resourceType() !== 'document' && r.status() >= 400 && this.ours(page) && !this.expected(r.url())) {
                this.problems.push(`${r.request().resourceType()} ${r.url()} answered ${r.status()}`);
            }
        });
    }

    check(condition, message) {
        this.checks += 1;
        if (!condition) throw new CheckFailed(message);
    }

    equal(actual, expected, message) {
        this.check(actual === expected, `${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }

    // A check that does not stop the scenario: a failure is recorded (with the step) and
    // fails it at its end, so that what follows is still exercised and reported. For
    // expectations the rest of the scenario does not depend on.
    expect(condition, message) {
        this.checks += 1;
        if (!condition) this.failures.push(`${this.stepName}: ${message}`);
    }

    expectEqual(actual, expected, message) {
        this.expect(actual === expected, `${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }

    // The answer to a page load or form submission: its status and the security headers
    // every page must have.
    checkResponse(response, status, what) {
        this.check(response !== null, `${what}: no response`);
        this.equal(response.status(), status, `${what}: HTTP status`);
        const headers = response.headers();
        const csp = headers['content-security-policy'] || '';
        this.check(csp.includes("script-src 'self'"), `${what}: Content-Security-Policy is ${JSON.stringify(csp)}`);
        this.check((headers['content-type'] || '').startsWith('text/html'), `${what}: not an HTML page`);
    }

    // Audits the page (see `audit`): serious and critical violations fail the scenario at
    // its end, after every page has been audited, so that all of them are reported at once.
    async audit(page, label) {
        const found = await audit(page, label);
        this.pages.push(label);
        for (const v of found) {
            (BLOCKING.has(v.impact) ? this.violations : this.minorViolations).push(v);
        }
        return found;
    }

    async screenshot(page, name) {
        const file = await screenshot(page, `${this.scenario}-${name}`);
        this.screenshots.push(file);
        return file;
    }

    // Throws at the end of a scenario if anything it recorded fails it: failed
    // expectations, page problems, serious or critical accessibility violations.
    finish() {
        this.step('end');
        const reasons = [...this.failures, ...this.problems];
        if (this.violations.length) {
            const ids = [...new Set(this.violations.map((v) => `${v.id} (${v.impact})`))].join(', ');
            reasons.push(`accessibility: ${this.violations.length} serious or critical violation(s): ${ids}`);
        }
        if (reasons.length) throw new CheckFailed(reasons.join('; '));
    }

    // The JSON line `run.mjs` prints.
    report(error) {
        const common = {
            scenario: this.scenario,
            checks: this.checks,
            pages: this.pages,
            screenshots: this.screenshots,
            violations: this.violations,
            minor_violations: this.minorViolations,
            failed_expectations: this.failures,
            data: this.data,
        };
        if (!error) return { ok: true, ...common };
        const where = error instanceof CheckFailed ? '' : ` (${error.stack || error})`;
        return { ok: false, error: `${this.stepName}: ${error.message}${where}`, ...common };
    }
}

function required(name) {
    const value = process.env[name];
    if (!value) throw new CheckFailed(`environment variable ${name} is not set`);
    return value;
}
