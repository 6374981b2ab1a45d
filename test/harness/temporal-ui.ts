// Drives the Temporal UI of the test stack's dev server in headless Chromium (Debian's package,
// through puppeteer-core), as an operator would: filter the workflow list by a search attribute,
// open one run, read what the page shows. Screenshots are test artifacts (test-artifacts/ui-*.png).
import puppeteer, { type Page } from 'puppeteer-core';
import { artifactPath } from './artifacts';

export interface UiVisit {
  /** Text of the workflow list filtered by the query. */
  listText: string;
  /** Text of the run's page. */
  runText: string;
  screenshots: string[];
}

/** The text of the page and of its frames: the UI renders user markdown (summaries, details) in iframes. */
async function allText(page: Page): Promise<string> {
  // Runs in the page (a string: this project compiles without the DOM's types).
  const texts = await Promise.all(page.frames().map((f) => (f.evaluate('document.body ? document.body.innerText : ""') as Promise<string>).catch(() => '')));
  return texts.join('\n');
}

/** The UI's own error page (its server's load of a page failed, e.g. a frontend call timed out under load). */
const UI_ERROR_PAGE = "Uh oh. There's an error.";

/**
 * Waits until every text shows (the UI loads lists and details asynchronously); returns what shows
 * then or at the timeout. The UI's error page is reloaded, as an operator would: it is the UI
 * server failing a load, not what the page shows.
 */
async function waitForText(page: Page, texts: string[], timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await allText(page);
    if (texts.every((t) => text.includes(t)) || Date.now() > deadline) return text;
    if (text.includes(UI_ERROR_PAGE)) await page.reload({ waitUntil: 'networkidle2', timeout: 60_000 }).catch(() => undefined);
    else await new Promise((r) => setTimeout(r, 500));
  }
}

export async function visitRunInTemporalUi(opts: {
  query: string;
  workflowId: string;
  runId: string;
  expectInList: string[];
  expectOnRun: string[];
  name: string;
  /** How long to wait for the texts on the run's page (default 30 s). */
  runTimeoutMs?: number;
}): Promise<UiVisit> {
  const ui = process.env.TDR_TEMPORAL_UI;
  if (!ui) throw new Error('TDR_TEMPORAL_UI is not set: the test stack runs the Temporal UI (test/harness/global-setup.ts)');
  const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    const ns = process.env.TEMPORAL_NAMESPACE ?? 'default';
    await page.goto(`${ui}/namespaces/${ns}/workflows?query=${encodeURIComponent(opts.query)}`, { waitUntil: 'networkidle2', timeout: 60_000 });
    const listText = await waitForText(page, opts.expectInList, 30_000);
    const list = artifactPath(`ui-${opts.name}-list.png`);
    await page.screenshot({ path: list, fullPage: true });
    // The "User Metadata" tab: the run's summary and its current details, as the workflow sets them.
    await page.goto(`${ui}/namespaces/${ns}/workflows/${encodeURIComponent(opts.workflowId)}/${opts.runId}/user-metadata`, { waitUntil: 'networkidle2', timeout: 60_000 });
    const runText = await waitForText(page, opts.expectOnRun, opts.runTimeoutMs ?? 30_000);
    const run = artifactPath(`ui-${opts.name}-run.png`);
    await page.screenshot({ path: run, fullPage: true });
    return { listText, runText, screenshots: [list, run] };
  } finally {
    await browser.close();
  }
}
