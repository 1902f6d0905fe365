import { expect, test } from "@playwright/test";

test("the seeded admin signs in and sees the overview", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in to Lifeboat" })).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/login.png", fullPage: true });

  await page.getByLabel("Email").fill("admin@lifeboat.test");
  await page.getByLabel("Password").fill("wrong-password-here");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "do not match" })).toBeVisible();

  await page.getByLabel("Password").fill("e2e-admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByText("site administrator")).toBeVisible();
  // The simulated engine was registered on first start.
  await expect(page.getByTestId("engine-count")).toHaveText("1");
  await page.screenshot({ path: "test-results/screenshots/overview.png", fullPage: true });

  await page.getByRole("button", { name: "Account menu" }).click();
  await page.getByRole("menuitem", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
});

test("every response carries the security headers, and the pages run under the CSP", async ({
  page,
  request,
}) => {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  for (const path of ["/login", "/api/trpc/system.health", "/api/auth/get-session", "/no-such-page"]) {
    const res = await request.get(path);
    const headers = res.headers();
    expect(headers["content-security-policy"], path).toContain("frame-ancestors 'none'");
    expect(headers["x-frame-options"], path).toBe("DENY");
    expect(headers["x-content-type-options"], path).toBe("nosniff");
    expect(headers["referrer-policy"], path).toBe("same-origin");
  }
  await page.goto("/login");
  await page.getByLabel("Email").fill("admin@lifeboat.test");
  await page.getByLabel("Password").fill("e2e-admin-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  expect(violations).toEqual([]);
});

test("the browser finds the favicon", async ({ request }) => {
  const res = await request.get("/favicon.ico");
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toMatch(/image\/(x-icon|vnd\.microsoft\.icon)/);
  const body = await res.body();
  // An ICO header (reserved 0, type 1) holding one image.
  expect([...body.subarray(0, 6)]).toEqual([0, 0, 1, 0, 1, 0]);
});
