// Runs one end-to-end scenario against a running Guichet:
//
//     GUICHET_URL=http://127.0.0.1:8099 node tests/e2e/run.mjs tracking
//
// Prints exactly one JSON line on stdout, `{"ok":true,...}` or
// `{"ok":false,"error":"...","violations":[...]}`, and exits 0 or 1.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Run, launch } from './lib.mjs';

// The whole scenario, browser start included, must end within this.
const SCENARIO_TIMEOUT_MS = 120_000;

const here = path.dirname(fileURLToPath(import.meta.url));

function print(result) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function main() {
    const name = process.argv[2] || '';
    const scenarios = fs
        .readdirSync(path.join(here, 'scenarios'))
        .filter((f) => f.endsWith('.mjs'))
        .map((f) => f.slice(0, -4))
        .sort();
    if (!scenarios.includes(name)) {
        print({ ok: false, error: `usage: run.mjs SCENARIO, one of: ${scenarios.join(', ')}` });
        return 1;
    }
    const scenario = (await import(`./scenarios/${name}.mjs`)).default;

    let browser = null;
    let run = null;
    let error = null;
    const watchdog = setTimeout(() => {
        const timeout = new Error(`the scenario did not finish within ${SCENARIO_TIMEOUT_MS / 1000} s`);
        print(run ? run.report(timeout) : { ok: false, error: timeout.message });
        process.exit(1);
    }, SCENARIO_TIMEOUT_MS);
    try {
        run = new Run(name);
        browser = await launch();
        run.browser = browser;
        await scenario(run);
        run.finish();
    } catch (e) {
        error = e;
    } finally {
        clearTimeout(watchdog);
        if (browser) await browser.close().catch(() => {});
    }
    if (!run) {
        print({ ok: false, scenario: name, error: error.message });
        return 1;
    }
    print(run.report(error));
    return error ? 1 : 0;
}

process.exitCode = await main();
