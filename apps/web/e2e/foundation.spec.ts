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
