import fs from "node:fs";
import path from "node:path";
import { type APIRequestContext, type Browser, expect, type Page } from "@playwright/test";
import pg from "pg";

/** What the e2e specs share: the seeded admin, the server e2e/serve.mjs started, sign-in, screenshots. */

export const ADMIN = { email: "admin@lifeboat.test", password: "e2e-admin-password" };
export const baseURL = `http://127.0.0.1:${process.env.E2E_PORT ?? 3100}`;
export const SHOTS = path.join(import.meta.dirname, "..", "test-results", "screenshots");

/** What e2e/serve.mjs started (read when needed: it is written when the server starts). */
export function served(): { dataDir: string; env: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(import.meta.dirname, ".e2e-env.json"), "utf8"));
}

/** The embedded PostgreSQL of the server under test, for set-up a page cannot make and checks it cannot show. */
export async function withDb<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const env = served();
  const password = fs.readFileSync(path.join(env.dataDir, "pg", "password"), "utf8").trim();
  const client = new pg.Client({
    connectionString: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${env.env.LIFEBOAT_EMBEDDED_PG_PORT}/lifeboat`,
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A full-page screenshot, kept as a test artifact in test-results/screenshots/. */
export async function shot(page: Page, name: string) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Signs the seeded admin in through the login page. */
export async function signIn(page: Page) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
}

/** Calls a tRPC mutation over HTTP as the signed-in user of `request`. */
export async function trpc<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const res = await request.post(`/api/trpc/${procedure}`, {
    data: { json: input },
    headers: { origin: baseURL },
  });
  const body = (await res.json()) as {
    result?: { data: { json: T } };
    error?: { json: { message: string } };
  };
  if (!res.ok() || !body.result) throw new Error(`${procedure}: ${body.error?.json.message ?? res.status()}`);
  return body.result.data.json;
}

export async function apiSignIn(request: APIRequestContext, email: string, password: string) {
  const res = await request.post("/api/auth/sign-in/email", {
    data: { email, password },
    headers: { origin: baseURL },
  });
  expect(res.ok(), `sign-in of ${email}`).toBe(true);
}

export interface Person {
  name: string;
  email: string;
  password: string;
}

/** An account made by the site admin, its temporary password already replaced by its own. */
export async function newPerson(
  browser: Browser,
  admin: APIRequestContext,
  name: string,
  label: string,
): Promise<Person> {
  const email = `${label}-${Date.now()}@lifeboat.test`;
  const created = await trpc<{ temporaryPassword: string }>(admin, "users.create", { email, name });
  const ctx = await browser.newContext({ baseURL });
  await apiSignIn(ctx.request, email, created.temporaryPassword);
  const password = `${label}-own-password`;
  const res = await ctx.request.post("/api/auth/change-password", {
    data: { currentPassword: created.temporaryPassword, newPassword: password },
    headers: { origin: baseURL },
  });
  expect(res.ok()).toBe(true);
  await ctx.close();
  return { name, email, password };
}

export async function signedInPage(browser: Browser, who: Person): Promise<Page> {
  const ctx = await browser.newContext({ baseURL });
  const page = await ctx.newPage();
  await page.goto("/login");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  return page;
}
